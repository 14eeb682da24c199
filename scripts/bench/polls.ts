/**
 * Which Task invocations are polls: those the state machine reached through a Wait state (Wait,
 * check, "has it finished?" loops), and the waiting on an event (a Task paused on a task token)
 * with the check it wakes (not the next step when the wait's answer skips the check). A Task reached from the previous Task without any wait in between does
 * work (Stop the builder's first call stops it; later ones, after "Wait for the builder to stop",
 * poll; the first check after sending the update or the health check is work, as is the first
 * check of the AMI).
 */
export interface AslStateLike {
  Type: string;
  Resource?: string;
  Next?: string;
  Default?: string;
  Choices?: { Next: string }[];
  Catch?: { Next: string }[];
}

export interface AslLike {
  StartAt: string;
  States: Record<string, AslStateLike>;
}

function successors(state: AslStateLike): string[] {
  return [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next), ...(state.Catch ?? []).map((c) => c.Next)].filter(
    (n): n is string => typeof n === 'string',
  );
}

const isTokenWait = (state: AslStateLike | undefined) => state?.Resource?.endsWith('.waitForTaskToken') === true;

/** True when `target` follows one of `from` with only Choice or Pass states between (no Task, no Wait). */
function directlyReaches(definition: AslLike, from: string[], target: string): boolean {
  const seen = new Set<string>();
  const queue = [...from];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    if (name === target) return true;
    const state = definition.States[name];
    // Another Task or a Wait ends the direct path.
    if (!state || state.Type === 'Task' || state.Type === 'Wait') continue;
    queue.push(...successors(state));
  }
  return false;
}

/**
 * True when `task` cannot be reached from `previousTask` (or the start) without passing a Wait
 * state, when it waits for an event, or when it is the check a wait for an event woke (it leads
 * straight back into that wait); a step the wait's answer skips ahead to does work.
 */
export function isPoll(definition: AslLike, previousTask: string | null, task: string): boolean {
  const waitsForEvent = (name: string | null) => name !== null && isTokenWait(definition.States[name]);
  if (waitsForEvent(task)) return true;
  if (previousTask !== null && waitsForEvent(previousTask))
    return directlyReaches(definition, successors(definition.States[task] ?? { Type: 'Task' }), previousTask);
  const start = previousTask === null ? [definition.StartAt] : successors(definition.States[previousTask] ?? { Type: 'Task' });
  return !directlyReaches(definition, start, task);
}
