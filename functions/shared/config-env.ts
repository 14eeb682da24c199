import type { PipelineConfig } from './config';
import { ConfigInvalid } from './errors';

export const CONFIG_ENV_VAR = 'PIPELINE_CONFIG';

let cached: PipelineConfig | undefined;

/**
 * The config from its environment variable, read once per process. `check` turns the parsed
 * JSON into the config; the Lambdas trust it (see loadPackagedConfig), the CLI validates it.
 */
export function loadConfigWith(check: (raw: unknown, source: string) => PipelineConfig): PipelineConfig {
  if (cached) return cached;
  const text = process.env[CONFIG_ENV_VAR];
  if (!text) throw new ConfigInvalid({ field: CONFIG_ENV_VAR, missing: true, allowed: 'the pipeline config as JSON' });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalid({
      field: CONFIG_ENV_VAR,
      problem: `not JSON (${(error as Error).message})`,
      allowed: 'the pipeline config as JSON',
    });
  }
  const config = check(raw, CONFIG_ENV_VAR);
  // The stack's own builder security group, used when the config names none.
  const stackGroup = process.env.BUILDER_SECURITY_GROUP_ID;
  if (config.builder.securityGroupIds.length === 0 && stackGroup) config.builder.securityGroupIds = [stackGroup];
  cached = config;
  return cached;
}

/**
 * What a Lambda runs with: `sls package` validated config/pipeline.json with the schema and put
 * the result, defaults filled in, into PIPELINE_CONFIG (scripts/serverless/config.cjs), so the
 * function trusts it and loads no schema library at cold start.
 */
export function loadPackagedConfig(): PipelineConfig {
  return loadConfigWith((raw) => raw as PipelineConfig);
}

/** For the CLI and tests, which load a different config in one process. */
export function resetConfigCache(): void {
  cached = undefined;
}
