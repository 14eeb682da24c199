import type { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { apiEntry, type RouteTable } from '../shared/api-routes';
import type { PipelineConfig } from '../shared/config';
import { BuildNotFound } from '../shared/errors';
import { executionArnFor, pathBuildId } from '../shared/execution-name';
import { jsonResponse } from '../shared/http';
import { type BuildStatus, describeBuild, failureReason } from './build-status';

export interface BuildStatusDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  config: PipelineConfig;
}

async function statusOf(event: APIGatewayProxyEventV2, { sfn, stateMachineArn, config }: BuildStatusDeps): Promise<BuildStatus> {
  const id = pathBuildId(event.pathParameters);
  const status = await describeBuild(sfn, executionArnFor(stateMachineArn, id), config);
  // A short reason only: no build output in an API answer.
  if (status.cause !== undefined) status.cause = failureReason(status.cause);
  return status;
}

/** GET routes: 200 with the build's status, 400 for a malformed id, 404 for an unknown one (or one of another environment). */
export const STATUS_ROUTES: RouteTable<BuildStatusDeps> = {
  'GET /builds/{id}': async ({ event }, deps) => jsonResponse(200, await statusOf(event, deps)),
  'GET /environments/{env}/builds/{id}': async ({ event, pathEnvironment }, deps) => {
    // A caller IAM lets read one environment learns nothing of another's builds, not even that they exist.
    const notHere = new BuildNotFound(`no build ${(event.pathParameters?.id ?? '').slice(0, 100)} in environment ${pathEnvironment}`);
    let status: BuildStatus;
    try {
      status = await statusOf(event, deps);
    } catch (error) {
      throw (error as Error).name === 'BuildNotFound' ? notHere : error;
    }
    if (status.environment !== pathEnvironment) throw notHere;
    return jsonResponse(200, status);
  },
};

export const statusFromApi = apiEntry(STATUS_ROUTES);
