import { ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { identityOf, ownInstance } from '../shared/build-identity';
import { environmentConfig, verifyConfig } from '../shared/config-values';
import { TestInstanceAgentNotReady, VerificationFailed } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, type HealthCheckCommand, need } from '../shared/state';

export function healthCheckComment(buildId: string): string {
  return `comfyui-ami verify ${buildId}`.slice(0, 100);
}

/**
 * Runs the health-check document on the test instance. Until its SSM agent registers, SSM does
 * not know the instance (InvalidInstanceId): that is TestInstanceAgentNotReady, which the state
 * machine retries a bounded number of times. The values travel as typed document parameters.
 */
export async function sendHealthCheck(
  state: BuildState,
  { config, clients, logger }: StepContext<'ec2' | 'ssm' | 'ssmOnce'>,
): Promise<HealthCheckCommand> {
  const request = need(state, 'request');
  const { instanceId } = need(state, 'testInstance');
  const documentName = config.documents.healthCheck;
  const comment = healthCheckComment(state.execution.buildId);

  // Only this build's test instance is sent a command, whatever the state names.
  const instance = await ownInstance(clients.ec2, identityOf(state), instanceId);
  const instanceState = instance?.State?.Name ?? 'missing';
  // The AMI booted into an instance that stopped or vanished: it does not come up.
  if (['shutting-down', 'terminated', 'stopping', 'stopped', 'missing'].includes(instanceState)) {
    throw new VerificationFailed(
      `test instance ${instanceId} is ${instanceState}: the AMI did not stay up after boot (${instance?.StateReason?.Message ?? 'no reason given'})`,
    );
  }
  if (instanceState === 'pending') throw new TestInstanceAgentNotReady(`test instance ${instanceId} is still pending`);

  // A retried step must not start a second check on the same instance.
  const sent = await clients.ssm.send(new ListCommandsCommand({ InstanceId: instanceId }));
  const previous = (sent.Commands ?? []).find(
    (c) => c.Comment === comment && c.DocumentName === documentName && !['Cancelled', 'Failed', 'TimedOut'].includes(c.Status ?? ''),
  );
  if (previous?.CommandId) {
    logger.info('health check already sent', { commandId: previous.CommandId });
    return { commandId: previous.CommandId, documentName };
  }

  const env = environmentConfig(config, request.environment);
  const verify = verifyConfig(config, request.environment);
  try {
    const out = await clients.ssmOnce.send(
      new SendCommandCommand({
        InstanceIds: [instanceId],
        DocumentName: documentName,
        Comment: comment,
        Parameters: {
          ImageUri: [request.imageUri],
          Gpu: [String(env?.gpu ?? true)],
          ContainerPort: [String(env?.containerPort ?? 8188)],
          TimeoutSeconds: [String(verify.timeoutSeconds)],
        },
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: config.commandLogGroup },
      }),
    );
    const commandId = out.Command?.CommandId;
    if (!commandId) throw new Error('SendCommand returned no command id');
    logger.info('health check sent', { commandId, documentName, instanceId });
    return { commandId, documentName };
  } catch (error) {
    if ((error as Error).name === 'InvalidInstanceId')
      throw new TestInstanceAgentNotReady(`SSM agent on test instance ${instanceId} has not registered yet`);
    throw error;
  }
}
