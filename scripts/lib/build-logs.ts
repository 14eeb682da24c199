import { type CloudWatchLogsClient, type FilteredLogEvent, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import type { PipelineConfig } from '../../functions/shared/config';
import { executionNameOf } from '../../functions/shared/execution-name';
import { parseJsonObject } from '../../functions/shared/json';

/** One line of a build's story: when, from where (the execution, a step's function, a command's stream), and what. */
export interface LogLine {
  time: string;
  source: string;
  text: string;
}

export interface BuildLogClients {
  sfn: Pick<SFNClient, 'send'>;
  logs: Pick<CloudWatchLogsClient, 'send'>;
}

function firstLine(text: string | undefined): string {
  return (parseJsonObject(text)?.errorMessage as string | undefined) ?? text?.split('\n')[0] ?? '';
}

/** What one history event says, or null for the events that only repeat another (scheduled, started). */
function describe(event: HistoryEvent): string | null {
  if (event.stateEnteredEventDetails?.name) return `entered ${event.stateEnteredEventDetails.name}`;
  if (event.stateExitedEventDetails?.name) return `exited ${event.stateExitedEventDetails.name}`;
  const failed =
    event.lambdaFunctionFailedEventDetails ??
    event.lambdaFunctionTimedOutEventDetails ??
    event.taskFailedEventDetails ??
    event.executionFailedEventDetails;
  if (failed) return `${event.type}: ${failed.error ?? 'error'}: ${firstLine(failed.cause)}`;
  if (event.type?.startsWith('Execution')) return event.type;
  return null;
}

/** Every `commandId` a state output holds (the update command, the health check). */
function commandIds(value: unknown, into: Set<string>): void {
  if (value === null || typeof value !== 'object') return;
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'commandId' && typeof inner === 'string') into.add(inner);
    else commandIds(inner, into);
  }
}

async function history(sfn: BuildLogClients['sfn'], executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new GetExecutionHistoryCommand({ executionArn, includeExecutionData: true, maxResults: 1000, nextToken }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

async function filtered(
  logs: BuildLogClients['logs'],
  input: { logGroupName: string; filterPattern?: string; logStreamNamePrefix?: string; startTime?: number },
): Promise<FilteredLogEvent[]> {
  const events: FilteredLogEvent[] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await logs.send(new FilterLogEventsCommand({ ...input, nextToken }));
      events.push(...(page.events ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (error) {
    // A function that never ran has no log group yet.
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  return events;
}

/**
 * A build's execution history (states entered and exited, failures), the lines its steps'
 * functions logged for it (each names the execution: shared/handler.ts), and the output of its
 * Run Commands (the command log group, one stream per command, instance and step), in time order.
 */
export async function buildLogs(executionArn: string, config: PipelineConfig, { sfn, logs }: BuildLogClients): Promise<LogLine[]> {
  const name = executionNameOf(executionArn);
  const events = await history(sfn, executionArn);
  const lines: LogLine[] = [];
  const functions = new Set<string>();
  const commands = new Set<string>();
  let startTime: number | undefined;
  for (const event of events) {
    const time = event.timestamp ? new Date(event.timestamp) : new Date(0);
    startTime = startTime === undefined ? time.getTime() : Math.min(startTime, time.getTime());
    const resource = event.lambdaFunctionScheduledEventDetails?.resource ?? event.taskScheduledEventDetails?.resource;
    if (resource) functions.add(resource.split(':')[6] ?? resource);
    if (event.stateExitedEventDetails?.output) commandIds(parseJsonObject(event.stateExitedEventDetails.output), commands);
    const text = describe(event);
    if (text) lines.push({ time: time.toISOString(), source: 'execution', text });
  }
  for (const fn of [...functions].sort()) {
    const logGroupName = `/aws/lambda/${fn}`;
    for (const e of await filtered(logs, { logGroupName, filterPattern: `"${name}"`, startTime })) {
      lines.push({ time: new Date(e.timestamp ?? 0).toISOString(), source: fn, text: (e.message ?? '').trimEnd() });
    }
  }
  for (const commandId of [...commands].sort()) {
    for (const e of await filtered(logs, { logGroupName: config.commandLogGroup, logStreamNamePrefix: `${commandId}/`, startTime })) {
      const stream = (e.logStreamName ?? '').split('/').slice(1).join('/');
      lines.push({ time: new Date(e.timestamp ?? 0).toISOString(), source: `command ${stream}`, text: (e.message ?? '').trimEnd() });
    }
  }
  // Stable: lines of one instant keep the order their source gave them.
  return lines
    .map((line, i) => ({ line, i }))
    .sort((a, b) => a.line.time.localeCompare(b.line.time) || a.i - b.i)
    .map(({ line }) => line);
}
