import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient, ssmOnceClient } from '../shared/sdk/ssm';
import { sendUpdateCommand } from './send-update-command';

export const handler = stepHandler(cancellable(sendUpdateCommand), () => ({
  ec2: ec2Client(),
  ssm: ssmClient(),
  ssmOnce: ssmOnceClient(),
  dynamodb: dynamodbClient(),
}));
