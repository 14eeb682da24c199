import { DescribeRepositoriesCommand, RepositoryNotFoundException } from '@aws-sdk/client-ecr';
import { repositoryFor, verifyConfig } from '../shared/config-values';
import { ImageNotFound, RequestInvalid } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { parameterPaths } from '../shared/names';
import { getJsonParameter } from '../shared/parameters';
import { DIGEST, parseRollbackInput } from '../shared/request';
import type { BuildRequest, BuildState } from '../shared/state';

/** What a history entry must hold for its AMI to be rolled back to (or its digest rebuilt). */
export interface HistoryRecord {
  amiId: string;
  digest: string;
  tag: string | null;
  branch: string;
  commitSha: string;
  metadata: Record<string, unknown>;
}

/**
 * The `history/{ami-id}` entry of an environment, checked: it must be this environment's, for this
 * AMI, with a digest. Anything else is no build of the environment and cannot be rolled back to.
 */
export async function readHistoryRecord(
  ctx: StepContext<'ssm' | 'ecr'>,
  environment: string,
  amiId: string,
  field = 'input.rollback_to',
): Promise<HistoryRecord> {
  const path = parameterPaths(ctx.config, environment).history(amiId);
  const entry = await getJsonParameter(ctx.clients.ssm, path);
  if (!entry)
    throw new RequestInvalid({
      field,
      problem: `${amiId} is no build of ${environment} (no ${path})`,
      allowed: `an AMI id of a build of ${environment} (comfyui-ami history --env ${environment} lists them)`,
      received: amiId,
    });
  const digest = entry.docker_digest;
  if (entry.ami_id !== amiId || entry.environment !== environment || typeof digest !== 'string' || !DIGEST.test(digest)) {
    throw new RequestInvalid({
      field,
      problem: `${path} does not record a build of ${amiId} for ${environment} with a sha256 digest`,
      allowed: `an AMI id whose history entry records a build of ${environment}`,
      received: amiId,
    });
  }
  const text = (value: unknown, fallback: string) => (typeof value === 'string' ? value : fallback);
  return {
    amiId,
    digest,
    tag: typeof entry.docker_tag === 'string' ? entry.docker_tag : null,
    branch: text(entry.branch, 'unknown'),
    commitSha: text(entry.commit_sha, 'unknown'),
    metadata: entry,
  };
}

/**
 * A rollback request becomes a build request of the digest its target's history entry recorded
 * (what a rebuild pulls if the AMI is gone), with the target kept in `rollbackTo`. Whether the
 * AMI still exists is decided later, under the lock (Prepare the rollback).
 */
export async function normalizeRollback(
  state: Pick<BuildState, 'input' | 'execution'>,
  ctx: StepContext<'ssm' | 'ecr'>,
): Promise<Omit<BuildRequest, 'requestedBy'>> {
  const rollback = parseRollbackInput(state.input as Record<string, unknown>, ctx.config);
  const record = await readHistoryRecord(ctx, rollback.environment, rollback.rollbackTo);
  const repository = repositoryFor(ctx.config, rollback.environment);
  let repositoryUri: string;
  try {
    const repos = await ctx.clients.ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [repository] }));
    repositoryUri = repos.repositories?.[0]?.repositoryUri ?? '';
  } catch (error) {
    if (error instanceof RepositoryNotFoundException) throw new ImageNotFound(`repository "${repository}" does not exist in ECR`);
    throw error;
  }
  return {
    environment: rollback.environment,
    repository,
    imageUri: `${repositoryUri}@${record.digest}`,
    digest: record.digest,
    tag: record.tag,
    branch: record.branch,
    commitSha: record.commitSha,
    source: rollback.source,
    requestedAt: state.execution.startTime,
    rollbackTo: rollback.rollbackTo,
    verify: verifyConfig(ctx.config, rollback.environment).enabled,
  };
}
