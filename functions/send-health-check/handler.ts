import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient, ssmOnceClient } from '../shared/sdk/ssm';
import { sendHealthCheck } from './send-health-check';

export const handler = stepHandler(sendHealthCheck, () => ({
  ec2: ec2Client(),
  ssm: ssmClient(),
  ssmOnce: ssmOnceClient(),
}));
