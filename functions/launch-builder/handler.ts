import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { launchBuilder } from './launch-builder';

export const handler = stepHandler(cancellable(launchBuilder));
