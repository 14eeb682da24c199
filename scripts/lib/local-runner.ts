import './polyfills';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { type LambdaHandler, loadStepHandler, stepTimeoutSeconds } from './handlers';

export const ASL_PATH = join(__dirname, '..', '..', 'statemachine', 'bake-ami.asl.json');

type AslState = { Type: string; Resource?: string; Retry?: { ErrorEquals: string[] }[]; [key: string]: unknown };
export type AslDefinition = { StartAt: string; States: Record<string, AslState>; [key: string]: unknown };

export function loadDefinition(path = ASL_PATH): AslDefinition {
  return JSON.parse(readFileSync(path, 'utf8')) as AslDefinition;
}

/** `${LaunchBuilderFunctionArn}` -> `LaunchBuilderFunctionArn` */
export function placeholderOf(resource: string | undefined): string | null {
  const match = /^\$\{(\w+)\}$/.exec(resource ?? '');
  return match ? match[1] : null;
}

export interface StepRecord {
  name: string;
  durationMs: number;
  attempts: number;
}

export type RunEvent =
  | { kind: 'step-succeeded'; name: string; elapsedMs: number; durationMs: number; output: unknown }
  | { kind: 'step-failed'; name: string; elapsedMs: number; error: string; cause: string }
  | { kind: 'step-retried'; name: string; elapsedMs: number; attempt: number };

export interface RunResult {
  status: 'SUCCEEDED' | 'FAILED';
  output: Record<string, unknown> | null;
  error: string | null;
  cause: string | null;
  steps: StepRecord[];
  /** The state each Task last received: what a redrive of that step would get again. */
  lastInputs: Record<string, unknown>;
  /** States entered, of every type: what Step Functions bills as state transitions. */
  transitions: number;
  failedState: string | null;
}

export interface RunOptions {
  executionName: string;
  definition?: AslDefinition;
  /** Milliseconds for every Wait state and every retry interval (emulator runs need no real waits). */
  waitMs?: number;
  retryMs?: number;
  /** Replaces a step's real handler, by state name (tests inject crashes this way). */
  handlers?: Record<string, LambdaHandler>;
  onEvent?: (event: RunEvent) => void;
}

function fakeContext(functionName: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `${functionName}-${Date.now()}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Runs the real ASL in-process: each Task calls the same handler that is deployed as its Lambda,
 * with the real SDK clients (pointed wherever the standard AWS configuration says).
 */
export async function runStateMachine(input: unknown, options: RunOptions): Promise<RunResult> {
  const definition = options.definition ?? loadDefinition();
  const localHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === 'Wait' && options.waitMs !== undefined) waits[name] = options.waitMs;
    if (state.Type !== 'Task') continue;
    if (state.Retry && options.retryMs !== undefined) retries[name] = options.retryMs;
    const placeholder = placeholderOf(state.Resource);
    if (!placeholder) throw new Error(`state "${name}" has no \${...FunctionArn} resource`);
    const handler = options.handlers?.[name] ?? (await loadStepHandler(placeholder));
    localHandlers[name] = (event) => handler(event, fakeContext(placeholder.replace(/Arn$/, ''), stepTimeoutSeconds(placeholder)));
  }

  const machine = new StateMachine(substitutePlaceholders(definition) as unknown as StateMachineDefinition);
  const startTime = new Date().toISOString();
  const execution = machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: localHandlers as never, waitTimeOverrides: waits, retryIntervalOverrides: retries },
    context: {
      Execution: {
        Id: `local:${options.executionName}`,
        Name: options.executionName,
        StartTime: startTime,
        Input: input as never,
        RoleArn: 'local',
      },
      StateMachine: { Id: 'local:bake-ami', Name: 'bake-ami' },
    } as never,
  });

  const started = Date.now();
  const steps = new Map<string, StepRecord>();
  const enteredAt = new Map<string, number>();
  const lastInputs: Record<string, unknown> = {};
  let failedState: string | null = null;
  const record = (name: string) => {
    const existing = steps.get(name) ?? { name, durationMs: 0, attempts: 0 };
    steps.set(name, existing);
    return existing;
  };
  const taskNames = new Set(Object.keys(localHandlers));
  let transitions = 0;

  const consume = (async () => {
    for await (const event of execution.eventLogs) {
      if (event.type === 'StateEntered') transitions += 1;
      if (!('state' in event) || !taskNames.has(event.state.name)) continue;
      const name = event.state.name;
      const elapsedMs = event.timestamp - started;
      if (event.type === 'StateEntered') {
        enteredAt.set(name, event.timestamp);
        lastInputs[name] = event.state.input;
        record(name).attempts += 1;
      } else if (event.type === 'StateRetried') {
        record(name).attempts += 1;
        options.onEvent?.({ kind: 'step-retried', name, elapsedMs, attempt: event.retry.attempt });
      } else if (event.type === 'StateExited') {
        const durationMs = event.timestamp - (enteredAt.get(name) ?? event.timestamp);
        record(name).durationMs += durationMs;
        options.onEvent?.({ kind: 'step-succeeded', name, elapsedMs, durationMs, output: event.state.output });
      } else if (event.type === 'StateFailed' || event.type === 'StateCaught') {
        const info = event as unknown as { Error?: string; Cause?: unknown };
        record(name).durationMs += event.timestamp - (enteredAt.get(name) ?? event.timestamp);
        failedState = name;
        if (event.type === 'StateFailed' || info.Error) {
          options.onEvent?.({ kind: 'step-failed', name, elapsedMs, error: info.Error ?? 'Error', cause: causeText(info.Cause) });
        }
      }
    }
  })();

  let result: RunResult;
  try {
    const output = (await execution.result) as Record<string, unknown>;
    result = { status: 'SUCCEEDED', output, error: null, cause: null, steps: [], lastInputs, failedState: null, transitions: 0 };
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    const cause = (error as ExecutionError & { cause?: { name?: string; message?: string } }).cause;
    result = {
      status: 'FAILED',
      output: null,
      error: cause?.name ?? 'Error',
      cause: cause?.message ?? error.message,
      steps: [],
      lastInputs,
      failedState,
      transitions: 0,
    };
  }
  await consume;
  result.steps = [...steps.values()];
  result.transitions = transitions;
  return result;
}

/** What DefinitionSubstitutions does on deploy, with local function ARNs. */
function substitutePlaceholders(definition: AslDefinition): AslDefinition {
  const text = JSON.stringify(definition).replace(
    /"\$\{(\w+)FunctionArn\}"/g,
    (_m, name: string) => `"arn:aws:lambda:us-east-1:000000000000:function:${name}"`,
  );
  return JSON.parse(text) as AslDefinition;
}

function causeText(cause: unknown): string {
  if (typeof cause === 'string') return cause;
  if (cause instanceof Error) return cause.message;
  return JSON.stringify(cause ?? '');
}
