import { stepHandler } from '../shared/handler';
import { normalizeRequest } from './normalize-request';

export const handler = stepHandler(normalizeRequest);
