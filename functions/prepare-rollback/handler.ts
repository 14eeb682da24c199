import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { prepareRollback } from './prepare-rollback';

export const handler = stepHandler(cancellable(prepareRollback));
