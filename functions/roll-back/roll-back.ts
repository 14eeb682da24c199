import type { StepContext } from '../shared/handler';
import { findBuilders, findImages, findTestInstances, removeImage, terminateInstances, type RemovedImage } from '../shared/ec2';
import { parameterPaths } from '../shared/names';
import { getParameterValue, undoPublish, undoRepoint } from '../shared/parameters';
import type { BuildState } from '../shared/state';
import { TAG } from '../shared/tags';

export interface RollBackResult {
  terminated: string[];
  removedImages: RemovedImage[];
  keptImages: string[];
  parameters: string[];
}

/**
 * Leaves the account as it was before the build: builders terminated, an AMI this execution made
 * but did not publish removed with its snapshots, parameters it wrote put back. Resources are
 * found by the execution's tag as well as by state, so a step that crashed after creating
 * something still has it cleaned. The previous AMI is never touched; once the Publish step has
 * completed, the new AMI stays.
 */
export async function rollBack(state: BuildState, { config, clients, logger }: StepContext): Promise<RollBackResult> {
  const executionName = state.execution.name;
  const builders = (await findBuilders(clients.ec2, executionName)).map((i) => i.InstanceId ?? '');
  // Test instances by this build's id only (never by state): verification may have failed mid-launch.
  const testInstances = (await findTestInstances(clients.ec2, state.execution.buildId)).map((i) => i.InstanceId ?? '');
  const terminated = await terminateInstances(clients.ec2, [...builders, ...testInstances, state.builder?.instanceId ?? ''].filter(Boolean));

  const images = await findImages(clients.ec2, [{ Name: `tag:${TAG.execution}`, Values: [executionName] }]);
  const amiIds = [...new Set([...images.map((i) => i.ImageId ?? ''), state.image?.amiId ?? ''].filter(Boolean))];
  const environment = state.request?.environment;
  const paths = environment ? parameterPaths(config, environment) : null;
  // Published means the Publish step completed; a failure after that keeps the new AMI.
  const published = state.published?.amiId ?? null;
  const latest = published && paths ? await getParameterValue(clients.ssm, paths.latest) : null;

  const removedImages: RemovedImage[] = [];
  const keptImages: string[] = [];
  const parameters: string[] = [];
  // A rollback's target was made by an earlier build: never removed here, only un-published.
  const retainedTarget = state.base?.mode === 'rollback' ? state.base.baseAmiId : null;
  for (const amiId of amiIds) {
    if (amiId === published && latest === amiId) {
      // Consumers may already use it: only the clean-up after publishing failed.
      keptImages.push(amiId);
      continue;
    }
    if (amiId === retainedTarget) {
      if (paths) parameters.push(...(await undoRepoint(clients.ssm, paths, amiId)));
      keptImages.push(amiId);
      continue;
    }
    if (paths) parameters.push(...(await undoPublish(clients.ssm, paths, amiId)));
    removedImages.push(await removeImage(clients.ec2, amiId));
  }
  logger.info('rolled back', { terminated, removedImages, keptImages, parameters, cause: state.error });
  return { terminated, removedImages, keptImages, parameters };
}
