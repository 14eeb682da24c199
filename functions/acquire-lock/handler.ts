import { acquireLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { sfnClient } from '../shared/sdk/sfn';

export const handler = stepHandler(acquireLock, () => ({ dynamodb: dynamodbClient(), sfn: sfnClient() }));
