import type { Image } from '@aws-sdk/client-ec2';
import { DeleteParametersCommand, type Parameter, paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import { findBuildInstances, identityOf, isOwnedBy, ownInstance, publishableImage } from '../shared/build-identity';
import { environmentConfig } from '../shared/config-values';
import { describeImage, findImages, isPipelineImage, type RemovedImage, removeImage, terminateInstances } from '../shared/ec2';
import { releaseLock } from '../shared/environment-lock';
import { classifyError, LockNotReleased, TRANSIENT_ERRORS } from '../shared/errors';
import { buildSnapshotIds, disableFastSnapshotRestores, type FastSnapshotRestoreChange } from '../shared/fast-snapshot-restore';
import type { StepContext } from '../shared/handler';
import { parameterPaths } from '../shared/names';
import { removalBlocker } from '../shared/removal-guard';
import { type BuildState, need } from '../shared/state';
import { MANAGED_BY, TAG, tagValue } from '../shared/tags';

export interface CleanUpResult {
  terminated: string[];
  removed: RemovedImage[];
  keptPrevious: { amiId: string; reason: string } | null;
  /** Outdated AMIs the removal guard kept, with its reason. */
  kept: { amiId: string; reason: string }[];
  prunedHistory: string[];
  /** Replaced AMIs (removed or retained) whose snapshots' fast snapshot restore was disabled. */
  fastSnapshotRestoreDisabled: FastSnapshotRestoreChange[];
}

/**
 * The environment's AMIs that clean-up removes: of this pipeline's AMIs of the environment
 * (managed-by and environment tags, not deregistered), never the one `latest` names; the
 * `retainPrevious` newest of the others (by creation date, then build number, then id) stay,
 * whatever their history entries say; every older one is outdated. Rollback targets come from
 * what this keeps.
 */
export function outdatedImages(
  images: Image[],
  { environment, latest, retainPrevious }: { environment: string; latest: string; retainPrevious: number },
): string[] {
  const previous = images.filter((i) => i.ImageId && i.ImageId !== latest && i.State !== 'deregistered' && isPipelineImage(i, environment));
  const buildNumber = (i: Image) => Number.parseInt(tagValue(i.Tags, TAG.buildNumber) ?? '0', 10) || 0;
  previous.sort(
    (a, b) =>
      (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '') ||
      buildNumber(b) - buildNumber(a) ||
      (b.ImageId ?? '').localeCompare(a.ImageId ?? ''),
  );
  return [...new Set(previous.slice(Math.max(0, retainPrevious)).map((i) => i.ImageId ?? ''))];
}

/**
 * After a successful publish: no builder left, the AMI `latest` names and the `retainPrevious`
 * newest others kept, every older AMI of the environment removed (the previous one, and any an
 * earlier failed clean-up stranded), history bounded. The lock means no other build of this
 * environment is running.
 */
export async function cleanUp(state: BuildState, { config, clients, logger }: StepContext<'ec2' | 'ssm'>): Promise<CleanUpResult> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const published = need(state, 'published');
  const paths = parameterPaths(config, request.environment);

  const identity = identityOf(state);
  // The environment's pipeline AMIs, listed once for everything below.
  const images = await findImages(clients.ec2, [
    { Name: `tag:${TAG.environment}`, Values: [request.environment] },
    { Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] },
  ]);
  // Only the AMI this build published decides what is outdated: the listing shows its tags, or it is read.
  const listed = images.find((i) => i.ImageId === published.amiId);
  if (!(listed && base.mode !== 'rollback' && isOwnedBy(listed.Tags, identity)))
    await publishableImage(clients.ec2, state, published.amiId);
  const builders = (await findBuildInstances(clients.ec2, identity)).map((i) => i.InstanceId ?? '');
  // The state's builder id counts only once its tags show this build (ownInstance refuses others).
  const named =
    state.builder?.instanceId &&
    !builders.includes(state.builder.instanceId) &&
    (await ownInstance(clients.ec2, identity, state.builder.instanceId));
  const terminated = await terminateInstances(clients.ec2, [...builders, named ? (named.InstanceId ?? '') : ''].filter(Boolean));

  const removed: RemovedImage[] = [];
  const kept: CleanUpResult['kept'] = [];
  const fastSnapshotRestoreDisabled: FastSnapshotRestoreChange[] = [];
  let keptPrevious: CleanUpResult['keptPrevious'] = null;
  // Never remove what consumers may still be pointed at. One listing of the environment's
  // parameters: latest's value and when it was written, and every history entry's date.
  const parameters = await listEnvironmentParameters(clients.ssm, paths.root);
  const latestParameter = parameters.find((p) => p.Name === paths.latest) ?? null;
  const latest = latestParameter?.Value ?? null;
  const historyEntries = parameters.filter((p) => p.Name?.startsWith(paths.historyPrefix));
  const history = new Map(historyEntries.map((p) => [(p.Name ?? '').slice(paths.historyPrefix.length), p.LastModifiedDate ?? new Date(0)]));
  const previous = base.previousAmiId;
  if (latest !== published.amiId) {
    keptPrevious = previous ? { amiId: previous, reason: `${paths.latest} holds ${latest}, not the new AMI` } : null;
  } else {
    const retainPrevious = environmentConfig(config, request.environment)?.retainPrevious ?? 0;
    const doomed = new Set(outdatedImages(images, { environment: request.environment, latest, retainPrevious }));
    if (previous && previous !== published.amiId) {
      const image = images.find((i) => i.ImageId === previous) ?? (await describeImage(clients.ec2, previous));
      if (image && !isPipelineImage(image, request.environment)) {
        keptPrevious = {
          amiId: previous,
          reason: 'not made by this pipeline for this environment; deregister it by hand if it is no longer needed',
        };
      } else if (!image || image.State === 'deregistered') {
        // Already gone (a retried clean-up): its tagged snapshots may remain.
        doomed.add(previous);
      }
    }
    // History entries up to the moment this build pointed `latest` at its AMI are of AMIs it replaced.
    const supersededAt = latestParameter?.LastModifiedDate ?? new Date(0);
    // Fast snapshot restore bills per snapshot and zone: only the AMI `latest` names keeps it. The
    // replaced AMIs' snapshots are their builds', and the removal guard's rule (not latest, its
    // publish superseded) is what allows this build to change them, as it allows removing them.
    const replaced = images.filter(
      (i) => i.ImageId && i.ImageId !== latest && i.State !== 'deregistered' && isPipelineImage(i, request.environment),
    );
    for (const amiId of new Set([...doomed, ...replaced.map((i) => i.ImageId ?? '')])) {
      const blocker = await removalBlocker(clients.ssm, paths, amiId, { supersededAt, latest, history });
      if (blocker) {
        if (doomed.has(amiId)) kept.push({ amiId, reason: blocker });
        continue;
      }
      const image = replaced.find((i) => i.ImageId === amiId);
      if (image) {
        const snapshotIds = await buildSnapshotIds(clients.ec2, image, request.environment);
        const change = await disableFastSnapshotRestores(clients.ec2, amiId, snapshotIds);
        if (change.snapshotIds.length > 0) fastSnapshotRestoreDisabled.push(change);
      }
      if (doomed.has(amiId)) removed.push(await removeImage(clients.ec2, amiId, undefined, image));
    }
  }
  if (keptPrevious) logger.warn('previous AMI kept', keptPrevious);
  if (kept.length > 0) logger.warn('outdated AMIs kept by the removal guard', { kept });

  const prunedHistory = await pruneHistory(clients.ssm, historyEntries, config.historyLimit, published.amiId);
  logger.info('cleaned up', { terminated, removed, prunedHistory: prunedHistory.length, fastSnapshotRestoreDisabled });
  return { terminated, removed, keptPrevious, kept, prunedHistory, fastSnapshotRestoreDisabled };
}

