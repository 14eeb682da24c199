/**
 * What the state machine tests share: the Task states a build can fail at, a handler that fails
 * before or after its real work, and an account with one published AMI and a newer image pushed.
 */
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { loadStepHandler } from '../../scripts/lib/handlers';
import { isTokenWait, loadDefinition, placeholderOf } from '../../scripts/lib/local-runner';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { type AccountState, readAccount, snapshotIds } from './account';
import { build, buildWith, demoConfig, pushEvent } from './builds';
import type { Moto } from './moto';

export const config = demoConfig();
export const definition = loadDefinition();
// Releasing the lock never fails a build (a left lock is taken over), nor does announcing its
// end (test/statemachine/build-events.test.ts), so they are tested apart.
const NOT_FAILING = [
  '${RollBackFunctionArn}',
  '${NormalizeRequestFunctionArn}',
  '${ReleaseLockFunctionArn}',
  '${AnnounceResultFunctionArn}',
];
// A build never enters the rollback's own step: test/statemachine/way-back.test.ts fails it.
const NOT_ON_A_BUILD = ['${PrepareRollbackFunctionArn}'];
/**
 * The Task states of a build, in the ASL's order. The waits for an event are never entered when
 * moto settles everything at once: test/statemachine/event-waits.test.ts fails them.
 */
export const taskStates = Object.entries(definition.States)
  .filter(
    ([, s]) =>
      s.Type === 'Task' && !isTokenWait(s) && !NOT_FAILING.includes(s.Resource ?? '') && !NOT_ON_A_BUILD.includes(s.Resource ?? ''),
  )
  .map(([name]) => name);

export function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** The real handler of a state, wrapped: fail before it runs, or after it did its work. */
export async function failing(state: string, when: 'before' | 'after', error: Error): Promise<LambdaHandler> {
  const real = await loadStepHandler(placeholderOf(definition.States[state]) ?? '');
  return async (event, context) => {
    if (when === 'before') throw error;
    await real(event, context);
    throw error;
  };
}

/** A seeded account with one published dev AMI and a newer image pushed: the usual day. */
export async function accountWithOneBuild(moto: Moto): Promise<{ before: AccountState; baseline: Set<string>; input: unknown }> {
  await moto.reset();
  await seedAccount(config);
  const baseline = await snapshotIds();
  const first = await pushImage('comfyui', 'dev-latest', 'one');
  const one = await build(pushEvent('comfyui', 'dev-latest', first), config, 'dev-first');
  expect(one.status).toBe('SUCCEEDED');
  const second = await pushImage('comfyui', 'dev-latest', 'two');
  return { before: await readAccount(baseline), baseline, input: pushEvent('comfyui', 'dev-latest', second) };
}

/**
 * Each of `states` failing before and after its work must leave the account as it was (or, for
 * Clean up, with the new AMI published). Split over files so two jest workers share the matrix.
 */
export function itLeavesTheAccountAsItWas(states: string[], moto: () => Moto): void {
  it.each(states.flatMap((state) => [[state, 'before'] as const, [state, 'after'] as const]))(
    'fails at "%s" (%s its work) and leaves the account as it was',
    async (state, when) => {
      // Prepare
      const { before, baseline, input } = await accountWithOneBuild(moto());

      // Act
      const handler = await failing(state, when, named('UpdateCommandFailed', `injected failure in ${state}`));
      const result = await buildWith(input, config, `dev-fail-${taskStates.indexOf(state)}-${when}`, { [state]: handler });
      const after = await readAccount(baseline);

      // Assess
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('UpdateCommandFailed');
      expect(result.cause).toContain(`injected failure in ${state}`);
      expect(after.liveBuilders).toEqual([]);
      expect(after.orphanSnapshots).toEqual([]);
      if (state === 'Clean up' && when === 'after') {
        // Published already: the new AMI stays (latest names it), the old one is gone.
        expect(after.amis.dev).toHaveLength(1);
        expect(after.parameters['/comfyui/ami/dev/latest']).toBe(after.amis.dev[0]);
      } else if (state === 'Clean up') {
        // Published, but the previous AMI could not be removed: both remain, latest is the new one.
        expect(after.amis.dev).toHaveLength(2);
        expect(after.parameters['/comfyui/ami/dev/latest']).not.toBe(before.parameters['/comfyui/ami/dev/latest']);
      } else {
        expect(after.amis).toEqual(before.amis);
        expect(after.parameters).toEqual(before.parameters);
      }
    },
  );
}
