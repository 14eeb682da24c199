import { stepHandler } from '../shared/handler';
import { awaitEvent } from './await-event';

export const handler = stepHandler(awaitEvent);
