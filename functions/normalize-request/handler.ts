import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ecrClient } from '../shared/sdk/ecr';
import { ssmClient } from '../shared/sdk/ssm';
import { normalizeRequest } from './normalize-request';

export const handler = stepHandler(normalizeRequest, () => ({ ecr: ecrClient(), ssm: ssmClient(), dynamodb: dynamodbClient() }));
