import { ModifyImageAttributeCommand } from '@aws-sdk/client-ec2';
import { identityOf, ownImage } from '../shared/build-identity';
import { describeImage } from '../shared/ec2';
import { AmiCreationFailed, AmiTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, need, type PollResult } from '../shared/state';

/**
 * One check of the new AMI. Once available, it is marked IMDSv2-only (CreateImage has no
 * ImdsSupport parameter; the attribute cannot be unset once set) before anything publishes it.
 */
export async function checkImage(state: BuildState, { config, clients }: StepContext): Promise<PollResult> {
  const { amiId } = need(state, 'image');
  const attempt = (state.imageStatus?.attempt ?? 0) + 1;
  // Only an AMI of this build is changed; a rollback's target, an earlier build's, was checked
  // by Prepare the rollback under the lock and already requires IMDSv2.
  const image =
    state.base?.mode === 'rollback' ? await describeImage(clients.ec2, amiId) : await ownImage(clients.ec2, identityOf(state), amiId);
  const status = image?.State ?? 'missing';

  if (status === 'available') {
    if (image?.ImdsSupport !== 'v2.0')
      await clients.ec2.send(new ModifyImageAttributeCommand({ ImageId: amiId, ImdsSupport: { Value: 'v2.0' } }));
    return { done: true, attempt, status };
  }
  if (status !== 'pending') {
    const reason = image?.StateReason?.Message ? `: ${image.StateReason.Message}` : '';
    throw new AmiCreationFailed(`AMI ${amiId} is ${status}${reason}`);
  }
  if (attempt >= config.polling.imageMaxAttempts) throw new AmiTimedOut(`AMI ${amiId} still pending after ${attempt} checks`);
  return { done: false, attempt, status };
}
