import {
  DescribeFastSnapshotRestoresCommand,
  DescribeSnapshotsCommand,
  DisableFastSnapshotRestoresCommand,
  type EC2Client,
  EnableFastSnapshotRestoresCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { isOwnedBy } from './build-identity';
import { FastSnapshotRestoreFailed } from './errors';
import { TAG, tagValue } from './tags';

/** States in which a snapshot's fast snapshot restore is billed (AWS bills from enabling to disabled). */
const BILLED_STATES = ['enabling', 'optimizing', 'enabled'];

export interface FastSnapshotRestoreChange {
  amiId: string;
  snapshotIds: string[];
  availabilityZones: string[];
}

/**
 * The AMI's snapshots that the build which made the AMI made: tagged with this pipeline, the
 * environment and the AMI's own build id (CreateImage tags them in its request). Any other
 * snapshot the AMI names (one shared by another image, one someone else registered) is left alone.
 */
export async function buildSnapshotIds(ec2: EC2Client, image: Image, environment: string): Promise<string[]> {
  const named = (image.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((id): id is string => Boolean(id));
  const buildId = tagValue(image.Tags, TAG.build);
  if (named.length === 0 || !buildId) return [];
  const out = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'snapshot-id', Values: named }] }));
  return (out.Snapshots ?? [])
    .filter((s) => s.SnapshotId && isOwnedBy(s.Tags, { buildId, environment }))
    .map((s) => s.SnapshotId as string)
    .sort();
}

/**
 * Enables fast snapshot restore on the snapshots in the zones. Idempotent: EC2 answers an
 * already enabled pair as a success. A pair EC2 refuses (the regional limit of FSR snapshots, a
 * zone that does not exist) fails the step with EC2's reason: the build asked for fast boots.
 */
export async function enableFastSnapshotRestores(
  ec2: EC2Client,
  amiId: string,
  snapshotIds: string[],
  availabilityZones: string[],
): Promise<FastSnapshotRestoreChange> {
  if (snapshotIds.length > 0 && availabilityZones.length > 0) {
    const out = await ec2.send(
      new EnableFastSnapshotRestoresCommand({ SourceSnapshotIds: snapshotIds, AvailabilityZones: availabilityZones }),
    );
    const refused = (out.Unsuccessful ?? []).flatMap((u) =>
      (u.FastSnapshotRestoreStateErrors ?? []).map((e) => `${u.SnapshotId} in ${e.AvailabilityZone}: ${e.Error?.Code} ${e.Error?.Message}`),
    );
    if (refused.length > 0) {
      throw new FastSnapshotRestoreFailed(`EnableFastSnapshotRestores refused for AMI ${amiId}: ${refused.join('; ')}`);
    }
  }
  return { amiId, snapshotIds, availabilityZones };
}

/**
 * Disables fast snapshot restore wherever EC2 reports it billed for these snapshots (whatever the
 * config says now: a zone removed from it still bills until disabled). Nothing to do is no call.
 */
export async function disableFastSnapshotRestores(
  ec2: EC2Client,
  amiId: string,
  snapshotIds: string[],
): Promise<FastSnapshotRestoreChange> {
  const zones = new Set<string>();
  const snapshots = new Set<string>();
  if (snapshotIds.length > 0) {
    let NextToken: string | undefined;
    do {
      const out = await ec2.send(
        new DescribeFastSnapshotRestoresCommand({
          Filters: [
            { Name: 'snapshot-id', Values: snapshotIds },
            { Name: 'state', Values: BILLED_STATES },
          ],
          NextToken,
        }),
      );
      for (const restore of out.FastSnapshotRestores ?? []) {
        if (!restore.SnapshotId || !restore.AvailabilityZone || !snapshotIds.includes(restore.SnapshotId)) continue;
        snapshots.add(restore.SnapshotId);
        zones.add(restore.AvailabilityZone);
      }
      NextToken = out.NextToken;
    } while (NextToken);
  }
  const change = { amiId, snapshotIds: [...snapshots].sort(), availabilityZones: [...zones].sort() };
  if (change.snapshotIds.length === 0) return change;
  const out = await ec2.send(
    new DisableFastSnapshotRestoresCommand({ SourceSnapshotIds: change.snapshotIds, AvailabilityZones: change.availabilityZones }),
  );
  const refused = (out.Unsuccessful ?? []).flatMap((u) =>
    (u.FastSnapshotRestoreStateErrors ?? []).map((e) => `${u.SnapshotId} in ${e.AvailabilityZone}: ${e.Error?.Code} ${e.Error?.Message}`),
  );
  if (refused.length > 0) {
    throw new FastSnapshotRestoreFailed(`DisableFastSnapshotRestores refused for AMI ${amiId}: ${refused.join('; ')}`);
  }
  return change;
}
