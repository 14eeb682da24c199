import { healthCheckMaxAttempts, verifyConfig } from '../shared/config-values';
import { VerificationFailed, VerificationTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { readInvocation, STILL_RUNNING, tail } from '../shared/run-command';
import { type BuildState, need, type PollResult } from '../shared/state';

/**
 * One check of the health check; the state machine's Choice loops on `done`. A failed check
 * fails the build with the tail of the check's own output (its last line is the reason).
 */
export async function checkHealthCheck(state: BuildState, ctx: StepContext<'ssm'>): Promise<PollResult> {
  const request = need(state, 'request');
  const { instanceId, amiId } = need(state, 'testInstance');
  const { commandId, documentName } = need(state, 'healthCheck');
  const attempt = (state.healthCheckStatus?.attempt ?? 0) + 1;

  const { status, stdout, stderr } = await readInvocation(ctx, commandId, instanceId);
  if (status === 'Success') return { done: true, attempt, status };
  if (!STILL_RUNNING.has(status)) {
    const output = tail(stderr) || tail(stdout) || '(no output)';
    throw new VerificationFailed(
      `AMI ${amiId} failed its health check: ${documentName} ended ${status} on test instance ${instanceId} (command ${commandId}); last output:\n${output}`,
    );
  }
  const maxAttempts = healthCheckMaxAttempts(verifyConfig(ctx.config, request.environment));
  if (attempt >= maxAttempts) {
    throw new VerificationTimedOut(
      `AMI ${amiId}: the health check is still ${status} on test instance ${instanceId} after ${attempt} checks (command ${commandId})`,
    );
  }
  return { done: false, attempt, status };
}
