import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type ApiRequest, type RouteTable, routeApi } from '../shared/api-routes';
import { assertCallerAllowed } from '../shared/callers';
import { RequestInvalid, receivedText } from '../shared/errors';
import { baseUrl, bodyText, jsonResponse } from '../shared/http';
import { MAX_INPUT_BYTES, parseRequest } from '../shared/request';
import { ENVIRONMENT_ACTION_ROUTES } from './environment-api';
import { type StartBuildDeps, startBuild } from './start-build';

const API_FIELDS = ['environment', 'image', 'branch', 'commit_sha'] as const;
const BODY_FORM = '{"environment": ..., "image"?: ..., "branch"?: ..., "commit_sha"?: ...}';
const PATH_BODY_FORM = '{"image"?: ..., "branch"?: ..., "commit_sha"?: ...} or no body';

/**
 * The JSON object of a POST body, refused when oversized, not JSON or with unknown fields, and
 * when missing unless `optional` (the env-in-path route builds the default tag from no body).
 */
export function parseApiBody(event: APIGatewayProxyEventV2, optional = false): Record<string, unknown> {
  const form = optional ? PATH_BODY_FORM : BODY_FORM;
  const text = bodyText(event);
  if (text === undefined || text.trim() === '') {
    if (optional) return {};
    throw new RequestInvalid({ field: 'body', missing: true, allowed: form });
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
  const unknown = Object.keys(body).filter((key) => !(API_FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new RequestInvalid({
      field: 'body',
      problem: `unknown field(s) ${unknown.map((k) => `"${receivedText(k)}"`).join(', ')} are not allowed`,
      allowed: `an object with only ${API_FIELDS.join(', ')}`,
    });
  }
  return body as Record<string, unknown>;
}

async function start(
  input: Record<string, unknown>,
  { event, caller }: ApiRequest,
  deps: StartBuildDeps,
  statusPath: (name: string) => string,
): Promise<APIGatewayProxyStructuredResultV2> {
  const started = await startBuild(input, deps, caller.arn);
  return jsonResponse(202, {
    executionArn: started.executionArn,
    executionName: started.executionName,
    environment: started.environment,
    imageUri: started.imageUri,
    alreadyStarted: started.alreadyStarted,
    statusUrl: `${baseUrl(event)}${statusPath(started.executionName)}`,
  });
}

/**
 * The start function's routes. The environment in the body (POST /builds) is checked against
 * `environments.{env}.callers`; the environment in the path is authorized by IAM itself
 * (execute-api:Invoke on .../POST/environments/{env}/builds).
 */
export const START_ROUTES: RouteTable<StartBuildDeps> = {
  'POST /builds': async (request, deps) => {
    const input = { ...parseApiBody(request.event), source: 'api' };
    const { environment } = parseRequest(input, deps.config);
    assertCallerAllowed(deps.config, environment, request.caller);
    return start(input, request, deps, (name) => `/builds/${name}`);
  },
  'POST /environments/{env}/builds': async (request, deps) => {
    const env = request.pathEnvironment ?? '';
    const body = parseApiBody(request.event, true);
    if (body.environment !== undefined && body.environment !== env) {
      throw new RequestInvalid({
        field: 'body.environment',
        allowed: `omitted, or "${env}", the environment of the path`,
        received: receivedText(body.environment),
      });
    }
    return start({ ...body, environment: env, source: 'api' }, request, deps, (name) => `/environments/${env}/builds/${name}`);
  },
  ...ENVIRONMENT_ACTION_ROUTES,
};

/** The HTTP API routes of the start function: 202 with the execution, 4xx (nothing started) otherwise. */
export function startFromApi(
  event: APIGatewayProxyEventV2,
  deps: () => StartBuildDeps,
  logger: Pick<Logger, 'error' | 'warn' | 'info'>,
): Promise<APIGatewayProxyStructuredResultV2> {
  return routeApi(START_ROUTES, event, deps, logger);
}
