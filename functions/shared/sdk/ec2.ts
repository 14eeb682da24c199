import { EC2Client } from '@aws-sdk/client-ec2';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const ec2Client = (): EC2Client => cachedClient('ec2', () => new EC2Client({}));
