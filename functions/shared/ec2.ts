import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type EC2Client,
  type Filter,
  type Image,
  type Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { BaseRoot } from './state';
import { MANAGED_BY, TAG, tagValue } from './tags';

function errorName(error: unknown): string {
  return (error as { name?: string })?.name ?? '';
}

/** EC2's answers for an AMI id it does not know (any more). */
export const UNKNOWN_IMAGE_ERRORS: readonly string[] = ['InvalidAMIID.NotFound', 'InvalidAMIID.Malformed', 'InvalidAMIID.Unavailable'];

export function isUnknownImageError(error: unknown): boolean {
  return UNKNOWN_IMAGE_ERRORS.includes(errorName(error));
}

/** The root device of an image and its size (0 when EC2 did not say). */
export function rootOf(image: Image): BaseRoot {
  const deviceName = image.RootDeviceName ?? '/dev/sda1';
  return { deviceName, sizeGiB: image.BlockDeviceMappings?.find((m) => m.DeviceName === deviceName)?.Ebs?.VolumeSize ?? 0 };
}

/** The image, or null when EC2 does not know it (any more). */
export async function describeImage(ec2: EC2Client, amiId: string): Promise<Image | null> {
  try {
    const out = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
    return out.Images?.[0] ?? null;
  } catch (error) {
    if (isUnknownImageError(error)) return null;
    throw error;
  }
}

export async function findImages(ec2: EC2Client, filters: Filter[]): Promise<Image[]> {
  const out = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: filters }));
  return out.Images ?? [];
}

export async function describeInstance(ec2: EC2Client, instanceId: string): Promise<Instance | null> {
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return out.Reservations?.[0]?.Instances?.[0] ?? null;
  } catch (error) {
    if (errorName(error) === 'InvalidInstanceID.NotFound') return null;
    throw error;
  }
}

/** Terminates instances; ones already gone count as done. */
export async function terminateInstances(ec2: EC2Client, instanceIds: string[]): Promise<string[]> {
  const ids = [...new Set(instanceIds)];
  if (ids.length === 0) return [];
  // One call for all; EC2 refuses the whole call when one id is gone, and then each goes on its own.
  try {
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    return ids;
  } catch (error) {
    if (ids.length === 1 && errorName(error) === 'InvalidInstanceID.NotFound') return [];
    if (errorName(error) !== 'InvalidInstanceID.NotFound') throw error;
  }
  const terminated: string[] = [];
  for (const id of ids) {
    try {
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
      terminated.push(id);
    } catch (error) {
      if (errorName(error) !== 'InvalidInstanceID.NotFound') throw error;
    }
  }
  return terminated;
}

export function isPipelineImage(image: Image, environment: string): boolean {
  return tagValue(image.Tags, TAG.managedBy) === MANAGED_BY && tagValue(image.Tags, TAG.environment) === environment;
}

export interface RemovedImage {
  amiId: string;
  deregistered: boolean;
  deletedSnapshots: string[];
  keptSnapshots: string[];
}

/**
 * Deregisters an image and deletes its snapshots. Safe to repeat: when the image is already
 * gone, the snapshots the pipeline tagged for it are still found and deleted: by the build that
 * made it (tagged in the CreateImage request; pass `buildId` when known, which also narrows the
 * look-up by image id to that build), or by its id (snapshots of images made before the request
 * tagged them). A snapshot another image uses (InvalidSnapshot.InUse) is kept.
 */
export async function removeImage(ec2: EC2Client, amiId: string, buildId?: string, known?: Image): Promise<RemovedImage> {
  // `known`: the image as the caller has just listed it (its snapshots and state), saving a read.
  const image = known?.ImageId === amiId ? known : await describeImage(ec2, amiId);
  const fromImage = (image?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId).filter((id): id is string => Boolean(id));
  const madeBy = buildId ?? tagValue(image?.Tags, TAG.build);
  const byBuild: Filter[] = buildId ? [{ Name: `tag:${TAG.build}`, Values: [buildId] }] : [];
  const lookups: Filter[][] = [[{ Name: `tag:${TAG.imageId}`, Values: [amiId] }, ...byBuild]];
  if (madeBy) {
    lookups.push([
      { Name: `tag:${TAG.build}`, Values: [madeBy] },
      { Name: `tag:${TAG.role}`, Values: ['ami-snapshot'] },
    ]);
  }
  const tagged = await Promise.all(lookups.map((Filters) => ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters }))));
  const snapshotIds = [...new Set([...fromImage, ...tagged.flatMap((t) => (t.Snapshots ?? []).map((s) => s.SnapshotId ?? ''))])].filter(
    Boolean,
  );

  let deregistered = false;
  if (image && image.State !== 'deregistered') {
    try {
      await ec2.send(new DeregisterImageCommand({ ImageId: amiId, DeleteAssociatedSnapshots: true }));
      deregistered = true;
    } catch (error) {
      if (!['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'].includes(errorName(error))) throw error;
    }
  }

  const deletedSnapshots: string[] = [];
  const keptSnapshots: string[] = [];
  for (const snapshotId of snapshotIds) {
    try {
      await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
      deletedSnapshots.push(snapshotId);
    } catch (error) {
      const name = errorName(error);
      if (name === 'InvalidSnapshot.NotFound') deletedSnapshots.push(snapshotId);
      else if (name === 'InvalidSnapshot.InUse') keptSnapshots.push(snapshotId);
      else throw error;
    }
  }
  return { amiId, deregistered, deletedSnapshots, keptSnapshots };
}
