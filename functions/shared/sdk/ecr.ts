import { ECRClient } from '@aws-sdk/client-ecr';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const ecrClient = (): ECRClient => cachedClient('ecr', () => new ECRClient({}));
