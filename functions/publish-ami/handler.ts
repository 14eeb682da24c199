import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { ssmClient } from '../shared/sdk/ssm';
import { publishAmi } from './publish-ami';

export const handler = stepHandler(publishAmi, () => ({ ec2: ec2Client(), ssm: ssmClient() }));
