import { resetDefaultClients } from '../../functions/shared/clients';
import { CONFIG_ENV_VAR, type PipelineConfig, resetConfigCache } from '../../functions/shared/config';
import { InvalidInput } from '../../functions/shared/errors';
import { EXECUTION_NAME } from '../../functions/shared/execution-name';
import { parseRequest } from '../../functions/shared/request';
import { AwsTargetMissing, checkAwsTarget } from '../lib/aws-target';
import { command } from '../lib/command';
import { quotaPreflight } from '../lib/gpu-quota';
import { buildInput } from '../lib/input';
import { type RunEvent, type RunResult, runStateMachine } from '../lib/local-runner';
import { describeRollback, ROLL_BACK_STATE } from '../lib/outcome';
import { loadCliConfig, UsageError } from '../lib/stack';

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
  /** What the roll back of a failed build did (its own output), or null when it did not run. */
  rollback: unknown;
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

const at = (event: RunEvent) => `[${seconds(event.elapsedMs).padStart(7)}]`;
const firstLine = (text: string) => text.split('\n')[0];

/**
 * The step timeline of a local run. The runner reports every failed attempt, including those the
 * ASL retries: a failure is held until its fate is known, then printed once, as a retry (↻) or
 * as the step's failure (✗), so no step shows as failed and then as done.
 */
export class Timeline {
  private pending: Extract<RunEvent, { kind: 'step-failed' }> | undefined;

  constructor(private readonly print: (line: string) => void) {}

  push(event: RunEvent): void {
    if (event.kind === 'step-retried' && this.pending?.name === event.name) {
      const failed = this.pending;
      this.pending = undefined;
      this.print(`${at(failed)} ↻ ${event.name}: retry ${event.attempt} after ${failed.error}: ${firstLine(failed.cause)}`);
      return;
    }
    this.flush();
    if (event.kind === 'step-failed') this.pending = event;
    else if (event.kind === 'step-retried') this.print(`${at(event)} ↻ ${event.name}: retry ${event.attempt}`);
    else if (event.kind === 'event-delivered')
      this.print(
        // Not an error: a wait that looked for itself and went on leaves its event nobody to wake.
        `${at(event)} ⚡ ${event.resourceId} ${event.status}${event.resumed ? ': the waiting step resumed' : ': no step was waiting for it'}`,
      );
    else {
      const status = (event.output as { status?: string } | null)?.status;
      this.print(`${at(event)} ✓ ${event.name} (${seconds(event.durationMs)})${status ? `: ${status}` : ''}`);
    }
  }

  /** Prints a failure still held: the step failed for good. */
  flush(): void {
    if (this.pending) this.print(`${at(this.pending)} ✗ ${this.pending.name}: ${this.pending.error}: ${firstLine(this.pending.cause)}`);
    this.pending = undefined;
  }
}

/** Validates, runs one build in-process and summarises it. Shared by `run` and the demo. */
export async function runLocalBuild(options: LocalBuildOptions): Promise<BuildSummary> {
  const parsed = parseRequest(options.input, options.config);
  process.env[CONFIG_ENV_VAR] = JSON.stringify(options.config);
  // The announce step's metrics (EMF) are stdout lines for Lambda's log group; a local run's
  // stdout is the CLI's own output. Its build event is still put.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  resetConfigCache();
  resetDefaultClients();
  const executionName =
    options.executionName ??
    `${parsed.environment}-${new Date()
      .toISOString()
      .replace(/[-:T.Z]/g, '')
      .slice(0, 14)}`;
  const timeline = new Timeline(options.print ?? ((line: string) => console.log(line)));
  let rollback: unknown = null;
  const result = await runStateMachine(options.input, {
    executionName,
    waitMs: options.waitMs,
    retryMs: options.retryMs,
    onEvent: (event) => {
      if (event.kind === 'step-succeeded' && event.name === ROLL_BACK_STATE)
        rollback = (event.output as { rollback?: unknown } | null)?.rollback ?? null;
      timeline.push(event);
    },
  });
  timeline.flush();
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
    rollback,
  };
}

/** What a failed local build left behind, from its roll back's output. */
export function failureSummary(summary: BuildSummary): string[] {
  if (summary.error === 'RequestInvalid' || summary.error === 'ConfigInvalid')
    return ['Refused before anything was made: nothing to undo, latest and metadata untouched.'];
  const undone = describeRollback(summary.rollback);
  if (undone.length === 0)
    return [
      'The roll back did not complete: what the build made may still exist (builder instances are swept after builder.maxAgeMinutes).',
    ];
  return undone.map((line) => `Roll back: ${line}`);
}

export const main = command({
  usage: RUN_USAGE,
  options: OPTIONS,
  run: async (values) => {
    const json = values.json ?? false;
    let waitMs: number | undefined;
    if (values['wait-seconds'] !== undefined) {
      const n = Number(values['wait-seconds']);
      if (!Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError('--wait-seconds must be a number of seconds from 0 to 3600');
      waitMs = n * 1000;
    }
    if (values.fast) waitMs = 0;
    if (values.name !== undefined && !EXECUTION_NAME.test(values.name)) throw new UsageError('--name must be 1-80 letters, digits, _ or -');
    let summary: BuildSummary;
    try {
      const config = loadCliConfig(values.config);
      const input = buildInput(values);
      await checkAwsTarget();
      const short = await quotaPreflight(config, parseRequest(input, config).environment);
      if (short !== null) {
        if (json) console.log(JSON.stringify({ status: 'INVALID', error: 'QuotaTooLow', cause: short }));
        return 2;
      }
      process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
      summary = await runLocalBuild({ input, config, executionName: values.name, waitMs, retryMs: waitMs });
      if (summary.status === 'SUPERSEDED') {
        console.log(`Skipped: a newer image for ${summary.environment} is being built or waits to be built`);
      } else if (summary.status === 'SUCCEEDED') {
        console.log(
          `Built ${summary.amiId} for ${summary.environment} (${summary.mode}); it is now ${config.parameterPrefix}/${summary.environment}/latest`,
        );
      } else {
        console.log(`Build failed: ${summary.error}: ${summary.cause}`);
        for (const line of failureSummary(summary)) console.log(line);
        console.log('Rerun with the same flags once the cause is fixed.');
      }
    } catch (error) {
      // A script reading the last line of stdout learns of a refusal too.
      const e = error as Error;
      if (json && (e instanceof InvalidInput || e instanceof AwsTargetMissing))
        console.log(JSON.stringify({ status: 'INVALID', error: e.name, cause: e.message }));
      throw error;
    }
    if (json) console.log(JSON.stringify(summary));
    if (summary.status !== 'FAILED') return 0;
    return summary.error === 'RequestInvalid' || summary.error === 'ConfigInvalid' ? 2 : 1;
  },
});
