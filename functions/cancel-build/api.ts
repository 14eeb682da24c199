import { apiEntry, type RouteTable } from '../shared/api-routes';
import { assertCallerAllowed } from '../shared/callers';
import { executionArnFor, pathBuildId } from '../shared/execution-name';
import { baseUrl, jsonResponse } from '../shared/http';
import { type CancelBuildDeps, cancelBuild } from './cancel-build';

export interface CancelApiDeps extends CancelBuildDeps {
  stateMachineArn: string;
}

export const CANCEL_ROUTE = 'POST /environments/{env}/builds/{id}/cancel';

/**
 * POST /environments/{env}/builds/{id}/cancel: 202 once the cancel is recorded (the build rolls
 * back before it makes anything more), 404 for an unknown build or one of another environment, 409 when it
 * has ended or started to publish. The environment in the path lets IAM grant cancelling one
 * environment's builds; `environments.{env}.callers` applies as it does to starting them.
 */
export const CANCEL_ROUTES: RouteTable<CancelApiDeps> = {
  [CANCEL_ROUTE]: async ({ event, caller, pathEnvironment }, deps) => {
    const environment = pathEnvironment ?? '';
    const id = pathBuildId(event.pathParameters);
    assertCallerAllowed(deps.config, environment, caller);
    const cancelled = await cancelBuild(executionArnFor(deps.stateMachineArn, id), caller.arn, deps, environment);
    return jsonResponse(202, {
      ...cancelled,
      status: 'CANCEL_REQUESTED',
      statusUrl: `${baseUrl(event)}/environments/${environment}/builds/${cancelled.executionName}`,
    });
  },
};

export const cancelFromApi = apiEntry(CANCEL_ROUTES);
