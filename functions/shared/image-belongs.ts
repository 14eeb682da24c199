import { paginateGetParametersByPath, type SSMClient } from '@aws-sdk/client-ssm';
import type { PipelineConfig } from './config';
import { environmentConfig, tagMatchesAny } from './config-values';
import { RequestInvalid, receivedText } from './errors';
import { parseJsonObject } from './json';
import { parameterPaths } from './names';

/** An image as ECR describes it: its digest and the tags that point to it now (none when ECR does not know it). */
export interface ImageInEcr {
  repository: string;
  digest: string;
  tags: readonly string[];
}

/** Why an image may reach an environment. */
export type ImageGrounds = { kind: 'tag'; tag: string } | { kind: 'published'; environment: string; amiId: string };

/** The AMI whose history entry under `environment` records `digest`, or null when none does. */
export async function amiPublishedWith(
  ssm: SSMClient,
  config: PipelineConfig,
  environment: string,
  digest: string,
): Promise<string | null> {
  const path = parameterPaths(config, environment).historyPath;
  for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: path, Recursive: false })) {
    for (const parameter of page.Parameters ?? []) {
      const entry = parseJsonObject(parameter.Value);
      if (entry?.docker_digest === digest && entry.environment === environment && typeof entry.ami_id === 'string') return entry.ami_id;
    }
  }
  return null;
}

/**
 * The environments whose published digests `environment` may build: its own, then, when the
 * config names one, the environment it is promoted from.
 */
export function publishingEnvironments(config: PipelineConfig, environment: string): string[] {
  const from = environmentConfig(config, environment)?.promoteFrom;
  return from ? [environment, from] : [environment];
}

/**
 * Rule 1 of authority: an image reaches an environment only if a tag of that environment points
 * to its digest now (ECR's answer, given in `image.tags`), or if the environment (or the one it
 * is promoted from) published that digest before. Anything else is refused naming `field`.
 */
export async function assertImageBelongs(
  environment: string,
  image: ImageInEcr,
  { config, ssm }: { config: PipelineConfig; ssm: SSMClient },
  field = 'input.image',
): Promise<ImageGrounds> {
  const env = environmentConfig(config, environment);
  if (!env)
    throw new RequestInvalid({
      field: 'input.environment',
      allowed: `one of the configured environments (${Object.keys(config.environments).join(', ')})`,
      received: receivedText(environment),
    });
  const tag = image.tags.find((t) => tagMatchesAny(t, env.tags));
  if (tag !== undefined) return { kind: 'tag', tag };
  const sources = publishingEnvironments(config, environment);
  for (const source of sources) {
    const amiId = await amiPublishedWith(ssm, config, source, image.digest);
    if (amiId) return { kind: 'published', environment: source, amiId };
  }
  throw new RequestInvalid({
    field,
    problem:
      `${image.repository}@${image.digest} is not an image of environment ${environment}: no tag matching ${env.tags.join(', ')} points to it` +
      ` and ${sources.join(' or ')} never published it`,
    allowed: allowedImageForm(config, environment),
    received: `${image.repository}@${image.digest}`,
  });
}

/** The allowed form of an image for an environment, for error messages. */
export function allowedImageForm(config: PipelineConfig, environment: string): string {
  const env = environmentConfig(config, environment);
  const tags = env?.tags.join(', ') ?? '';
  return `<repository>:<tag matching ${tags}>, or <repository>@sha256:<digest> that a tag matching ${tags} points to or that ${publishingEnvironments(config, environment).join(' or ')} published before`;
}
