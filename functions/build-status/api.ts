import type { Logger } from '@aws-lambda-powertools/logger';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { PipelineConfig } from '../shared/config';
import { RequestInvalid } from '../shared/errors';
import { EXECUTION_NAME, executionArnFor } from '../shared/execution-name';
import { errorResponse, jsonResponse } from '../shared/http';
import { describeBuild, failureReason } from './build-status';

export interface BuildStatusDeps {
  sfn: SFNClient;
  stateMachineArn: string;
  config: PipelineConfig;
}

/** GET /builds/{id}: 200 with the build's status (a failure's short reason, no output), 400 for a malformed id, 404 for an unknown one. */
export async function statusFromApi(
  event: APIGatewayProxyEventV2,
  deps: () => BuildStatusDeps,
  logger: Pick<Logger, 'error' | 'warn'>,
): Promise<APIGatewayProxyStructuredResultV2> {
  try {
    const id = event.pathParameters?.id ?? '';
    const { sfn, stateMachineArn, config } = deps();
    // Only a name: an ARN could name another state machine's execution.
    if (!EXECUTION_NAME.test(id)) throw new RequestInvalid(`id: must be a build's execution name (letters, digits, - and _, at most 80), got "${id.slice(0, 100)}"`);
    const executionArn = executionArnFor(stateMachineArn, id);
    const status = await describeBuild(sfn, executionArn, config);
    // A short reason only: no build output in an API answer.
    if (status.cause !== undefined) status.cause = failureReason(status.cause);
    return jsonResponse(200, status);
  } catch (error) {
    const response = errorResponse(error);
    if ((response.statusCode ?? 500) >= 500) logger.error('GET /builds/{id} failed', { error: error as Error });
    else logger.warn('GET /builds/{id} refused', { response: response.body });
    return response;
  }
}
