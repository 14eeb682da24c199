import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { launchTestInstance } from './launch-test-instance';

export const handler = stepHandler(cancellable('launchTestInstance', launchTestInstance), () => ({
  ec2: ec2Client(),
  dynamodb: dynamodbClient(),
}));
