import { CreateImageCommand } from '@aws-sdk/client-ec2';
import { findBuildImages, identityOf, isOwnedBy, ownInstance } from '../shared/build-identity';
import type { Attempt } from '../shared/cancellation';
import { findImages } from '../shared/ec2';
import { AmiNameInUse, BuilderLost } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { stableAmiName } from '../shared/names';
import { type BuildState, type CreatedImage, need } from '../shared/state';
import { imageTags, snapshotTags, TAG, tagValue, toTags } from '../shared/tags';

/**
 * Images the stopped builder (or a running Spot builder, with a reboot), once its tags show it is
 * this build's. An image an earlier attempt of this step started is reused, so a retry or a
 * redrive never leaves a second AMI behind.
 */
export async function createImage(
  state: BuildState,
  { config, clients, logger }: StepContext<'ec2'>,
  attempt: Attempt = { repeated: true },
): Promise<CreatedImage> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const { instanceId } = need(state, 'builder');

  const identity = identityOf(state);
  // Only an earlier attempt of this step can have started one (it marked the build's record first).
  const mine = attempt.repeated ? await findBuildImages(clients.ec2, identity) : [];
  const reusable = mine.find((i) => i.State !== 'deregistered' && i.ImageId);
  if (reusable?.ImageId) {
    logger.info('image already created by this build', { amiId: reusable.ImageId });
    return { amiId: reusable.ImageId, name: reusable.Name ?? base.amiName };
  }

  const builder = await ownInstance(clients.ec2, identity, instanceId);
  if (!builder) throw new BuilderLost(`builder ${instanceId} no longer exists; no image can be made`);
  const stableName = stableAmiName(config, request.environment);
  try {
    const out = await clients.ec2.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: base.amiName,
        Description: `ComfyUI ${request.environment} build ${base.buildNumber}: ${request.imageUri}`.slice(0, 255),
        // A stopped builder needs no reboot for a consistent file system. A one-time Spot builder
        // cannot be stopped: EC2 shuts it down cleanly, snapshots it, then boots it again.
        NoReboot: builder.State?.Name === 'stopped',
        // Tagged in the request itself: no role needs CreateTags on an image or snapshot that exists.
        TagSpecifications: [
          { ResourceType: 'image', Tags: toTags(imageTags(state, stableName)) },
          { ResourceType: 'snapshot', Tags: toTags(snapshotTags(state, stableName)) },
        ],
      }),
    );
    if (!out.ImageId) throw new Error('CreateImage returned no image id');
    logger.info('image creation started', { amiId: out.ImageId, name: base.amiName });
    return { amiId: out.ImageId, name: base.amiName };
  } catch (error) {
    if ((error as Error).name !== 'InvalidAMIName.Duplicate') throw error;
    const [owner] = await findImages(clients.ec2, [{ Name: 'name', Values: [base.amiName] }]);
    if (owner?.ImageId && isOwnedBy(owner.Tags, identity)) return { amiId: owner.ImageId, name: base.amiName };
    throw new AmiNameInUse(
      `AMI name ${base.amiName} is already used by ${owner?.ImageId ?? 'another image'} (build ${tagValue(owner?.Tags, TAG.build) ?? 'unknown'})`,
    );
  }
}
