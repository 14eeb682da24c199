import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import { UpdateCommandFailed, UpdateTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, need, type PollResult } from '../shared/state';
import { commandOutputTail } from './command-output';

const RUNNING = new Set(['Pending', 'InProgress', 'Delayed']);
const FAILED = new Set(['Failed', 'Cancelled', 'TimedOut', 'Cancelling']);
const TAIL_CHARS = 2000;

export function tail(text: string | undefined, chars = TAIL_CHARS): string {
  const trimmed = (text ?? '').trimEnd();
  return trimmed.length > chars ? `…${trimmed.slice(-chars)}` : trimmed;
}

/** One check of the update command; the state machine's Choice loops on `done`. */
export async function checkUpdateCommand(state: BuildState, ctx: StepContext<'ssm' | 'logs'>): Promise<PollResult> {
  const { config, clients } = ctx;
  const { instanceId } = need(state, 'builder');
  const { commandId, documentName } = need(state, 'update');
  const attempt = (state.updateStatus?.attempt ?? 0) + 1;

  let status: string;
  let stderr = '';
  let stdout = '';
  try {
    const out = await clients.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    status = out.Status ?? 'Pending';
    stderr = out.StandardErrorContent ?? '';
    stdout = out.StandardOutputContent ?? '';
  } catch (error) {
    // Right after SendCommand the invocation may not exist yet: keep polling.
    if ((error as Error).name !== 'InvocationDoesNotExist') throw error;
    status = 'Pending';
  }

  if (status === 'Success') return { done: true, attempt, status };
  if (FAILED.has(status) || !RUNNING.has(status)) {
    const output = tail(await logTail(ctx, commandId, instanceId)) || tail(stderr) || tail(stdout) || '(no output)';
    throw new UpdateCommandFailed(`${documentName} ended ${status} on ${instanceId} (command ${commandId}); last output:\n${output}`);
  }
  if (attempt >= config.polling.commandMaxAttempts) {
    throw new UpdateTimedOut(`${documentName} still ${status} on ${instanceId} after ${attempt} checks (command ${commandId})`);
  }
  return { done: false, attempt, status };
}

/** The end of the output from the log group; the invocation's own (truncated) output when unreadable. */
async function logTail(
  { config, clients, logger }: StepContext<'logs'>,
  commandId: string,
  instanceId: string,
): Promise<string | undefined> {
  try {
    return await commandOutputTail(clients.logs, config.commandLogGroup, commandId, instanceId);
  } catch (error) {
    logger.warn('cannot read the command output from CloudWatch Logs', { commandId, error: (error as Error).name });
    return undefined;
  }
}
