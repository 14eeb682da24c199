import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { COMMAND_NAMES } from '../../scripts/cli';
import * as cancel from '../../scripts/commands/cancel';
import * as history from '../../scripts/commands/history';
import * as legacy from '../../scripts/commands/legacy';
import * as lock from '../../scripts/commands/lock';
import * as logs from '../../scripts/commands/logs';
import * as promote from '../../scripts/commands/promote';
import * as redrive from '../../scripts/commands/redrive';
import * as rollback from '../../scripts/commands/rollback';
import * as run from '../../scripts/commands/run';
import * as start from '../../scripts/commands/start';
import * as status from '../../scripts/commands/status';
import * as watch from '../../scripts/commands/watch';
import { DEMO_CONFIG_PATH } from '../support/builds';
import { runCli } from '../support/cli';
import { type Moto, startMoto } from '../support/moto';

type Main = (argv: string[]) => Promise<number>;

const COMMANDS: [string, Main, Record<string, { type: string; short?: string }>][] = [
  ['run', run.main, run.OPTIONS],
  ['start', start.main, start.OPTIONS],
  ['status', status.main, status.OPTIONS],
  ['watch', watch.main, watch.OPTIONS],
  ['redrive', redrive.main, redrive.OPTIONS],
  ['rollback', rollback.main, rollback.OPTIONS],
  ['promote', promote.main, promote.OPTIONS],
  ['history', history.main, history.OPTIONS],
  ['legacy', legacy.main, legacy.OPTIONS],
  ['lock', lock.main, lock.OPTIONS],
  ['cancel', cancel.main, cancel.OPTIONS],
  ['logs', logs.main, logs.OPTIONS],
];

// Everything the SDK reads to find a region and credentials; IMDS off, so nothing leaves this machine.
const AWS_KEYS = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_ENDPOINT_URL',
  'COMFYUI_AMI_STATE_MACHINE_ARN',
  'PIPELINE_CONFIG',
];
const EXECUTION_ARN = 'arn:aws:states:us-east-1:123456789012:execution:comfyui-ami-test-bake-ami:dev-build-1';
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:comfyui-ami-test-bake-ami';

const saved: Record<string, string | undefined> = {};
let dir: string;

/** A machine with no AWS settings at all (no region, no credentials, no profile files). */
function noAwsAccount(): void {
  for (const key of AWS_KEYS) delete process.env[key];
  process.env.AWS_CONFIG_FILE = path.join(dir, 'no-config');
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'no-credentials');
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
}

beforeAll(() => {
  for (const key of AWS_KEYS) saved[key] = process.env[key];
  dir = mkdtempSync(path.join(tmpdir(), 'cli-manners-'));
});
afterEach(() => {
  for (const key of AWS_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--help', () => {
  it('is checked here for every command the CLI has', () => {
    expect(COMMANDS.map(([name]) => name).sort()).toEqual([...COMMAND_NAMES].sort());
  });

  it.each(COMMANDS)('%s lists every flag it accepts, with examples, and exits 0', async (name, main, options) => {
    const { code, out } = await runCli(main, ['--help']);

    expect(code).toBe(0);
    for (const [flag, option] of Object.entries(options)) {
      expect(out).toContain(`--${flag}`);
      if (option.short) expect(out).toContain(`-${option.short}`);
    }
    expect(out).toMatch(new RegExp(`Examples:\\n(  .*comfyui-ami ${name} .*\\n?)+`));
  });
});

describe('no AWS region or credentials', () => {
  it('run stops before anything starts, says how to set a region or use the demo, and exits 2', async () => {
    noAwsAccount();

    const { code, err } = await runCli(run.main, ['--env', 'dev', '--config', DEMO_CONFIG_PATH]);

    expect(code).toBe(2);
    expect(err).toContain('no AWS region: set AWS_REGION');
    expect(err).toContain('npm run demo');
  });

  it('start stops before anything starts, says how to give credentials or use the demo, and exits 2', async () => {
    noAwsAccount();
    process.env.AWS_REGION = 'us-east-1';

    const { code, err } = await runCli(start.main, [
      '--env',
      'dev',
      '--config',
      DEMO_CONFIG_PATH,
      '--state-machine-arn',
      STATE_MACHINE_ARN,
    ]);

    expect(code).toBe(2);
    expect(err).toContain('no AWS credentials: set AWS_PROFILE');
    expect(err).toContain('npm run demo');
  });
});

describe('a bad pipeline config', () => {
  it.each([
    ['run', run.main, ['--env', 'dev']],
    ['start', start.main, ['--env', 'dev', '--state-machine-arn', STATE_MACHINE_ARN]],
    ['rollback', rollback.main, ['--env', 'dev', '--local']],
    ['promote', promote.main, ['--from', 'staging', '--to', 'prod', '--local']],
    ['history', history.main, ['--env', 'dev']],
    ['legacy', legacy.main, ['--env', 'dev']],
    ['lock', lock.main, ['--env', 'dev']],
  ] as const)('makes %s exit 2 naming the field and its allowed form, before any AWS call', async (_name, main, argv) => {
    noAwsAccount();
    const file = path.join(dir, 'bad-tags.json');
    const config = JSON.parse(readFileSync(DEMO_CONFIG_PATH, 'utf8')) as { environments: Record<string, { tags: string[] }> };
    config.environments.dev.tags = ['dev latest'];
    writeFileSync(file, JSON.stringify(config));

    const { code, err } = await runCli(main, [...argv, '--config', file]);

    expect(code).toBe(2);
    expect(err).toMatch(/^error: ConfigInvalid: .*config\.environments\.dev\.tags\.0: must be /);
  });

  it('makes start exit 2 naming the field, as run does', async () => {
    const file = path.join(dir, 'bad-pipeline.json');
    writeFileSync(file, JSON.stringify({ repositories: [] }));

    const started = await runCli(start.main, ['--env', 'dev', '--config', file, '--state-machine-arn', STATE_MACHINE_ARN]);
    const ran = await runCli(run.main, ['--env', 'dev', '--config', file]);

    expect(started.code).toBe(2);
    expect(started.err).toMatch(/ConfigInvalid: .*repositories/);
    expect(ran.code).toBe(2);
  });
});

describe('an endpoint that lacks an API', () => {
  let moto: Moto;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => moto?.stop());

  it('redrive against moto (no RedriveExecution) says so instead of a parser error, and exits 1', async () => {
    process.env.AWS_ENDPOINT_URL = moto.endpoint;

    const { code, err } = await runCli(redrive.main, [EXECUTION_ARN]);

    expect(code).toBe(1);
    expect(err).toContain(`error: ApiNotSupported: the endpoint ${moto.endpoint} answered RedriveExecution with an HTML page (HTTP 500)`);
    expect(err).toContain('it does not implement RedriveExecution');
    expect(err).not.toMatch(/Deserialization|not valid JSON/);
  });
});
