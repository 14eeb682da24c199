import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { checkImage } from './check-image';

export const handler = stepHandler(cancellable(checkImage));
