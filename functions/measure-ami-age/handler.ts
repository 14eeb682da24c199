import { stepHandler } from '../shared/handler';
import { newMetrics } from '../shared/metrics';
import { ssmClient } from '../shared/sdk/ssm';
import { measureAmiAge } from './measure-ami-age';

export const handler = stepHandler(
  (_event: unknown, ctx) => measureAmiAge(ctx, newMetrics()),
  () => ({ ssm: ssmClient() }),
);
