import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { launchBuilder } from './launch-builder';

export const handler = stepHandler(launchBuilder, () => ({ ec2: ec2Client() }));
