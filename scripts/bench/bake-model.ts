/**
 * A model, not a measurement: how long each step of a bake would take on AWS, from stated
 * assumptions about the work (boot, agent registration, apt, docker pull, stop, snapshot, health
 * check) and the state machine's agent retry backoff. Every wait ends on its resource's event, so
 * a waited step ends the event's delivery after its work (the 300 s fallback only when an event
 * is lost, which the model leaves out).
 */
export interface BakeAssumptions {
  /** Seconds per Lambda invocation, cold start included. */
  lambdaSeconds: number;
  /** Boot of the builder until its SSM agent has registered (fresh: Canonical's Ubuntu; incremental: the last AMI). */
  builderAgentSeconds: { fresh: number; incremental: number };
  /** The update command: apt, the NVIDIA driver and its reboot on a fresh build; a restart of the service on both. */
  updateCommandSeconds: { fresh: number; incremental: number };
  /** The image to pull: all of it on a fresh build, the changed layers on an incremental one. */
  pullGiB: { fresh: number; incremental: number };
  pullMiBPerSecond: number;
  stopSeconds: number;
  /** CreateImage until `available`: a first snapshot of the 100 GiB root volume, or one of only the changed blocks. */
  snapshotSeconds: { fresh: number; incremental: number };
  /** Boot of the test instance until its agent has registered, then ComfyUI answering /system_stats. */
  testAgentSeconds: number;
  healthCheckSeconds: number;
  /** From the end of the work (command, stop, AMI) to the check that sees it: EventBridge delivery, the receiver, SendTaskSuccess. */
  eventSeconds: number;
}

export const ASSUMPTIONS: BakeAssumptions = {
  lambdaSeconds: 1,
  builderAgentSeconds: { fresh: 90, incremental: 60 },
  updateCommandSeconds: { fresh: 15 * 60, incremental: 30 },
  pullGiB: { fresh: 10, incremental: 2 },
  pullMiBPerSecond: 150,
  stopSeconds: 45,
  snapshotSeconds: { fresh: 25 * 60, incremental: 6 * 60 },
  testAgentSeconds: 75,
  healthCheckSeconds: 60,
  eventSeconds: 2,
};

/** What the model reads from the ASL. */
export interface PollSettings {
  /** The agent retry of the two Send steps: first interval, backoff rate, cap. */
  agentRetry: { intervalSeconds: number; backoffRate: number; maxDelaySeconds: number; maxAttempts: number };
}

export interface ModelledStep {
  step: string;
  fresh: number;
  incremental: number;
}

/** Seconds until the retry that finds the agent registered (backoff without jitter: an upper bound). */
export function retriedUntil(work: number, retry: PollSettings['agentRetry']): number {
  let elapsed = 0;
  let delay = retry.intervalSeconds;
  for (let attempt = 0; attempt < retry.maxAttempts && elapsed < work; attempt++) {
    elapsed += Math.min(delay, retry.maxDelaySeconds);
    delay *= retry.backoffRate;
  }
  return elapsed;
}

export function modelBake(a: BakeAssumptions, p: PollSettings): ModelledStep[] {
  const pull = (gib: number) => (gib * 1024) / a.pullMiBPerSecond;
  const both = (step: string, f: (kind: 'fresh' | 'incremental') => number): ModelledStep => ({
    step,
    fresh: f('fresh'),
    incremental: f('incremental'),
  });
  return [
    both('Normalize, lock, resolve the base', () => 3 * a.lambdaSeconds),
    both('Launch the builder', () => a.lambdaSeconds),
    both('Send the update command (agent)', (k) => retriedUntil(a.builderAgentSeconds[k], p.agentRetry) + a.lambdaSeconds),
    both('Check the update (event)', (k) => a.updateCommandSeconds[k] + pull(a.pullGiB[k]) + a.eventSeconds),
    both('Stop the builder (event)', () => a.lambdaSeconds + a.stopSeconds + a.eventSeconds),
    both('Create and check the AMI (event)', (k) => a.lambdaSeconds + a.snapshotSeconds[k] + a.eventSeconds),
    both('Launch the test instance, send the check', () => a.lambdaSeconds + retriedUntil(a.testAgentSeconds, p.agentRetry)),
    both('Check the health check (event)', () => a.healthCheckSeconds + a.eventSeconds),
    both('Publish, clean up and release', () => 2 * a.lambdaSeconds),
  ];
}

/** `12m 30s`, `45s`. */
export function minutes(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}
