import { stepHandler } from '../shared/handler';
import { launchTestInstance } from './launch-test-instance';

export const handler = stepHandler(launchTestInstance);
