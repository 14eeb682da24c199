import { DescribeImagesCommand, ImageNotFoundException } from '@aws-sdk/client-ecr';
import { readHistoryRecord } from '../normalize-request/rollback-request';
import { resolveBaseAmi } from '../resolve-base-ami/resolve-base-ami';
import { describeImage, isPipelineImage } from '../shared/ec2';
import { ImageNotFound, RollbackRefused } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { parameterPaths } from '../shared/names';
import { getParameterValue } from '../shared/parameters';
import { type BaseAmi, type BuildState, need } from '../shared/state';
import { TAG, tagValue } from '../shared/tags';

/**
 * Under the lock, decides how a rollback goes: re-point `latest` to the target when it is still
 * an available AMI this pipeline made for the environment (mode `rollback`: nothing is built, the
 * target goes through Check the AMI and the same verification as a new one); otherwise a normal
 * build of the digest its history entry recorded, from the current `latest`.
 */
export async function prepareRollback(state: BuildState, ctx: StepContext<'ec2' | 'ssm' | 'ecr'>): Promise<BaseAmi> {
  const { config, clients, logger } = ctx;
  const request = need(state, 'request');
  const target = request.rollbackTo;
  if (!target) throw new Error('state.request.rollbackTo is missing: the state machine routed a build to Prepare the rollback');
  const environment = request.environment;
  const paths = parameterPaths(config, environment);
  const latest = await getParameterValue(clients.ssm, paths.latest);
  if (latest === target) throw new RollbackRefused(`${target} is already ${paths.latest}: nothing to roll back`);
  // Read again under the lock: the entry is what makes the target a build of this environment.
  const record = await readHistoryRecord(ctx, environment, target, 'request.rollbackTo');

  const image = await describeImage(clients.ec2, target);
  if (image && image.State !== 'deregistered') {
    if (!isPipelineImage(image, environment)) {
      throw new RollbackRefused(`${target} is not an AMI this pipeline made for ${environment}; it is never published`);
    }
    if (image.State !== 'available') throw new RollbackRefused(`${target} is ${image.State}, not available`);
    const fromTag = Number.parseInt(tagValue(image.Tags, TAG.buildNumber) ?? '', 10);
    const fromHistory = Number.parseInt(String(record.metadata.workflow_run_number ?? ''), 10);
    const base: BaseAmi = {
      mode: 'rollback',
      baseAmiId: target,
      previousAmiId: latest,
      buildNumber: Number.isFinite(fromHistory) ? fromHistory : Number.isFinite(fromTag) ? fromTag : 0,
      amiName: image.Name ?? target,
    };
    logger.info('rollback re-points latest to a retained AMI', { environment, target, previous: latest });
    return base;
  }

  // Gone: rebuild exactly the recorded digest, which must still be in ECR.
  try {
    await clients.ecr.send(new DescribeImagesCommand({ repositoryName: request.repository, imageIds: [{ imageDigest: request.digest }] }));
  } catch (error) {
    if (error instanceof ImageNotFoundException || (error as Error).name === 'ImageNotFoundException') {
      throw new ImageNotFound(
        `${target} is gone and ${request.repository}@${request.digest}, the image it was built from, is no longer in ECR: nothing to roll back to`,
      );
    }
    throw error;
  }
  logger.info('rollback target is gone; rebuilding its digest', { environment, target, digest: request.digest });
  return resolveBaseAmi(state, ctx);
}
