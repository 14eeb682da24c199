/**
 * The real ASL, run in-process with the real handlers against the moto server; chosen steps are
 * made to fail; each step failing before and after its work is in fail-build-steps.test.ts and
 * fail-image-steps.test.ts.
 */
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { loadStepHandler } from '../../scripts/lib/handlers';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { build, buildWith, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';
import { accountWithOneBuild, config, definition, failing, named } from '../support/step-failures';

let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

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
    const { baseline, input } = await accountWithOneBuild(moto);
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

  it('removes an AMI a failed clean-up stranded at the next build', async () => {
    const { baseline, input } = await accountWithOneBuild(moto);
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

  // Step Functions reuses a name after 90 days, the console and CLI accept any
  // name, so a second execution may carry the name of the build that made the live AMI.
  it.each([
    ['Acquire the environment lock', 'after'],
    ['Create the AMI', 'after'],
    ['Publish the AMI', 'after'],
  ] as const)(
    'leaves latest and the live AMI alone when an execution reusing its builder\'s name fails at "%s" (%s)',
    async (state, when) => {
      // Prepare: the live AMI was made by execution "dev-first".
      const { before, baseline, input } = await accountWithOneBuild(moto);
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
});
