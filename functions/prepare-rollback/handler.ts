import { stepHandler } from '../shared/handler';
import { prepareRollback } from './prepare-rollback';

export const handler = stepHandler(prepareRollback);
