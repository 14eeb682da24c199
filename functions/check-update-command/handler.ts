import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { logsClient } from '../shared/sdk/logs';
import { ssmClient } from '../shared/sdk/ssm';
import { checkUpdateCommand } from './check-update-command';

export const handler = stepHandler(checkUpdateCommand, () => ({
  ec2: ec2Client(),
  ssm: ssmClient(),
  logs: logsClient(),
}));
