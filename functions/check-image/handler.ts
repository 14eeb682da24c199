import { stepHandler } from '../shared/handler';
import { checkImage } from './check-image';

export const handler = stepHandler(checkImage);
