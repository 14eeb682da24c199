import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient } from '../shared/sdk/ssm';
import { resolveBaseAmi } from './resolve-base-ami';

export const handler = stepHandler(resolveBaseAmi, () => ({ ec2: ec2Client(), ssm: ssmClient() }));
