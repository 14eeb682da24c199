import { EC2Client, type Image } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { PipelineConfig } from '../../functions/shared/config';
import { describeImage, isPipelineImage, removeImage } from '../../functions/shared/ec2';
import { findLegacyImages } from '../../functions/shared/legacy';
import { parameterPaths } from '../../functions/shared/names';
import { getParameterValue } from '../../functions/shared/parameters';
import { command, configAndEnvironment, ENVIRONMENT_OPTIONS } from '../lib/command';
import { CLI, failure } from '../lib/stack';

export const USAGE = `usage: ${CLI} legacy --env <env> [--json] [--config <file>]
       ${CLI} legacy --env <env> --delete [--config <file>]

Lists the old system's AMIs of an environment that this account owns (named
<prefix>-<env> or <prefix>-<env>-<anything>, or so in the Name tag), newest first, with their
snapshots and size. The first pipeline build of the environment migrates from the newest one.
--delete deregisters them and deletes their snapshots, once a pipeline build of the environment
has published (its latest names a pipeline AMI with a history entry); never the AMI latest names.

  --env <env>       the environment
  --json            print the list as JSON
  --delete          remove them (refused until the environment has a published pipeline build)
  --config <file>   pipeline config (default: PIPELINE_CONFIG or config/pipeline.json)
  -h, --help        this help

Examples:
  ${CLI} legacy --env dev
  ${CLI} legacy --env prod --json
  ${CLI} legacy --env dev --delete`;

export const OPTIONS = { ...ENVIRONMENT_OPTIONS, delete: { type: 'boolean' } } as const;

export interface LegacyAmi {
  amiId: string;
  name: string | null;
  nameTag: string | null;
  created: string | null;
  state: string | null;
  snapshots: string[];
  sizeGiB: number;
}

export function describeLegacy(image: Image): LegacyAmi {
  const ebs = (image.BlockDeviceMappings ?? []).map((m) => m.Ebs).filter((e) => e !== undefined);
  return {
    amiId: image.ImageId ?? '',
    name: image.Name ?? null,
    nameTag: image.Tags?.find((t) => t.Key === 'Name')?.Value ?? null,
    created: image.CreationDate ?? null,
    state: image.State ?? null,
    snapshots: ebs.map((e) => e.SnapshotId ?? '').filter(Boolean),
    sizeGiB: ebs.reduce((sum, e) => sum + (e.VolumeSize ?? 0), 0),
  };
}

/** Why deleting is refused, or null: the environment's latest must name a published pipeline AMI. */
async function notYetMigrated(
  ec2: EC2Client,
  ssm: SSMClient,
  config: PipelineConfig,
  environment: string,
): Promise<{ reason: string | null; latest: string | null }> {
  const paths = parameterPaths(config, environment);
  const latest = await getParameterValue(ssm, paths.latest);
  if (!latest) return { reason: `${paths.latest} does not exist: no pipeline build of ${environment} has published yet`, latest };
  const image = await describeImage(ec2, latest);
  if (!image || !isPipelineImage(image, environment))
    return { reason: `${paths.latest} names ${latest}, which is not a pipeline AMI of ${environment}`, latest };
  if ((await getParameterValue(ssm, paths.history(latest))) === null)
    return { reason: `${paths.history(latest)} does not exist: the publish of ${latest} did not complete`, latest };
  return { reason: null, latest };
}

export const main = command({
  usage: USAGE,
  options: OPTIONS,
  run: async (values) => {
    const { config, env } = configAndEnvironment(values);
    const ec2 = new EC2Client({});
    const ssm = new SSMClient({});
    const legacy = (await findLegacyImages(ec2, config, env)).map(describeLegacy);
    if (!values.delete) {
      if (values.json) console.log(JSON.stringify(legacy, null, 2));
      else if (legacy.length === 0) console.log(`no legacy AMIs of ${env} in this account and region`);
      else {
        for (const ami of legacy) {
          console.log(
            `${ami.amiId}  ${ami.created ?? '?'}  ${ami.sizeGiB} GiB  ${ami.name ?? ''}${ami.nameTag && ami.nameTag !== ami.name ? ` (Name tag ${ami.nameTag})` : ''}  snapshots: ${ami.snapshots.join(', ') || 'none'}`,
          );
        }
        console.log(`${legacy.length} legacy AMI(s), ${legacy.reduce((s, a) => s + a.sizeGiB, 0)} GiB of snapshots`);
      }
      return 0;
    }
    const { reason, latest } = await notYetMigrated(ec2, ssm, config, env);
    if (reason)
      return failure(
        new Error(`refused to delete legacy AMIs of ${env}: ${reason}`),
        `build ${env} first: ${CLI} run --env ${env} (or start --env ${env}), then delete`,
      );
    for (const ami of legacy) {
      if (ami.amiId === latest) {
        console.log(`kept ${ami.amiId}: latest names it`);
        continue;
      }
      const removed = await removeImage(ec2, ami.amiId);
      console.log(
        `removed ${ami.amiId} (${ami.name ?? ami.nameTag ?? ''}), snapshots deleted: ${removed.deletedSnapshots.join(', ') || 'none'}${removed.keptSnapshots.length > 0 ? `, kept (in use): ${removed.keptSnapshots.join(', ')}` : ''}`,
      );
    }
    if (legacy.length === 0) console.log(`no legacy AMIs of ${env}: nothing to delete`);
    return 0;
  },
});
