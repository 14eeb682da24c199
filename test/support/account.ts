import { DescribeImagesCommand, DescribeInstancesCommand, DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { MANAGED_BY, TAG } from '../../functions/shared/tags';

/** What a consumer or an auditor sees in the account: the facts the pipeline's promises are about. */
export interface AccountState {
  /** Pipeline builders not terminated. */
  liveBuilders: string[];
  /** Pipeline AMIs not deregistered, by environment. */
  amis: Record<string, string[]>;
  /** Snapshots the account owns that no registered AMI uses. */
  orphanSnapshots: string[];
  /** Every parameter under the prefix, name -> value. */
  parameters: Record<string, string>;
}

/** Every snapshot id the account owns (moto starts with many): the baseline for leak checks. */
export async function snapshotIds(): Promise<Set<string>> {
  const out = await new EC2Client({}).send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return new Set((out.Snapshots ?? []).map((s) => s.SnapshotId ?? ''));
}

/** `baseline`: snapshots that existed before the builds, which are not the pipeline's to delete. */
export async function readAccount(baseline: Set<string> = new Set(), prefix = '/comfyui/ami'): Promise<AccountState> {
  const ec2 = new EC2Client({});
  const ssm = new SSMClient({});
  const instances = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] }] }));
  const liveBuilders = (instances.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .filter((i) => i.State?.Name !== 'terminated' && i.State?.Name !== 'shutting-down')
    .map((i) => i.InstanceId ?? '');

  const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
  const amis: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const image of images) {
    if (image.Tags?.find((t) => t.Key === TAG.managedBy)?.Value !== MANAGED_BY) continue;
    const env = image.Tags?.find((t) => t.Key === TAG.environment)?.Value ?? '?';
    amis[env] ??= [];
    amis[env].push(image.ImageId ?? '');
  }
  const used = new Set(images.flatMap((i) => (i.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId ?? '')));
  const snapshots = (await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots ?? [];
  const orphanSnapshots = snapshots.map((s) => s.SnapshotId ?? '').filter((id) => !used.has(id) && !baseline.has(id));

  const parameters: Record<string, string> = {};
  let token: string | undefined;
  do {
    const page = await ssm.send(new GetParametersByPathCommand({ Path: prefix, Recursive: true, NextToken: token }));
    for (const p of page.Parameters ?? []) parameters[p.Name ?? ''] = p.Value ?? '';
    token = page.NextToken;
  } while (token);
  return { liveBuilders, amis, orphanSnapshots, parameters };
}
