import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { publishableImage } from '../shared/build-identity';
import type { Attempt } from '../shared/cancellation';
import { fastSnapshotRestoreZones } from '../shared/config-values';
import { AmiCreationFailed, LatestNotConfirmed } from '../shared/errors';
import { buildSnapshotIds, enableFastSnapshotRestores } from '../shared/fast-snapshot-restore';
import type { StepContext } from '../shared/handler';
import { parameterPaths } from '../shared/names';
import { getParameterValue } from '../shared/parameters';
import { type AmiMetadata, type BuildState, need, type Published } from '../shared/state';
import { rollbackMetadata } from './rollback-metadata';

/** `2024-01-15T10:30:00Z`, the form of the user's documented metadata. */
export function isoSeconds(date: string | Date): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function buildMetadata(state: BuildState, amiId: string, creationDate: string, region: string): AmiMetadata {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const image = need(state, 'image');
  return {
    ami_id: amiId,
    docker_image: request.imageUri,
    environment: request.environment,
    creation_date: isoSeconds(creationDate),
    branch: request.branch,
    commit_sha: request.commitSha,
    region,
    workflow_run_id: state.execution.name,
    workflow_run_number: String(base.buildNumber),
    ami_name: image.name,
    docker_digest: request.digest,
    docker_tag: request.tag,
    build_mode: base.mode,
    base_ami_id: base.baseAmiId,
    previous_ami_id: base.previousAmiId,
    source: request.source,
    execution_id: state.execution.id,
    requested_by: request.requestedBy,
    build_id: state.execution.buildId,
  };
}

/**
 * history, then metadata, then latest: a consumer reading `latest` always finds metadata for it.
 * `aws:ec2:image` is validated asynchronously, so `latest` is read back; the state machine
 * retries LatestNotConfirmed, and a repeated attempt whose `latest` already holds the AMI writes
 * nothing again (a write would restart the validation). Every write overwrites with the same
 * value: safe to repeat.
 */
export async function publishAmi(
  state: BuildState,
  { config, clients, logger }: StepContext<'ec2' | 'ssm'>,
  attempt: Attempt = { repeated: true },
): Promise<Published> {
  const request = need(state, 'request');
  const { amiId } = need(state, 'image');
  const paths = parameterPaths(config, request.environment);

  const image = await publishableImage(clients.ec2, state, amiId);
  if (image?.State !== 'available')
    throw new AmiCreationFailed(`AMI ${amiId} is ${image?.State ?? 'missing'}; only an available AMI is published`);
  const region = await clients.ssm.config.region();
  const rollback = need(state, 'base').mode === 'rollback';
  const metadata = rollback
    ? await rollbackMetadata(state, clients.ssm, paths, new Date())
    : buildMetadata(state, amiId, image.CreationDate ?? new Date().toISOString(), region);
  const json = JSON.stringify(metadata);

  // Before `latest` moves, so the first hosts launched from it already restore fast. A rollback's
  // target was made by an earlier build: its snapshots are not this build's to change.
  const zones = rollback ? [] : fastSnapshotRestoreZones(config, request.environment);
  let fastSnapshotRestore: Published['fastSnapshotRestore'];
  if (zones.length > 0) {
    const snapshotIds = await buildSnapshotIds(clients.ec2, image, request.environment);
    fastSnapshotRestore = await enableFastSnapshotRestores(clients.ec2, amiId, snapshotIds, zones);
    logger.info('fast snapshot restore enabled', fastSnapshotRestore);
  }

  // The publish mark comes before any write: without an earlier attempt's mark, nothing was written.
  if (!attempt.repeated || (await getParameterValue(clients.ssm, paths.latest)) !== amiId) {
    const description = `ComfyUI ${request.environment} AMI`;
    // A rollback's history entry is the record of the build that made the AMI: left as it is.
    if (!rollback) {
      await clients.ssm.send(
        new PutParameterCommand({
          Name: paths.history(amiId),
          Value: json,
          Type: 'String',
          Overwrite: true,
          Description: `${description} ${amiId} (audit)`,
        }),
      );
    }
    await clients.ssm.send(
      new PutParameterCommand({
        Name: paths.metadata,
        Value: json,
        Type: 'String',
        Overwrite: true,
        Description: `Latest ${description} metadata`,
      }),
    );
    await clients.ssm.send(
      new PutParameterCommand({
        Name: paths.latest,
        Value: amiId,
        Type: 'String',
        DataType: 'aws:ec2:image',
        Overwrite: true,
        Description: `Latest ${description} id`,
      }),
    );
  }

  const stored = await getParameterValue(clients.ssm, paths.latest);
  if (stored !== amiId) throw new LatestNotConfirmed(`${paths.latest} holds ${stored ?? 'nothing'}, not ${amiId}, after PutParameter`);
  logger.info('AMI published', { amiId, latest: paths.latest });
  return fastSnapshotRestore
    ? { amiId, metadata, fastSnapshotRestore: { snapshotIds: fastSnapshotRestore.snapshotIds, availabilityZones: zones } }
    : { amiId, metadata };
}
