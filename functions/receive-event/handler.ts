import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { sfnClient } from '../shared/sdk/sfn';
import { receiveEvent } from './receive-event';

export const handler = stepHandler(receiveEvent, () => ({ dynamodb: dynamodbClient(), sfn: sfnClient() }));
