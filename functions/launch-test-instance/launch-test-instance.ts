import { createHash } from 'node:crypto';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { findBuildInstances, identityOf } from '../shared/build-identity';
import { environmentConfig } from '../shared/config-values';
import { describeImage } from '../shared/ec2';
import { TestInstanceLaunchFailed } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { launchPlacement } from '../shared/launch';
import { type BuildState, need, type TestInstance } from '../shared/state';
import { MANAGED_BY, TAG, toTags, VERIFIER_ROLE } from '../shared/tags';

/** EC2 answers these when this launch cannot succeed now, whatever the retry: the build fails, named. */
const CANNOT_LAUNCH = new Set([
  'InsufficientInstanceCapacity',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'Unsupported',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Unavailable',
]);

/** RunInstances returns the same instance for the same token: one per build, whatever the retries. */
export function testInstanceClientToken(buildId: string, amiId: string): string {
  return `comfyui-ami-verify-${createHash('sha256').update(`${buildId}|${amiId}`).digest('hex').slice(0, 40)}`;
}

/**
 * Boots the AMI to verify (`$.image.amiId`) the way consumers will: the environment's instance
 * type, the builder's network, security groups and profile, IMDSv2 only. Tagged with the build
 * id and role `verifier`, so the terminate step, roll back and the sweeper find it.
 */
export async function launchTestInstance(state: BuildState, { config, clients, logger }: StepContext<'ec2'>): Promise<TestInstance> {
  const request = need(state, 'request');
  const { amiId } = need(state, 'image');
  const identity = identityOf(state);
  const { buildId } = identity;

  const existing = (await findBuildInstances(clients.ec2, identity, [VERIFIER_ROLE])).find((i) => i.ImageId === amiId && i.InstanceId);
  if (existing?.InstanceId) {
    logger.info('test instance already launched for this build', { instanceId: existing.InstanceId });
    return { instanceId: existing.InstanceId, amiId };
  }

  const image = await describeImage(clients.ec2, amiId);
  if (image?.State !== 'available')
    throw new TestInstanceLaunchFailed(`AMI ${amiId} is ${image?.State ?? 'not found'}, not available: nothing to boot`);

  const env = environmentConfig(config, request.environment);
  const instanceType = env?.instanceType ?? config.builder.instanceType;
  const tags = toTags({
    Name: `comfyui-ami-verifier-${request.environment}`,
    [TAG.managedBy]: MANAGED_BY,
    [TAG.role]: VERIFIER_ROLE,
    [TAG.environment]: request.environment,
    [TAG.execution]: state.execution.name,
    [TAG.build]: buildId,
    [TAG.dockerImage]: request.imageUri,
    [TAG.imageId]: amiId,
  });

  try {
    const out = await clients.ec2.send(
      new RunInstancesCommand({
        ImageId: amiId,
        InstanceType: instanceType as never,
        MinCount: 1,
        MaxCount: 1,
        ClientToken: testInstanceClientToken(buildId, amiId),
        ...launchPlacement(config),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
    );
    const instanceId = out.Instances?.[0]?.InstanceId;
    if (!instanceId) throw new Error('RunInstances returned no instance');
    logger.info('test instance launched', { instanceId, amiId, instanceType });
    return { instanceId, amiId };
  } catch (error) {
    const name = (error as Error).name;
    if (CANNOT_LAUNCH.has(name)) {
      throw new TestInstanceLaunchFailed(
        `cannot launch a ${instanceType} test instance from ${amiId}: ${name}: ${(error as Error).message}`,
      );
    }
    throw error;
  }
}
