import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { ec2Client } from '../shared/sdk/ec2';
import { sfnClient } from '../shared/sdk/sfn';
import { ssmClient } from '../shared/sdk/ssm';
import { awaitEvent } from './await-event';

export const handler = stepHandler(awaitEvent, () => ({
  dynamodb: dynamodbClient(),
  ec2: ec2Client(),
  sfn: sfnClient(),
  ssm: ssmClient(),
}));
