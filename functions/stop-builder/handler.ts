import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { stopBuilder } from './stop-builder';

export const handler = stepHandler(cancellable(stopBuilder));
