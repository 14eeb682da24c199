import { resetDefaultClients } from '../../functions/shared/clients';
import { CONFIG_ENV_VAR, type PipelineConfig, resetConfigCache } from '../../functions/shared/config';
import { ConfigInvalid, RequestInvalid } from '../../functions/shared/errors';
import { EXECUTION_NAME } from '../../functions/shared/execution-name';
import { parseRequest } from '../../functions/shared/request';
import { AwsTargetMissing, checkAwsTarget } from '../lib/aws-target';
import { quotaPreflight } from '../lib/gpu-quota';
import { buildInput } from '../lib/input';
import { type RunEvent, type RunResult, runStateMachine } from '../lib/local-runner';
import { loadCliConfig, parseCommandLine, UsageError } from '../lib/stack';

export const RUN_USAGE = `Usage: comfyui-ami run (--env <name> [--image <repo>:<tag>|<repo>@sha256:<hex>] [--branch <b>] [--commit-sha <sha>] | --input <file>)
                       [--config <file>] [--fast] [--wait-seconds <n>] [--name <execution>] [--json]

Runs the state machine in this process with the real step handlers and SDK clients, against the
AWS that the standard SDK configuration names (AWS_REGION, credentials, AWS_ENDPOINT_URL).

  --env           environment to build (one of the config's environments)
  --image         image to bake; default: the environment's defaultTag in its repository
  --input         raw state machine input: an ECR push event or a console/API body (JSON file)
  --config        pipeline config file (default: PIPELINE_CONFIG, else config/pipeline.json)
  --fast          no waiting in Wait states and retries (for an emulator, where nothing takes time)
  --wait-seconds  seconds for every Wait state and retry interval (default: as the ASL says)
  --name          execution name (default: <env>-<timestamp>)
  --json          make the last line of stdout a JSON summary
  -h, --help      this help
Exit status: 0 built, 1 build failed, 2 bad input or configuration, no AWS region or credentials, or a GPU
instance quota (e.g. "Running On-Demand G and VT instances", L-DB2E81BA) below the instance type's vCPUs.

Examples:
  comfyui-ami run --env dev
  comfyui-ami run --env prod --image comfyui:prod-2025-11-27 --branch main --commit-sha abc1234 --json
  comfyui-ami run --input events/console-dev-tag.json --wait-seconds 5
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 comfyui-ami run --env dev --config config/demo.json --fast`;

export const OPTIONS = {
  env: { type: 'string' },
  image: { type: 'string' },
  branch: { type: 'string' },
  'commit-sha': { type: 'string' },
  input: { type: 'string' },
  config: { type: 'string' },
  fast: { type: 'boolean' },
  'wait-seconds': { type: 'string' },
  name: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface BuildSummary {
  status: RunResult['status'] | 'SUPERSEDED';
  environment: string;
  amiId: string | null;
  previousAmiId: string | null;
  mode: string | null;
  executionName: string;
  error: string | null;
  cause: string | null;
  steps: RunResult['steps'];
}

export interface LocalBuildOptions {
  input: unknown;
  config: PipelineConfig;
  executionName?: string;
  waitMs?: number;
  retryMs?: number;
  print?: (line: string) => void;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function describeEvent(event: RunEvent): string {
  const at = `[${seconds(event.elapsedMs).padStart(7)}]`;
  if (event.kind === 'step-succeeded') {
    const status = (event.output as { status?: string; done?: boolean } | null)?.status;
    const detail = status ? `: ${status}` : '';
    return `${at} ✓ ${event.name} (${seconds(event.durationMs)})${detail}`;
  }
  if (event.kind === 'step-retried') return `${at} ↻ ${event.name}: retry ${event.attempt}`;
  return `${at} ✗ ${event.name}: ${event.error}: ${event.cause.split('\n')[0]}`;
}

/** Validates, runs one build in-process and summarises it. Shared by `run` and the demo. */
export async function runLocalBuild(options: LocalBuildOptions): Promise<BuildSummary> {
  const parsed = parseRequest(options.input, options.config);
  process.env[CONFIG_ENV_VAR] = JSON.stringify(options.config);
  resetConfigCache();
  resetDefaultClients();
  const executionName =
    options.executionName ??
    `${parsed.environment}-${new Date()
      .toISOString()
      .replace(/[-:T.Z]/g, '')
      .slice(0, 14)}`;
  const print = options.print ?? ((line: string) => console.log(line));
  const result = await runStateMachine(options.input, {
    executionName,
    waitMs: options.waitMs,
    retryMs: options.retryMs,
    onEvent: (event) => print(describeEvent(event)),
  });
  const out = result.output ?? {};
  return {
    status: out.status === 'SUPERSEDED' ? 'SUPERSEDED' : result.status,
    environment: parsed.environment,
    amiId: (out.amiId as string | undefined) ?? null,
    previousAmiId: (out.previousAmiId as string | undefined) ?? null,
    mode: (out.mode as string | undefined) ?? null,
    executionName,
    error: result.error,
    cause: result.cause,
    steps: result.steps,
  };
}

export async function main(argv: string[]): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = parseCommandLine(argv, OPTIONS);
    if (values.help) {
      console.log(RUN_USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument(s): ${positionals.join(' ')}`);
    json = values.json ?? false;
    let waitMs: number | undefined;
    if (values['wait-seconds'] !== undefined) {
      const n = Number(values['wait-seconds']);
      if (!Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError('--wait-seconds must be a number of seconds from 0 to 3600');
      waitMs = n * 1000;
    }
    if (values.fast) waitMs = 0;
    if (values.name !== undefined && !EXECUTION_NAME.test(values.name)) throw new UsageError('--name must be 1-80 letters, digits, _ or -');
    const config = loadCliConfig(values.config);
    const input = buildInput(values);
    await checkAwsTarget();
    const short = await quotaPreflight(config, parseRequest(input, config).environment);
    if (short !== null) {
      if (json) console.log(JSON.stringify({ status: 'INVALID', error: 'QuotaTooLow', cause: short }));
      return 2;
    }
    process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
    const summary = await runLocalBuild({ input, config, executionName: values.name, waitMs, retryMs: waitMs });
    if (summary.status === 'SUPERSEDED') {
      console.log(`Skipped: a newer image for ${summary.environment} is being built or waits to be built`);
    } else if (summary.status === 'SUCCEEDED') {
      console.log(
        `Built ${summary.amiId} for ${summary.environment} (${summary.mode}); it is now ${config.parameterPrefix}/${summary.environment}/latest`,
      );
    } else {
      console.log(`Build failed: ${summary.error}: ${summary.cause}`);
      console.log(
        'The builder is terminated and what the build made but did not publish is removed. Rerun with the same flags once the cause is fixed.',
      );
    }
    if (json) console.log(JSON.stringify(summary));
    if (summary.status !== 'FAILED') return 0;
    return summary.error === 'RequestInvalid' || summary.error === 'ConfigInvalid' ? 2 : 1;
  } catch (error) {
    const e = error as Error;
    if (!(e instanceof UsageError || e instanceof ConfigInvalid || e instanceof RequestInvalid || e instanceof AwsTargetMissing))
      throw error;
    console.error(`comfyui-ami run: ${e.message}`);
    if (e instanceof UsageError) console.error(`\n${RUN_USAGE}`);
    if (json) console.log(JSON.stringify({ status: 'INVALID', error: e.name, cause: e.message }));
    return 2;
  }
}
