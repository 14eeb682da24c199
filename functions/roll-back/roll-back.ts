import type { EC2Client, Image } from '@aws-sdk/client-ec2';
import { type BuildIdentity, findBuildImages, findBuildInstances, identityOf, ownImage, ownInstance } from '../shared/build-identity';
import { type RemovedImage, removeImage, terminateInstances } from '../shared/ec2';
import { AwsThrottled, AwsUnavailable, classifyError, RollbackIncomplete, TRANSIENT_ERRORS } from '../shared/errors';
import { buildSnapshotIds, disableFastSnapshotRestores, type FastSnapshotRestoreChange } from '../shared/fast-snapshot-restore';
import type { StepContext } from '../shared/handler';
import { parameterPaths } from '../shared/names';
import { undoHistory, undoLatest, undoMetadata, undoRepoint } from '../shared/parameters';
import { removalBlocker } from '../shared/removal-guard';
import type { BuildState } from '../shared/state';

export interface RollBackResult {
  terminated: string[];
  removedImages: RemovedImage[];
  keptImages: { amiId: string; reason: string }[];
  parameters: string[];
  /** Ids the state named that are not this build's: left alone. */
  ignored: string[];
  /** AMIs of this build whose snapshots' fast snapshot restore was disabled before their removal. */
  fastSnapshotRestoreDisabled: FastSnapshotRestoreChange[];
}

interface Left {
  what: string;
  error: Error;
  /** Left only because an undo before it failed (an AMI kept while a parameter still names it). */
  consequence?: boolean;
}

/**
 * Leaves the account as it was before the build: its instances terminated, an AMI it made but did
 * not publish removed with its snapshots, parameters it wrote put back. What to undo is found by
 * the build id's tags as well as by state (a step that crashed after creating something still has
 * it cleaned), and ids from the state count only once their tags show this build. Each undo
 * stands on its own: one that fails does not stop the others; the step then fails naming what is
 * left. No AMI that `latest` names or that a completed publish recorded is removed.
 */
