/**
 * A pass-through HTTP proxy in front of the emulator that records every AWS API call the
 * product sends, as `service:Action`, with the label the bench sets for the step running it.
 */
import { createServer, request as forward, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ApiCall {
  /** The bench's label when the call was sent (the Task state and whether it polls), or null. */
  label: string | null;
  /** e.g. `ec2:DescribeImages`, `ssm:GetParameter`. */
  action: string;
}

export interface CountingProxy {
  endpoint: string;
  calls: ApiCall[];
  setLabel(label: string | null): void;
  stop(): Promise<void>;
}

/** The service from SigV4's credential scope, the action from the JSON target, the query body or the path. */
export function apiActionOf(headers: IncomingHttpHeaders, body: string, url: string): string {
  const scope = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(String(headers.authorization ?? ''));
  const service = scope?.[1] ?? 'unknown';
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) return `${service}:${target.slice(target.lastIndexOf('.') + 1)}`;
  const query = /(?:^|&)Action=([A-Za-z0-9]+)/.exec(body);
  if (query) return `${service}:${query[1]}`;
  const rpc = /\/operation\/([A-Za-z0-9]+)/.exec(url);
  if (rpc) return `${service}:${rpc[1]}`;
  return `${service}:${(headers[':method'] as string | undefined) ?? 'request'} ${url.split('?')[0]}`;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const calls: ApiCall[] = [];
  const sockets = new Set<Socket>();
  let label: string | null = null;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '/';
      if (!url.startsWith('/moto-api')) calls.push({ label, action: apiActionOf(req.headers, body.toString('utf8'), url) });
      const out = forward(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      out.on('error', (error) => {
        res.writeHead(502);
        res.end(String(error));
      });
      out.end(body);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    setLabel(next) {
      label = next;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
