import { identityOf } from '../shared/build-identity';
import { environmentConfig } from '../shared/config-values';
import { AgentNotRegistered, BuilderLost } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { sendCommandOnce } from '../shared/run-command';
import { type BuildState, need, type UpdateCommand } from '../shared/state';

export function commandComment(executionName: string): string {
  return `comfyui-ami ${executionName}`.slice(0, 100);
}

/** Sends the fresh-install or update document to this build's builder, once. */
export async function sendUpdateCommand(state: BuildState, ctx: StepContext<'ec2' | 'ssm' | 'ssmOnce'>): Promise<UpdateCommand> {
  const { config } = ctx;
  const request = need(state, 'request');
  const base = need(state, 'base');
  const { instanceId } = need(state, 'builder');
  const env = environmentConfig(config, request.environment);
  return sendCommandOnce(
    ctx,
    identityOf(state),
    {
      instanceId,
      documentName: base.mode === 'fresh' ? config.documents.fresh : config.documents.incremental,
      comment: commandComment(state.execution.name),
      parameters: {
        ImageUri: [request.imageUri],
        Gpu: [String(env?.gpu ?? true)],
        ContainerPort: [String(env?.containerPort ?? 8188)],
      },
      what: 'update command',
      instanceLabel: 'builder',
    },
    {
      gone: (instanceState) => new BuilderLost(`builder ${instanceId} is ${instanceState}; the update cannot run`),
      notReady: (message) => new AgentNotRegistered(message),
    },
  );
}
