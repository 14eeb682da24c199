import { cancellable } from '../shared/cancellation';
import { acquireLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { sfnClient } from '../shared/sdk/sfn';

// Cancellable: a build cancelled while it waits for the environment ends without ever taking it.
export const handler = stepHandler(cancellable(acquireLock), () => ({ dynamodb: dynamodbClient(), sfn: sfnClient() }));
