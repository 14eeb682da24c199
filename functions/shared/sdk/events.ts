import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { cachedClient } from './cache';

/** Honours the standard SDK configuration, AWS_ENDPOINT_URL included (how the emulator is reached). */
export const eventsClient = (): EventBridgeClient => cachedClient('events', () => new EventBridgeClient({}));
