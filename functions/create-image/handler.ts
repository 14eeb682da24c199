import { stepHandler } from '../shared/handler';
import { createImage } from './create-image';

export const handler = stepHandler(createImage);
