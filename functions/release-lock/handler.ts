import { releaseLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';

export const handler = stepHandler(releaseLock, () => ({ dynamodb: dynamodbClient() }));
