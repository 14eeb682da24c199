import { createHash } from 'node:crypto';
import { findBuildInstances, identityOf } from '../shared/build-identity';
import type { Attempt } from '../shared/cancellation';
import { builderVolumeInitializationRate } from '../shared/config-values';
import { describeImage, isUnknownImageError, rootOf } from '../shared/ec2';
import { BaseAmiNotFound } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type LaunchChoice, launchChoices, launchFirstAvailable, launchPlacement, marketOptions } from '../shared/launch';
import { type BaseRoot, type Builder, type BuildState, need } from '../shared/state';
import { MANAGED_BY, TAG, toTags } from '../shared/tags';

/**
 * RunInstances returns the same instance for the same token and parameters (at least 24 hours
 * after it ends): one token per launch choice, so a retried step repeats each choice idempotently
 * and no choice's request reuses another's token (IdempotentParameterMismatch).
 */
export function launchClientToken(executionId: string, choice: LaunchChoice): string {
  const key = [executionId, choice.instanceType, choice.subnetId ?? '', choice.market].join('|');
  return `comfyui-ami-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

/**
 * Starts the builder from the base AMI, trying the environment's instance types and subnets in
 * order (Spot first when configured) until one has capacity. Idempotent twice over: an instance
 * already tagged with this build id is reused, and each choice's ClientToken makes EC2 itself
 * return the same instance.
 */
export async function launchBuilder(
  state: BuildState,
  { config, clients, logger }: StepContext<'ec2'>,
  attempt: Attempt = { repeated: true },
): Promise<Builder> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const execution = state.execution;

  // Only an earlier attempt of this step can have launched one (it marked the build's record first).
  const existing = attempt.repeated ? await findBuildInstances(clients.ec2, identityOf(state), ['builder']) : [];
  const found = existing[0];
  if (found?.InstanceId) {
    logger.info('builder already launched for this build', { instanceId: found.InstanceId });
    return {
      instanceId: found.InstanceId,
      instanceType: found.InstanceType,
      subnetId: found.SubnetId,
      market: found.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    };
  }

  // Resolve read the base's root a moment ago; a base gone since then is RunInstances' InvalidAMIID.
  const root = base.root ?? (await describeBase(clients.ec2, base.baseAmiId));

  const tags = toTags({
    Name: `comfyui-ami-builder-${request.environment}`,
    [TAG.managedBy]: MANAGED_BY,
    [TAG.role]: 'builder',
    [TAG.environment]: request.environment,
    [TAG.execution]: execution.name,
    [TAG.build]: execution.buildId,
    [TAG.dockerImage]: request.imageUri,
  });

  const choices = launchChoices(config, request.environment, { allowSpot: true });
  const { instanceId, choice } = await launchFirstAvailable(
    clients.ec2,
    choices,
    (choice) => ({
      ImageId: base.baseAmiId,
      InstanceType: choice.instanceType as never,
      MinCount: 1,
      MaxCount: 1,
      ClientToken: launchClientToken(execution.id || execution.name, choice),
      ...launchPlacement(config, choice.subnetId),
      ...marketOptions(choice),
      BlockDeviceMappings: [
        {
          DeviceName: root.deviceName,
          Ebs: {
            VolumeSize: Math.max(config.builder.rootVolumeGiB, root.sizeGiB),
            VolumeType: 'gp3',
            Throughput: config.builder.rootVolumeThroughput,
            Iops: config.builder.rootVolumeIops,
            Encrypted: true,
            // Unset: the account's default EBS key. The AMI's snapshots inherit the volume's key.
            KmsKeyId: config.builder.ebsKmsKeyArn,
            DeleteOnTermination: true,
            // Every root volume comes from a snapshot (Ubuntu's or our AMI's): without a rate its
            // blocks arrive from S3 on first read, which throttles the pull and the smoke check.
            VolumeInitializationRate: builderVolumeInitializationRate(config, request.environment),
          },
        },
      ],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
    }),
    { logger, what: 'builder' },
  ).catch((error: unknown) => {
    if (isUnknownImageError(error)) throw new BaseAmiNotFound(`base AMI ${base.baseAmiId} is not found, not available`);
    throw error;
  });
  logger.info('builder launched', { instanceId, baseAmiId: base.baseAmiId, ...choice });
  return { instanceId, ...choice };
}

/** For a state written before Resolve recorded the base's root. */
async function describeBase(ec2: StepContext['clients']['ec2'], amiId: string): Promise<BaseRoot> {
  const image = await describeImage(ec2, amiId);
  if (image?.State !== 'available') throw new BaseAmiNotFound(`base AMI ${amiId} is ${image?.State ?? 'not found'}, not available`);
  return rootOf(image);
}
