/**
 * A way back, on the real ASL in-process with the real handlers against the moto server:
 * retainPrevious at clean-up, rollback to a retained AMI (re-point, nothing built), rollback to
 * a gone AMI (its recorded digest rebuilt), a failed rollback, promotion and history.
 */

import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import type { PipelineConfig } from '../../functions/shared/config';
import { listHistory } from '../../functions/start-environment-action/history';
import { planPromotion } from '../../functions/start-environment-action/promote';
import { planRollback } from '../../functions/start-environment-action/rollback';
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { loadStepHandler } from '../../scripts/lib/handlers';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

let moto: Moto;
let serial = 0;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

const LATEST = '/comfyui/ami/dev/latest';
const METADATA = '/comfyui/ami/dev/metadata';

function configWith(
  dev: Partial<PipelineConfig['environments'][string]>,
  prod: Partial<PipelineConfig['environments'][string]> = {},
): PipelineConfig {
  const base = demoConfig();
  return demoConfig({ environments: { dev: { ...base.environments.dev, ...dev }, prod: { ...base.environments.prod, ...prod } } });
}

function deps(config: PipelineConfig) {
  resetDefaultClients();
  return { config, clients: defaultClients() };
}

async function fresh(config: PipelineConfig): Promise<Set<string>> {
  await moto.reset();
  resetDefaultClients();
  await seedAccount(config);
  return snapshotIds();
}

/** Pushes a new dev image and builds it; returns the AMI and the digest. */
async function buildDev(config: PipelineConfig): Promise<{ amiId: string; digest: string }> {
  serial += 1;
  const digest = await pushImage('comfyui', `dev-${serial}`, `image ${serial}`);
  const result = await build(pushEvent('comfyui', `dev-${serial}`, digest), config, `dev-build-${serial}`);
  if (result.status !== 'SUCCEEDED' || !result.amiId) throw new Error(`build ${serial} failed: ${result.error}: ${result.cause}`);
  return { amiId: result.amiId, digest };
}

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

describe('retainPrevious', () => {
  it.each([
    [0, 1],
    [1, 2],
    [2, 3],
  ])('keeps %i previous AMIs (so %i in all) after four builds, and never the one latest names', async (retain, kept) => {
    const config = configWith({ retainPrevious: retain });
    const baseline = await fresh(config);
    const builds = [];
    for (let i = 0; i < 4; i += 1) builds.push(await buildDev(config));
    const after = await readAccount(baseline);
    // The newest ones stay: latest and the `retain` before it.
    expect([...after.amis.dev].sort()).toEqual(
      builds
        .slice(4 - kept)
        .map((b) => b.amiId)
        .sort(),
    );
    expect(after.parameters[LATEST]).toBe(builds[3].amiId);
    expect(after.orphanSnapshots).toEqual([]);
    expect(after.liveBuilders).toEqual([]);
    // Every build keeps its history entry, retained or not.
    for (const b of builds) expect(after.parameters[`/comfyui/ami/dev/history/${b.amiId}`]).toContain(b.digest);
  });
});

