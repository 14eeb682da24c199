import { forgetCancelRecord } from '../shared/cancellation';
import { releaseLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import type { BuildState } from '../shared/state';

export const handler = stepHandler(
  async (state: BuildState, ctx) => {
    const released = await releaseLock(state, ctx);
    await forgetCancelRecord(ctx.clients.dynamodb, ctx.config, state);
    return released;
  },
  () => ({ dynamodb: dynamodbClient() }),
);
