import { releaseLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';

// The build's cancel record is left to expire by TTL: nothing reads it once the lock is released.
export const handler = stepHandler(releaseLock, () => ({ dynamodb: dynamodbClient() }));
