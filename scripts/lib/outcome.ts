import { GetExecutionHistoryCommand, type HistoryEvent, type SFNClient } from '@aws-sdk/client-sfn';
import type { RollBackResult } from '../../functions/roll-back/roll-back';
import { parseJsonObject } from '../../functions/shared/json';

/** States of the ASL a failed build's summary depends on. */
export const ROLL_BACK_STATE = 'Roll back the build';
export const REJECTED_STATE = 'Reject the request';
export const BUILD_FAILED_STATE = 'Build failed';

const list = (ids: string[]) => ids.join(', ');

/**
 * What a failed build left, from the roll back's own output (`$.rollback`): the instances it
 * terminated, the AMIs it deregistered with their snapshots, the parameters it put back.
 */
export function describeRollback(output: unknown): string[] {
  const rollback = (output ?? null) as Partial<RollBackResult> | null;
  if (!rollback || typeof rollback !== 'object') return [];
  const lines: string[] = [];
  if (rollback.terminated?.length) lines.push(`terminated ${list(rollback.terminated)}`);
  for (const image of rollback.removedImages ?? []) {
    const snapshots = image.deletedSnapshots.length > 0 ? `, snapshots ${list(image.deletedSnapshots)} deleted` : '';
    const kept = image.keptSnapshots.length > 0 ? `, snapshots ${list(image.keptSnapshots)} kept (in use)` : '';
    lines.push(`${image.deregistered ? 'deregistered' : 'found already gone'} ${image.amiId}${snapshots}${kept}`);
  }
  for (const kept of rollback.keptImages ?? []) lines.push(`kept ${kept.amiId}: ${kept.reason}`);
  lines.push(rollback.parameters?.length ? `put back ${list(rollback.parameters)}` : 'parameters untouched');
  if (rollback.ignored?.length) lines.push(`left alone ${list(rollback.ignored)} (not this build's)`);
  if (!rollback.terminated?.length && !rollback.removedImages?.length && !rollback.parameters?.length)
    lines.unshift('nothing to undo: the build had made nothing yet');
  return lines;
}

/** How a failed, aborted or timed-out build ended, as the summary and the redrive advice need it. */
export interface BuildEnd {
  status: string;
  /** The state the execution entered last. */
  lastState: string | null;
  /** The roll back's output when it completed, else null. */
  rollback: unknown;
}

export interface RedriveAdvice {
  offer: boolean;
  why: string;
}

/**
 * A redrive re-runs the step the execution stopped in. It helps only where that step still has
 * work to do: an execution aborted or timed out mid-way, or a roll back or lock release that
 * did not finish. After a refused request or a completed roll back it would only reach the same
 * Fail state again.
 */
export function redriveAdvice(end: BuildEnd): RedriveAdvice {
  if (end.status === 'ABORTED' || end.status === 'TIMED_OUT')
    return { offer: true, why: `it stopped in "${end.lastState ?? 'a step'}" without rolling back: a redrive resumes there` };
  if (end.lastState === REJECTED_STATE)
    return { offer: false, why: 'the request was refused before anything was made: fix the input and start a new build' };
  if (end.lastState === BUILD_FAILED_STATE)
    return {
      offer: false,
      why: 'the build was rolled back, so a redrive would only fail again: start a new build once the cause is fixed',
    };
  return { offer: true, why: `"${end.lastState ?? 'a step'}" did not finish: a redrive re-runs it` };
}

/** The end of an execution, from the newest events of its history. */
export async function buildEnd(sfn: SFNClient, executionArn: string, status: string): Promise<BuildEnd> {
  const out = await sfn.send(
    new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 100, includeExecutionData: true }),
  );
  const events = [...(out.events ?? [])].sort((a, b) => (b.id ?? 0) - (a.id ?? 0));
  return {
    status,
    lastState: events.find((e) => e.stateEnteredEventDetails?.name)?.stateEnteredEventDetails?.name ?? null,
    rollback: rollbackOutput(events.find((e) => e.stateExitedEventDetails?.name === ROLL_BACK_STATE)),
  };
}

/** The roll back's result in the state it exited with (ResultPath `$.rollback`). */
export function rollbackOutput(event: HistoryEvent | undefined): unknown {
  return event ? (parseJsonObject(event.stateExitedEventDetails?.output)?.rollback ?? null) : null;
}
