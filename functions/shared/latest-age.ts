import { GetParametersCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { PipelineConfig } from './config';
import { maxAgeDays } from './config-values';
import { parameterPaths } from './names';

export interface LatestAge {
  environment: string;
  /** What `latest` names; null when the environment has published nothing. */
  amiId: string | null;
  /** When `latest` last changed (a publish, a rollback or a promotion). */
  publishedAt: Date | null;
  ageDays: number | null;
  maxAgeDays: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** GetParameters takes at most 10 names per call. */
const BATCH = 10;

/**
 * Each configured environment's `latest` and how long ago it changed, from the parameter's own
 * LastModifiedDate: the one clock nobody writes by hand, whoever moved `latest`.
 */
export async function readLatestAges(ssm: SSMClient, config: PipelineConfig, now = new Date()): Promise<LatestAge[]> {
  const environments = Object.keys(config.environments).sort();
  const found = new Map<string, { value: string; modified: Date | null }>();
  for (let i = 0; i < environments.length; i += BATCH) {
    const names = environments.slice(i, i + BATCH).map((env) => parameterPaths(config, env).latest);
    const out = await ssm.send(new GetParametersCommand({ Names: names }));
    for (const p of out.Parameters ?? []) {
      if (p.Name && p.Value) found.set(p.Name, { value: p.Value, modified: p.LastModifiedDate ? new Date(p.LastModifiedDate) : null });
    }
  }
  return environments.map((environment) => {
    const latest = found.get(parameterPaths(config, environment).latest);
    const publishedAt = latest?.modified ?? null;
    return {
      environment,
      amiId: latest?.value ?? null,
      publishedAt,
      ageDays: publishedAt ? Math.max(0, Math.floor(((now.getTime() - publishedAt.getTime()) / DAY_MS) * 10) / 10) : null,
      maxAgeDays: maxAgeDays(config, environment),
    };
  });
}
