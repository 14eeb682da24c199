/**
 * moto 5.2.1 answers an HTML 500 to a CreateImage request with a `snapshot` TagSpecification,
 * which AWS supports and the create-image step sends. This proxy, in front of the moto server,
 * carries such a request out as AWS would: CreateImage without the snapshot specification, then
 * CreateTags on the new image's snapshots with the tags it asked for. Everything else passes
 * through untouched. Test layer only: the product sends the AWS request as it is.
 */
import { Agent, createServer, request as forward, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SnapshotTagsProxy {
  endpoint: string;
  /** CreateImage requests whose snapshot tags the proxy applied itself. */
  rewritten(): number;
  stop(): Promise<void>;
}

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** `TagSpecification.N.*` entries for `snapshot`: their tags, and the form without them. */
export function splitSnapshotTags(form: URLSearchParams): { tags: { Key: string; Value: string }[]; rest: URLSearchParams } | null {
  const snapshotIndexes = new Set<string>();
  for (const [key, value] of form) {
    const match = /^TagSpecification\.(\d+)\.ResourceType$/.exec(key);
    if (match && value === 'snapshot') snapshotIndexes.add(match[1]);
  }
  if (snapshotIndexes.size === 0) return null;
  const tags: { Key: string; Value: string }[] = [];
  const rest = new URLSearchParams();
  for (const [key, value] of form) {
    const match = /^TagSpecification\.(\d+)\.(.*)$/.exec(key);
    if (!match || !snapshotIndexes.has(match[1])) {
      rest.append(key, value);
      continue;
    }
    const tag = /^Tag\.(\d+)\.Key$/.exec(match[2]);
    if (tag) tags.push({ Key: value, Value: form.get(`TagSpecification.${match[1]}.Tag.${tag[1]}.Value`) ?? '' });
  }
  return { tags, rest };
}

export async function startSnapshotTagsProxy(target: string): Promise<SnapshotTagsProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const sockets = new Set<Socket>();
  let rewritten = 0;

  const send = (method: string, path: string, headers: IncomingHttpHeaders, body: string): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const out = forward(
        { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method, path, headers: { ...headers, host: upstream.host, 'content-length': String(Buffer.byteLength(body)) }, agent },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks).toString('utf8') }));
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  /** A query call of moto's EC2 (moto reads the action from the form and checks no signature). */
  const ec2 = (headers: IncomingHttpHeaders, params: Record<string, string>) =>
    send('POST', '/', { authorization: headers.authorization, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, new URLSearchParams({ Version: '2016-11-15', ...params }).toString());

  const createImage = async (path: string, headers: IncomingHttpHeaders, rest: URLSearchParams, tags: { Key: string; Value: string }[]): Promise<Upstream> => {
    const created = await send('POST', path, headers, rest.toString());
    const imageId = /<imageId>([^<]+)<\/imageId>/.exec(created.body)?.[1];
    if (created.status !== 200 || !imageId || tags.length === 0) return created;
    const described = await ec2(headers, { Action: 'DescribeImages', 'ImageId.1': imageId });
    const snapshotIds = [...described.body.matchAll(/<snapshotId>([^<]+)<\/snapshotId>/g)].map((m) => m[1]);
    if (snapshotIds.length > 0) {
      const params: Record<string, string> = { Action: 'CreateTags' };
      snapshotIds.forEach((id, i) => (params[`ResourceId.${i + 1}`] = id));
      tags.forEach((t, i) => {
        params[`Tag.${i + 1}.Key`] = t.Key;
        params[`Tag.${i + 1}.Value`] = t.Value;
      });
      const tagged = await ec2(headers, params);
      if (tagged.status !== 200) return tagged;
    }
    rewritten += 1;
    return created;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const form = String(req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded') ? new URLSearchParams(body) : null;
      const split = form?.get('Action') === 'CreateImage' ? splitSnapshotTags(form) : null;
      const answer = split ? createImage(req.url ?? '/', req.headers, split.rest, split.tags) : send(req.method ?? 'GET', req.url ?? '/', req.headers, body);
      answer.then(
        (a) => {
          const headers = { ...a.headers };
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(a.status, headers);
          res.end(a.body);
        },
        (error: Error) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`snapshot-tags proxy: upstream error: ${error.message}`);
        },
      );
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    rewritten: () => rewritten,
    async stop() {
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
