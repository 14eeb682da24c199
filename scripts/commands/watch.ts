import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { readableCause } from '../../functions/build-status/build-status';
import { parseJsonObject } from '../../functions/shared/json';
import {
  CLI,
  failure,
  onePositional,
  parseCommandLine,
  resolveExecutionArn,
  STACK_OPTIONS,
  STACK_USAGE,
  UsageError,
  usageFailure,
} from '../lib/stack';

export const USAGE = `usage: ${CLI} watch <execution-name|execution-arn> [--interval <seconds>] [stack]

Follows a build: one line per step as it completes, then the AMI id, or the failure and the
commands to see more. Exits 0 when the build succeeded, 1 when it failed, timed out or was aborted.

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

/** Polls the history until the execution ends; prints as it goes. */
export async function watchExecution(sfn: SFNClient, executionArn: string, options: WatchOptions): Promise<WatchOutcome> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { print } = options;
  let lastId = 0;
  let currentState = '';
  for (;;) {
    let outcome: WatchOutcome | undefined;
    for (const event of await eventsAfter(sfn, executionArn, lastId)) {
      lastId = Math.max(lastId, event.id ?? 0);
      const type = event.type ?? '';
      if (event.stateEnteredEventDetails?.name) currentState = event.stateEnteredEventDetails.name;
      if (COMPLETED_STEP.has(type)) {
        print(`${time(event)}  done    ${event.stateExitedEventDetails?.name ?? currentState}`);
      }
      const failed = failureOf(event);
      if (failed)
        print(`${time(event)}  error   ${currentState}: ${failed.error ?? 'error'} ${short(readableCause(failed.cause), 200)}`.trimEnd());
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
          outcome = { status: 'FAILED', ...event.executionFailedEventDetails };
          break;
        case 'ExecutionTimedOut':
          outcome = { status: 'TIMED_OUT', ...event.executionTimedOutEventDetails };
          break;
        case 'ExecutionAborted':
          outcome = { status: 'ABORTED', ...event.executionAbortedEventDetails };
          break;
        case 'ExecutionRedriven':
          print(`${time(event)}  redriven (attempt ${(event.executionRedrivenEventDetails?.redriveCount ?? 0) + 1})`);
          // A redriven execution goes on past its earlier failure.
          outcome = undefined;
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

export async function main(argv: string[]): Promise<number> {
  let executionArn: string;
  let intervalMs: number;
  try {
    const { values, positionals } = parseCommandLine(argv, OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    intervalMs = parseInterval(values.interval);
    executionArn = await resolveExecutionArn(onePositional(positionals, '<execution-name|execution-arn>'), values);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
  try {
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
    console.log(`more:   aws stepfunctions get-execution-history --execution-arn ${executionArn}`);
    console.log(`resume: ${CLI} redrive ${executionArn}`);
    return 1;
  } catch (error) {
    return failure(error, (error as Error).name === 'ExecutionDoesNotExist' ? `${CLI} status ${executionArn}` : undefined);
  }
}