export async function rollBack(state: BuildState, { config, clients, logger }: StepContext<'ec2' | 'ssm'>): Promise<RollBackResult> {
  const identity = identityOf(state);
  const paths = parameterPaths(config, identity.environment);
  const result: RollBackResult = {
    terminated: [],
    removedImages: [],
    keptImages: [],
    parameters: [],
    ignored: [],
    fastSnapshotRestoreDisabled: [],
  };
  const left: Left[] = [];
  const attempt = async <T>(what: string, undo: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> => {
    try {
      return { ok: true, value: await undo() };
    } catch (error) {
      left.push({ what, error: classifyError(error) });
      return { ok: false };
    }
  };

  // Instances of this build, whatever their role.
  const instanceIds = new Set<string>();
  const found = await attempt('find the instances of this build', () => findBuildInstances(clients.ec2, identity));
  if (found.ok) for (const i of found.value) if (i.InstanceId) instanceIds.add(i.InstanceId);
  const named = state.builder?.instanceId;
  if (named && !instanceIds.has(named)) {
    const own = await attempt(`check builder ${named}`, () =>
      ownedOrIgnored(() => ownInstance(clients.ec2, identity, named), named, result),
    );
    if (own.ok && own.value) instanceIds.add(named);
  }
  for (const id of instanceIds) {
    const done = await attempt(`terminate instance ${id}`, () => terminateInstances(clients.ec2, [id]));
    if (done.ok) result.terminated.push(...done.value);
  }

  // AMIs of this build, with their snapshots and parameters.
  const amiIds = new Set<string>();
  const ownImages = new Map<string, Image>();
  const images = await attempt('find the AMIs of this build', () => findBuildImages(clients.ec2, identity));
  if (images.ok) {
    for (const i of images.value) {
      if (!i.ImageId || i.State === 'deregistered') continue;
      amiIds.add(i.ImageId);
      ownImages.set(i.ImageId, i);
    }
  }
  const namedImage = state.image?.amiId;
  if (namedImage && !amiIds.has(namedImage)) {
    const own = await attempt(`check AMI ${namedImage}`, () =>
      ownedOrIgnored(() => ownImage(clients.ec2, identity, namedImage), namedImage, result),
    );
    if (own.ok && own.value) {
      amiIds.add(namedImage);
      ownImages.set(namedImage, own.value);
    }
    if (own.ok && own.value === null) {
      // Gone (a repeated roll back): no tags left to prove it ours, so only the snapshots tagged
      // with this build id are removed, and no parameter is touched.
      const removed = await attempt(`remove the snapshots of AMI ${namedImage}`, () => removeOwnImage(clients.ec2, identity, namedImage));
      if (removed.ok) result.removedImages.push(removed.value);
    }
  }
  const published = state.published?.amiId ?? null;
  // A rollback's target was made by an earlier build (so never found above): only un-point it.
  const target = state.base?.mode === 'rollback' ? state.base.baseAmiId : null;
  if (target && target !== published) {
    const done = await attempt(`put back ${paths.latest} and ${paths.metadata}`, () => undoRepoint(clients.ssm, paths, target));
    if (done.ok) result.parameters.push(...done.value);
    result.keptImages.push({ amiId: target, reason: 'the rollback target, made by an earlier build' });
  }
  for (const amiId of amiIds) {
    if (amiId === published) {
      // Publish completed: only a step after it failed, and consumers may already use the AMI.
      result.keptImages.push({ amiId, reason: 'published by this build' });
      continue;
    }
    const leftBefore = left.length;
    for (const [what, undo] of [
      [`put back ${paths.latest}`, undoLatest],
      [`put back ${paths.metadata}`, undoMetadata],
      [`delete ${paths.history(amiId)}`, undoHistory],
    ] as const) {
      const done = await attempt(what, () => undo(clients.ssm, paths, amiId));
      if (done.ok && done.value) result.parameters.push(done.value);
    }
    const blocker = await attempt(`check AMI ${amiId} is unpublished before removing it`, () => removalBlocker(clients.ssm, paths, amiId));
    if (!blocker.ok) continue;
    if (blocker.value) {
      result.keptImages.push({ amiId, reason: blocker.value });
      const error = new RollbackIncomplete(`kept because ${blocker.value}`);
      left.push({ what: `remove AMI ${amiId} and its snapshots`, error, consequence: left.length > leftBefore });
      continue;
    }
    const image = ownImages.get(amiId);
    if (image) {
      // Publish enables it before `latest` moves; deleting the snapshots would also end it, but
      // disabling first stops the hourly charge even if their removal fails.
      const disabled = await attempt(`disable fast snapshot restore of AMI ${amiId}`, async () =>
        disableFastSnapshotRestores(clients.ec2, amiId, await buildSnapshotIds(clients.ec2, image, identity.environment)),
      );
      if (disabled.ok && disabled.value.snapshotIds.length > 0) result.fastSnapshotRestoreDisabled.push(disabled.value);
    }
    const removed = await attempt(`remove AMI ${amiId} and its snapshots`, () => removeOwnImage(clients.ec2, identity, amiId));
    if (removed.ok) result.removedImages.push(removed.value);
  }

  if (left.length > 0) {
    logger.error('roll back incomplete', { ...result, left: left.map((l) => `${l.what}: ${l.error.name}`), cause: state.error });
    throw rollbackError(left);
  }
  logger.info('rolled back', { ...result, cause: state.error });
  return result;
}

/** The resource when it is this build's (or gone: null); false, recorded as ignored, when it is another's. */
async function ownedOrIgnored<T>(check: () => Promise<T | null>, id: string, result: RollBackResult): Promise<T | null | false> {
  try {
    return await check();
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotOwned') throw error;
    result.ignored.push(id);
    return false;
  }
}

function removeOwnImage(ec2: EC2Client, identity: BuildIdentity, amiId: string): Promise<RemovedImage> {
  return removeImage(ec2, amiId, identity.buildId);
}

/**
 * When every failure was transient, the same kind of error, so the state machine's Retry runs
 * the roll back again (each undo is safe to repeat); otherwise RollbackIncomplete.
 */
function rollbackError(left: Left[]): Error {
  const message = `roll back left: ${left.map((l) => `${l.what} (${l.error.name}: ${l.error.message})`).join('; ')}`;
  const transient = new Set<string>(TRANSIENT_ERRORS);
  if (!left.every((l) => l.consequence || transient.has(l.error.name))) return new RollbackIncomplete(message);
  if (left.some((l) => l.error.name === 'AwsThrottled')) return new AwsThrottled(message);
  if (left.some((l) => l.error.name === 'AwsUnavailable')) return new AwsUnavailable(message);
  return Object.assign(new Error(message), { name: 'TimeoutError' });
}
