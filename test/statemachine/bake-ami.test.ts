/**
 * The real ASL, run in-process with the real handlers against the moto server; chosen steps are
 * made to fail (before or after their side effect) to show every failure path ends clean.
 */
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { loadStepHandler } from '../../scripts/lib/handlers';
import { loadDefinition, placeholderOf } from '../../scripts/lib/local-runner';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { type AccountState, readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

const config = demoConfig();
const definition = loadDefinition();
// Releasing the lock never fails a build (a left lock is taken over), so it is tested apart.
const NOT_FAILING = ['${RollBackFunctionArn}', '${NormalizeRequestFunctionArn}', '${ReleaseLockFunctionArn}'];
// A build never enters the rollback's own step: test/statemachine/way-back.test.ts fails it.
const NOT_ON_A_BUILD = ['${PrepareRollbackFunctionArn}'];
const taskStates = Object.entries(definition.States)
  .filter(([, s]) => s.Type === 'Task' && !NOT_FAILING.includes(s.Resource ?? '') && !NOT_ON_A_BUILD.includes(s.Resource ?? ''))
  .map(([name]) => name);
let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** The real handler of a state, wrapped: fail before it runs, or after it did its work. */
async function failing(state: string, when: 'before' | 'after', error: Error): Promise<LambdaHandler> {
  const real = await loadStepHandler(placeholderOf(definition.States[state].Resource) ?? '');
  return async (event, context) => {
    if (when === 'before') throw error;
    await real(event, context);
    throw error;
  };
}

/** A seeded account with one published dev AMI and a newer image pushed: the usual day. */
async function accountWithOneBuild(): Promise<{ before: AccountState; baseline: Set<string>; input: unknown }> {
  await moto.reset();
  await seedAccount(config);
  const baseline = await snapshotIds();
  const first = await pushImage('comfyui', 'dev-latest', 'one');
  const one = await build(pushEvent('comfyui', 'dev-latest', first), config, 'dev-first');
  expect(one.status).toBe('SUCCEEDED');
  const second = await pushImage('comfyui', 'dev-latest', 'two');
  return { before: await readAccount(baseline), baseline, input: pushEvent('comfyui', 'dev-latest', second) };
}

describe('the bake-ami state machine', () => {
  it('names every Task state as a sentence and gives it retries and a catch to the roll-back', () => {
    for (const [name, state] of Object.entries(definition.States)) {
      if (state.Type !== 'Task') continue;
      expect(name).toMatch(/^[A-Z][a-z]+( [a-zA-Z]+)+$/);
      const retry = state.Retry as { ErrorEquals: string[] }[];
      expect(retry.flatMap((r) => r.ErrorEquals)).toEqual(
        expect.arrayContaining(['Lambda.ServiceException', 'AwsThrottled', 'AwsUnavailable']),
      );
      // Validation errors are never retried.
      expect(retry.flatMap((r) => r.ErrorEquals)).not.toContain('RequestInvalid');
    }
  });

  it('refuses a bad request at Normalize the request, creating nothing', async () => {
    await moto.reset();
    await seedAccount(config);
    const baseline = await snapshotIds();
    const result = await buildWith({ environment: 'dev', image: 'comfyui:$(reboot)' }, config, 'bad-1', {});
    expect(result).toMatchObject({ status: 'FAILED', error: 'RequestInvalid', failedState: 'Normalize the request' });
    expect(result.steps.map((s) => s.name)).toEqual(['Normalize the request']);
    expect(await readAccount(baseline)).toMatchObject({ liveBuilders: [], amis: {}, orphanSnapshots: [], parameters: {} });
  });

  it('retries a transient failure and still builds exactly one AMI', async () => {
    const { baseline, input } = await accountWithOneBuild();
    let calls = 0;
    const real = await loadStepHandler('LaunchBuilderFunctionArn');
    const flaky: LambdaHandler = async (event, context) => {
      calls += 1;
      // The first attempt launches, then "crashes": the retry must reuse that instance.
      const out = await real(event, context);
      if (calls === 1) throw named('Lambda.ServiceException', 'injected');
      return out;
    };
    const result = await buildWith(input, config, 'dev-flaky', { 'Launch the builder instance': flaky });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.steps.find((s) => s.name === 'Launch the builder instance')?.attempts).toBe(2);
    const after = await readAccount(baseline);
    expect(after.amis.dev).toEqual([result.output?.amiId]);
    expect(after.liveBuilders).toEqual([]);
  });

  it('finishes a build whose lock release failed, and the next build still gets the lock', async () => {
    const { baseline, input } = await accountWithOneBuild();
    const broken: LambdaHandler = async () => {
      throw named('AwsAccessDenied', 'injected: dynamodb:UpdateItem denied');
    };
    const result = await buildWith(input, config, 'dev-release-denied', { 'Release the environment lock': broken });
    expect(result.status).toBe('SUCCEEDED');
    const third = await pushImage('comfyui', 'dev-latest', 'three');
    // The lease has not run out and the holder is a local run: only a stale holder is taken over.
    const waiting = await buildWith(
      pushEvent('comfyui', 'dev-latest', third),
      demoConfig({ lock: { ...config.lock, maxWaitAttempts: 2 } }),
      'dev-after-denied',
      {},
    );
    expect(waiting).toMatchObject({ status: 'FAILED', error: 'LockTimedOut' });
    expect((await readAccount(baseline)).liveBuilders).toEqual([]);
  });

  it('removes an AMI a failed clean-up stranded at the next build', async () => {
    const { baseline, input } = await accountWithOneBuild();
    const stranded = await buildWith(input, config, 'dev-cleanup-fails', {
      'Clean up': await failing('Clean up', 'before', named('AwsAccessDenied', 'injected')),
    });
    expect(stranded.status).toBe('FAILED');
    expect((await readAccount(baseline)).amis.dev).toHaveLength(2);
    const third = await pushImage('comfyui', 'dev-latest', 'three');
    const next = await build(pushEvent('comfyui', 'dev-latest', third), config, 'dev-after-stranded');
    const after = await readAccount(baseline);
    expect(after.amis).toEqual({ dev: [next.amiId] });
    expect(after.orphanSnapshots).toEqual([]);
  });

  // Issue 8, path 1: Step Functions reuses a name after 90 days, the console and CLI accept any
  // name, so a second execution may carry the name of the build that made the live AMI.
  it.each([
    ['Acquire the environment lock', 'after'],
    ['Create the AMI', 'after'],
    ['Publish the AMI', 'after'],
  ] as const)(
    'leaves latest and the live AMI alone when an execution reusing its builder\'s name fails at "%s" (%s)',
    async (state, when) => {
      // Prepare: the live AMI was made by execution "dev-first".
      const { before, baseline, input } = await accountWithOneBuild();
      const live = before.parameters['/comfyui/ami/dev/latest'];

      // Act
      const handler = await failing(state, when, named('UpdateCommandFailed', `injected failure in ${state}`));
      const result = await buildWith(input, config, 'dev-first', { [state]: handler });
      const after = await readAccount(baseline);

      // Assess
      expect(result).toMatchObject({ status: 'FAILED', error: 'UpdateCommandFailed' });
      expect(after.parameters).toEqual(before.parameters);
      expect(after.parameters['/comfyui/ami/dev/latest']).toBe(live);
      expect(after.amis).toEqual({ dev: [live] });
      expect(after.liveBuilders).toEqual([]);
      expect(after.orphanSnapshots).toEqual([]);
    },
  );

  it.each(taskStates.flatMap((state) => [[state, 'before'] as const, [state, 'after'] as const]))(
    'fails at "%s" (%s its work) and leaves the account as it was',
    async (state, when) => {
      // Prepare
      const { before, baseline, input } = await accountWithOneBuild();

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
});
