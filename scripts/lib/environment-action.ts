import type { PipelineConfig } from '../../functions/shared/config';
import { type BuildSummary, failureSummary, runLocalBuild } from '../commands/run';
import { type CommandSpec, cliDeps, command, type Values } from './command';
import { CLI, loadCliConfig, resolveStateMachineArn, type STACK_OPTIONS, type StackFlags, UsageError } from './stack';

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

type Planned = { input: Record<string, unknown>; executionName?: string };

/**
 * The command of a rollback or a promotion: checked and planned, then run in this process
 * (--local) or started on the stack. A wrong command line points to the command's --help.
 */
export interface EnvironmentAction<
  O extends typeof STACK_OPTIONS & typeof LOCAL_OPTIONS,
  R,
  P extends Planned,
  S extends { executionArn: string },
> extends Pick<CommandSpec<O>, 'usage' | 'options' | 'flags'> {
  /** The request the flags make; a UsageError when one is missing. */
  request: (values: Values<O>) => R;
  plan: (request: R, deps: Deps) => Promise<P>;
  /** The line printed before a local run. */
  planned: (plan: P, values: Values<O>) => string;
  start: (request: R, deps: Deps & { stateMachineArn: string }) => Promise<S>;
  /** The line printed once the execution started. */
  started: (started: S) => string;
}

/** The command `name` (rollback or promote); its exit status is 0 once started, or the local run's. */
export function environmentActionCommand<
  O extends typeof STACK_OPTIONS & typeof LOCAL_OPTIONS,
  R,
  P extends Planned,
  S extends { executionArn: string },
>(name: string, action: EnvironmentAction<O, R, P, S>): (argv: string[]) => Promise<number> {
  return command({
    usage: action.usage,
    options: action.options,
    flags: action.flags,
    next: () => `${CLI} ${name} --help`,
    run: (values) => runAction(action, action.request(values), values, (plan) => action.planned(plan, values)),
  });
}

/** The flags runAction reads: the config, where it runs, and the stack. */
type ActionFlags = { config?: string; local?: boolean; fast?: boolean; 'wait-seconds'?: string; json?: boolean } & StackFlags;

/** Plans and runs in this process (--local), or starts on the stack and says how to follow it. */
async function runAction<R, P extends Planned, S extends { executionArn: string }>(
  action: Pick<EnvironmentAction<never, R, P, S>, 'plan' | 'start' | 'started'>,
  request: R,
  values: ActionFlags,
  planned: (plan: P) => string,
): Promise<number> {
  const config = loadCliConfig(values.config);
  if (values.local) {
    const waitMs = localWaitMs(values);
    const plan = await action.plan(request, cliDeps(config));
    console.error(planned(plan));
    return runLocally(plan.input, config, plan.executionName, waitMs, values.json ?? false);
  }
  const stateMachineArn = await resolveStateMachineArn(values);
  const started = await action.start(request, { ...cliDeps(config), stateMachineArn });
  console.log(started.executionArn);
  console.error(action.started(started));
  console.error(`follow it: ${CLI} watch ${started.executionArn}`);
  return 0;
}
