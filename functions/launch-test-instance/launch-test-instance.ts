import { createHash } from 'node:crypto';
import { findBuildInstances, identityOf } from '../shared/build-identity';
import type { Attempt } from '../shared/cancellation';
import { describeImage } from '../shared/ec2';
import { TestInstanceLaunchFailed } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { type LaunchChoice, launchChoices, launchFirstAvailable, launchPlacement } from '../shared/launch';
import { type BuildState, need, type TestInstance } from '../shared/state';
import { MANAGED_BY, TAG, toTags, VERIFIER_ROLE } from '../shared/tags';

/** EC2 answers these when the AMI itself cannot boot: no other type or zone helps. */
const AMI_CANNOT_LAUNCH = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable']);

/** RunInstances returns the same instance for the same token and choice: one per build, whatever the retries. */
export function testInstanceClientToken(buildId: string, amiId: string, choice: LaunchChoice): string {
  const key = [buildId, amiId, choice.instanceType, choice.subnetId ?? ''].join('|');
  return `comfyui-ami-verify-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

/**
 * Boots the AMI to verify (`$.image.amiId`) the way consumers will: the environment's instance
 * types and subnets in order until one has capacity (always On-Demand: a reclaimed test instance
 * would fail a good AMI), the builder's security groups and profile, IMDSv2 only. Tagged with the
 * build id and role `verifier`, so the terminate step, roll back and the sweeper find it.
 */
export async function launchTestInstance(
  state: BuildState,
  { config, clients, logger }: StepContext<'ec2'>,
  attempt: Attempt = { repeated: true },
): Promise<TestInstance> {
  const request = need(state, 'request');
  const { amiId } = need(state, 'image');
  const identity = identityOf(state);
  const { buildId } = identity;

  // Only an earlier attempt of this step can have launched one (it marked the build's record first).
  const existing = attempt.repeated
    ? (await findBuildInstances(clients.ec2, identity, [VERIFIER_ROLE])).find((i) => i.ImageId === amiId && i.InstanceId)
    : undefined;
  if (existing?.InstanceId) {
    logger.info('test instance already launched for this build', { instanceId: existing.InstanceId });
    return { instanceId: existing.InstanceId, amiId, instanceType: existing.InstanceType, subnetId: existing.SubnetId };
  }

  // Check the AMI found it available just before; an AMI gone since then is RunInstances' InvalidAMIID.
  if (state.imageStatus?.status !== 'available') {
    const image = await describeImage(clients.ec2, amiId);
    if (image?.State !== 'available')
      throw new TestInstanceLaunchFailed(`AMI ${amiId} is ${image?.State ?? 'not found'}, not available: nothing to boot`);
  }

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
    const { instanceId, choice } = await launchFirstAvailable(
      clients.ec2,
      launchChoices(config, request.environment, { allowSpot: false }),
      (choice) => ({
        ImageId: amiId,
        InstanceType: choice.instanceType as never,
        MinCount: 1,
        MaxCount: 1,
        ClientToken: testInstanceClientToken(buildId, amiId, choice),
        ...launchPlacement(config, choice.subnetId),
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
      { logger, what: 'test instance' },
    );
    logger.info('test instance launched', { instanceId, amiId, instanceType: choice.instanceType, subnetId: choice.subnetId });
    return { instanceId, amiId, instanceType: choice.instanceType, subnetId: choice.subnetId };
  } catch (error) {
    const name = (error as Error).name;
    if (AMI_CANNOT_LAUNCH.has(name)) {
      throw new TestInstanceLaunchFailed(`cannot launch a test instance from ${amiId}: ${name}: ${(error as Error).message}`);
    }
    throw error;
  }
}
