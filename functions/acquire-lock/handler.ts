import { acquireLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';

export const handler = stepHandler(acquireLock);
