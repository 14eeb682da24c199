import { type StepContext, stepHandler } from '../shared/handler';
import { ec2Client } from '../shared/sdk/ec2';
import { sweepBuilders } from './sweep-builders';

export const handler = stepHandler(
  (event: unknown, ctx: StepContext<'ec2'>) => sweepBuilders(event, ctx),
  () => ({ ec2: ec2Client() }),
);
