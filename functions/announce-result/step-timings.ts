import { type HistoryEvent, paginateGetExecutionHistory, type SFNClient } from '@aws-sdk/client-sfn';

/** How long one Task state took over the whole build, and how often its Lambda ran again. */
export interface StepTiming {
  state: string;
  /** Summed over every time the state was entered (a polling loop enters its check many times). */
  duration_seconds: number;
  /** Times the state was entered. */
  entries: number;
  /** Lambda invocations beyond one per entry: the ASL's Retry at work. */
  retries: number;
}

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/**
 * Per Task state, from the execution's history in order: time from TaskStateEntered to its
 * TaskStateExited, entries, and Lambda invocations beyond one per entry. A state still running
 * (the announcing one) has no exit and counts for nothing. Standard workflows without Map or
 * Parallel run one state at a time, so every Lambda event belongs to the last state entered.
 */
export function stepTimings(events: readonly HistoryEvent[]): StepTiming[] {
  const byState = new Map<string, { durationMs: number; entries: number; invocations: number }>();
  let current: { name: string; enteredMs: number; invocations: number } | null = null;
  for (const event of events) {
    const at = event.timestamp ? new Date(event.timestamp).getTime() : Number.NaN;
    if (event.type === 'TaskStateEntered' && event.stateEnteredEventDetails?.name) {
      current = { name: event.stateEnteredEventDetails.name, enteredMs: at, invocations: 0 };
    } else if (event.type === 'LambdaFunctionScheduled' && current) {
      current.invocations += 1;
    } else if (event.type === 'TaskStateExited' && current && event.stateExitedEventDetails?.name === current.name) {
      const entry = byState.get(current.name) ?? { durationMs: 0, entries: 0, invocations: 0 };
      entry.durationMs += Number.isFinite(at - current.enteredMs) ? at - current.enteredMs : 0;
      entry.entries += 1;
      entry.invocations += current.invocations;
      byState.set(current.name, entry);
      current = null;
    }
  }
  return [...byState.entries()].map(([state, t]) => ({
    state,
    duration_seconds: seconds(t.durationMs),
    entries: t.entries,
    retries: Math.max(0, t.invocations - t.entries),
  }));
}

/** The execution's whole history, oldest first (a long build has thousands of events). */
export async function readExecutionHistory(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory({ client: sfn }, { executionArn, maxResults: 1000, includeExecutionData: false })) {
    events.push(...(page.events ?? []));
  }
  return events;
}
