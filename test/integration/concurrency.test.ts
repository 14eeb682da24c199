import { CONFIG_ENV_VAR, resetConfigCache } from '../../functions/shared/config';
import { runStateMachine } from '../../scripts/lib/local-runner';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

// Waiting builds poll the lock every 20 ms here instead of every minute.
const config = demoConfig({ lock: { ...demoConfig().lock, maxWaitAttempts: 1000 } });
let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

/** Pushed `secondsAgo` before now: event times must lie within minutes of the build's start. */
function at(event: Record<string, unknown>, secondsAgo: number): Record<string, unknown> {
  return { ...event, time: new Date(Date.now() - secondsAgo * 1000).toISOString() };
}

describe('builds started at the same time', () => {
  it('build one environment at a time, the newest image wins, other environments build in parallel', async () => {
    // Prepare: three pushes to dev a second apart, one to prod.
    await seedAccount(config);
    const baseline = await snapshotIds();
    // Distinct tags: moto drops an image whose tag moves on (ECR keeps it, untagged).
    const tags = ['dev-a', 'dev-b', 'dev-c'];
    const digests = [
      await pushImage('comfyui', tags[0], 'a'),
      await pushImage('comfyui', tags[1], 'b'),
      await pushImage('comfyui', tags[2], 'c'),
    ];
    const prodDigest = await pushImage('comfyui', 'prod-latest', 'p');
    process.env[CONFIG_ENV_VAR] = JSON.stringify(config);
    resetConfigCache();
    const run = (input: unknown, name: string) => runStateMachine(input, { executionName: name, waitMs: 20, retryMs: 0 });

    // Act
    const results = await Promise.all([
      run(at(pushEvent('comfyui', tags[0], digests[0]), 10), 'dev-a'),
      run(at(pushEvent('comfyui', tags[1], digests[1]), 9), 'dev-b'),
      run(at(pushEvent('comfyui', tags[2], digests[2]), 8), 'dev-c'),
      run(at(pushEvent('comfyui', 'prod-latest', prodDigest), 10), 'prod-p'),
    ]);

    // Assess
    const statuses = results.map((r) => (r.output?.status as string | undefined) ?? r.status);
    expect(results.map((r) => r.error && `${r.error}: ${r.cause}`)).toEqual([null, null, null, null]);
    expect(statuses).not.toContain('FAILED');
    expect(statuses[2]).toBe('SUCCEEDED');
    expect(statuses[3]).toBe('SUCCEEDED');
    const account = await readAccount(baseline);
    const newest = results[2].output?.amiId as string;
    expect(account.parameters['/comfyui/ami/dev/latest']).toBe(newest);
    expect(JSON.parse(account.parameters['/comfyui/ami/dev/metadata']).docker_digest).toBe(digests[2]);
    expect(account.amis).toEqual({ dev: [newest], prod: [results[3].output?.amiId] });
    expect(account.liveBuilders).toEqual([]);
    expect(account.orphanSnapshots).toEqual([]);
  });
});
