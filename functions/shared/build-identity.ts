import { DescribeInstancesCommand, type EC2Client, type Filter, type Image, type Instance } from '@aws-sdk/client-ec2';
import { describeImage, describeInstance, findImages, isPipelineImage } from './ec2';
import { ResourceNotOwned } from './errors';
import { type BuildState, need } from './state';
import { MANAGED_BY, TAG, tagValue } from './tags';

/**
 * What makes a resource this build's own: this pipeline, this environment and this build id, all
 * three read from its tags. The build id is drawn by the state machine (States.UUID) and never
 * repeats, unlike the execution name, which Step Functions reuses after 90 days and callers choose.
 */
export interface BuildIdentity {
  buildId: string;
  environment: string;
}

const BUILD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function identityOf(state: BuildState): BuildIdentity {
  const buildId = state.execution?.buildId ?? '';
  // A missing or made-up id must match nothing, rather than everything untagged.
  if (!BUILD_ID.test(buildId))
    throw new ResourceNotOwned(`state.execution.buildId: must be the UUID the state machine drew, got "${buildId.slice(0, 80)}"`);
  return { buildId, environment: need(state, 'request').environment };
}

type Tags = { Key?: string; Value?: string }[] | undefined;

export function isOwnedBy(tags: Tags, identity: BuildIdentity): boolean {
  return (
    tagValue(tags, TAG.managedBy) === MANAGED_BY &&
    tagValue(tags, TAG.environment) === identity.environment &&
    tagValue(tags, TAG.build) === identity.buildId
  );
}

export function identityFilters(identity: BuildIdentity): Filter[] {
  return [
    { Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] },
    { Name: `tag:${TAG.environment}`, Values: [identity.environment] },
    { Name: `tag:${TAG.build}`, Values: [identity.buildId] },
  ];
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

/**
 * Every instance this build launched and that is not yet terminated, whatever its role (builder,
 * or any later role such as a test instance), so one look-up serves roll back and clean up.
 */
export async function findBuildInstances(ec2: EC2Client, identity: BuildIdentity, roles?: string[]): Promise<Instance[]> {
  const filters = [...identityFilters(identity), { Name: 'instance-state-name', Values: LIVE_STATES }];
  if (roles) filters.push({ Name: `tag:${TAG.role}`, Values: roles });
  const out = await ec2.send(new DescribeInstancesCommand({ Filters: filters }));
  // Filters are re-checked here: the answer, not the request, decides what is ours.
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).filter((i) => isOwnedBy(i.Tags, identity));
}

/** Every AMI of this build the account owns, in any state EC2 still reports. */
export async function findBuildImages(ec2: EC2Client, identity: BuildIdentity): Promise<Image[]> {
  return (await findImages(ec2, identityFilters(identity))).filter((i) => isOwnedBy(i.Tags, identity));
}

/**
 * The instance a state names, once its tags show it is this build's; null when EC2 no longer
 * knows it. Any other instance is refused: a state is input, not proof.
 */
export async function ownInstance(ec2: EC2Client, identity: BuildIdentity, instanceId: string): Promise<Instance | null> {
  const instance = await describeInstance(ec2, instanceId);
  if (instance && !isOwnedBy(instance.Tags, identity)) {
    throw new ResourceNotOwned(
      `instance ${instanceId} is not tagged as build ${identity.buildId} of ${identity.environment}; it is left alone`,
    );
  }
  return instance;
}

/** The AMI a state names, once its tags show it is this build's; null when EC2 no longer knows it. */
export async function ownImage(ec2: EC2Client, identity: BuildIdentity, amiId: string): Promise<Image | null> {
  const image = await describeImage(ec2, amiId);
  if (image && !isOwnedBy(image.Tags, identity)) {
    throw new ResourceNotOwned(`AMI ${amiId} is not tagged as build ${identity.buildId} of ${identity.environment}; it is left alone`);
  }
  return image;
}

/**
 * The AMI a build checks, verifies and publishes: one it made, or, for a rollback, the earlier
 * build's AMI that Prepare the rollback chose under the lock (`base.baseAmiId`, a pipeline AMI of
 * this environment) and no other. null when EC2 no longer knows it.
 */
export async function publishableImage(ec2: EC2Client, state: BuildState, amiId: string): Promise<Image | null> {
  const identity = identityOf(state);
  if (state.base?.mode !== 'rollback') return ownImage(ec2, identity, amiId);
  const image = await describeImage(ec2, amiId);
  if (amiId !== state.base.baseAmiId || (image && !isPipelineImage(image, identity.environment))) {
    throw new ResourceNotOwned(
      `AMI ${amiId} is not the rollback target ${state.base.baseAmiId}, a pipeline AMI of ${identity.environment}; it is left alone`,
    );
  }
  return image;
}