describe('rollback', () => {
  it('re-points latest and metadata to a retained AMI without building, and keeps the bad AMI while retainPrevious allows', async () => {
    const config = configWith({ retainPrevious: 1 });
    const baseline = await fresh(config);
    const good = await buildDev(config);
    const bad = await buildDev(config);
    const goodHistory = JSON.parse((await readAccount(baseline)).parameters[`/comfyui/ami/dev/history/${good.amiId}`]) as Record<
      string,
      unknown
    >;

    const plan = await planRollback({ environment: 'dev', source: 'cli' }, deps(config));
    expect(plan.target).toMatchObject({ amiId: good.amiId, available: true, digest: good.digest });
    const result = await buildWith(plan.input, config, plan.executionName, {});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ amiId: good.amiId, previousAmiId: bad.amiId, mode: 'rollback' });
    const steps = result.steps.map((s) => s.name);
    expect(steps).toEqual(expect.arrayContaining(['Prepare the rollback', 'Check the AMI', 'Publish the AMI', 'Clean up']));
    expect(steps).not.toContain('Launch the builder instance');
    expect(steps).not.toContain('Create the AMI');

    const after = await readAccount(baseline);
    expect(after.parameters[LATEST]).toBe(good.amiId);
    const metadata = JSON.parse(after.parameters[METADATA]) as Record<string, unknown>;
    // Every key of the good build's record, as it recorded it, but for how it came back.
    for (const key of [
      'ami_id',
      'docker_image',
      'environment',
      'creation_date',
      'branch',
      'commit_sha',
      'region',
      'workflow_run_number',
      'ami_name',
      'docker_digest',
      'docker_tag',
      'base_ami_id',
    ]) {
      expect([key, metadata[key]]).toEqual([key, goodHistory[key]]);
    }
    expect(metadata).toMatchObject({
      build_mode: 'rollback',
      previous_ami_id: bad.amiId,
      source: 'cli',
      workflow_run_id: plan.executionName,
      built_by_execution_id: goodHistory.execution_id,
    });
    expect(metadata.rolled_back_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The history entry is the record of the good build, untouched; nothing new was made.
    expect(after.parameters[`/comfyui/ami/dev/history/${good.amiId}`]).toBe(JSON.stringify(goodHistory));
    expect([...after.amis.dev].sort()).toEqual([good.amiId, bad.amiId].sort());
    expect(after.orphanSnapshots).toEqual([]);

    // The next build counts on from the highest number, not from the rolled-back one.
    const next = await buildDev(config);
    const nextMetadata = JSON.parse((await readAccount(baseline)).parameters[METADATA]) as Record<string, unknown>;
    expect(nextMetadata).toMatchObject({ ami_id: next.amiId, workflow_run_number: '3', previous_ami_id: good.amiId });
  });

  it('removes the bad AMI at once when retainPrevious is 0 and names the rollback target with --to', async () => {
    const config = configWith({ retainPrevious: 2 });
    const baseline = await fresh(config);
    const first = await buildDev(config);
    await buildDev(config);
    const bad = await buildDev(config);
    const zero = configWith({ retainPrevious: 0 });
    const plan = await planRollback({ environment: 'dev', to: first.amiId, source: 'console' }, deps(zero));
    const result = await buildWith(plan.input, zero, plan.executionName, {});
    expect(result.status).toBe('SUCCEEDED');
    const after = await readAccount(baseline);
    expect(after.parameters[LATEST]).toBe(first.amiId);
    expect(after.amis.dev).toEqual([first.amiId]);
    expect(after.amis.dev).not.toContain(bad.amiId);
    expect(after.orphanSnapshots).toEqual([]);
  });

  it('rebuilds the digest the history entry recorded when the target AMI is gone', async () => {
    const config = configWith({ retainPrevious: 0 });
    const baseline = await fresh(config);
    const good = await buildDev(config);
    const bad = await buildDev(config);
    expect((await readAccount(baseline)).amis.dev).toEqual([bad.amiId]);

    const plan = await planRollback({ environment: 'dev', source: 'cli' }, deps(config));
    expect(plan.target).toMatchObject({ amiId: good.amiId, available: false, digest: good.digest });
    const result = await buildWith(plan.input, config, plan.executionName, {});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['Prepare the rollback', 'Launch the builder instance', 'Create the AMI', 'Publish the AMI']),
    );
    const rebuilt = result.output?.amiId as string;
    expect([rebuilt === good.amiId, rebuilt === bad.amiId]).toEqual([false, false]);
    const after = await readAccount(baseline);
    expect(after.parameters[LATEST]).toBe(rebuilt);
    expect(JSON.parse(after.parameters[METADATA])).toMatchObject({
      ami_id: rebuilt,
      docker_digest: good.digest,
      build_mode: 'incremental',
      previous_ami_id: bad.amiId,
    });
    expect(after.amis.dev).toEqual([rebuilt]);
    expect(after.orphanSnapshots).toEqual([]);
    expect(after.liveBuilders).toEqual([]);
  });

  it('a rollback that fails after re-pointing puts latest and metadata back and removes neither AMI', async () => {
    const config = configWith({ retainPrevious: 1 });
    const baseline = await fresh(config);
    const good = await buildDev(config);
    const bad = await buildDev(config);
    const before = await readAccount(baseline);
    const plan = await planRollback({ environment: 'dev', source: 'cli' }, deps(config));
    const real = await loadStepHandler('PublishAmiFunctionArn');
    const publishedThenCrashed: LambdaHandler = async (event, context) => {
      await real(event, context);
      throw named('AwsAccessDenied', 'injected after publishing');
    };
    const result = await buildWith(plan.input, config, plan.executionName, { 'Publish the AMI': publishedThenCrashed });
    expect(result).toMatchObject({ status: 'FAILED', error: 'AwsAccessDenied' });
    const after = await readAccount(baseline);
    expect(after.parameters).toEqual(before.parameters);
    expect([...after.amis.dev].sort()).toEqual([good.amiId, bad.amiId].sort());
    expect(after.orphanSnapshots).toEqual([]);
  });

  it('a rollback whose Prepare step fails leaves everything as it was', async () => {
    const config = configWith({ retainPrevious: 1 });
    const baseline = await fresh(config);
    await buildDev(config);
    await buildDev(config);
    const before = await readAccount(baseline);
    const plan = await planRollback({ environment: 'dev', source: 'cli' }, deps(config));
    const broken: LambdaHandler = async () => {
      throw named('AwsAccessDenied', 'injected: ec2:DescribeImages denied');
    };
    const result = await buildWith(plan.input, config, plan.executionName, { 'Prepare the rollback': broken });
    expect(result).toMatchObject({ status: 'FAILED', error: 'AwsAccessDenied', failedState: expect.any(String) });
    expect(await readAccount(baseline)).toEqual(before);
  });

  it('retries a transient fault in Prepare the rollback and still re-points once', async () => {
    const config = configWith({ retainPrevious: 1 });
    const baseline = await fresh(config);
    const good = await buildDev(config);
    await buildDev(config);
    const plan = await planRollback({ environment: 'dev', source: 'cli' }, deps(config));
    const real = await loadStepHandler('PrepareRollbackFunctionArn');
    let calls = 0;
    const flaky: LambdaHandler = async (event, context) => {
      calls += 1;
      if (calls === 1) throw named('AwsThrottled', 'injected: Rate exceeded');
      return real(event, context);
    };
    const result = await buildWith(plan.input, config, plan.executionName, { 'Prepare the rollback': flaky });
    expect(result.status).toBe('SUCCEEDED');
    expect(result.steps.find((s) => s.name === 'Prepare the rollback')?.attempts).toBe(2);
    expect((await readAccount(baseline)).parameters[LATEST]).toBe(good.amiId);
  });

  it('refuses in the state machine a target that is no build of the environment, or is latest already', async () => {
    const config = configWith({ retainPrevious: 1 });
    const baseline = await fresh(config);
    const one = await buildDev(config);
    const before = await readAccount(baseline);
    const notOurs = await buildWith(
      { action: 'rollback', environment: 'dev', rollback_to: 'ami-0123456789abcdef0' },
      config,
      'dev-rollback-foreign',
      {},
    );
    expect(notOurs).toMatchObject({ status: 'FAILED', error: 'RequestInvalid', failedState: 'Normalize the request' });
    expect(notOurs.cause).toContain('input.rollback_to');
    const isLatest = await buildWith({ action: 'rollback', environment: 'dev', rollback_to: one.amiId }, config, 'dev-rollback-latest', {});
    expect(isLatest).toMatchObject({ status: 'FAILED', error: 'RollbackRefused' });
    expect(await readAccount(baseline)).toEqual(before);
    await expect(planRollback({ environment: 'dev', source: 'cli' }, deps(config))).rejects.toThrow(/no build older/);
    await expect(planRollback({ environment: 'dev', to: one.amiId, source: 'cli' }, deps(config))).rejects.toThrow(/already latest/);
    await expect(planRollback({ environment: 'prod', to: one.amiId, source: 'cli' }, deps(config))).rejects.toThrow(/no build of prod/);
  });
});

