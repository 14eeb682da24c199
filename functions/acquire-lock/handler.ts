import { throwIfCancelled } from '../shared/cancellation';
import { acquireLock } from '../shared/environment-lock';
import { stepHandler } from '../shared/handler';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { sfnClient } from '../shared/sdk/sfn';
import type { BuildState } from '../shared/state';

// A build cancelled while it waits for the environment ends without taking it. A first attempt
// does not read the record: a cancel that early is read before the builder is launched.
export const handler = stepHandler(
  async (state: BuildState, ctx) => {
    if (state.lock) await throwIfCancelled(state.execution, ctx);
    return acquireLock(state, ctx);
  },
  () => ({ dynamodb: dynamodbClient(), sfn: sfnClient() }),
);
