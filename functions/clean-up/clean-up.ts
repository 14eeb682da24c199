import { DeleteParametersCommand, paginateGetParametersByPath, type Parameter } from '@aws-sdk/client-ssm';
import type { StepContext } from '../shared/handler';
import { describeImage, findBuilders, isPipelineImage, removeImage, terminateInstances, type RemovedImage } from '../shared/ec2';
import { parameterPaths } from '../shared/names';
import { getParameterValue } from '../shared/parameters';
import { need, type BuildState } from '../shared/state';

export interface CleanUpResult {
  terminated: string[];
  removedPrevious: RemovedImage | null;
  keptPrevious: { amiId: string; reason: string } | null;
  prunedHistory: string[];
}

/** After a successful publish: no builder left, no previous AMI or snapshot left, history bounded. */
export async function cleanUp(state: BuildState, { config, clients, logger }: StepContext): Promise<CleanUpResult> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const published = need(state, 'published');
  const paths = parameterPaths(config, request.environment);

  const builders = (await findBuilders(clients.ec2, state.execution.name)).map((i) => i.InstanceId ?? '');
  const terminated = await terminateInstances(clients.ec2, [...builders, state.builder?.instanceId ?? ''].filter(Boolean));

  let removedPrevious: RemovedImage | null = null;
  let keptPrevious: CleanUpResult['keptPrevious'] = null;
  const previous = base.previousAmiId;
  if (previous && previous !== published.amiId) {
    // Never remove what consumers may still be pointed at.
    const latest = await getParameterValue(clients.ssm, paths.latest);
    const image = await describeImage(clients.ec2, previous);
    if (latest !== published.amiId) {
      keptPrevious = { amiId: previous, reason: `${paths.latest} holds ${latest}, not the new AMI` };
    } else if (image && !isPipelineImage(image, request.environment)) {
      keptPrevious = { amiId: previous, reason: 'not made by this pipeline for this environment; deregister it by hand if it is no longer needed' };
    } else {
      removedPrevious = await removeImage(clients.ec2, previous);
    }
  }
  if (keptPrevious) logger.warn('previous AMI kept', keptPrevious);

  const prunedHistory = await pruneHistory(clients.ssm, paths.historyPrefix, config.historyLimit, published.amiId);
  logger.info('cleaned up', { terminated, removedPrevious, prunedHistory: prunedHistory.length });
  return { terminated, removedPrevious, keptPrevious, prunedHistory };
}

/** Keeps the newest `limit` history entries (and always the current AMI's); deletes the rest. */
export async function pruneHistory(ssm: StepContext['clients']['ssm'], prefix: string, limit: number, currentAmiId: string): Promise<string[]> {
  const entries: Parameter[] = [];
  for await (const page of paginateGetParametersByPath({ client: ssm }, { Path: prefix, Recursive: false })) entries.push(...(page.Parameters ?? []));
  entries.sort((a, b) => (b.LastModifiedDate?.getTime() ?? 0) - (a.LastModifiedDate?.getTime() ?? 0));
  const doomed = entries
    .slice(limit)
    .map((p) => p.Name ?? '')
    .filter((name) => name && !name.endsWith(`/${currentAmiId}`));
  for (let i = 0; i < doomed.length; i += 10) {
    await ssm.send(new DeleteParametersCommand({ Names: doomed.slice(i, i + 10) }));
  }
  return doomed;
}
