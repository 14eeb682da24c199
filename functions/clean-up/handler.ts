import { stepHandler } from '../shared/handler';
import { cleanUp } from './clean-up';

export const handler = stepHandler(cleanUp);
