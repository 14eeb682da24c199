/**
 * `comfyui-ami status --env` against the moto server: each environment's latest AMI, its age and
 * digest, and its last build's result as the announce step recorded it, after real builds.
 */
import { main as status } from '../../scripts/commands/status';
import type { EnvironmentStatus } from '../../scripts/lib/environment-status';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { build, buildWith, DEMO_CONFIG_PATH, demoConfig, pushEvent } from '../support/builds';
import { runCli } from '../support/cli';
import { type Moto, startMoto } from '../support/moto';
import { failing, named } from '../support/step-failures';

const config = demoConfig();
let moto: Moto;

const run = (argv: string[]) => runCli(status, [...argv, '--config', DEMO_CONFIG_PATH]);

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
  await seedAccount(config);
});
afterAll(async () => moto?.stop());

describe('status --env', () => {
  it('refuses an environment the config does not know before reading anything', async () => {
    const result = await run(['--env', 'qa']);
    expect(result.code).toBe(2);
    expect(result.err).toContain('--env must be one of the configured environments (dev, prod) or all, got "qa"');
  });

  it("shows each environment's AMI, age, digest and last build, then a failed build as the last one", async () => {
    const digest = await pushImage('comfyui', 'dev-latest', 'one');
    const first = await build(pushEvent('comfyui', 'dev-latest', digest), config, 'dev-status-1');
    expect(first.status).toBe('SUCCEEDED');

    const json = await run(['--env', 'all', '--json']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.out) as EnvironmentStatus[];
    expect(rows.map((r) => r.environment)).toEqual(['dev', 'prod']);
    expect(rows[0]).toMatchObject({
      amiId: first.amiId,
      ageDays: 0,
      maxAgeDays: 30,
      stale: false,
      digest,
      tag: 'dev-latest',
      lastBuild: { result: 'succeeded', execution_name: 'dev-status-1', ami_id: first.amiId, error: null },
    });
    expect(rows[1]).toMatchObject({ amiId: null, ageDays: null, stale: true, digest: null, lastBuild: null });

    const second = await pushImage('comfyui', 'dev-latest', 'two');
    const broken = await failing('Create the AMI', 'after', named('AmiCreationFailed', 'injected: the image failed'));
    const failed = await buildWith(pushEvent('comfyui', 'dev-latest', second), config, 'dev-status-2', { 'Create the AMI': broken });
    expect(failed.status).toBe('FAILED');

    const text = await run(['--env', 'dev']);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`ami           ${first.amiId}`);
    expect(text.out).toContain(`digest        ${digest}`);
    expect(text.out).toMatch(/last build {4}FAILED dev-status-2 at \S+ \(AmiCreationFailed: injected: the image failed\)/);
    expect(text.out).not.toContain('prod');
  });
});
