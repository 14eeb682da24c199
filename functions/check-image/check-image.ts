import { ModifyImageAttributeCommand } from '@aws-sdk/client-ec2';
import { publishableImage } from '../shared/build-identity';
import { AmiCreationFailed, AmiTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type BuildState, need, type PollResult } from '../shared/state';

/**
 * One check of the new AMI. Once available, it is marked IMDSv2-only (CreateImage has no
 * ImdsSupport parameter; the attribute cannot be unset once set) before anything publishes it.
 */
export async function checkImage(state: BuildState, { config, clients }: StepContext<'ec2'>): Promise<PollResult> {
  const { amiId } = need(state, 'image');
  const attempt = (state.imageStatus?.attempt ?? 0) + 1;
  // Only this build's AMI (or a rollback's chosen target, which already requires IMDSv2) is changed.
  const image = await publishableImage(clients.ec2, state, amiId);
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
