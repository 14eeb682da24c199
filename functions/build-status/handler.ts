import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { defaultClients } from '../shared/clients';
import { loadConfig } from '../shared/config';
import { logger } from '../shared/handler';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { statusFromApi, type BuildStatusDeps } from './api';

function defaultDeps(): BuildStatusDeps {
  return { sfn: defaultClients().sfn, stateMachineArn: stateMachineArnFromEnv(), config: loadConfig() };
}

export const handler = middy((event: APIGatewayProxyEventV2) => statusFromApi(event, defaultDeps, logger)).use(injectLambdaContext(logger));
