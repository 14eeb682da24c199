import { environmentConfig, repositoryFor } from '../shared/config-values';
import { RequestInvalid, receivedText } from '../shared/errors';
import { parameterPaths } from '../shared/names';
import { getJsonParameter } from '../shared/parameters';
import { DIGEST } from '../shared/request';
import type { RequestSource } from '../shared/state';
import { type StartDeps, type StartedBuild, startBuild } from '../start-build/start-build';

export interface PromoteRequest {
  from: string;
  to: string;
  source: Exclude<RequestSource, 'ecr-push'>;
}

export interface StartedPromotion extends StartedBuild {
  from: string;
  digest: string;
}

/**
 * Checks a promotion before anything starts, only allowed when `environments.{to}.promoteFrom`
 * names `from`, and returns the build input of `to` for exactly the digest `from` has published
 * (its metadata's docker_digest). Reads only.
 */
export async function planPromotion(
  request: PromoteRequest,
  deps: Pick<StartDeps, 'config' | 'clients'>,
): Promise<{ input: Record<string, unknown>; digest: string }> {
  const { config } = deps;
  const names = `one of the configured environments (${Object.keys(config.environments).join(', ')})`;
  const target = environmentConfig(config, request.to);
  if (!target) throw new RequestInvalid({ field: 'to', allowed: names, received: receivedText(request.to) });
  if (!environmentConfig(config, request.from))
    throw new RequestInvalid({ field: 'from', allowed: names, received: receivedText(request.from) });
  const source = target.promoteFrom
    ? `${target.promoteFrom} (config environments.${request.to}.promoteFrom)`
    : `the environment that config environments.${request.to}.promoteFrom names (it is not set)`;
  if (target.promoteFrom !== request.from)
    throw new RequestInvalid({ field: 'from', allowed: source, received: receivedText(request.from) });
  const repository = repositoryFor(config, request.to);
  if (repositoryFor(config, request.from) !== repository) {
    throw new RequestInvalid({
      field: 'from',
      problem: `${request.from} builds from repository ${repositoryFor(config, request.from)}, ${request.to} from ${repository}; a digest cannot move between them`,
      allowed: `an environment that builds from repository ${repository}`,
      received: request.from,
    });
  }
  const metadataPath = parameterPaths(config, request.from).metadata;
  const metadata = await getJsonParameter(deps.clients.ssm, metadataPath);
  const digest = metadata?.docker_digest;
  if (!metadata || typeof digest !== 'string' || !DIGEST.test(digest) || metadata.environment !== request.from) {
    throw new RequestInvalid({
      field: 'from',
      problem: `${request.from} has published nothing to promote (${metadataPath} holds no build with a digest)`,
      allowed: 'an environment that has published a build',
      received: request.from,
    });
  }
  // The source build's git facts travel with its digest into the target's metadata.
  const git = {
    ...(typeof metadata.branch === 'string' && metadata.branch !== 'unknown' && { branch: metadata.branch }),
    ...(typeof metadata.commit_sha === 'string' && /^[0-9a-f]{7,40}$/.test(metadata.commit_sha) && { commit_sha: metadata.commit_sha }),
  };
  return { input: { environment: request.to, image: `${repository}@${digest}`, ...git, source: request.source }, digest };
}

/** A checked promotion started as an ordinary build of `<repository>@<digest>` of the target. */
export async function startPromotion(request: PromoteRequest, deps: StartDeps): Promise<StartedPromotion> {
  const { input, digest } = await planPromotion(request, deps);
  const started = await startBuild(input, deps);
  return { ...started, from: request.from, digest };
}
