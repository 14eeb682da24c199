/**
 * A fault-injecting HTTP proxy in front of the moto server. Point the SDK at `endpoint` and every
 * AWS call goes through it; a call whose action matches a rule gets the rule's fault instead of
 * moto's answer.
 */
import { randomUUID } from 'node:crypto';
import { Agent, createServer, request as forward, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { isNativeError } from 'node:util/types';
import type { Clients } from '../../functions/shared/clients';
import { listenLocal } from './local-server';

/**
 * throttle, server-error, access-denied: an AWS error answer instead of moto's. reset: the
 * connection is dropped before the request reaches moto. lost-response: the request is carried
 * out by moto, then the connection is dropped before its answer (what a client retry must survive
 * on a call that is not idempotent).
 */
export type FaultKind = 'throttle' | 'server-error' | 'reset' | 'access-denied' | 'lost-response';
/** The four kinds of the fault matrix. */
export const FAULT_KINDS = ['throttle', 'server-error', 'reset', 'access-denied'] as const satisfies readonly FaultKind[];

export interface FaultRule {
  /** The AWS action (operation) name, e.g. `RunInstances`, `PutParameter`. */
  action: string;
  /** The signing name of the service (`ec2`, `ssm`, `ecr`, ...): needed where two services share an action name (`DescribeImages`). */
  service?: string;
  fault: FaultKind;
  /** How many matching requests get the fault; `'always'` until the rule is cleared. */
  times: number | 'always';
  /** Matching requests to let through before the first fault (default 0). */
  after?: number;
  /** Only requests whose body holds this text (a key, a name) match; absent: any. */
  bodyIncludes?: string;
}

export interface ActionCount {
  /** Requests the proxy received for this action (faulted or not). */
  requests: number;
  /** Of those, answered with a fault. */
  faulted: number;
  /** Milliseconds moto took to answer the forwarded ones, in all. */
  upstreamMs: number;
}

/** What the proxy recognises in a request. */
export interface AwsCall {
  service: string;
  action: string;
  protocol: 'query' | 'json';
  /** The request's content type, which a JSON error answer repeats (1.0 for DynamoDB, 1.1 for SSM and ECR). */
  contentType: string;
}

export interface FaultProxy {
  endpoint: string;
  /** Adds a rule; rules are tried in the order added, the first matching one that still has faults to give wins. */
  addRule(rule: FaultRule): void;
  /** Removes every rule (counts are kept). */
  clear(): void;
  rules(): readonly FaultRule[];
  /** Per `service:action`, e.g. `ec2:RunInstances`. */
  counts(): Record<string, ActionCount>;
  resetCounts(): void;
  /** Faults given so far, all rules together. */
  faultsInjected(): number;
  stop(): Promise<void>;
}

interface LiveRule {
  rule: FaultRule;
  seen: number;
  given: number;
}

const JSON_TARGET_SERVICES: Record<string, string> = {
  AmazonSSM: 'ssm',
  AmazonEC2ContainerRegistry_V20150921: 'ecr',
  DynamoDB_20120810: 'dynamodb',
  AWSStepFunctions: 'states',
  AWSEvents: 'events',
  Logs_20140328: 'logs',
};

/** `Credential=AKID/20260101/us-east-1/ec2/aws4_request` -> `ec2` */
function signingService(headers: IncomingHttpHeaders): string | null {
  const match = /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(String(headers.authorization ?? ''));
  return match ? match[1] : null;
}

/** Recognises the AWS action of a request: `X-Amz-Target` for JSON protocols, `Action=` for query protocols (EC2, IAM, STS). */
export function recognise(method: string, url: string, headers: IncomingHttpHeaders, body: string): AwsCall | null {
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) {
    const [prefix, action] = [target.slice(0, target.lastIndexOf('.')), target.slice(target.lastIndexOf('.') + 1)];
    const contentType = String(headers['content-type'] ?? 'application/x-amz-json-1.1');
    return { service: signingService(headers) ?? JSON_TARGET_SERVICES[prefix] ?? prefix, action, protocol: 'json', contentType };
  }
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const form =
    method === 'POST' && String(headers['content-type'] ?? '').includes('application/x-www-form-urlencoded')
      ? new URLSearchParams(body)
      : null;
  const action = form?.get('Action') ?? query.get('Action');
  if (!action) return null;
  return { service: signingService(headers) ?? 'unknown', action, protocol: 'query', contentType: 'text/xml' };
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface FaultAnswer {
  status: number;
  code: string;
  message: string;
}

function answerFor(fault: Exclude<FaultKind, 'reset' | 'lost-response'>, call: AwsCall): FaultAnswer {
  const ec2 = call.service === 'ec2';
  switch (fault) {
    case 'throttle':
      return call.protocol === 'json'
        ? { status: 400, code: 'ThrottlingException', message: 'Rate exceeded' }
        : { status: 400, code: ec2 ? 'RequestLimitExceeded' : 'Throttling', message: ec2 ? 'Request limit exceeded.' : 'Rate exceeded' };
    case 'server-error':
      return call.protocol === 'json'
        ? { status: 503, code: 'ServiceUnavailable', message: 'Service is unavailable. Please try again.' }
        : { status: 500, code: 'InternalError', message: 'An internal error has occurred.' };
    case 'access-denied':
      return call.protocol === 'json' || !ec2
        ? {
            status: 403,
            code: call.protocol === 'json' ? 'AccessDeniedException' : 'AccessDenied',
            message: `User: arn:aws:sts::123456789012:assumed-role/test is not authorized to perform: ${call.service}:${call.action}`,
          }
        : { status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' };
  }
}

function sendFault(res: ServerResponse, answer: FaultAnswer, call: AwsCall): void {
  const requestId = randomUUID();
  if (call.protocol === 'json') {
    res.writeHead(answer.status, {
      'content-type': call.contentType,
      'x-amzn-requestid': requestId,
      'x-amzn-errortype': `${answer.code}:http://internal.amazon.com/coral/com.amazon.coral.service/`,
    });
    res.end(JSON.stringify({ __type: answer.code, message: answer.message }));
    return;
  }
  const body =
    call.service === 'ec2'
      ? `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${answer.code}</Code><Message>${xmlEscape(answer.message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`
      : `<ErrorResponse xmlns="https://${call.service}.amazonaws.com/doc/"><Error><Type>${answer.status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${answer.code}</Code><Message>${xmlEscape(answer.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`;
  res.writeHead(answer.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
  res.end(body);
}

function matches(rule: FaultRule, call: AwsCall, body: string): boolean {
  return (
    rule.action === call.action &&
    (rule.service === undefined || rule.service === call.service) &&
    (rule.bodyIncludes === undefined || body.includes(rule.bodyIncludes))
  );
}

/** Starts the proxy on 127.0.0.1 on a free port, forwarding to `target` (the moto endpoint). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let live: LiveRule[] = [];
  let counts: Record<string, ActionCount> = {};
  let injected = 0;

  /** The rule that faults this request, after counting it against every matching rule's `after`. */
  const pick = (call: AwsCall, body: string): LiveRule | null => {
    for (const entry of live) {
      if (!matches(entry.rule, call, body)) continue;
      entry.seen += 1;
      if (entry.seen <= (entry.rule.after ?? 0)) continue;
      if (entry.rule.times !== 'always' && entry.given >= entry.rule.times) continue;
      entry.given += 1;
      return entry;
    }
    return null;
  };

  /** Forwards to moto; with `drop`, moto's answer is read and the client's connection destroyed instead. */
  const pass = (req: IncomingMessage, res: ServerResponse, body: Buffer, count: ActionCount | null, drop = false) => {
    const started = Date.now();
    if (count) res.on('finish', () => (count.upstreamMs += Date.now() - started));
    const headers = { ...req.headers, host: upstream.host };
    const out = forward(
      { protocol: upstream.protocol, hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (answer) => {
        if (drop) {
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream error: ${error.message}`);
    });
    out.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const call = recognise(req.method ?? 'GET', req.url ?? '/', req.headers, body.toString('utf8'));
      let count: ActionCount | null = null;
      if (call) {
        const key = `${call.service}:${call.action}`;
        count = counts[key] ??= { requests: 0, faulted: 0, upstreamMs: 0 };
        count.requests += 1;
        const hit = pick(call, body.toString('utf8'));
        if (hit) {
          count.faulted += 1;
          injected += 1;
          if (hit.rule.fault === 'reset') {
            req.socket.destroy();
            return;
          }
          if (hit.rule.fault === 'lost-response') {
            pass(req, res, body, null, true);
            return;
          }
          sendFault(res, answerFor(hit.rule.fault, call), call);
          return;
        }
      }
      pass(req, res, body, count);
    });
  });
  const local = await listenLocal(server, agent);
  return {
    endpoint: local.endpoint,
    addRule(rule) {
      if (rule.times !== 'always' && (!Number.isInteger(rule.times) || rule.times < 1))
        throw new Error(`fault rule times must be a positive integer or 'always', got ${rule.times}`);
      live.push({ rule: { ...rule }, seen: 0, given: 0 });
    },
    clear() {
      live = [];
    },
    rules() {
      return live.map((l) => l.rule);
    },
    counts() {
      return structuredClone(counts);
    },
    resetCounts() {
      counts = {};
      injected = 0;
    },
    faultsInjected() {
      return injected;
    },
    stop: local.stop,
  };
}

type RetryErrorType = 'THROTTLING' | 'TRANSIENT' | 'SERVER_ERROR' | 'CLIENT_ERROR';

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * The SDK's standard retry decision (throttling and transient errors, 5xx and connection resets
 * included; `maxAttempts` attempts in all) without its backoff sleeps, which are up to seconds per
 * throttled call and would only make a fault matrix slow. What reaches the step is unchanged: the
 * same error after the same number of attempts.
 */
export function noBackoffRetryStrategy(maxAttempts = 3) {
  const token = (count: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
  return {
    mode: 'standard',
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous: RetryToken, info: { errorType: RetryErrorType }) => {
      const retryable = info.errorType === 'THROTTLING' || info.errorType === 'TRANSIENT';
      if (!retryable || previous.getRetryCount() + 1 >= maxAttempts) throw new Error('No retry token available');
      return token(previous.getRetryCount() + 1);
    },
    recordSuccess: () => undefined,
  };
}

/** Replaces the retry strategy of already-created clients (the middleware asks the config for it on every call). */
export function removeSdkBackoff(clients: Clients, maxAttempts = 3): void {
  for (const [name, client] of Object.entries(clients) as [keyof Clients, { config: { retryStrategy: unknown } }][]) {
    // ssmOnce makes one attempt on purpose (SendCommand cannot be deduplicated).
    const strategy = noBackoffRetryStrategy(name === 'ssmOnce' ? 1 : maxAttempts);
    client.config.retryStrategy = async () => strategy;
  }
}

/**
 * Jest runs a test file in its own V8 context, while Node's core modules (http, net) create their
 * errors in the main one: a connection reset's error is then not `instanceof Error` in the test's
 * context, and the SDK, which checks that, wraps it in a plain `Error` that has lost its name
 * (`TimeoutError`) and code (`ECONNRESET`). A Lambda has one context; this makes the test file
 * behave like it for `instanceof Error` (only: subclasses keep their own check).
 */
export function acceptErrorsFromOtherContexts(): void {
  const native = Function.prototype[Symbol.hasInstance];
  Object.defineProperty(Error, Symbol.hasInstance, {
    configurable: true,
    value(this: unknown, value: unknown): boolean {
      if (this === Error && isNativeError(value)) return true;
      return native.call(this, value);
    },
  });
}

/**
 * moto gives the big regions (us-east-1 among them) ~1,100 stock AMIs, each with a snapshot the
 * account owns: every DescribeSnapshots (readAccount, the clean-up's removeImage) then costs
 * ~0.4 s. In a region it has no AMI catalogue for, it has 44. Nothing in the pipeline depends on
 * the region, so the fault and bad-input tests run there: `useEndpoint(endpoint, FAST_REGION)`.
 */
export const FAST_REGION = 'ap-southeast-7';
