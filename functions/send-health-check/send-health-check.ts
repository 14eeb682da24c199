import { identityOf } from '../shared/build-identity';
import { environmentConfig, verifyConfig } from '../shared/config-values';
import { TestInstanceAgentNotReady, VerificationFailed } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { sendCommandOnce } from '../shared/run-command';
import { type BuildState, type HealthCheckCommand, need } from '../shared/state';

export function healthCheckComment(buildId: string): string {
  return `comfyui-ami verify ${buildId}`.slice(0, 100);
}

/**
 * Runs the health-check document on this build's test instance, once. Until its SSM agent
 * registers that is TestInstanceAgentNotReady, which the state machine retries a bounded number
 * of times; an instance that stopped or vanished means the AMI did not come up.
 */
export async function sendHealthCheck(state: BuildState, ctx: StepContext<'ec2' | 'ssm' | 'ssmOnce'>): Promise<HealthCheckCommand> {
  const { config } = ctx;
  const request = need(state, 'request');
  const { instanceId } = need(state, 'testInstance');
  const env = environmentConfig(config, request.environment);
  const verify = verifyConfig(config, request.environment);
  return sendCommandOnce(
    ctx,
    identityOf(state),
    {
      instanceId,
      documentName: config.documents.healthCheck,
      comment: healthCheckComment(state.execution.buildId),
      parameters: {
        ImageUri: [request.imageUri],
        Gpu: [String(env?.gpu ?? true)],
        ContainerPort: [String(env?.containerPort ?? 8188)],
        TimeoutSeconds: [String(verify.timeoutSeconds)],
      },
      what: 'health check',
      instanceLabel: 'test instance',
    },
    {
      gone: (instanceState, reason) =>
        new VerificationFailed(
          `test instance ${instanceId} is ${instanceState}: the AMI did not stay up after boot (${reason ?? 'no reason given'})`,
        ),
      notReady: (message) => new TestInstanceAgentNotReady(message),
    },
  );
}