/**
 * The last step of a successful build: clean up, then free the environment (one state, one
 * invocation). A transient fault of the release is LockNotReleased, which the state machine
 * retries with the step (clean up is safe to run again) and then lets pass; a permanent one does
 * not fail the published build either: its holder has ended, so the next build takes the lock
 * over (environment-lock.ts isStale).
 */
export async function cleanUpAndRelease(
  state: BuildState,
  ctx: StepContext<'ec2' | 'ssm' | 'dynamodb'>,
): Promise<CleanUpResult & { lockReleased: boolean }> {
  const result = await cleanUp(state, ctx);
  const lockReleased = await releaseLock(state, ctx).then(
    (out) => out.released,
    (error: unknown) => {
      const named = classifyError(error);
      if ((TRANSIENT_ERRORS as readonly string[]).includes(named.name))
        throw new LockNotReleased(`the environment lock of ${state.request?.environment} was not released: ${named.message}`);
      ctx.logger.warn('environment lock not released; the next build takes it over', { error: named.name });
      return false;
    },
  );
  return { ...result, lockReleased };
}

/** Every parameter under the environment's path (a page holds ten: more than one page only for a long history). */
async function listEnvironmentParameters(ssm: StepContext['clients']['ssm'], root: string): Promise<Parameter[]> {
  const parameters: Parameter[] = [];
  for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: root, Recursive: true }))
    parameters.push(...(page.Parameters ?? []));
  return parameters;
}

/** Keeps the newest `limit` history entries (and always the current AMI's); deletes the rest. */
export async function pruneHistory(
  ssm: StepContext['clients']['ssm'],
  entries: readonly Parameter[],
  limit: number,
  currentAmiId: string,
): Promise<string[]> {
  const newestFirst = [...entries].sort((a, b) => (b.LastModifiedDate?.getTime() ?? 0) - (a.LastModifiedDate?.getTime() ?? 0));
  const doomed = newestFirst
    .slice(limit)
    .map((p) => p.Name ?? '')
    .filter((name) => name && !name.endsWith(`/${currentAmiId}`));
  for (let i = 0; i < doomed.length; i += 10) {
    await ssm.send(new DeleteParametersCommand({ Names: doomed.slice(i, i + 10) }));
  }
  return doomed;
}
