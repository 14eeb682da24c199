import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { terminateTestInstance } from './terminate-test-instance';

export const handler = stepHandler(cancellable(terminateTestInstance), () => ({ ec2: ec2Client(), dynamodb: dynamodbClient() }));
