import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { createImage } from './create-image';

export const handler = stepHandler(cancellable(createImage));
