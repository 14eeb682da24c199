import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { launchTestInstance } from './launch-test-instance';

export const handler = stepHandler(cancellable(launchTestInstance));
