import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { stopBuilder } from './stop-builder';

export const handler = stepHandler(stopBuilder, () => ({ ec2: ec2Client() }));
