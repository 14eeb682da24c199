import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { checkImage } from './check-image';

export const handler = stepHandler(checkImage, () => ({ ec2: ec2Client() }));
