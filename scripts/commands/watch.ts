import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { readableCause } from '../../functions/build-status/build-status';
import { parseJsonObject } from '../../functions/shared/json';
import { executionCommand } from '../lib/command';
import { type BuildEnd, describeRollback, ROLL_BACK_STATE, redriveAdvice, rollbackOutput } from '../lib/outcome';
import { CLI, STACK_OPTIONS, STACK_USAGE, UsageError } from '../lib/stack';

export const USAGE = `usage: ${CLI} watch <execution-name|execution-arn> [--interval <seconds>] [stack]

Follows a build: one line per step as it completes (a failed attempt shows as "retry" when the
step is tried again, "failed" when it is not), then the AMI id, or the failure, what its roll
back removed, and whether a redrive can help. Exits 0 when the build succeeded, 1 when it failed, timed out or was aborted.

  --interval <seconds>       how often to poll the execution history (default 10)
${STACK_USAGE}

Examples:
  ${CLI} watch dev-3f1c6a0e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b --stack comfyui-ami-dev
  ${CLI} watch arn:aws:states:eu-west-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-build-1 --interval 30`;

export const OPTIONS = { ...STACK_OPTIONS, interval: { type: 'string' } } as const;

export interface WatchOutcome {
  status: 'SUCCEEDED' | 'SUPERSEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
  amiId?: string;
  supersededBy?: string;
  environment?: string;
  error?: string;
  cause?: string;
  /** How a failed, timed-out or aborted build ended. */
  end?: BuildEnd;
}

export interface WatchOptions {
  intervalMs: number;
  print: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const COMPLETED_STEP = new Set(['TaskStateExited', 'PassStateExited', 'ParallelStateExited', 'MapStateExited']);

function time(event: HistoryEvent): string {
  return event.timestamp ? event.timestamp.toISOString().slice(11, 19) : '--:--:--';
}

function short(text: string | undefined, max = 300): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Events after `afterId`, oldest first; newest pages are read first, so a poll usually reads one page. */
async function eventsAfter(sfn: SFNClient, executionArn: string, afterId: number): Promise<HistoryEvent[]> {
  const collected: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 200, nextToken, includeExecutionData: true }),
    );
    const events = page.events ?? [];
    collected.push(...events.filter((e) => (e.id ?? 0) > afterId));
    if (events.some((e) => (e.id ?? 0) <= afterId)) break;
    nextToken = page.nextToken;
  } while (nextToken);
  return collected.sort((a, b) => (a.id ?? 0) - (b.id ?? 0));
}

function failureOf(event: HistoryEvent): { error?: string; cause?: string } | undefined {
  return (
    event.lambdaFunctionFailedEventDetails ??
    event.lambdaFunctionTimedOutEventDetails ??
    event.taskFailedEventDetails ??
    event.taskTimedOutEventDetails ??
    event.lambdaFunctionScheduleFailedEventDetails ??
    event.lambdaFunctionStartFailedEventDetails
  );
}

/** A step's failure, printed once its fate is known: retried, or the end of that step. */
interface PendingFailure {
  at: string;
  state: string;
  error: string;
  cause: string;
}

/** Events that start a step's attempt again: a retry. */
const SCHEDULED = new Set(['LambdaFunctionScheduled', 'TaskScheduled']);

/**
 * Polls the history until the execution ends; prints as it goes: a step once it is done, a
 * failed attempt as "retry" when the step is tried again, or "failed" when it is not. A step
 * never shows as failed and then as done.
 */
