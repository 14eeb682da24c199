import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { loadPackagedConfig } from '../shared/config-env';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ecrClient } from '../shared/sdk/ecr';
import { sfnClient } from '../shared/sdk/sfn';
import { ssmClient } from '../shared/sdk/ssm';
import { type EnvironmentActionDeps, environmentActionFromApi } from './api';

function defaultDeps(): EnvironmentActionDeps {
  // Only the clients its two routes call (EnvironmentActionDeps names them), so the bundle holds no other.
  const clients = { ecr: ecrClient(), ssm: ssmClient(), ec2: ec2Client(), sfn: sfnClient() };
  return { config: loadPackagedConfig(), clients, logger, stateMachineArn: stateMachineArnFromEnv() };
}

/** POST /environments/{env}/rollback and POST /environments/{env}/promote (API Gateway only). */
export const handler = lambdaHandler((event: APIGatewayProxyEventV2) => environmentActionFromApi(event, defaultDeps, logger));
