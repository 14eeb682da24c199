import type { PipelineConfig } from './config';

export function parameterPaths(config: PipelineConfig, environment: string) {
  const root = `${config.parameterPrefix}/${environment}`;
  return {
    /** The environment's own path: latest, metadata and history/ under it. */
    root,
    latest: `${root}/latest`,
    metadata: `${root}/metadata`,
    historyPrefix: `${root}/history/`,
    /** What GetParametersByPath lists history with: IAM authorizes that call on the path as given, without a trailing slash. */
    historyPath: `${root}/history`,
    history: (amiId: string) => `${root}/history/${amiId}`,
  };
}

/** The stable name consumers know; EC2 names must be unique, so it lives in the Name tag. */
export function stableAmiName(config: PipelineConfig, environment: string): string {
  return `${config.amiNamePrefix}-${environment}`;
}

/** Unique and deterministic per build, so a retried CreateImage finds its own image. */
export function buildAmiName(config: PipelineConfig, environment: string, buildNumber: number, digest: string): string {
  return `${stableAmiName(config, environment)}-${String(buildNumber).padStart(4, '0')}-${digest.slice('sha256:'.length, 'sha256:'.length + 12)}`;
}
