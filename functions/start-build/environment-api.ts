import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { RouteTable } from '../shared/api-routes';
import { namingFields, RequestInvalid, receivedText } from '../shared/errors';
import { baseUrl, bodyText, jsonResponse } from '../shared/http';
import { MAX_INPUT_BYTES } from '../shared/request';
import { startPromotion } from './promote';
import { startRollback } from './rollback';
import type { StartBuildDeps } from './start-build';

export const ROLLBACK_ROUTE = 'POST /environments/{env}/rollback';
export const PROMOTE_ROUTE = 'POST /environments/{env}/promote';

/** An optional JSON object body with only the allowed fields, each a string. */
function parseBody(event: APIGatewayProxyEventV2, allowed: readonly string[], required: readonly string[]): Record<string, string> {
  const form = `{${allowed.map((f) => `"${f}"${required.includes(f) ? '' : '?'}: ...`).join(', ')}}`;
  const text = bodyText(event);
  if (text === undefined || text.trim() === '') {
    if (required.length > 0) throw new RequestInvalid({ field: 'body', missing: true, allowed: form });
    return {};
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_INPUT_BYTES)
    throw new RequestInvalid({ field: 'body', allowed: `at most ${MAX_INPUT_BYTES} bytes`, received: `${size} bytes` });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RequestInvalid({ field: 'body', allowed: `JSON: ${form}`, received: receivedText(text) });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new RequestInvalid({ field: 'body', allowed: `a JSON object: ${form}`, received: receivedText(body) });
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !allowed.includes(key));
  if (unknown.length > 0)
    throw new RequestInvalid({
      field: 'body',
      problem: `unknown field(s) ${unknown.map((k) => `"${receivedText(k)}"`).join(', ')} are not allowed`,
      allowed: `an object with only ${allowed.join(', ')}`,
    });
  for (const field of required) if (!(field in record)) throw new RequestInvalid({ field: `body.${field}`, missing: true, allowed: form });
  for (const [field, value] of Object.entries(record))
    if (typeof value !== 'string')
      throw new RequestInvalid({ field: `body.${field}`, allowed: `a string: ${form}`, received: receivedText(value) });
  return record as Record<string, string>;
}

/**
 * POST /environments/{env}/rollback `{"to"?: "ami-..."}` and POST /environments/{env}/promote
 * `{"from": "<env>"}`: 202 with the execution; 4xx, and nothing started, otherwise. The route
 * table checks the caller and the path's environment first (shared/api-routes.ts).
 */
export const ENVIRONMENT_ACTION_ROUTES: RouteTable<StartBuildDeps> = {
  [ROLLBACK_ROUTE]: async ({ event, pathEnvironment }, deps) => {
    const body = parseBody(event, ['to'], []);
    const started = await namingFields({ environment: 'path.env', to: 'body.to' }, () =>
      startRollback({ environment: pathEnvironment ?? '', to: body.to, source: 'api' }, deps),
    );
    return jsonResponse(202, {
      ...started,
      statusUrl: `${baseUrl(event)}/environments/${started.environment}/builds/${started.executionName}`,
    });
  },
  [PROMOTE_ROUTE]: async ({ event, pathEnvironment }, deps) => {
    const body = parseBody(event, ['from'], ['from']);
    const started = await namingFields({ from: 'body.from', to: 'path.env' }, () =>
      startPromotion({ from: body.from, to: pathEnvironment ?? '', source: 'api' }, deps),
    );
    return jsonResponse(202, {
      executionArn: started.executionArn,
      executionName: started.executionName,
      environment: started.environment,
      from: started.from,
      digest: started.digest,
      imageUri: started.imageUri,
      alreadyStarted: started.alreadyStarted,
      statusUrl: `${baseUrl(event)}/environments/${started.environment}/builds/${started.executionName}`,
    });
  },
};
