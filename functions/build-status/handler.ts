import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { loadPackagedConfig } from '../shared/config-env';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { sfnClient } from '../shared/sdk/sfn';
import { type BuildStatusDeps, statusFromApi } from './api';

function defaultDeps(): BuildStatusDeps {
  return { sfn: sfnClient(), stateMachineArn: stateMachineArnFromEnv(), config: loadPackagedConfig() };
}

export const handler = lambdaHandler((event: APIGatewayProxyEventV2) => statusFromApi(event, defaultDeps, logger));
