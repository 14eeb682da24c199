import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { launchTestInstance } from './launch-test-instance';

export const handler = stepHandler(launchTestInstance, () => ({ ec2: ec2Client() }));
