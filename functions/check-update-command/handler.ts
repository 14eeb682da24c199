import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { checkUpdateCommand } from './check-update-command';

export const handler = stepHandler(cancellable(checkUpdateCommand));
