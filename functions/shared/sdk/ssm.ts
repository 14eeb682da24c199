import { SSMClient } from '@aws-sdk/client-ssm';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const ssmClient = (): SSMClient => cachedClient('ssm', () => new SSMClient({}));

/**
 * SSM without the SDK's own retries, for SendCommand: SSM cannot deduplicate it, so a resend
 * must go through the step's retry, which first looks for the command already sent.
 */
export const ssmOnceClient = (): SSMClient => cachedClient('ssmOnce', () => new SSMClient({ maxAttempts: 1 }));
