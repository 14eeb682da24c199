import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { apiEntry, type RouteTable } from '../shared/api-routes';
import { parseBody } from '../shared/body';
import { namingFields, RequestInvalid, receivedText } from '../shared/errors';
import type { StarterContext } from '../shared/handler';
import { baseUrl, jsonResponse } from '../shared/http';
import { startPromotion } from './promote';
import { startRollback } from './rollback';

/**
 * A rollback reads the history and whether its AMIs exist (SSM, EC2); a promotion reads the
 * source's metadata and starts an ordinary build (ECR, SSM); both start an execution. No
 * DynamoDB: neither records the caller (only the build routes of functions/start-build do).
 */
export type EnvironmentActionDeps = StarterContext<'ecr' | 'ssm' | 'ec2' | 'sfn'>;

export const ROLLBACK_ROUTE = 'POST /environments/{env}/rollback';
export const PROMOTE_ROUTE = 'POST /environments/{env}/promote';

/** A body of only the allowed fields, each a string; required fields make the body required. */
function parseStringBody(event: APIGatewayProxyEventV2, allowed: readonly string[], required: readonly string[]): Record<string, string> {
  const form = `{${allowed.map((f) => `"${f}"${required.includes(f) ? '' : '?'}: ...`).join(', ')}}`;
  const body = parseBody(event, { allowed, required, optional: required.length === 0, form });
  for (const [field, value] of Object.entries(body))
    if (typeof value !== 'string')
      throw new RequestInvalid({ field: `body.${field}`, allowed: `a string: ${form}`, received: receivedText(value) });
  return body as Record<string, string>;
}

/**
 * POST /environments/{env}/rollback `{"to"?: "ami-..."}` and POST /environments/{env}/promote
 * `{"from": "<env>"}`: 202 with the execution; 4xx, and nothing started, otherwise. The route
 * table checks the caller and the path's environment first (shared/api-routes.ts).
 */
export const ENVIRONMENT_ACTION_ROUTES: RouteTable<EnvironmentActionDeps> = {
  [ROLLBACK_ROUTE]: async ({ event, pathEnvironment }, deps) => {
    const body = parseStringBody(event, ['to'], []);
    const started = await namingFields({ environment: 'path.env', to: 'body.to' }, () =>
      startRollback({ environment: pathEnvironment ?? '', to: body.to, source: 'api' }, deps),
    );
    return jsonResponse(202, {
      ...started,
      statusUrl: `${baseUrl(event)}/environments/${started.environment}/builds/${started.executionName}`,
    });
  },
  [PROMOTE_ROUTE]: async ({ event, pathEnvironment }, deps) => {
    const body = parseStringBody(event, ['from'], ['from']);
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

/** The HTTP API routes of the environment-action function: 202 with the execution, 4xx (nothing started) otherwise. */
export const environmentActionFromApi = apiEntry(ENVIRONMENT_ACTION_ROUTES);
