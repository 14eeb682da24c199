import { stepHandler } from '../shared/handler';
import { receiveEvent } from './receive-event';

export const handler = stepHandler(receiveEvent);
