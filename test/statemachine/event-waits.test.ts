/**
 * The four waits (the update command, the builder's stop, the AMI, the health check), end to end:
 * the real ASL in-process, the real await and receiver handlers, moto made slow
 * (test/support/slow-resources.ts) and the runner's local event source carrying the state-change
 * events. Events delivered, events lost (the Task's timeout, then a check: the fallback), and
 * failures delivered as events.
 */
import { EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { resetDefaultClients } from '../../functions/shared/clients';
import { type LambdaHandler, loadStepHandler } from '../../scripts/lib/handlers';
import { placeholderOf, type RunEvent, type RunResult, runStateMachine } from '../../scripts/lib/local-runner';
import { useEndpoint } from '../../scripts/lib/moto';
import { readAccount } from '../support/account';
import { type Moto, startMoto } from '../support/moto';
import { type SlowResources, startSlowResources } from '../support/slow-resources';
import { accountWithOneBuild, config, definition, named } from '../support/step-failures';

const HOLD_MS = 1000;
const LOST_TIMEOUT_MS = 600;
// Four builds per test on a busy machine: the default 60 s is too short under load.
jest.setTimeout(240_000);
const UPDATE_DOCUMENTS = [config.documents.fresh, config.documents.incremental];
/** Every wait of a build held: the update, the builder's stop, the AMI (always) and the health check. */
const ALL_WAITS = { documents: [...UPDATE_DOCUMENTS, config.documents.healthCheck], stops: true };
const WAITS = ['Wait for the update', 'Wait for the builder to stop', 'Wait for the AMI', 'Wait for the health check'];

let moto: Moto;
let slow: SlowResources | undefined;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterEach(async () => {
  await slow?.stop();
  slow = undefined;
  useEndpoint(moto.endpoint);
  resetDefaultClients();
});
afterAll(async () => moto?.stop());

/** Everything after this goes through the slow proxy: the handlers, the event source, the test's reads. */
async function slowDown(options: Parameters<typeof startSlowResources>[1]): Promise<SlowResources> {
  slow = await startSlowResources(moto.endpoint, options);
  useEndpoint(slow.endpoint);
  resetDefaultClients();
  return slow;
}

interface Timed {
  result: RunResult;
  events: RunEvent[];
  started: number;
}

async function timedBuild(input: unknown, name: string, options: Partial<Parameters<typeof runStateMachine>[1]>): Promise<Timed> {
  const events: RunEvent[] = [];
  const started = Date.now();
  const result = await runStateMachine(input, { executionName: name, waitMs: 0, retryMs: 0, onEvent: (e) => events.push(e), ...options });
  return { result, events, started };
}

/** Milliseconds from the resource settling to the step that went on: a check that saw it done, or the step after. */
function detectionMs(run: Timed, state: string, resourceId: string): number {
  const key = STATUS_KEYS[state];
  const done = run.events.find(
    (e) => e.kind === 'step-succeeded' && e.name === state && (!key || (e.output as Record<string, { done?: boolean }>)[key]?.done),
  );
  if (!done) throw new Error(`${state} never reported done`);
  return run.started + done.elapsedMs - (slow?.settledAt.get(resourceId) ?? Number.NaN);
}
const STATUS_KEYS: Record<string, string> = {
  'Check the update': 'updateStatus',
  'Check the AMI': 'imageStatus',
  'Check the health check': 'healthCheckStatus',
};

function output(run: Timed, state: string): Record<string, unknown> {
  const last = run.events.filter((e) => e.kind === 'step-succeeded' && e.name === state).at(-1);
  return (last as { output: Record<string, unknown> } | undefined)?.output ?? {};
}

/** A failed build left no instance, AMI or snapshot of its own, and every parameter as it was. */
async function expectAsBefore(baseline: Parameters<typeof readAccount>[0], before: Awaited<ReturnType<typeof readAccount>>): Promise<void> {
  const after = await readAccount(baseline);
  expect(after.liveBuilders).toEqual([]);
  expect(after.orphanSnapshots).toEqual([]);
  expect(after.amis).toEqual(before.amis);
  expect(after.parameters).toEqual(before.parameters);
}

const attempts = (result: RunResult, state: string) => result.steps.find((s) => s.name === state)?.attempts ?? 0;

describe('waits that an event ends', () => {
  it('resumes all four waits on their events, within 2 s of the change and with no fallback', async () => {
    // Prepare
    const { input, baseline } = await accountWithOneBuild(moto);
    await slowDown({ holdMs: HOLD_MS, ...ALL_WAITS, from: 'registration' });

    // Act: the fallback timeout is far longer than the hold, so only an event can end the waits early.
    const run = await timedBuild(input, 'dev-events', { events: 'delivered', tokenWaitTimeoutMs: 30_000 });

    // Assess
    expect(run.result.status).toBe('SUCCEEDED');
    const update = output(run, 'Check the update') as { update: { commandId: string } };
    const builder = output(run, 'Stop the builder') as { builder: { instanceId: string } };
    const image = output(run, 'Check the AMI') as { image: { amiId: string } };
    const check = output(run, 'Check the health check') as { healthCheck: { commandId: string } };
    // The check after each wait looks again; "stopped" goes straight on to Create the AMI, which reads the builder itself.
    const waited: [wait: string, next: string, resourceId: string, status: string][] = [
      ['Wait for the update', 'Check the update', update.update.commandId, 'Success'],
      ['Wait for the builder to stop', 'Create the AMI', builder.builder.instanceId, 'stopped'],
      ['Wait for the AMI', 'Check the AMI', image.image.amiId, 'available'],
      ['Wait for the health check', 'Check the health check', check.healthCheck.commandId, 'Success'],
    ];
    for (const [wait, next, resourceId, status] of waited) {
      expect([wait, attempts(run.result, wait)]).toEqual([wait, 1]);
      expect(output(run, wait).wake).toEqual({ via: 'event', status, resourceId });
      expect(detectionMs(run, next, resourceId)).toBeLessThan(2000);
    }
    // The first look right after the work, the second after the event; the stop's one look was its request.
    expect(['Check the update', 'Stop the builder', 'Check the AMI', 'Check the health check'].map((s) => attempts(run.result, s))).toEqual(
      [2, 1, 2, 2],
    );
    const delivered = run.events.filter((e) => e.kind === 'event-delivered' && e.resumed);
    expect(delivered.map((e) => (e as { resourceId: string }).resourceId).sort()).toEqual(waited.map(([, , id]) => id).sort());
    const after = await readAccount(baseline);
    expect(after.liveBuilders).toEqual([]);
    expect(after.amis.dev).toEqual([image.image.amiId]);
  });

  it('completes the build through the fallback when every event is lost', async () => {
    // Prepare
    const { input, baseline } = await accountWithOneBuild(moto);
    await slowDown({ holdMs: HOLD_MS, ...ALL_WAITS, from: 'registration' });

    // Act: each wait times out (the lost event; the resource settles after the timeout), the
    // check after it finds the resource done or still working, and then a second wait finds it
    // done at once or times out again.
    const run = await timedBuild(input, 'dev-lost', { events: 'lost', tokenWaitTimeoutMs: LOST_TIMEOUT_MS });

    // Assess
    expect(run.result.status).toBe('SUCCEEDED');
    expect(run.events.filter((e) => e.kind === 'event-delivered')).toEqual([]);
    const wakes = run.events
      .filter((e) => e.kind === 'step-succeeded' && e.name.startsWith('Wait for the'))
      .map((e) => e as { name: string; output: { wake: { Error?: string; via?: string } } })
      .map((e) => ({ wait: e.name, wake: e.output.wake }));
    // Every wait timed out at least once (its resource settles a hold after it registered), and
    // only a timeout or the wait's own look ended any of them.
    const timedOut = (wait: string) => wakes.some((w) => w.wait === wait && w.wake.Error === 'States.Timeout');
    expect(WAITS.filter((wait) => !timedOut(wait))).toEqual([]);
    expect(wakes.filter((w) => w.wake.Error !== 'States.Timeout' && w.wake.via !== 'check')).toEqual([]);
    const after = await readAccount(baseline);
    expect(after.liveBuilders).toEqual([]);
    expect(after.amis.dev).toHaveLength(1);
  });

  it('rolls back when the update command fails, as its event says', async () => {
    // Prepare
    const { input, baseline, before } = await accountWithOneBuild(moto);
    await slowDown({ holdMs: HOLD_MS, documents: UPDATE_DOCUMENTS, outcome: 'failure', from: 'registration' });

    // Act
    const run = await timedBuild(input, 'dev-command-fails', { events: 'delivered', tokenWaitTimeoutMs: 30_000 });

    // Assess
    expect(run.result).toMatchObject({ status: 'FAILED', error: 'UpdateCommandFailed', failedState: 'Check the update' });
    expect(output(run, 'Wait for the update').wake).toMatchObject({ via: 'event', status: 'Failed' });
    await expectAsBefore(baseline, before);
  });

  it('rolls back when the AMI fails, as its event says, removing it', async () => {
    // Prepare
    const { input, baseline, before } = await accountWithOneBuild(moto);
    await slowDown({ holdMs: HOLD_MS, documents: [], outcome: 'failure', from: 'registration' });

    // Act
    const run = await timedBuild(input, 'dev-ami-fails', { events: 'delivered', tokenWaitTimeoutMs: 30_000 });

    // Assess
    expect(run.result).toMatchObject({ status: 'FAILED', error: 'AmiCreationFailed', failedState: 'Check the AMI' });
    expect(output(run, 'Wait for the AMI').wake).toMatchObject({ via: 'event', status: 'failed' });
    await expectAsBefore(baseline, before);
  });

  it('rolls back when the health check fails, as its event says, leaving no test instance nor AMI', async () => {
    // Prepare
    const { input, baseline, before } = await accountWithOneBuild(moto);
    await slowDown({ holdMs: HOLD_MS, documents: [config.documents.healthCheck], amis: false, outcome: 'failure', from: 'registration' });

    // Act
    const run = await timedBuild(input, 'dev-check-fails', { events: 'delivered', tokenWaitTimeoutMs: 30_000 });

    // Assess
    expect(run.result).toMatchObject({ status: 'FAILED', error: 'VerificationFailed', failedState: 'Check the health check' });
    const sent = output(run, 'Check the health check') as { healthCheck: { commandId: string } };
    expect(output(run, 'Wait for the health check').wake).toEqual({
      via: 'event',
      status: 'Failed',
      resourceId: sent.healthCheck.commandId,
    });
    expect(attempts(run.result, 'Check the health check')).toBe(2);
    await expectAsBefore(baseline, before);
  });

  it('rolls back when the builder is terminated while it stops, as its event says', async () => {
    // Prepare
    const { input, baseline, before } = await accountWithOneBuild(moto);
    await slowDown({ holdMs: 10_000, documents: [], stops: true, from: 'registration' });
    // The real wait registers and finds the builder stopping; then someone terminates it.
    const realWait = await loadStepHandler(placeholderOf(definition.States['Wait for the builder to stop']) ?? '');
    const terminatedMeanwhile: LambdaHandler = async (event, context) => {
      const out = await realWait(event, context);
      const instanceId = (event as { resourceId: string }).resourceId;
      setTimeout(() => void new EC2Client({}).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })), 300);
      return out;
    };

    // Act
    const run = await timedBuild(input, 'dev-builder-lost', {
      events: 'delivered',
      tokenWaitTimeoutMs: 30_000,
      handlers: { 'Wait for the builder to stop': terminatedMeanwhile },
    });

    // Assess
    expect(run.result).toMatchObject({ status: 'FAILED', error: 'BuilderLost', failedState: 'Stop the builder' });
    expect(output(run, 'Wait for the builder to stop').wake).toMatchObject({ via: 'event', status: 'terminated' });
    await expectAsBefore(baseline, before);
  });

  it('rolls back when the wait itself fails for good', async () => {
    // Prepare
    const { input, baseline, before } = await accountWithOneBuild(moto);
    // Registered by no wait (the wait fails), the AMI stays pending.
    await slowDown({ holdMs: HOLD_MS, documents: [], from: 'registration' });
    const broken: LambdaHandler = async () => {
      throw named('AwsAccessDenied', 'injected: PutItem denied');
    };

    // Act
    const run = await timedBuild(input, 'dev-wait-fails', { handlers: { 'Wait for the AMI': broken } });

    // Assess
    expect(run.result).toMatchObject({ status: 'FAILED', error: 'AwsAccessDenied', failedState: 'Wait for the AMI' });
    await expectAsBefore(baseline, before);
  });
});
