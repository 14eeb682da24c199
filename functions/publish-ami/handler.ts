import { stepHandler } from '../shared/handler';
import { publishAmi } from './publish-ami';

export const handler = stepHandler(publishAmi);
