import type { Logger } from '@aws-lambda-powertools/logger';
import { loadPackagedConfig } from '../shared/config-env';
import { classifyError, RequestInvalid, receivedText } from '../shared/errors';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { isHttpEvent } from '../shared/http';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ecrClient } from '../shared/sdk/ecr';
import { sfnClient } from '../shared/sdk/sfn';
import { ssmClient } from '../shared/sdk/ssm';
import { startFromApi } from './api';
import { isEventBridgeEvent, startFromPush } from './push';
import type { StartBuildDeps } from './start-build';

function defaultDeps(): StartBuildDeps {
  // Only the clients its routes call (StartBuildDeps names them), so the bundle holds no other.
  const clients = { ecr: ecrClient(), ssm: ssmClient(), sfn: sfnClient(), dynamodb: dynamodbClient() };
  return { config: loadPackagedConfig(), clients, logger, stateMachineArn: stateMachineArnFromEnv() };
}

export const EVENT_FORM = 'an HTTP API request (payload format 2.0) or an EventBridge ECR push event';

/**
 * Two callers invoke this function, each with its own contract: API Gateway (HTTP API payload
 * 2.0, answered with an HTTP response, startFromApi) and the ECR push rule (an EventBridge
 * event, started or refused with a named error, startFromPush). Anything else (a console-style
 * input sent straight to the function) is refused: builds from the console start on the state
 * machine itself.
 */
export async function dispatch(event: unknown, deps: () => StartBuildDeps, log: Logger = logger) {
  if (isHttpEvent(event)) return startFromApi(event, deps, log);
  try {
    if (!isEventBridgeEvent(event)) throw new RequestInvalid({ field: 'event', allowed: EVENT_FORM, received: receivedText(event) });
    return await startFromPush(event, deps());
  } catch (error) {
    const named = classifyError(error);
    log.error('build not started', { errorName: named.name, error: named });
    throw named;
  }
}

export const handler = lambdaHandler((event: unknown) => dispatch(event, defaultDeps));
