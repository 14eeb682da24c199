import { cancellable } from '../shared/cancellation';
import { stepHandler } from '../shared/handler';
import { resolveBaseAmi } from './resolve-base-ami';

export const handler = stepHandler(cancellable(resolveBaseAmi));
