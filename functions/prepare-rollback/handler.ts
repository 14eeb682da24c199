import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ecrClient } from '../shared/sdk/ecr';
import { ssmClient } from '../shared/sdk/ssm';
import { prepareRollback } from './prepare-rollback';

export const handler = stepHandler(prepareRollback, () => ({
  ec2: ec2Client(),
  ssm: ssmClient(),
  ecr: ecrClient(),
}));
