import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import type { StepContext } from '../shared/handler';
import { identityOf, ownImage } from '../shared/build-identity';
import { AmiCreationFailed, AmiTimedOut } from '../shared/errors';
import { stableAmiName } from '../shared/names';
import { need, type BuildState, type PollResult } from '../shared/state';
import { imageTags, TAG, toTags } from '../shared/tags';

/**
 * One check of the new AMI. Once available, its snapshots get the image's tags plus the image
 * id (CreateImage cannot tag snapshots portably), so clean-up can find them even after the
 * image is gone.
 */
export async function checkImage(state: BuildState, { config, clients }: StepContext): Promise<PollResult> {
  const request = need(state, 'request');
  const { amiId } = need(state, 'image');
  const attempt = (state.imageStatus?.attempt ?? 0) + 1;
  // Its snapshots get this build's tags: only an AMI of this build may have them.
  const image = await ownImage(clients.ec2, identityOf(state), amiId);
  const status = image?.State ?? 'missing';

  if (status === 'available') {
    const snapshotIds = (image?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((id): id is string => Boolean(id));
    if (snapshotIds.length > 0) {
      const tags = { ...imageTags(state, stableAmiName(config, request.environment)), [TAG.role]: 'ami-snapshot', [TAG.imageId]: amiId };
      await clients.ec2.send(new CreateTagsCommand({ Resources: snapshotIds, Tags: toTags(tags) }));
    }
    return { done: true, attempt, status };
  }
  if (status !== 'pending') {
    const reason = image?.StateReason?.Message ? `: ${image.StateReason.Message}` : '';
    throw new AmiCreationFailed(`AMI ${amiId} is ${status}${reason}`);
  }
  if (attempt >= config.polling.imageMaxAttempts) throw new AmiTimedOut(`AMI ${amiId} still pending after ${attempt} checks`);
  return { done: false, attempt, status };
}
