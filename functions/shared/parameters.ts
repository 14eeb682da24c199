import {
  DeleteParameterCommand,
  GetParameterCommand,
  ParameterNotFound,
  PutParameterCommand,
  paginateGetParameterHistory,
  type SSMClient,
} from '@aws-sdk/client-ssm';

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

/** A JSON parameter parsed, or null when it is missing or not a JSON object. */
export async function getJsonParameter(ssm: SSMClient, name: string): Promise<Record<string, unknown> | null> {
  const value = await getParameterValue(ssm, name);
  if (value === null) return null;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
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
 * Puts `metadata` back to the newest earlier version that does not describe `amiId` (or removes
 * it when there is none), and removes `history/{amiId}`: what a failed build wrote is undone.
 */
export async function undoPublish(ssm: SSMClient, paths: { metadata: string; history: (amiId: string) => string }, amiId: string): Promise<string[]> {
  const undone: string[] = [];
  if (await deleteParameter(ssm, paths.history(amiId))) undone.push(`deleted ${paths.history(amiId)}`);

  const current = await getJsonParameter(ssm, paths.metadata);
  if (current?.ami_id !== amiId) return undone;
  let restore: string | null = null;
  for await (const page of paginateGetParameterHistory({ client: ssm }, { Name: paths.metadata })) {
    for (const version of page.Parameters ?? []) {
      if (version.Value && amiOf(version.Value) !== amiId) restore = version.Value;
    }
  }
  if (restore === null) {
    await deleteParameter(ssm, paths.metadata);
    undone.push(`deleted ${paths.metadata}`);
  } else {
    await ssm.send(new PutParameterCommand({ Name: paths.metadata, Value: restore, Type: 'String', Overwrite: true }));
    undone.push(`restored ${paths.metadata} to ${amiOf(restore) ?? 'its previous value'}`);
  }
  return undone;
}

function amiOf(json: string): string | undefined {
  try {
    return (JSON.parse(json) as { ami_id?: string }).ami_id;
  } catch {
    return undefined;
  }
}
