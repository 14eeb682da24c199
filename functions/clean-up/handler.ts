import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient } from '../shared/sdk/ssm';
import { cleanUp } from './clean-up';

export const handler = stepHandler(cleanUp, () => ({ ec2: ec2Client(), ssm: ssmClient() }));
