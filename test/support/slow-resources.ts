/**
 * Test layer: AMIs, commands and stops that take time, as on AWS (moto makes a new AMI available,
 * reports a command's Success and stops an instance at once, so nothing would ever wait). A proxy
 * in front of the test endpoint answers DescribeImages with `pending`, GetCommandInvocation with
 * `InProgress` and DescribeInstances with `stopping` for the AMIs, the commands (of the listed
 * documents) and the stopped instances (when asked) it saw made or stopped, until `holdMs` after
 * that, or after a wait registered them (the PutItem of `wait:<id>`, so that an event, not the
 * wait's own first look, ends that wait); then with the real state, or with `failed` / `Failed`
 * when told to (a stop never fails). The product's requests pass unchanged.
 */
import { Agent, createServer, request as forward, type IncomingHttpHeaders } from 'node:http';
import { listenLocal } from './local-server';

export interface SlowResources {
  endpoint: string;
  /** When each held resource (AMI or command id) settles, in ms since the epoch. */
  settledAt: Map<string, number>;
  stop(): Promise<void>;
}

export interface SlowOptions {
  holdMs: number;
  /** SSM documents whose commands are held. */
  documents: string[];
  /** Hold the AMIs CreateImage makes (default true). */
  amis?: boolean;
  /** Hold the stop of the instances StopInstances is sent for (the builder). */
  stops?: boolean;
  outcome?: 'success' | 'failure';
  /** What starts the hold: the resource's creation (default) or its wait's registration. */
  from?: 'creation' | 'registration';
}

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export async function startSlowResources(target: string, options: SlowOptions): Promise<SlowResources> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const settledAt = new Map<string, number>();
  const failed = options.outcome === 'failure';

  const send = (method: string, path: string, headers: IncomingHttpHeaders, body: string): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const out = forward(
        { hostname: upstream.hostname, port: upstream.port, method, path, agent, headers: { ...headers, host: upstream.host } },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (c: Buffer) => chunks.push(c));
          answer.on('end', () =>
            resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
          answer.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const tracked = new Set<string>();
  const byRegistration = options.from === 'registration';
  const held = (id: string) => !settledAt.has(id) || Date.now() < (settledAt.get(id) ?? 0);
  const track = (id: string) => {
    tracked.add(id);
    if (!byRegistration) settledAt.set(id, Date.now() + options.holdMs);
  };

  const rewrite = (action: string, requestBody: string, answer: Upstream): Upstream => {
    if (answer.status !== 200) return answer;
    let body = answer.body;
    if (action === 'CreateImage') {
      const id = /<imageId>([^<]+)<\/imageId>/.exec(body)?.[1];
      if (id && options.amis !== false) track(id);
    } else if (action === 'PutItem') {
      const key = (JSON.parse(requestBody) as { Item?: { environment?: { S?: string } } }).Item?.environment?.S ?? '';
      const id = key.startsWith('wait:') ? key.slice('wait:'.length) : '';
      if (byRegistration && tracked.has(id) && !settledAt.has(id)) settledAt.set(id, Date.now() + options.holdMs);
    } else if (action === 'DescribeImages') {
      for (const id of tracked) {
        if (!id.startsWith('ami-')) continue;
        const state = held(id) ? 'pending' : failed ? 'failed' : null;
        if (state)
          body = body.replace(new RegExp(`(<imageId>${id}</imageId>[\\s\\S]*?<imageState>)available(</imageState>)`), `$1${state}$2`);
      }
    } else if (action === 'StopInstances' && options.stops) {
      for (const id of body.match(/(?<=<instanceId>)i-[0-9a-f]+(?=<\/instanceId>)/g) ?? []) if (!tracked.has(id)) track(id);
    } else if (action === 'DescribeInstances') {
      for (const id of tracked) {
        if (!id.startsWith('i-') || !held(id)) continue;
        body = body.replace(
          new RegExp(`(<instanceId>${id}</instanceId>[\\s\\S]*?<instanceState>\\s*<code>)80(</code>\\s*<name>)stopped(</name>)`),
          (_, before: string, between: string, after: string) => `${before}64${between}stopping${after}`,
        );
      }
    } else if (action === 'SendCommand') {
      const document = (JSON.parse(requestBody) as { DocumentName?: string }).DocumentName ?? '';
      const id = (JSON.parse(body) as { Command?: { CommandId?: string } }).Command?.CommandId;
      if (id && options.documents.includes(document)) track(id);
    } else if (action === 'GetCommandInvocation') {
      const out = JSON.parse(body) as { CommandId?: string; Status?: string; StatusDetails?: string };
      if (out.CommandId && tracked.has(out.CommandId) && out.Status === 'Success') {
        const status = held(out.CommandId) ? 'InProgress' : failed ? 'Failed' : 'Success';
        body = JSON.stringify({ ...out, Status: status, StatusDetails: status });
      }
    }
    return { ...answer, body };
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const form = String(req.headers['content-type'] ?? '').includes('x-www-form-urlencoded') ? new URLSearchParams(body) : null;
      const action = form?.get('Action') ?? String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      send(req.method ?? 'GET', req.url ?? '/', req.headers, body).then(
        (answer) => {
          const out = rewrite(action, body, answer);
          const headers = { ...out.headers };
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(out.status, headers);
          res.end(out.body);
        },
        (error: Error) => {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`slow resources proxy: ${error.message}`);
        },
      );
    });
  });
  const local = await listenLocal(server, agent);
  return {
    endpoint: local.endpoint,
    settledAt,
    stop: local.stop,
  };
}
