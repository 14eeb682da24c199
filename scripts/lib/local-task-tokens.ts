import { randomUUID } from 'node:crypto';
import type { SFNClient } from '@aws-sdk/client-sfn';

/**
 * Step Functions' task-token API for the in-process runner: tokens minted per Task entry, and
 * SendTaskSuccess/SendTaskFailure of a handler's real SFN client answered here instead of by AWS
 * (aws-local-stepfunctions has no waitForTaskToken). A token of an ended Task answers
 * TaskTimedOut, as Step Functions does.
 */
const PREFIX = 'local-task-token:';

interface Pending {
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
}

const pending = new Map<string, Pending>();
const patched = new WeakSet<SFNClient>();

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** A fresh token and the promise its SendTaskSuccess (resolve) or SendTaskFailure (reject) settles. */
export function mintTaskToken(): { token: string; settled: Promise<unknown>; end: () => void } {
  const token = `${PREFIX}${randomUUID()}`;
  const settled = new Promise<unknown>((resolve, reject) => pending.set(token, { resolve, reject }));
  // The runner's Task timeout rejects the Task itself; this keeps an unhandled rejection away.
  settled.catch(() => undefined);
  return { token, settled, end: () => pending.delete(token) };
}

function settle(command: string, input: { taskToken?: string; output?: string; error?: string; cause?: string }): void {
  const waiter = pending.get(input.taskToken ?? '');
  if (!waiter) throw named('TaskTimedOut', `Task Timed Out: '${input.taskToken}'`);
  pending.delete(input.taskToken ?? '');
  if (command === 'SendTaskSuccessCommand') waiter.resolve(JSON.parse(input.output ?? 'null'));
  else waiter.reject(named(input.error ?? 'Error', input.cause ?? ''));
}

/** Routes the client's SendTaskSuccess/SendTaskFailure for local tokens here; other calls go on as sent. */
export function answerTaskTokensLocally(client: SFNClient): void {
  if (patched.has(client)) return;
  patched.add(client);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { taskToken?: string };
      const command = context.commandName ?? '';
      if (!['SendTaskSuccessCommand', 'SendTaskFailureCommand'].includes(command) || !input.taskToken?.startsWith(PREFIX))
        return next(args);
      settle(command, input);
      return { output: { $metadata: {} }, response: {} } as never;
    },
    { step: 'initialize', name: 'localTaskTokens' },
  );
}
