/**
 * A proxy in front of the moto server for two of its gaps the product's AWS requests run into.
 * Test layer only: the product sends the AWS requests as they are.
 * - moto 5.2.1 answers an HTML 500 to a CreateImage request with a `snapshot` TagSpecification,
 *   which AWS supports and the create-image step sends. The proxy carries it out as AWS would:
 *   CreateImage without the snapshot specification, then CreateTags on the new image's snapshots
 *   with the tags it asked for.
 * - A second TerminateInstances of an instance whose network interface was deleted on termination
 *   fails in moto with InvalidNetworkInterfaceID.NotFound; AWS answers it with the instance's
 *   terminated state. The proxy gives AWS's answer when moto says the instance is terminated.
 * - moto 5.2.1 does not implement fast snapshot restore (an HTML 500 for EnableFastSnapshotRestores,
 *   DisableFastSnapshotRestores and DescribeFastSnapshotRestores). The proxy keeps the state per
 *   snapshot and zone and answers as EC2 documents it, with two simplifications: an enabled pair
 *   is `enabled` at once (EC2 passes through enabling and optimizing), and a snapshot moto does
 *   not know is refused with InvalidSnapshot.NotFound in `unsuccessful`.
 * - moto's threaded server runs DynamoDB requests at the same time, so two conditional writes
 *   can both pass their condition (two builds holding one lock); AWS makes each conditional
 *   write atomic. The proxy passes DynamoDB requests to moto one at a time.
 * Everything else passes through untouched.
 */
import { Agent, createServer, request as forward, type IncomingHttpHeaders } from 'node:http';
import { listenLocal } from './local-server';

export interface MotoGapsProxy {
  endpoint: string;
  /** Snapshot -> zones where fast snapshot restore is enabled, as the proxy's EC2 answers it. */
  fastSnapshotRestores(): Map<string, Set<string>>;
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

export async function startMotoGapsProxy(target: string): Promise<MotoGapsProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let rewritten = 0;

