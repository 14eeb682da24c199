import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient } from '../shared/sdk/ssm';
import { rollBack } from './roll-back';

export const handler = stepHandler(rollBack, () => ({ ec2: ec2Client(), ssm: ssmClient() }));
