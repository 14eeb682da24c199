import { stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { createImage } from './create-image';

export const handler = stepHandler(createImage, () => ({ ec2: ec2Client() }));
