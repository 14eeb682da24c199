import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { loadPackagedConfig } from '../shared/config-env';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { sfnClient } from '../shared/sdk/sfn';
import { type CancelApiDeps, cancelFromApi } from './api';

function defaultDeps(): CancelApiDeps {
  return { sfn: sfnClient(), dynamodb: dynamodbClient(), config: loadPackagedConfig(), stateMachineArn: stateMachineArnFromEnv() };
}

export const handler = lambdaHandler((event: APIGatewayProxyEventV2) => cancelFromApi(event, defaultDeps, logger));
