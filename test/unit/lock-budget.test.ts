/**
 * The longest lock wait ends with LockTimedOut (rolled back, released) before the execution's own
 * timeout, whatever TimeoutSeconds and the Wait state say: both are read from the ASL.
 */

import { join } from 'node:path';
import { configSchema, readConfigFile } from '../../functions/shared/config';
import { loadDefinition } from '../../scripts/lib/local-runner';
import { type Asl, LOCK_STATES, lockBudget, lockWaitProblem } from '../../scripts/lib/lock-budget';
import { DEMO_CONFIG_PATH, demoConfig } from '../support/builds';

const definition = loadDefinition() as unknown as Asl;

describe('the lock wait and the execution timeout', () => {
  const budget = lockBudget(definition);

  it('reads the budget from the ASL', () => {
    const raw = loadDefinition();
    expect(budget.timeoutSeconds).toBe(raw.TimeoutSeconds);
    expect(budget.secondsPerCheck).toBe(
      (raw.States[LOCK_STATES.wait].Seconds as number) + (raw.States[LOCK_STATES.acquire].TimeoutSeconds as number),
    );
    expect(budget.maxAttempts * budget.secondsPerCheck + budget.endingSeconds).toBeLessThan(budget.timeoutSeconds);
  });

  it.each([
    [
      'the schema default',
      configSchema.parse({ repositories: ['comfyui'], environments: { dev: { tags: ['dev-*'], defaultTag: 'dev-1' } } }),
    ],
    ['config/pipeline.json', readConfigFile(join(__dirname, '..', '..', 'config', 'pipeline.json'))],
    [DEMO_CONFIG_PATH, demoConfig()],
  ])('%s waits less than the execution may run', (_name, config) => {
    expect(lockWaitProblem(config, budget)).toBeNull();
    expect(config.lock.maxWaitAttempts * budget.secondsPerCheck + budget.endingSeconds).toBeLessThan(budget.timeoutSeconds);
  });

  it('names the field and its limit when the wait would outlast the execution (the 300 checks of before)', () => {
    const config = demoConfig({ lock: { ...demoConfig().lock, maxWaitAttempts: 300 } });
    expect(lockWaitProblem(config, { ...budget, timeoutSeconds: 14400, secondsPerCheck: 110, maxAttempts: 129 })).toMatch(
      /^config\.lock\.maxWaitAttempts: at most 129, got 300: .* end TIMED_OUT instead of LockTimedOut$/,
    );
  });

  it('follows a longer TimeoutSeconds in the ASL', () => {
    const longer = lockBudget({ ...definition, TimeoutSeconds: (definition.TimeoutSeconds ?? 0) * 2 });
    expect(longer.maxAttempts).toBeGreaterThan(budget.maxAttempts);
  });
});