describe('promote', () => {
  it('builds prod from exactly the digest dev has published, only where prod names dev as its source', async () => {
    const allowed = configWith({}, { promoteFrom: 'dev' });
    const baseline = await fresh(allowed);
    await expect(planPromotion({ from: 'dev', to: 'prod', source: 'cli' }, deps(allowed))).rejects.toThrow(/dev has published nothing/);
    const dev = await buildDev(allowed);
    // A newer dev image that dev has not published must not be what prod gets.
    await pushImage('comfyui', 'dev-unpublished', 'never built');

    await expect(planPromotion({ from: 'dev', to: 'prod', source: 'cli' }, deps(configWith({})))).rejects.toThrow(
      /environments\.prod\.promoteFrom names \(it is not set\)/,
    );
    await expect(planPromotion({ from: 'prod', to: 'dev', source: 'cli' }, deps(allowed))).rejects.toThrow(
      /^from: must be the environment that config environments\.dev\.promoteFrom names \(it is not set\), got "prod"/,
    );

    const plan = await planPromotion({ from: 'dev', to: 'prod', source: 'cli' }, deps(allowed));
    expect(plan).toEqual({ digest: dev.digest, input: { environment: 'prod', image: `comfyui@${dev.digest}`, source: 'cli' } });
    const result = await build(plan.input, allowed, 'prod-promoted');
    expect(result.status).toBe('SUCCEEDED');
    const after = await readAccount(baseline);
    expect(after.parameters['/comfyui/ami/prod/latest']).toBe(result.amiId);
    expect(JSON.parse(after.parameters['/comfyui/ami/prod/metadata'])).toMatchObject({
      environment: 'prod',
      docker_digest: dev.digest,
      source: 'cli',
    });
    // dev is untouched.
    expect(after.parameters[LATEST]).toBe(dev.amiId);
  });
});

describe('history', () => {
  it('lists every build newest first with its digest, tag, mode, source, and whether the AMI exists', async () => {
    const config = configWith({ retainPrevious: 1 });
    await fresh(config);
    const a = await buildDev(config);
    const b = await buildDev(config);
    const c = await buildDev(config);
    const rows = await listHistory('dev', deps(config));
    expect(rows.map((r) => [r.amiId, r.available, r.latest])).toEqual([
      [c.amiId, true, true],
      [b.amiId, true, false],
      [a.amiId, false, false],
    ]);
    expect(rows[0]).toMatchObject({ digest: c.digest, tag: `dev-${serial}`, mode: 'incremental', source: 'ecr-push', buildNumber: 3 });
    expect(rows[2]).toMatchObject({ mode: 'fresh', buildNumber: 1 });
    expect(await listHistory('prod', deps(config))).toEqual([]);
  });
});
