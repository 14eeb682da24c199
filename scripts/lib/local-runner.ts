import './polyfills';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { ExecutionError, StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { defaultClients } from '../../functions/shared/clients';
import { type LambdaHandler, loadHandler, loadStepHandler, stepFor } from './handlers';
import { LocalEventSource, type WatchedResource } from './local-events';
import { answerTaskTokensLocally, mintTaskToken } from './local-task-tokens';

export const ASL_PATH = join(__dirname, '..', '..', 'statemachine', 'bake-ami.asl.json');

type AslState = {
  Type: string;
  Resource?: string;
  Parameters?: { FunctionName?: string; [key: string]: unknown };
  TimeoutSeconds?: number;
  Retry?: { ErrorEquals: string[] }[];
  [key: string]: unknown;
};
export type AslDefinition = { StartAt: string; States: Record<string, AslState>; [key: string]: unknown };

export function loadDefinition(path = ASL_PATH): AslDefinition {
  return JSON.parse(readFileSync(path, 'utf8')) as AslDefinition;
}

/**
 * `${LaunchBuilderFunctionArn}` -> `LaunchBuilderFunctionArn`: of a Task's Resource, or of its
 * Parameters.FunctionName when the Task invokes the function through an integration (waitForTaskToken).
 */
export function placeholderOf(resource: string | AslState | undefined): string | null {
  const text = typeof resource === 'object' ? (isTokenWait(resource) ? resource.Parameters?.FunctionName : resource.Resource) : resource;
  const match = /^\$\{(\w+)\}$/.exec(text ?? '');
  return match ? match[1] : null;
}

/** A Task paused until SendTaskSuccess/SendTaskFailure with its token (or its own timeout). */
export function isTokenWait(state: AslState): boolean {
  return state.Type === 'Task' && (state.Resource ?? '').endsWith('.waitForTaskToken');
}

export interface StepRecord {
  name: string;
  durationMs: number;
  attempts: number;
}

export type RunEvent =
  | { kind: 'step-succeeded'; name: string; elapsedMs: number; durationMs: number; output: unknown }
  | { kind: 'step-failed'; name: string; elapsedMs: number; error: string; cause: string }
  | { kind: 'step-retried'; name: string; elapsedMs: number; attempt: number }
  /** The receiver Lambda ran for one state-change event of the local event source. */
  | { kind: 'event-delivered'; resourceId: string; status: string; elapsedMs: number; resumed: boolean };

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
  /**
   * State-change events of the resources a "Wait for ..." Task waits on: delivered to the real
   * receiver (default), or lost, as EventBridge may, so only the Task's timeout and the check after
   * it (the fallback) see the change.
   */
  events?: 'delivered' | 'lost';
  /**
   * Timeout of every waitForTaskToken Task, in place of its TimeoutSeconds (the fallback's pace):
   * the Task then fails with States.Timeout as Step Functions' own timeout would.
   */
  tokenWaitTimeoutMs?: number;
  /** How often the local event source looks at a watched resource. */
  eventPollMs?: number;
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
  const started = Date.now();
  const receiver = await loadHandler('receive-event');
  const eventSource = new LocalEventSource(async (event) => {
    answerTaskTokensLocally(defaultClients().sfn);
    const out = (await receiver(event, fakeContext('ReceiveEventFunction', 60))) as {
      resumed: string | null;
    };
    const detail = event.detail as Record<string, string>;
    options.onEvent?.({
      kind: 'event-delivered',
      resourceId: detail.ImageId ?? detail['command-id'] ?? detail['instance-id'],
      status: detail.State ?? detail.status ?? detail.state,
      elapsedMs: Date.now() - started,
      resumed: out.resumed !== null,
    });
  }, options.eventPollMs);
  const waits: Record<string, number> = {};
  const retries: Record<string, number> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state.Type === 'Wait' && options.waitMs !== undefined) waits[name] = options.waitMs;
    if (state.Type !== 'Task') continue;
    if (state.Retry && options.retryMs !== undefined) retries[name] = options.retryMs;
    const placeholder = placeholderOf(state);
    if (!placeholder) throw new Error(`state "${name}" has no \${...FunctionArn} resource`);
    const { timeoutSeconds } = stepFor(placeholder);
    const handler = options.handlers?.[name] ?? (await loadStepHandler(placeholder));
    const invoke = (event: unknown) => handler(event, fakeContext(placeholder.replace(/Arn$/, ''), timeoutSeconds));
    localHandlers[name] = isTokenWait(state)
      ? (effective) => {
          const timeoutMs = options.tokenWaitTimeoutMs ?? (state.TimeoutSeconds ?? 60) * 1000;
          return waitForTaskToken(effective, invoke, timeoutMs, options.events === 'lost' ? null : eventSource);
        }
      : invoke;
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
      // Read by "taskToken.$"; each Task's own token replaces it (waitForTaskToken below).
      Task: { Token: 'minted per Task entry by the local runner' },
    } as never,
  });

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

/**
 * What Step Functions does for `lambda:invoke.waitForTaskToken`: invoke the function with the
 * Payload and a fresh token, then pause until SendTaskSuccess/SendTaskFailure with that token
 * (answered in-process, local-task-tokens.ts) or the Task's timeout. The local event source
 * watches the resource meanwhile, as EventBridge would carry its events.
 */
async function waitForTaskToken(
  effective: unknown,
  invoke: (payload: unknown) => Promise<unknown>,
  timeoutMs: number,
  events: LocalEventSource | null,
): Promise<unknown> {
  const payload = (effective as { Payload?: Record<string, unknown> }).Payload ?? {};
  const { token, settled, end } = mintTaskToken();
  const stopWatching = events?.watch(payload as unknown as WatchedResource) ?? (() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    answerTaskTokensLocally(defaultClients().sfn);
    await invoke({ ...payload, taskToken: token });
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('Task timed out'), { name: 'States.Timeout' })), timeoutMs);
    });
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
    stopWatching();
    end();
  }
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
