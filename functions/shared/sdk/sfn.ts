import { SFNClient } from '@aws-sdk/client-sfn';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const sfnClient = (): SFNClient => cachedClient('sfn', () => new SFNClient({}));
