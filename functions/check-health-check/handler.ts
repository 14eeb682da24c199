import { stepHandler } from '../shared/handler';
import { ssmClient } from '../shared/sdk/ssm';
import { checkHealthCheck } from './check-health-check';

export const handler = stepHandler(checkHealthCheck, () => ({ ssm: ssmClient() }));
