import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { defaultClients } from '../shared/clients';
import { loadPackagedConfig } from '../shared/config-env';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { type BuildStatusDeps, statusFromApi } from './api';

function defaultDeps(): BuildStatusDeps {
  return { sfn: defaultClients().sfn, stateMachineArn: stateMachineArnFromEnv(), config: loadPackagedConfig() };
}

export const handler = lambdaHandler((event: APIGatewayProxyEventV2) => statusFromApi(event, defaultDeps, logger));
