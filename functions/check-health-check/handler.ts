import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ssmClient } from '../shared/sdk/ssm';
import { checkHealthCheck } from './check-health-check';

export const handler = stepHandler(cancellable(checkHealthCheck), () => ({ ssm: ssmClient(), dynamodb: dynamodbClient() }));
