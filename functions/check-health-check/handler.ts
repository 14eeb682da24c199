import { stepHandler } from '../shared/handler';
import { checkHealthCheck } from './check-health-check';

export const handler = stepHandler(checkHealthCheck);
