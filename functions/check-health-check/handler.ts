import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { checkHealthCheck } from './check-health-check';

export const handler = stepHandler(cancellable(checkHealthCheck));
