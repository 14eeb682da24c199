import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const logsClient = (): CloudWatchLogsClient => cachedClient('logs', () => new CloudWatchLogsClient({}));
