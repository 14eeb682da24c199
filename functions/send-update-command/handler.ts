import { stepHandler } from '../shared/handler';
import { sendUpdateCommand } from './send-update-command';

export const handler = stepHandler(sendUpdateCommand);