  const send = (method: string, path: string, headers: IncomingHttpHeaders, body: string): Promise<Upstream> =>
    new Promise((resolve, reject) => {
      const out = forward(
        {
          protocol: upstream.protocol,
          hostname: upstream.hostname,
          port: upstream.port,
          method,
          path,
          headers: { ...headers, host: upstream.host, 'content-length': String(Buffer.byteLength(body)) },
          agent,
        },
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

  /** A query call of moto's EC2 (moto reads the action from the form and checks no signature). */
  const ec2 = (headers: IncomingHttpHeaders, params: Record<string, string>) =>
    send(
      'POST',
      '/',
      { authorization: headers.authorization, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      new URLSearchParams({ Version: '2016-11-15', ...params }).toString(),
    );

  const createImage = async (
    path: string,
    headers: IncomingHttpHeaders,
    rest: URLSearchParams,
    tags: { Key: string; Value: string }[],
  ): Promise<Upstream> => {
    const created = await send('POST', path, headers, rest.toString());
    const imageId = /<imageId>([^<]+)<\/imageId>/.exec(created.body)?.[1];
    if (created.status !== 200 || !imageId || tags.length === 0) return created;
    const described = await ec2(headers, { Action: 'DescribeImages', 'ImageId.1': imageId });
    const snapshotIds = [...described.body.matchAll(/<snapshotId>([^<]+)<\/snapshotId>/g)].map((m) => m[1]);
    if (snapshotIds.length > 0) {
      const params: Record<string, string> = { Action: 'CreateTags' };
      for (const [i, id] of snapshotIds.entries()) params[`ResourceId.${i + 1}`] = id;
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

  const terminateAgain = async (path: string, headers: IncomingHttpHeaders, body: string, form: URLSearchParams): Promise<Upstream> => {
    const answer = await send('POST', path, headers, body);
    if (answer.status !== 400 || !answer.body.includes('InvalidNetworkInterfaceID.NotFound')) return answer;
    const ids = [...form].filter(([key]) => /^InstanceId\.\d+$/.test(key)).map(([, id]) => id);
    const params: Record<string, string> = { Action: 'DescribeInstances' };
    for (const [i, id] of ids.entries()) params[`InstanceId.${i + 1}`] = id;
    const described = await ec2(headers, params);
    const states = [...described.body.matchAll(/<instanceState>\s*<code>\d+<\/code>\s*<name>([a-z-]+)<\/name>/g)].map((m) => m[1]);
    if (states.length !== ids.length || states.some((s) => s !== 'terminated')) return answer;
    const items = ids
      .map(
        (id) =>
          `<item><instanceId>${id}</instanceId><currentState><code>48</code><name>terminated</name></currentState><previousState><code>48</code><name>terminated</name></previousState></item>`,
      )
      .join('');
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${Date.now()}</requestId><instancesSet>${items}</instancesSet></TerminateInstancesResponse>`,
    };
  };

  // Fast snapshot restore, which moto lacks: snapshot id -> zones where it is enabled.
  const fastRestores = new Map<string, Set<string>>();
  const listed = (form: URLSearchParams, prefix: string) =>
    [...form].filter(([key]) => new RegExp(`^${prefix}\\.\\d+$`).test(key)).map(([, value]) => value);
  const xml = (action: string, inner: string): Upstream => ({
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${Date.now()}</requestId>${inner}</${action}Response>`,
  });
  const restoreItem = (snapshotId: string, zone: string, state: string) =>
    `<item><snapshotId>${snapshotId}</snapshotId><availabilityZone>${zone}</availabilityZone><state>${state}</state><stateTransitionReason>Client.UserInitiated</stateTransitionReason><ownerId>123456789012</ownerId></item>`;
  const fastSnapshotRestore = async (action: string, headers: IncomingHttpHeaders, form: URLSearchParams): Promise<Upstream> => {
    if (action === 'DescribeFastSnapshotRestores') {
      const filters = new Map<string, string[]>();
      for (const [key, name] of form) {
        const match = /^Filter\.(\d+)\.Name$/.exec(key);
        if (match) filters.set(name, listed(form, `Filter\\.${match[1]}\\.Value`));
      }
      const items: string[] = [];
      for (const [snapshotId, zones] of fastRestores) {
        if (filters.has('snapshot-id') && !filters.get('snapshot-id')?.includes(snapshotId)) continue;
        if (filters.has('state') && !filters.get('state')?.includes('enabled')) continue;
        for (const zone of zones) {
          if (!filters.has('availability-zone') || filters.get('availability-zone')?.includes(zone))
            items.push(restoreItem(snapshotId, zone, 'enabled'));
        }
      }
      return xml(action, `<fastSnapshotRestoreSet>${items.join('')}</fastSnapshotRestoreSet>`);
    }
    const snapshotIds = listed(form, 'SourceSnapshotId');
    const zones = listed(form, 'AvailabilityZone');
    const known = new Set<string>();
    if (snapshotIds.length > 0) {
      const params: Record<string, string> = { Action: 'DescribeSnapshots', 'Filter.1.Name': 'snapshot-id' };
      snapshotIds.forEach((id, i) => {
        params[`Filter.1.Value.${i + 1}`] = id;
      });
      const described = await ec2(headers, params);
      for (const m of described.body.matchAll(/<snapshotId>([^<]+)<\/snapshotId>/g)) known.add(m[1]);
    }
    const successful: string[] = [];
    const unsuccessful: string[] = [];
    for (const snapshotId of snapshotIds) {
      if (!known.has(snapshotId)) {
        const errors = zones
          .map(
            (zone) =>
              `<item><availabilityZone>${zone}</availabilityZone><error><code>InvalidSnapshot.NotFound</code><message>The snapshot '${snapshotId}' does not exist.</message></error></item>`,
          )
          .join('');
        unsuccessful.push(
          `<item><snapshotId>${snapshotId}</snapshotId><fastSnapshotRestoreStateErrorSet>${errors}</fastSnapshotRestoreStateErrorSet></item>`,
        );
        continue;
      }
      const enabled = fastRestores.get(snapshotId) ?? new Set<string>();
      for (const zone of zones) {
        if (action === 'EnableFastSnapshotRestores') enabled.add(zone);
        else enabled.delete(zone);
        successful.push(restoreItem(snapshotId, zone, action === 'EnableFastSnapshotRestores' ? 'enabling' : 'disabling'));
      }
      if (enabled.size > 0) fastRestores.set(snapshotId, enabled);
      else fastRestores.delete(snapshotId);
    }
    return xml(action, `<successful>${successful.join('')}</successful><unsuccessful>${unsuccessful.join('')}</unsuccessful>`);
  };
  const FAST_SNAPSHOT_RESTORE_ACTIONS = new Set([
    'EnableFastSnapshotRestores',
    'DisableFastSnapshotRestores',
    'DescribeFastSnapshotRestores',
  ]);

  // One DynamoDB request at a time: AWS's conditional writes are atomic, moto's are not.
  let dynamodbQueue: Promise<unknown> = Promise.resolve();
  const oneAtATime = (run: () => Promise<Upstream>): Promise<Upstream> => {
    const next = dynamodbQueue.then(run, run);
    dynamodbQueue = next.catch(() => undefined);
    return next;
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const form = String(req.headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')
        ? new URLSearchParams(body)
        : null;
      const split = form?.get('Action') === 'CreateImage' ? splitSnapshotTags(form) : null;
      const path = req.url ?? '/';
      const action = form?.get('Action') ?? '';
      const answer = split
        ? createImage(path, req.headers, split.rest, split.tags)
        : form && FAST_SNAPSHOT_RESTORE_ACTIONS.has(action)
          ? fastSnapshotRestore(action, req.headers, form)
          : form?.get('Action') === 'TerminateInstances'
            ? terminateAgain(path, req.headers, body, form)
            : String(req.headers['x-amz-target'] ?? '').startsWith('DynamoDB_')
              ? oneAtATime(() => send(req.method ?? 'GET', path, req.headers, body))
              : send(req.method ?? 'GET', path, req.headers, body);
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
          res.end(`moto gaps proxy: upstream error: ${error.message}`);
        },
      );
    });
  });
  const local = await listenLocal(server, agent);
  return {
    endpoint: local.endpoint,
    rewritten: () => rewritten,
    fastSnapshotRestores: () => fastRestores,
    stop: local.stop,
  };
}
