import type { SSMClient } from '@aws-sdk/client-ssm';
import { RollbackRefused } from '../shared/errors';
import type { parameterPaths } from '../shared/names';
import { getJsonParameter } from '../shared/parameters';
import { type AmiMetadata, type BuildState, need } from '../shared/state';
import { isoSeconds } from './publish-ami';

/** Metadata of a rolled-back environment: the AMI's own record plus how it came back. */
export type RollbackMetadata = AmiMetadata & {
  rolled_back_at: string;
  /** The execution that built the AMI (execution_id is the rollback's). */
  built_by_execution_id: string | null;
  /** The highest build number the environment has used, so the next build counts on from it. */
  highest_build_number: string;
};

function buildNumberOf(metadata: Record<string, unknown> | null): number {
  const values = [metadata?.workflow_run_number, metadata?.highest_build_number].map((v) => Number.parseInt(String(v ?? ''), 10));
  return Math.max(0, ...values.filter(Number.isFinite));
}

/**
 * The target's `history/{ami-id}` entry republished: every contract key as its build recorded
 * it (image, digest, branch, commit, creation date, build number), with build_mode `rollback`,
 * the AMI it replaced, and this execution's source and ids.
 */
export async function rollbackMetadata(
  state: BuildState,
  ssm: SSMClient,
  paths: ReturnType<typeof parameterPaths>,
  now: Date,
): Promise<RollbackMetadata> {
  const request = need(state, 'request');
  const base = need(state, 'base');
  const amiId = need(state, 'image').amiId;
  const entry = await getJsonParameter(ssm, paths.history(amiId));
  if (!entry || entry.ami_id !== amiId)
    throw new RollbackRefused(`${paths.history(amiId)} no longer records ${amiId}: nothing to republish`);
  const current = await getJsonParameter(ssm, paths.metadata);
  const recorded = entry as unknown as AmiMetadata;
  return {
    ...recorded,
    environment: request.environment,
    build_mode: 'rollback',
    previous_ami_id: base.previousAmiId,
    source: request.source,
    requested_by: request.requestedBy,
    workflow_run_id: state.execution.name,
    execution_id: state.execution.id,
    rolled_back_at: isoSeconds(now),
    built_by_execution_id: typeof entry.execution_id === 'string' ? entry.execution_id : null,
    highest_build_number: String(Math.max(buildNumberOf(current), buildNumberOf(entry))),
  };
}
