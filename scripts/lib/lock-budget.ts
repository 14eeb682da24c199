import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineConfig } from '../../functions/shared/config';

const ASL_PATH = join(__dirname, '..', '..', 'statemachine', 'bake-ami.asl.json');

export interface Asl {
  TimeoutSeconds?: number;
  States: Record<string, { Seconds?: number; TimeoutSeconds?: number }>;
}

export const LOCK_STATES = {
  acquire: 'Acquire the environment lock',
  wait: 'Wait for the environment',
  rollBack: 'Roll back the build',
  release: 'Release the lock after failure',
} as const;

export interface LockBudget {
  /** The execution's own TimeoutSeconds. */
  timeoutSeconds: number;
  /** One check at most: the Wait state plus the acquire Task's timeout. */
  secondsPerCheck: number;
  /** What must still fit after the last check: roll back and release, at their Task timeouts. */
  endingSeconds: number;
  /** The most checks that end with LockTimedOut, rolled back and released, before the timeout. */
  maxAttempts: number;
}

/** Read from the ASL itself, so a change of TimeoutSeconds or of the Wait is taken into account. */
export function lockBudget(asl: Asl = JSON.parse(readFileSync(ASL_PATH, 'utf8')) as Asl): LockBudget {
  const seconds = (state: string, key: 'Seconds' | 'TimeoutSeconds'): number => {
    const value = asl.States[state]?.[key];
    if (typeof value !== 'number') throw new Error(`statemachine: "${state}" has no ${key}; the lock budget cannot be checked`);
    return value;
  };
  if (typeof asl.TimeoutSeconds !== 'number')
    throw new Error('statemachine: no top-level TimeoutSeconds; the lock budget cannot be checked');
  const secondsPerCheck = seconds(LOCK_STATES.wait, 'Seconds') + seconds(LOCK_STATES.acquire, 'TimeoutSeconds');
  const endingSeconds = seconds(LOCK_STATES.rollBack, 'TimeoutSeconds') + seconds(LOCK_STATES.release, 'TimeoutSeconds');
  const maxAttempts = Math.floor((asl.TimeoutSeconds - endingSeconds - 1) / secondsPerCheck);
  return { timeoutSeconds: asl.TimeoutSeconds, secondsPerCheck, endingSeconds, maxAttempts };
}

/**
 * Null when the longest lock wait ends (LockTimedOut, roll back, release) before the execution's
 * own timeout; else the problem, naming the field and its allowed range.
 */
export function lockWaitProblem(config: PipelineConfig, budget: LockBudget = lockBudget()): string | null {
  const attempts = config.lock.maxWaitAttempts;
  if (attempts <= budget.maxAttempts) return null;
  return (
    `config.lock.maxWaitAttempts: at most ${budget.maxAttempts}, got ${attempts}: ${attempts} checks of up to ${budget.secondsPerCheck} s ` +
    `outlast the execution's TimeoutSeconds (${budget.timeoutSeconds} s), so a waiting build would end TIMED_OUT instead of LockTimedOut`
  );
}
