import { GetParameterCommand, type Parameter, type SSMClient } from '@aws-sdk/client-ssm';
import { getParameterValue } from './parameters';

export interface GuardedPaths {
  latest: string;
  history: (amiId: string) => string;
}

export interface GuardOptions {
  /**
   * History entries written up to this moment do not protect: clean up passes the time its own
   * publish recorded the new AMI, which replaced them. Without it, any history entry protects.
   */
  supersededAt?: Date;
  /** What `latest` holds, when the caller has just read it (clean up, under the lock); else it is read here. */
  latest?: string | null;
  /**
   * When each AMI's history entry was written, when the caller has just listed them all (clean
   * up); an AMI it does not name has none. Else the entry is read here.
   */
  history?: ReadonlyMap<string, Date>;
}

/** The parameter (value and when it was written), or null when it does not exist. */
export async function getParameter(ssm: SSMClient, name: string): Promise<Parameter | null> {
  try {
    return (await ssm.send(new GetParameterCommand({ Name: name }))).Parameter ?? null;
  } catch (error) {
    if ((error as Error).name === 'ParameterNotFound') return null;
    throw error;
  }
}

/** When the history entry of an AMI was written, or null when it has none. */
export async function recordedAt(ssm: SSMClient, paths: GuardedPaths, amiId: string): Promise<Date | null> {
  const entry = await getParameter(ssm, paths.history(amiId));
  return entry ? (entry.LastModifiedDate ?? new Date(0)) : null;
}

/**
 * Why an AMI must stay, or null when roll back or clean up may remove it: consumers may be
 * launching from what `latest` names, and a completed publish recorded its AMI in history. A
 * failed read throws: when in doubt, nothing is removed.
 */
export async function removalBlocker(
  ssm: SSMClient,
  paths: GuardedPaths,
  amiId: string,
  options: GuardOptions = {},
): Promise<string | null> {
  const latest = options.latest !== undefined ? options.latest : await getParameterValue(ssm, paths.latest);
  if (latest === amiId) return `${paths.latest} names it`;
  const recorded = options.history ? (options.history.get(amiId) ?? null) : await recordedAt(ssm, paths, amiId);
  if (recorded && !(options.supersededAt && recorded.getTime() <= options.supersededAt.getTime())) {
    return `${paths.history(amiId)} records its publish`;
  }
  return null;
}
