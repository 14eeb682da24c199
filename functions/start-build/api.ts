import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type ApiRequest, apiEntry, type RouteTable } from '../shared/api-routes';
import { parseBody } from '../shared/body';
import { assertCallerAllowed } from '../shared/callers';
import { RequestInvalid, receivedText } from '../shared/errors';
import { baseUrl, jsonResponse } from '../shared/http';
import { parseRequest } from '../shared/request';
import { requesterRecord } from '../shared/requester';
import { type StartBuildDeps, startBuild } from './start-build';

const API_FIELDS = ['environment', 'image', 'branch', 'commit_sha'] as const;
const BODY_FORM = '{"environment": ..., "image"?: ..., "branch"?: ..., "commit_sha"?: ...}';
const PATH_BODY_FORM = '{"image"?: ..., "branch"?: ..., "commit_sha"?: ...} or no body';

async function start(
  input: Record<string, unknown>,
  { event, caller }: ApiRequest,
  deps: StartBuildDeps,
  statusPath: (name: string) => string,
): Promise<APIGatewayProxyStructuredResultV2> {
  const started = await startBuild(input, deps, requesterRecord(deps.clients.dynamodb, deps.config, caller.arn));
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
 * (execute-api:Invoke on .../POST/environments/{env}/builds). Rollbacks and promotions have a
 * function of their own (functions/start-environment-action), so this one bundles no EC2 client.
 */
export const START_ROUTES: RouteTable<StartBuildDeps> = {
  'POST /builds': async (request, deps) => {
    const input = { ...parseBody(request.event, { allowed: API_FIELDS, optional: false, form: BODY_FORM }), source: 'api' };
    const { environment } = parseRequest(input, deps.config);
    assertCallerAllowed(deps.config, environment, request.caller);
    return start(input, request, deps, (name) => `/builds/${name}`);
  },
  'POST /environments/{env}/builds': async (request, deps) => {
    const env = request.pathEnvironment ?? '';
    // No body: the environment's default tag.
    const body = parseBody(request.event, { allowed: API_FIELDS, optional: true, form: PATH_BODY_FORM });
    if (body.environment !== undefined && body.environment !== env) {
      throw new RequestInvalid({
        field: 'body.environment',
        allowed: `omitted, or "${env}", the environment of the path`,
        received: receivedText(body.environment),
      });
    }
    return start({ ...body, environment: env, source: 'api' }, request, deps, (name) => `/environments/${env}/builds/${name}`);
  },
};

/** The HTTP API routes of the start function: 202 with the execution, 4xx (nothing started) otherwise. */
export const startFromApi = apiEntry(START_ROUTES);
