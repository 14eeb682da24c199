import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { defaultClients } from '../shared/clients';
import { loadConfig } from '../shared/config';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { type CancelApiDeps, cancelFromApi } from './api';

function defaultDeps(): CancelApiDeps {
  const { sfn, dynamodb } = defaultClients();
  return { sfn, dynamodb, config: loadConfig(), stateMachineArn: stateMachineArnFromEnv() };
}

export const handler = lambdaHandler((event: APIGatewayProxyEventV2) => cancelFromApi(event, defaultDeps, logger));