export async function watchExecution(sfn: SFNClient, executionArn: string, options: WatchOptions): Promise<WatchOutcome> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { print } = options;
  let lastId = 0;
  let currentState = '';
  let lastState: string | null = null;
  let rollback: unknown = null;
  let pending: PendingFailure | undefined;
  const settle = (label: 'retry' | 'failed') => {
    if (pending) print(`${pending.at}  ${label.padEnd(8)}${pending.state}: ${pending.error} ${short(pending.cause, 200)}`.trimEnd());
    pending = undefined;
  };
  for (;;) {
    let outcome: WatchOutcome | undefined;
    for (const event of await eventsAfter(sfn, executionArn, lastId)) {
      lastId = Math.max(lastId, event.id ?? 0);
      const type = event.type ?? '';
      const entered = event.stateEnteredEventDetails?.name;
      if (entered) {
        // The failed step was caught: the execution moved on to another state.
        if (pending && pending.state !== entered) settle('failed');
        currentState = entered;
        lastState = entered;
      }
      if (SCHEDULED.has(type) && pending?.state === currentState) settle('retry');
      if (COMPLETED_STEP.has(type)) {
        const name = event.stateExitedEventDetails?.name ?? currentState;
        if (name === ROLL_BACK_STATE) rollback = rollbackOutput(event);
        if (pending?.state === name) settle('failed');
        else print(`${time(event)}  done    ${name}`);
      }
      const failed = failureOf(event);
      if (failed) {
        settle('failed');
        pending = { at: time(event), state: currentState, error: failed.error ?? 'error', cause: readableCause(failed.cause) ?? '' };
      }
      switch (type) {
        case 'ExecutionSucceeded': {
          const output = parseJsonObject(event.executionSucceededEventDetails?.output) ?? {};
          outcome = {
            status: output.status === 'SUPERSEDED' ? 'SUPERSEDED' : 'SUCCEEDED',
            ...(output.supersededBy !== undefined && { supersededBy: String(output.supersededBy) }),
            ...(typeof output.amiId === 'string' && { amiId: output.amiId }),
            ...(typeof output.environment === 'string' && { environment: output.environment }),
          };
          break;
        }
        case 'ExecutionFailed':
        case 'ExecutionTimedOut':
        case 'ExecutionAborted': {
          settle('failed');
          const status = type === 'ExecutionFailed' ? 'FAILED' : type === 'ExecutionTimedOut' ? 'TIMED_OUT' : 'ABORTED';
          const details = event.executionFailedEventDetails ?? event.executionTimedOutEventDetails ?? event.executionAbortedEventDetails;
          outcome = { status, ...details, end: { status, lastState, rollback } };
          break;
        }
        case 'ExecutionRedriven':
          print(`${time(event)}  redriven (attempt ${(event.executionRedrivenEventDetails?.redriveCount ?? 0) + 1})`);
          // A redriven execution goes on past its earlier failure.
          outcome = undefined;
          rollback = null;
          break;
        default:
          break;
      }
    }
    if (outcome) return outcome;
    await sleep(options.intervalMs);
  }
}

function parseInterval(text: string | undefined): number {
  if (text === undefined) return 10_000;
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(seconds) || seconds > 3600) {
    throw new UsageError(`--interval: must be a number of seconds between 0 and 3600, got "${text}"`);
  }
  return seconds * 1000;
}

export const main = executionCommand({
  usage: USAGE,
  options: OPTIONS,
  next: (error) => (error.name === 'ExecutionDoesNotExist' ? 'check the name or ARN' : undefined),
  run: async (values, executionArn) => {
    const intervalMs = parseInterval(values.interval);
    const outcome = await watchExecution(new SFNClient({}), executionArn, { intervalMs, print: (line) => console.log(line) });
    if (outcome.status === 'SUPERSEDED') {
      console.log(
        `SUPERSEDED  nothing baked: a newer image of ${outcome.environment ?? 'the environment'} is built by ${outcome.supersededBy ?? 'another execution'}`,
      );
      return 0;
    }
    if (outcome.status === 'SUCCEEDED') {
      console.log(outcome.amiId ? `SUCCEEDED  AMI ${outcome.amiId}${outcome.environment ? ` (${outcome.environment})` : ''}` : 'SUCCEEDED');
      return 0;
    }
    console.log(
      `${outcome.status}  ${outcome.error ?? ''}${outcome.cause ? `: ${short(readableCause(outcome.cause), 1000)}` : ''}`.trimEnd(),
    );
    const end = outcome.end ?? { status: outcome.status, lastState: null, rollback: null };
    for (const line of describeRollback(end.rollback)) console.log(`roll back: ${line}`);
    console.log(`more:   aws stepfunctions get-execution-history --execution-arn ${executionArn}`);
    const advice = redriveAdvice(end);
    console.log(advice.offer ? `resume: ${CLI} redrive ${executionArn} (${advice.why})` : `no redrive: ${advice.why}`);
    return 1;
  },
});
