import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParametersCommand,
  ParameterNotFound,
  PutParameterCommand,
  paginateGetParameterHistory,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { parseJsonObject } from './json';

/** The parameter's value, or null when it does not exist. */
export async function getParameterValue(ssm: SSMClient, name: string): Promise<string | null> {
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    return out.Parameter?.Value ?? null;
  } catch (error) {
    if (error instanceof ParameterNotFound || (error as Error).name === 'ParameterNotFound') return null;
    throw error;
  }
}

/** Up to ten parameters in one call: name -> value; a missing one has no entry. */
export async function getParameterValues(ssm: SSMClient, names: string[]): Promise<Map<string, string>> {
  const out = await ssm.send(new GetParametersCommand({ Names: names }));
  const values = new Map<string, string>();
  for (const p of out.Parameters ?? []) if (p.Name && p.Value !== undefined) values.set(p.Name, p.Value);
  return values;
}

/** A JSON parameter parsed, or null when it is missing or not a JSON object. */
export async function getJsonParameter(ssm: SSMClient, name: string): Promise<Record<string, unknown> | null> {
  return parseJsonObject(await getParameterValue(ssm, name));
}

/** Deletes a parameter; one already gone counts as deleted. */
export async function deleteParameter(ssm: SSMClient, name: string): Promise<boolean> {
  try {
    await ssm.send(new DeleteParameterCommand({ Name: name }));
    return true;
  } catch (error) {
    if ((error as Error).name === 'ParameterNotFound') return false;
    throw error;
  }
}

/**
 * Puts a parameter back to its newest earlier version that `fromThisBuild` does not claim, or
 * deletes it when there is none. Returns what it did, or null when the build had not touched it.
 */
async function restorePrevious(
  ssm: SSMClient,
  name: string,
  fromThisBuild: (value: string) => boolean,
  dataType?: string,
): Promise<string | null> {
  const current = await getParameterValue(ssm, name);
  if (current === null || !fromThisBuild(current)) return null;
  let restore: string | null = null;
  // Versions come oldest first: the last one not from this build is the value before it.
  for await (const page of paginateGetParameterHistory({ client: ssm }, { Name: name })) {
    for (const version of page.Parameters ?? []) {
      if (version.Value !== undefined && !fromThisBuild(version.Value)) restore = version.Value;
    }
  }
  if (restore === null) {
    await deleteParameter(ssm, name);
    return `deleted ${name}`;
  }
  await ssm.send(new PutParameterCommand({ Name: name, Value: restore, Type: 'String', DataType: dataType, Overwrite: true }));
  return `restored ${name}`;
}

export interface PublishPaths {
  latest: string;
  metadata: string;
  history: (amiId: string) => string;
}

/** Puts `latest` back if it names `amiId`; null when it does not. */
export function undoLatest(ssm: SSMClient, paths: PublishPaths, amiId: string): Promise<string | null> {
  return restorePrevious(ssm, paths.latest, (value) => value === amiId, 'aws:ec2:image');
}

/** Puts `metadata` back if it describes `amiId`; null when it does not. */
export function undoMetadata(ssm: SSMClient, paths: PublishPaths, amiId: string): Promise<string | null> {
  return restorePrevious(ssm, paths.metadata, (value) => amiOf(value) === amiId);
}

/** Deletes `history/{amiId}`; null when there was none. */
export async function undoHistory(ssm: SSMClient, paths: PublishPaths, amiId: string): Promise<string | null> {
  return (await deleteParameter(ssm, paths.history(amiId))) ? `deleted ${paths.history(amiId)}` : null;
}

/**
 * Undoes what publishing `amiId` wrote: `latest` first (consumers stop seeing it), then
 * `metadata`, then `history/{amiId}`. Parameters the build never wrote are left alone.
 */
export async function undoPublish(ssm: SSMClient, paths: PublishPaths, amiId: string): Promise<string[]> {
  const undone = [await undoLatest(ssm, paths, amiId), await undoMetadata(ssm, paths, amiId), await undoHistory(ssm, paths, amiId)];
  return undone.filter((line): line is string => line !== null);
}

/**
 * Undoes what a rollback's publish wrote: `latest` and `metadata` back to their values before it.
 * The target's history entry and the AMI itself belong to the build that made them: untouched.
 */
export async function undoRepoint(ssm: SSMClient, paths: { latest: string; metadata: string }, amiId: string): Promise<string[]> {
  const undone = [
    await restorePrevious(ssm, paths.latest, (value) => value === amiId, 'aws:ec2:image'),
    await restorePrevious(ssm, paths.metadata, (value) => amiOf(value) === amiId),
  ];
  return undone.filter((line): line is string => line !== null);
}

function amiOf(json: string): unknown {
  return parseJsonObject(json)?.ami_id;
}
