import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient, ssmOnceClient } from '../shared/sdk/ssm';
import { sendUpdateCommand } from './send-update-command';

export const handler = stepHandler(sendUpdateCommand, () => ({
  ec2: ec2Client(),
  ssm: ssmClient(),
  ssmOnce: ssmOnceClient(),
}));
