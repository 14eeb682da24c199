import { type BuildState, need } from './state';

/** Tag keys the pipeline puts on what it creates; IAM conditions and clean-up rely on them. */
export const TAG = {
  managedBy: 'comfyui-ami:managed-by',
  role: 'comfyui-ami:role',
  environment: 'comfyui-ami:environment',
  execution: 'comfyui-ami:execution',
  build: 'comfyui-ami:build-id',
  dockerImage: 'comfyui-ami:docker-image',
  digest: 'comfyui-ami:digest',
  commit: 'comfyui-ami:commit',
  buildNumber: 'comfyui-ami:build-number',
  imageId: 'comfyui-ami:image-id',
} as const;

export const MANAGED_BY = 'comfyui-ami-pipeline';

/** `role` tag values of the pipeline's instances. */
export const BUILDER_ROLE = 'builder';
export const VERIFIER_ROLE = 'verifier';

export type Tag = { Key: string; Value: string };

export function toTags(record: Record<string, string>): Tag[] {
  // EC2 tag values are at most 256 characters.
  return Object.entries(record).map(([Key, Value]) => ({ Key, Value: Value.slice(0, 256) }));
}

export function tagValue(tags: { Key?: string; Value?: string }[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

/** The tags an AMI and its snapshots carry: how clean-up, IAM and people recognise them. */
export function imageTags(state: BuildState, stableName: string): Record<string, string> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  return {
    Name: stableName,
    [TAG.managedBy]: MANAGED_BY,
    [TAG.role]: 'ami',
    [TAG.environment]: request.environment,
    [TAG.execution]: state.execution.name,
    [TAG.build]: state.execution.buildId,
    [TAG.dockerImage]: request.imageUri,
    [TAG.digest]: request.digest,
    [TAG.commit]: request.commitSha,
    [TAG.buildNumber]: String(base.buildNumber),
  };
}

/** The tags of an AMI's snapshots, set in the CreateImage request: the image's, as snapshots. */
export function snapshotTags(state: BuildState, stableName: string): Record<string, string> {
  return { ...imageTags(state, stableName), [TAG.role]: 'ami-snapshot' };
}
