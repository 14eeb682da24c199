import { UpdateCommandFailed, UpdateTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { readInvocation, STILL_RUNNING, tail } from '../shared/run-command';
import { type BuildState, need, type PollResult } from '../shared/state';
import { commandOutputTail } from './command-output';

/** One check of the update command; the state machine's Choice loops on `done`. */
export async function checkUpdateCommand(state: BuildState, ctx: StepContext): Promise<PollResult> {
  const { instanceId } = need(state, 'builder');
  const { commandId, documentName } = need(state, 'update');
  const attempt = (state.updateStatus?.attempt ?? 0) + 1;

  const { status, stdout, stderr } = await readInvocation(ctx, commandId, instanceId);
  if (status === 'Success') return { done: true, attempt, status };
  if (!STILL_RUNNING.has(status)) {
    const output = tail(await logTail(ctx, commandId, instanceId)) || tail(stderr) || tail(stdout) || '(no output)';
    throw new UpdateCommandFailed(`${documentName} ended ${status} on ${instanceId} (command ${commandId}); last output:\n${output}`);
  }
  if (attempt >= ctx.config.polling.commandMaxAttempts) {
    throw new UpdateTimedOut(`${documentName} still ${status} on ${instanceId} after ${attempt} checks (command ${commandId})`);
  }
  return { done: false, attempt, status };
}

/** The end of the output from the log group; the invocation's own (truncated) output when unreadable. */
async function logTail({ config, clients, logger }: StepContext, commandId: string, instanceId: string): Promise<string | undefined> {
  try {
    return await commandOutputTail(clients.logs, config.commandLogGroup, commandId, instanceId);
  } catch (error) {
    logger.warn('cannot read the command output from CloudWatch Logs', { commandId, error: (error as Error).name });
    return undefined;
  }
}
