import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const dynamodbClient = (): DynamoDBClient => cachedClient('dynamodb', () => new DynamoDBClient({}));
