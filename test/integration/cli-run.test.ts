import { main as run } from '../../scripts/commands/run';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { DEMO_CONFIG_PATH, demoConfig } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

let moto: Moto;
let stdout: string[];
let stderr: string[];

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
  await seedAccount(demoConfig());
  await pushImage('comfyui', 'dev-latest', 'cli image');
});
afterAll(async () => moto?.stop());
beforeEach(() => {
  stdout = [];
  stderr = [];
  jest.spyOn(console, 'log').mockImplementation((line: string) => void stdout.push(String(line)));
  jest.spyOn(console, 'error').mockImplementation((line: string) => void stderr.push(String(line)));
});
afterEach(() => jest.restoreAllMocks());

describe('comfyui-ami run', () => {
  it('builds, prints a line per step and ends stdout with a JSON summary (exit 0)', async () => {
    const code = await run(['--env', 'dev', '--config', DEMO_CONFIG_PATH, '--fast', '--json', '--name', 'cli-dev-1']);
    expect(code).toBe(0);
    // moto's Service Quotas knows only vpc quotas: the GPU quota pre-flight warns and the build goes on.
    expect(stderr).toEqual([
      expect.stringMatching(/^warning: could not read the quota "Running On-Demand G and VT instances" \(ec2 L-DB2E81BA\)/),
    ]);
    expect(stdout.some((line) => /✓ Launch the builder instance/.test(line))).toBe(true);
    const summary = JSON.parse(stdout[stdout.length - 1]);
    expect(summary).toMatchObject({
      status: 'SUCCEEDED',
      environment: 'dev',
      mode: 'fresh',
      previousAmiId: null,
      executionName: 'cli-dev-1',
      amiId: expect.stringMatching(/^ami-/),
    });
    expect(summary.steps).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'Publish the AMI', attempts: 1, durationMs: expect.any(Number) })]),
    );
  });

  it('exits 1 when the build fails, with the cause', async () => {
    const code = await run(['--env', 'dev', '--image', 'comfyui:dev-missing', '--config', DEMO_CONFIG_PATH, '--fast', '--json']);
    expect(code).toBe(1);
    expect(JSON.parse(stdout[stdout.length - 1])).toMatchObject({ status: 'FAILED', error: 'ImageNotFound' });
  });

  it('exits 2 naming the field for bad input, a bad flag or a bad config, before any AWS call', async () => {
    expect(await run(['--env', 'qa', '--config', DEMO_CONFIG_PATH])).toBe(2);
    expect(stderr.join('\n')).toContain('input.environment');
    expect(await run(['--env', 'dev', '--wait-seconds', 'soon', '--config', DEMO_CONFIG_PATH])).toBe(2);
    expect(stderr.join('\n')).toContain('--wait-seconds');
    expect(await run(['--env', 'dev', '--config', '/nonexistent/pipeline.json'])).toBe(2);
    expect(stderr.join('\n')).toContain('--config');
  });
});
