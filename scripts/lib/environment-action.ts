import type { PipelineConfig } from '../../functions/shared/config';
import { type BuildSummary, failureSummary, runLocalBuild } from '../commands/run';
import { cliDeps } from './command';
import { CLI, loadCliConfig, resolveStateMachineArn, type StackFlags, UsageError } from './stack';

/** --local, --fast, --wait-seconds, --json: how rollback and promote run in this process, like `run`. */
export const LOCAL_OPTIONS = {
  local: { type: 'boolean' },
  fast: { type: 'boolean' },
  'wait-seconds': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const LOCAL_USAGE = `  --local                    run the state machine in this process (as \`run\` does) instead of on the stack
  --fast | --wait-seconds <n>  with --local: no waiting, or n seconds per Wait state and retry
  --json                     with --local: make the last line of stdout a JSON summary`;

export function localWaitMs(values: { fast?: boolean; 'wait-seconds'?: string }): number | undefined {
  if (values.fast) return 0;
  if (values['wait-seconds'] === undefined) return undefined;
  const n = Number(values['wait-seconds']);
  if (!Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError('--wait-seconds must be a number of seconds from 0 to 3600');
  return n * 1000;
}

/** Runs one execution in-process and prints its outcome; the exit status of `run`. */
export async function runLocally(
  input: Record<string, unknown>,
  config: PipelineConfig,
  executionName: string | undefined,
  waitMs: number | undefined,
  json: boolean,
): Promise<number> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const summary: BuildSummary = await runLocalBuild({ input, config, executionName, waitMs, retryMs: waitMs });
  if (summary.status === 'SUPERSEDED') console.log(`Skipped: a newer request for ${summary.environment} is being or will be handled`);
  else if (summary.status === 'SUCCEEDED') {
    const how = summary.mode === 'rollback' ? 're-pointed to the retained' : `built (${summary.mode})`;
    console.log(
      `${config.parameterPrefix}/${summary.environment}/latest is now ${summary.amiId}, ${how} AMI; it was ${summary.previousAmiId ?? 'unset'}`,
    );
  } else {
    console.log(`Failed: ${summary.error}: ${summary.cause}`);
    for (const line of failureSummary(summary)) console.log(line);
  }
  if (json) console.log(JSON.stringify(summary));
  if (summary.status !== 'FAILED') return 0;
  return summary.error === 'RequestInvalid' || summary.error === 'ConfigInvalid' ? 2 : 1;
}

type Deps = ReturnType<typeof cliDeps>;

/** A rollback or a promotion: checked and planned, then run in this process (--local) or started on the stack. */
export interface EnvironmentAction<
  R,
  P extends { input: Record<string, unknown>; executionName?: string },
  S extends { executionArn: string },
> {
  request: R;
  values: { config?: string; local?: boolean; fast?: boolean; 'wait-seconds'?: string; json?: boolean } & StackFlags;
  plan: (request: R, deps: Deps) => Promise<P>;
  /** The line printed before a local run. */
  planned: (plan: P) => string;
  start: (request: R, deps: Deps & { stateMachineArn: string }) => Promise<S>;
  /** The line printed once the execution started. */
  started: (started: S) => string;
}

/** The body of rollback and promote: the exit status, 0 once started (or the local run's). */
export async function runEnvironmentAction<
  R,
  P extends { input: Record<string, unknown>; executionName?: string },
  S extends { executionArn: string },
>(action: EnvironmentAction<R, P, S>): Promise<number> {
  const { values } = action;
  const config = loadCliConfig(values.config);
  if (values.local) {
    const waitMs = localWaitMs(values);
    const plan = await action.plan(action.request, cliDeps(config));
    console.error(action.planned(plan));
    return runLocally(plan.input, config, plan.executionName, waitMs, values.json ?? false);
  }
  const stateMachineArn = await resolveStateMachineArn(values);
  const started = await action.start(action.request, { ...cliDeps(config), stateMachineArn });
  console.log(started.executionArn);
  console.error(action.started(started));
  console.error(`follow it: ${CLI} watch ${started.executionArn}`);
  return 0;
}
