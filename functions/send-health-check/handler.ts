import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { sendHealthCheck } from './send-health-check';

export const handler = stepHandler(cancellable(sendHealthCheck));
