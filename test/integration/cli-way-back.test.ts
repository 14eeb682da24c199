import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { main as history } from '../../scripts/commands/history';
import { main as promote } from '../../scripts/commands/promote';
import { main as rollback } from '../../scripts/commands/rollback';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { STATE_MACHINE_ARN_ENV } from '../../scripts/lib/stack';
import { readAccount } from '../support/account';
import { build, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

/**
 * The rollback, promote and history commands as a user runs them, against the moto server:
 * in-process (--local) through the real state machine, and against moto's Step Functions API.
 */
const ROOT = path.resolve(__dirname, '../..');
const base = demoConfig();
const config = demoConfig({
  environments: { dev: { ...base.environments.dev, retainPrevious: 1 }, prod: { ...base.environments.prod, promoteFrom: 'dev' } },
});
const dir = mkdtempSync(path.join(tmpdir(), 'way-back-'));
const CONFIG_FILE = path.join(dir, 'pipeline.json');
const NO_PROMOTE_FILE = path.join(dir, 'no-promote.json');
writeFileSync(CONFIG_FILE, JSON.stringify(config));
writeFileSync(
  NO_PROMOTE_FILE,
  JSON.stringify(demoConfig({ environments: { dev: { ...base.environments.dev, retainPrevious: 1 }, prod: base.environments.prod } })),
);

let moto: Moto;
let stdout: string[];
let stderr: string[];
const amis: string[] = [];
const digests: string[] = [];

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  delete process.env[STATE_MACHINE_ARN_ENV];
  delete process.env.PIPELINE_CONFIG;
  moto = await startMoto();
  await seedAccount(config);
  for (const n of [1, 2]) {
    const digest = await pushImage('comfyui', `dev-${n}`, `cli way back ${n}`);
    const result = await build(pushEvent('comfyui', `dev-${n}`, digest), config, `dev-cli-${n}`);
    if (result.status !== 'SUCCEEDED' || !result.amiId) throw new Error(`build ${n}: ${result.error} ${result.cause}`);
    amis.push(result.amiId);
    digests.push(digest);
  }
});
afterAll(async () => {
  await moto?.stop();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  stdout = [];
  stderr = [];
  jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void stdout.push(args.join(' ')));
  jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void stderr.push(args.join(' ')));
});
afterEach(() => jest.restoreAllMocks());

describe('comfyui-ami history', () => {
  it('lists the builds newest first, marks latest, and says which AMIs exist', async () => {
    expect(await history(['--env', 'dev', '--config', CONFIG_FILE])).toBe(0);
    const [header, first, second] = stdout.join('\n').split('\n');
    expect(header).toMatch(/AMI\s+DIGEST\s+TAG\s+DATE\s+MODE\s+ASKED BY\s+AMI EXISTS/);
    expect(first).toMatch(
      new RegExp(`^\\*\\s+${amis[1]}\\s+${digests[1].slice(0, 19)}\\s+dev-2\\s+\\S+\\s+incremental\\s+ecr-push\\s+yes$`),
    );
    expect(second).toMatch(new RegExp(`^\\s+${amis[0]}\\s+${digests[0].slice(0, 19)}\\s+dev-1\\s+\\S+\\s+fresh\\s+ecr-push\\s+yes$`));
  });

  it('prints JSON with --json and refuses an unknown environment (exit 2)', async () => {
    expect(await history(['--env', 'dev', '--json', '--config', CONFIG_FILE])).toBe(0);
    expect(JSON.parse(stdout[0])).toHaveLength(2);
    expect(await history(['--env', 'qa', '--config', CONFIG_FILE])).toBe(2);
    expect(stderr.join('\n')).toContain('--env: must be one of the configured environments (dev, prod)');
  });
});

describe('comfyui-ami rollback and promote against the Step Functions API', () => {
  it('starts a rollback execution with the resolved target and prints its ARN', async () => {
    const asl = readFileSync(path.join(ROOT, 'statemachine', 'bake-ami.asl.json'), 'utf8').replace(
      /\$\{([A-Za-z0-9]+)\}/g,
      'arn:aws:lambda:us-east-1:123456789012:function:x-$1',
    );
    const created = await new SFNClient({}).send(
      new CreateStateMachineCommand({ name: 'way-back-test', definition: asl, roleArn: 'arn:aws:iam::123456789012:role/x' }),
    );
    expect(await rollback(['--env', 'dev', '--state-machine-arn', created.stateMachineArn!, '--config', CONFIG_FILE])).toBe(0);
    const executionArn = stdout[0];
    expect(stderr.join('\n')).toContain(`dev back to ${amis[0]} (retained: re-point`);
    const execution = await new SFNClient({}).send(new DescribeExecutionCommand({ executionArn }));
    expect(JSON.parse(execution.input ?? '{}')).toEqual({ action: 'rollback', environment: 'dev', rollback_to: amis[0], source: 'cli' });
    expect(execution.name).toMatch(/^dev-rollback-/);
  });

  it('refuses bad flags before anything starts (exit 2)', async () => {
    expect(await rollback(['--config', CONFIG_FILE])).toBe(2);
    expect(stderr.join('\n')).toContain('--env is required');
    expect(await rollback(['--env', 'dev', '--to', 'ami-1', '--local', '--config', CONFIG_FILE])).toBe(2);
    expect(stderr.join('\n')).toContain('--to: must be an AMI id');
    expect(await rollback(['--env', 'dev', '--to', amis[1], '--local', '--config', CONFIG_FILE])).toBe(2);
    expect(stderr.join('\n')).toContain('is already latest');
    expect(await promote(['--from', 'dev', '--to', 'prod', '--local', '--config', NO_PROMOTE_FILE])).toBe(2);
    expect(stderr.join('\n')).toContain(
      '--from: must be the environment that config environments.prod.promoteFrom names (it is not set), got "dev"',
    );
  });
});

describe('comfyui-ami rollback and promote --local (the real state machine in this process)', () => {
  it("rolls dev back to the retained AMI, then promotes dev's published digest to prod", async () => {
    expect(await rollback(['--env', 'dev', '--local', '--fast', '--json', '--config', CONFIG_FILE])).toBe(0);
    expect(JSON.parse(stdout[stdout.length - 1])).toMatchObject({
      status: 'SUCCEEDED',
      mode: 'rollback',
      amiId: amis[0],
      previousAmiId: amis[1],
    });
    let account = await readAccount();
    expect(account.parameters['/comfyui/ami/dev/latest']).toBe(amis[0]);

    stdout = [];
    expect(await promote(['--from', 'dev', '--to', 'prod', '--local', '--fast', '--json', '--config', CONFIG_FILE])).toBe(0);
    const summary = JSON.parse(stdout[stdout.length - 1]);
    expect(summary).toMatchObject({ status: 'SUCCEEDED', environment: 'prod' });
    account = await readAccount();
    // dev's published digest is the rolled-back one: that is what prod gets.
    expect(JSON.parse(account.parameters['/comfyui/ami/prod/metadata'])).toMatchObject({
      ami_id: summary.amiId,
      docker_digest: digests[0],
    });
  });
});
