import type { Image } from '@aws-sdk/client-ec2';
import { type BuildIdentity, identityOf, isOwnedBy } from '../shared/build-identity';
import type { PipelineConfig } from '../shared/config';
import { describeImage, findImages, isPipelineImage, rootOf } from '../shared/ec2';
import { AmiNameInUse, BaseAmiNotFound } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { parseJsonObject } from '../shared/json';
import { legacyImagesIn, listByStableName } from '../shared/legacy';
import { buildAmiName, parameterPaths } from '../shared/names';
import { getParameterValue, getParameterValues } from '../shared/parameters';
import { AMI_ID } from '../shared/patterns';
import { type BaseAmi, type BuildState, need } from '../shared/state';
import { MANAGED_BY, TAG, tagValue } from '../shared/tags';

/**
 * Incremental when `latest` names an available AMI; otherwise migration from the newest AMI of
 * this environment in the account; otherwise fresh from the configured Ubuntu 22.04 image.
 */
export async function resolveBaseAmi(state: BuildState, { config, clients, logger }: StepContext<'ec2' | 'ssm'>): Promise<BaseAmi> {
  const request = need(state, 'request');
  const environment = request.environment;
  const paths = parameterPaths(config, environment);
  const ec2 = clients.ec2;

  // latest and metadata in one read: the base and the build number come from both.
  const published = await getParameterValues(clients.ssm, [paths.latest, paths.metadata]);
  const latestId = published.get(paths.latest) ?? null;
  const latest = latestId && AMI_ID.test(latestId) ? await describeImage(ec2, latestId) : null;

  let mode: BaseAmi['mode'];
  let base: Image;
  let previousAmiId: string | null = null;
  // Images named like the environment's stable name, when the search for a base listed them.
  let named: Image[] | null = null;
  if (latest?.State === 'available') {
    mode = 'incremental';
    base = latest;
    previousAmiId = latestId;
  } else {
    if (latestId) logger.warn('latest names no available AMI; looking for another base', { latestId, state: latest?.State ?? 'missing' });
    const found = await newestEnvironmentImage(config, environment, clients.ec2);
    const candidate = found.newest;
    named = found.named;
    if (candidate?.ImageId) {
      mode = 'migration';
      base = candidate;
      // Only an image this pipeline made for this environment is ours to remove afterwards.
      previousAmiId = isPipelineImage(candidate, environment) ? candidate.ImageId : null;
    } else {
      mode = 'fresh';
      base = await resolveFreshBase(config, clients);
    }
  }
  const baseAmiId = base.ImageId as string;

  const buildNumber = nextBuildNumber(parseJsonObject(published.get(paths.metadata) ?? null), latest);
  const amiName = buildAmiName(config, environment, buildNumber, request.digest);
  await assertNameFree(ec2, amiName, identityOf(state), named);

  logger.info('base AMI resolved', { environment, mode, baseAmiId, previousAmiId, buildNumber, amiName });
  // The launch sizes the builder's volume from the base's root: read here, where the base is described anyway.
  return { mode, baseAmiId, previousAmiId, buildNumber, amiName, root: rootOf(base) };
}

/**
 * The newest available AMI of the environment the account owns: one this pipeline made (latest
 * lost), or one of the old system (legacy.ts decides which are this environment's).
 */
async function newestEnvironmentImage(
  config: PipelineConfig,
  environment: string,
  ec2: StepContext['clients']['ec2'],
): Promise<{ newest: Image | null; named: Image[] }> {
  const [tagged, listing] = await Promise.all([
    findImages(ec2, [
      { Name: `tag:${TAG.environment}`, Values: [environment] },
      { Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] },
    ]),
    listByStableName(ec2, config, environment),
  ]);
  const legacy = legacyImagesIn(listing, config, environment);
  const available = [...tagged.filter((i) => isPipelineImage(i, environment)), ...legacy].filter((i) => i.State === 'available');
  available.sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''));
  return { newest: available[0] ?? null, named: listing.named };
}

async function resolveFreshBase(config: PipelineConfig, clients: StepContext<'ec2' | 'ssm'>['clients']): Promise<Image> {
  let amiId: string;
  if ('amiId' in config.baseImage) {
    amiId = config.baseImage.amiId;
  } else {
    const value = await getParameterValue(clients.ssm, config.baseImage.parameter);
    if (!value || !AMI_ID.test(value))
      throw new BaseAmiNotFound(`config.baseImage.parameter ${config.baseImage.parameter} holds no AMI id (got ${value ?? 'nothing'})`);
    amiId = value;
  }
  const image = await describeImage(clients.ec2, amiId);
  if (image?.State !== 'available') throw new BaseAmiNotFound(`base AMI ${amiId} is ${image?.State ?? 'not found'}, not available`);
  return image;
}

/** Counts up per environment from the published metadata (or the latest AMI's tag). */
function nextBuildNumber(metadata: Record<string, unknown> | null, latest: Image | null): number {
  // After a rollback, metadata names an older build; highest_build_number keeps the count.
  const fromMetadata = Math.max(
    ...[metadata?.workflow_run_number, metadata?.highest_build_number]
      .map((v) => Number.parseInt(String(v ?? '0'), 10))
      .filter(Number.isFinite),
    0,
  );
  const fromTag = Number.parseInt(tagValue(latest?.Tags, TAG.buildNumber) ?? '0', 10);
  return Math.max(Number.isFinite(fromMetadata) ? fromMetadata : 0, Number.isFinite(fromTag) ? fromTag : 0) + 1;
}

/** A clash found now costs nothing; found by CreateImage at the end of a bake, it costs the bake. */
async function assertNameFree(
  ec2: StepContext['clients']['ec2'],
  amiName: string,
  identity: BuildIdentity,
  named: Image[] | null,
): Promise<void> {
  // The build's name extends the stable name, so a listing by `{stable}*` already holds any image of that name.
  const sameName = named ? named.filter((i) => i.Name === amiName) : await findImages(ec2, [{ Name: 'name', Values: [amiName] }]);
  const clash = sameName.find((i) => i.State !== 'deregistered');
  if (clash && !isOwnedBy(clash.Tags, identity)) {
    throw new AmiNameInUse(
      `AMI name ${amiName} is already used by ${clash.ImageId} (build ${tagValue(clash.Tags, TAG.build) ?? 'unknown'}, execution ${tagValue(clash.Tags, TAG.execution) ?? 'unknown'}); deregister it or publish its build first`,
    );
  }
}
