import { createHash } from 'node:crypto';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { findBuildInstances, identityOf } from '../shared/build-identity';
import { environmentConfig } from '../shared/config-values';
import { describeImage } from '../shared/ec2';
import { BaseAmiNotFound } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { launchPlacement } from '../shared/launch';
import { type Builder, type BuildState, need } from '../shared/state';
import { MANAGED_BY, TAG, toTags } from '../shared/tags';

/** RunInstances returns the same instance for the same token, for 24 hours. */
export function launchClientToken(executionId: string): string {
  return `comfyui-ami-${createHash('sha256').update(executionId).digest('hex').slice(0, 40)}`;
}

/**
 * Starts the builder from the base AMI. Idempotent twice over: an instance already tagged with
 * this build id is reused, and the ClientToken makes EC2 itself return the same instance.
 */
export async function launchBuilder(state: BuildState, { config, clients, logger }: StepContext<'ec2'>): Promise<Builder> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const execution = state.execution;

  const existing = await findBuildInstances(clients.ec2, identityOf(state), ['builder']);
  if (existing[0]?.InstanceId) {
    logger.info('builder already launched for this build', { instanceId: existing[0].InstanceId });
    return { instanceId: existing[0].InstanceId };
  }

  const image = await describeImage(clients.ec2, base.baseAmiId);
  if (image?.State !== 'available')
    throw new BaseAmiNotFound(`base AMI ${base.baseAmiId} is ${image?.State ?? 'not found'}, not available`);
  const rootDevice = image.RootDeviceName ?? '/dev/sda1';
  const baseRootSize = image.BlockDeviceMappings?.find((m) => m.DeviceName === rootDevice)?.Ebs?.VolumeSize ?? 0;

  const env = environmentConfig(config, request.environment);
  const tags = toTags({
    Name: `comfyui-ami-builder-${request.environment}`,
    [TAG.managedBy]: MANAGED_BY,
    [TAG.role]: 'builder',
    [TAG.environment]: request.environment,
    [TAG.execution]: execution.name,
    [TAG.build]: execution.buildId,
    [TAG.dockerImage]: request.imageUri,
  });

  const out = await clients.ec2.send(
    new RunInstancesCommand({
      ImageId: base.baseAmiId,
      InstanceType: (env?.instanceType ?? config.builder.instanceType) as never,
      MinCount: 1,
      MaxCount: 1,
      ClientToken: launchClientToken(execution.id || execution.name),
      ...launchPlacement(config),
      BlockDeviceMappings: [
        {
          DeviceName: rootDevice,
          Ebs: {
            VolumeSize: Math.max(config.builder.rootVolumeGiB, baseRootSize),
            VolumeType: 'gp3',
            Throughput: config.builder.rootVolumeThroughput,
            Iops: config.builder.rootVolumeIops,
            Encrypted: true,
            // Unset: the account's default EBS key. The AMI's snapshots inherit the volume's key.
            KmsKeyId: config.builder.ebsKmsKeyArn,
            DeleteOnTermination: true,
          },
        },
      ],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
    }),
  );
  const instanceId = out.Instances?.[0]?.InstanceId;
  if (!instanceId) throw new Error('RunInstances returned no instance');
  logger.info('builder launched', { instanceId, baseAmiId: base.baseAmiId });
  return { instanceId };
}
