import { ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { identityOf, ownInstance } from '../shared/build-identity';
import { environmentConfig } from '../shared/config-values';
import { AgentNotRegistered, BuilderLost } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, need, type UpdateCommand } from '../shared/state';

export function commandComment(executionName: string): string {
  return `comfyui-ami ${executionName}`.slice(0, 100);
}

/**
 * Sends the fresh-install or update document. The image travels as a typed document parameter
 * (exposed to the script as an environment variable), never as shell text.
 */
export async function sendUpdateCommand(
  state: BuildState,
  { config, clients, logger }: StepContext<'ec2' | 'ssm' | 'ssmOnce'>,
): Promise<UpdateCommand> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const { instanceId } = need(state, 'builder');
  const documentName = base.mode === 'fresh' ? config.documents.fresh : config.documents.incremental;
  const comment = commandComment(state.execution.name);

  // Root commands run only on an instance tagged with this build id.
  const instance = await ownInstance(clients.ec2, identityOf(state), instanceId);
  const instanceState = instance?.State?.Name ?? 'missing';
  if (['shutting-down', 'terminated', 'stopping', 'stopped', 'missing'].includes(instanceState)) {
    throw new BuilderLost(`builder ${instanceId} is ${instanceState}; the update cannot run`);
  }
  if (instanceState === 'pending') throw new AgentNotRegistered(`builder ${instanceId} is still pending`);

  // A retried step must not run the update twice on the same builder.
  const sent = await clients.ssm.send(new ListCommandsCommand({ InstanceId: instanceId }));
  const previous = (sent.Commands ?? []).find(
    (c) => c.Comment === comment && c.DocumentName === documentName && !['Cancelled', 'Failed', 'TimedOut'].includes(c.Status ?? ''),
  );
  if (previous?.CommandId) {
    logger.info('update command already sent', { commandId: previous.CommandId });
    return { commandId: previous.CommandId, documentName };
  }

  const env = environmentConfig(config, request.environment);
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
        },
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: config.commandLogGroup },
      }),
    );
    const commandId = out.Command?.CommandId;
    if (!commandId) throw new Error('SendCommand returned no command id');
    logger.info('update command sent', { commandId, documentName, instanceId });
    return { commandId, documentName };
  } catch (error) {
    // Until the agent on a new instance registers, SSM does not know the instance.
    if ((error as Error).name === 'InvalidInstanceId') throw new AgentNotRegistered(`SSM agent on ${instanceId} has not registered yet`);
    throw error;
  }
}
