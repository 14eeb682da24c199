import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { terminateTestInstance } from './terminate-test-instance';

export const handler = stepHandler(cancellable(terminateTestInstance));
