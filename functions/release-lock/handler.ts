import { releaseLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';

export const handler = stepHandler(releaseLock);
