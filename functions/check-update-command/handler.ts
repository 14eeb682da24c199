import { stepHandler } from '../shared/handler';
import { logsClient } from '../shared/sdk/logs';
import { ssmClient } from '../shared/sdk/ssm';
import { checkUpdateCommand } from './check-update-command';

export const handler = stepHandler(checkUpdateCommand, () => ({ ssm: ssmClient(), logs: logsClient() }));
