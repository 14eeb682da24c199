import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { sendUpdateCommand } from './send-update-command';

export const handler = stepHandler(cancellable(sendUpdateCommand));
