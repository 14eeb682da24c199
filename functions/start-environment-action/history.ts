import { paginateGetParametersByPath } from '@aws-sdk/client-ssm';
import { describeImage } from '../shared/ec2';
import type { StepContext } from '../shared/handler';
import { parseJsonObject } from '../shared/json';
import { parameterPaths } from '../shared/names';
import { getParameterValue } from '../shared/parameters';

/** One build of an environment, as its `history/{ami-id}` entry recorded it. */
export interface HistoryRow {
  amiId: string;
  digest: string | null;
  tag: string | null;
  date: string | null;
  mode: string | null;
  /** The way the build was asked for: ecr-push, console, api or cli. */
  source: string | null;
  buildNumber: number | null;
  /** The AMI is still registered and available. */
  available: boolean;
  /** `latest` names it now. */
  latest: boolean;
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** Newest first: by build date, then build number. */
function newestFirst(a: HistoryRow, b: HistoryRow): number {
  return (b.date ?? '').localeCompare(a.date ?? '') || (b.buildNumber ?? 0) - (a.buildNumber ?? 0) || b.amiId.localeCompare(a.amiId);
}

/** Every history entry of the environment with whether its AMI still exists, newest first. */
export async function listHistory(
  environment: string,
  { config, clients }: Pick<StepContext<'ssm' | 'ec2'>, 'config' | 'clients'>,
): Promise<HistoryRow[]> {
  const paths = parameterPaths(config, environment);
  const latest = await getParameterValue(clients.ssm, paths.latest);
  const rows: HistoryRow[] = [];
  for await (const page of paginateGetParametersByPath({ client: clients.ssm }, { Path: paths.historyPath, Recursive: false })) {
    for (const parameter of page.Parameters ?? []) {
      const entry = parseJsonObject(parameter.Value);
      const amiId = (parameter.Name ?? '').slice(paths.historyPrefix.length);
      if (!entry || entry.ami_id !== amiId) continue;
      const number = Number.parseInt(String(entry.workflow_run_number ?? ''), 10);
      rows.push({
        amiId,
        digest: text(entry.docker_digest),
        tag: text(entry.docker_tag),
        date: text(entry.creation_date),
        mode: text(entry.build_mode),
        source: text(entry.source),
        buildNumber: Number.isFinite(number) ? number : null,
        available: false,
        latest: amiId === latest,
      });
    }
  }
  for (const row of rows) row.available = (await describeImage(clients.ec2, row.amiId))?.State === 'available';
  return rows.sort(newestFirst);
}

/**
 * The build a rollback returns to by default: among the builds older than the one `latest`
 * names, the newest whose AMI is still retained; when none is retained, the newest older build
 * (its digest is rebuilt). null when there is no older build.
 */
export function defaultRollbackTarget(rows: HistoryRow[]): HistoryRow | null {
  const sorted = [...rows].sort(newestFirst);
  const current = sorted.findIndex((r) => r.latest);
  const older = current >= 0 ? sorted.slice(current + 1) : sorted;
  return older.find((r) => r.available) ?? older[0] ?? null;
}
