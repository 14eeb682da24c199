import { join } from 'node:path';
import { CONFIG_ENV_VAR, type PipelineConfig, readConfigFile, resetConfigCache } from '../../functions/shared/config';
import { type BuildSummary, runLocalBuild } from '../../scripts/commands/run';
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { type RunResult, runStateMachine } from '../../scripts/lib/local-runner';
import { ecrPushEvent } from '../../scripts/lib/seed';

export const DEMO_CONFIG_PATH = join(__dirname, '..', '..', 'config', 'demo.json');

export function demoConfig(overrides: Partial<PipelineConfig> = {}): PipelineConfig {
  return { ...readConfigFile(DEMO_CONFIG_PATH), ...overrides };
}

/** A push event of `tag`, timed now. */
export function pushEvent(repository: string, tag: string, digest: string): Record<string, unknown> {
  return ecrPushEvent(repository, tag, digest);
}

/** A build with no waiting and silent output. */
export function build(input: unknown, config: PipelineConfig, executionName: string): Promise<BuildSummary> {
  return runLocalBuild({ input, config, executionName, waitMs: 0, retryMs: 0, print: () => undefined });
}

/** Runs the real ASL with some steps' handlers replaced (to inject faults or crashes). */
export function buildWith(
  input: unknown,
  config: PipelineConfig,
  executionName: string,
  handlers: Record<string, LambdaHandler>,
): Promise<RunResult> {
  process.env[CONFIG_ENV_VAR] = JSON.stringify(config);
  resetConfigCache();
  return runStateMachine(input, { executionName, waitMs: 0, retryMs: 0, handlers });
}
