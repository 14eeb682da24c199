import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { terminateTestInstance } from './terminate-test-instance';

export const handler = stepHandler(terminateTestInstance, () => ({ ec2: ec2Client() }));
