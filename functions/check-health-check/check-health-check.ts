import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import { tail } from '../check-update-command/check-update-command';
import { healthCheckMaxAttempts, verifyConfig } from '../shared/config-values';
import { VerificationFailed, VerificationTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, need, type PollResult } from '../shared/state';

const RUNNING = new Set(['Pending', 'InProgress', 'Delayed']);

/**
 * One check of the health check; the state machine's Choice loops on `done`. A failed check
 * fails the build with the tail of the check's own output (its last line is the reason).
 */
export async function checkHealthCheck(state: BuildState, { config, clients }: StepContext<'ssm'>): Promise<PollResult> {
  const request = need(state, 'request');
  const { instanceId, amiId } = need(state, 'testInstance');
  const { commandId, documentName } = need(state, 'healthCheck');
  const attempt = (state.healthCheckStatus?.attempt ?? 0) + 1;

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
  if (!RUNNING.has(status)) {
    const output = tail(stderr) || tail(stdout) || '(no output)';
    throw new VerificationFailed(
      `AMI ${amiId} failed its health check: ${documentName} ended ${status} on test instance ${instanceId} (command ${commandId}); last output:\n${output}`,
    );
  }
  const maxAttempts = healthCheckMaxAttempts(verifyConfig(config, request.environment));
  if (attempt >= maxAttempts) {
    throw new VerificationTimedOut(
      `AMI ${amiId}: the health check is still ${status} on test instance ${instanceId} after ${attempt} checks (command ${commandId})`,
    );
  }
  return { done: false, attempt, status };
}
