import { stepHandler } from '../shared/handler';
import { rollBack } from './roll-back';

export const handler = stepHandler(rollBack);
