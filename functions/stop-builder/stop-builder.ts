import { StopInstancesCommand } from '@aws-sdk/client-ec2';
import { identityOf, ownInstance } from '../shared/build-identity';
import { BuilderLost, BuilderStopTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, need, type PollResult } from '../shared/state';

/**
 * Asks the builder to stop (repeating the request is harmless) and reports whether it has. Only
 * an instance tagged with this build id is touched. A one-time Spot builder cannot be stopped
 * (EC2 answers UnsupportedOperation): it stays running and "Create the AMI" images it with a
 * reboot, which shuts it down cleanly for the snapshot.
 */
export async function stopBuilder(state: BuildState, { config, clients }: StepContext<'ec2'>): Promise<PollResult> {
  const { instanceId } = need(state, 'builder');
  const attempt = (state.stop?.attempt ?? 0) + 1;
  const instance = await ownInstance(clients.ec2, identityOf(state), instanceId);
  const status = instance?.State?.Name ?? 'missing';

  if (status === 'stopped') return { done: true, attempt, status };
  if (status === 'running' && instance?.InstanceLifecycle === 'spot')
    return { done: true, attempt, status: 'running (Spot: imaged with a reboot)' };
  if (['shutting-down', 'terminated', 'missing'].includes(status))
    throw new BuilderLost(`builder ${instanceId} is ${status}; no image can be made`);
  if (status !== 'stopping') await clients.ec2.send(new StopInstancesCommand({ InstanceIds: [instanceId] }));
  if (attempt >= config.polling.stopMaxAttempts)
    throw new BuilderStopTimedOut(`builder ${instanceId} still ${status} after ${attempt} checks`);
  return { done: false, attempt, status };
}
