import { stepHandler } from '../shared/handler';
import { resolveBaseAmi } from './resolve-base-ami';

export const handler = stepHandler(resolveBaseAmi);
