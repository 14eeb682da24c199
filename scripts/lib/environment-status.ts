import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { PipelineConfig } from '../../functions/shared/config';
import { type LastResult, readLastResult } from '../../functions/shared/last-result';
import { readLatestAges } from '../../functions/shared/latest-age';
import { parameterPaths } from '../../functions/shared/names';
import { getJsonParameter } from '../../functions/shared/parameters';

/** One environment as `status --env` shows it. */
export interface EnvironmentStatus {
  environment: string;
  amiId: string | null;
  publishedAt: string | null;
  ageDays: number | null;
  maxAgeDays: number;
  stale: boolean;
  /** The published image's digest and tag, from `metadata`. */
  digest: string | null;
  tag: string | null;
  /** The last build's end as the announce step recorded it (any result, superseded included). */
  lastBuild: LastResult | null;
}

/** Reads only: `latest` with its LastModifiedDate, `metadata`, and the lock table's result:{env} record. */
export async function readEnvironmentStatus(
  clients: { ssm: SSMClient; dynamodb: DynamoDBClient },
  config: PipelineConfig,
  environments: string[],
  now = new Date(),
): Promise<EnvironmentStatus[]> {
  const ages = (await readLatestAges(clients.ssm, config, now)).filter((a) => environments.includes(a.environment));
  return Promise.all(
    ages.map(async (age) => {
      const metadata = await getJsonParameter(clients.ssm, parameterPaths(config, age.environment).metadata);
      // metadata describes latest's AMI only when they agree (a publish writes metadata first).
      const matches = metadata !== null && metadata.ami_id === age.amiId;
      const text = (key: string) => (matches && typeof metadata[key] === 'string' ? (metadata[key] as string) : null);
      return {
        environment: age.environment,
        amiId: age.amiId,
        publishedAt: age.publishedAt?.toISOString() ?? null,
        ageDays: age.ageDays,
        maxAgeDays: age.maxAgeDays,
        stale: age.ageDays === null || age.ageDays > age.maxAgeDays,
        digest: text('docker_digest'),
        tag: text('docker_tag'),
        lastBuild: await readLastResult(clients.dynamodb, config.lock.table, age.environment),
      };
    }),
  );
}

export function formatEnvironmentStatus(rows: EnvironmentStatus[]): string {
  return rows
    .map((r) => {
      const lines: [string, string | null][] = [
        ['environment', r.environment],
        ['ami', r.amiId ?? 'none (nothing published yet)'],
        [
          'age',
          r.ageDays === null
            ? null
            : `${r.ageDays} days (published ${r.publishedAt}; stale after ${r.maxAgeDays})${r.stale ? ' STALE' : ''}`,
        ],
        ['digest', r.digest],
        ['tag', r.tag],
        [
          'last build',
          r.lastBuild
            ? `${r.lastBuild.result.toUpperCase()} ${r.lastBuild.execution_name} at ${r.lastBuild.finished_at}${r.lastBuild.error ? ` (${r.lastBuild.error})` : ''}`
            : 'none recorded',
        ],
      ];
      return lines
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k.padEnd(14)}${v}`)
        .join('\n');
    })
    .join('\n\n');
}
