import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import AdmZip from 'adm-zip';
import { withDirLock } from '../../../scripts/lib/dir-lock';

export const ROOT = path.resolve(__dirname, '../../..');
export const STAGE = 'test';
export const REGION = 'us-east-1';
/** Outside the repository, so a `sls package` of another stage never mixes with this one. */
export const PACKAGE_DIR = path.join(tmpdir(), `comfyui-ami-template-${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`);
export const TEMPLATE_FILE = path.join(PACKAGE_DIR, 'cloudformation-template-update-stack.json');

/** What the package depends on: when none changed since the last run, it is reused. */
const INPUTS = ['serverless.yml', 'config', 'statemachine', 'scripts/serverless', 'builder', 'functions', 'package-lock.json'];

export interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
  Condition?: string;
  DependsOn?: string | string[];
}

export interface Template {
  Resources: Record<string, CfnResource>;
  Rules?: Record<string, { RuleCondition?: unknown; Assertions: { Assert: unknown; AssertDescription?: string }[] }>;
  Outputs: Record<string, { Value: unknown }>;
  Parameters?: Record<string, { Type: string; Default?: string; AllowedPattern?: string }>;
  Conditions?: Record<string, unknown>;
}

function newestMtime(target: string): number {
  if (!existsSync(target)) return 0;
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(target).reduce((newest, entry) => Math.max(newest, newestMtime(path.join(target, entry))), stat.mtimeMs);
}

/** Offline: dummy credentials, no profile; osls needs no AWS call to package. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'dummy',
    AWS_SECRET_ACCESS_KEY: 'dummy',
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  for (const key of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'PIPELINE_CONFIG', 'COMFYUI_AMI_TEST_CONFIG_FILE'])
    delete env[key];
  return env;
}

/** A package made from another config than config/pipeline.json, to check what the config decides. */
export interface TemplateVariant {
  /** Names its package directory. */
  name: string;
  /** The whole config file's content. */
  config: Record<string, unknown>;
}

/**
 * `sls package --stage test` once per change of its inputs (so once per jest invocation at most),
 * then the generated CloudFormation template. With a variant, the package is made from its
 * config instead (scripts/serverless/config.cjs reads COMFYUI_AMI_TEST_CONFIG_FILE).
 */
export function packagedTemplate(variant?: TemplateVariant): Template {
  const dir = variant ? `${PACKAGE_DIR}-${variant.name}` : PACKAGE_DIR;
  const templateFile = path.join(dir, 'cloudformation-template-update-stack.json');
  const configFile = variant ? `${dir}.config.json` : undefined;
  // One packaging at a time across jest workers and concurrent runs; a lock left by a killed
  // run is older than any packaging takes.
  withDirLock(`${PACKAGE_DIR}.lock`, { staleMs: 600_000, pollMs: 200, timeoutMs: 600_000 }, () => {
    if (configFile) {
      const text = JSON.stringify(variant!.config, null, 2);
      if (!existsSync(configFile) || readFileSync(configFile, 'utf8') !== text) writeFileSync(configFile, text);
    }
    const newestInput = Math.max(...INPUTS.map((p) => newestMtime(path.join(ROOT, p))), configFile ? statSync(configFile).mtimeMs : 0);
    if (existsSync(templateFile) && statSync(templateFile).mtimeMs > newestInput) return;
    rmSync(dir, { recursive: true, force: true });
    const sls = path.join(ROOT, 'node_modules', '.bin', 'sls');
    const env = offlineEnv();
    if (configFile) env.COMFYUI_AMI_TEST_CONFIG_FILE = configFile;
    const tmpBefore = new Set(readdirSync(tmpdir()));
    const run = spawnSync(sls, ['package', '--stage', STAGE, '--region', REGION, '--package', dir], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      // Bundling the SDK clients into each function makes packaging slower than with the SDK
      // external: minutes, not seconds, on a loaded 2-core machine.
      timeout: 480_000,
    });
    if (run.status !== 0 || !existsSync(templateFile)) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `sls package --stage ${STAGE}${variant ? ` (${variant.name})` : ''} failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`,
      );
    }
    // scripts/serverless/private-tmpdir.cjs: serverless-esbuild's zip staging directories
    // (`<function>-<pid>-<ms>-<hex>`) must not outlive the command.
    const left = readdirSync(tmpdir()).filter((n) => !tmpBefore.has(n) && /^\w+-\d+-\d{13}-[0-9a-f]{8}$/.test(n));
    if (left.length > 0)
      throw new Error(`sls package left ${left.length} staging directories in ${tmpdir()}: ${left.slice(0, 3).join(', ')} ...`);
  });
  return JSON.parse(readFileSync(templateFile, 'utf8')) as Template;
}

const SERVICE_PREFIX: Record<string, string> = { sfn: 'states', 'cloudwatch-logs': 'logs', eventbridge: 'events' };
/** The pipeline's SDK clients by class name, as IAM service prefixes (the SDK's own STS/SSO clients are not ours). */
const CLIENT_PREFIX: Record<string, string> = {
  EC2Client: 'ec2',
  SSMClient: 'ssm',
  ECRClient: 'ecr',
  DynamoDBClient: 'dynamodb',
  SFNClient: 'states',
  CloudWatchLogsClient: 'logs',
  EventBridgeClient: 'events',
};
/**
 * Commands a bundled client holds for itself: DynamoDB's endpoint discovery, which the client
 * sends only when endpoint discovery is turned on (AWS_ENABLE_ENDPOINT_DISCOVERY); nothing here does.
 */
const CLIENT_INTERNAL = new Set(['dynamodb:DescribeEndpoints']);

/**
 * The AWS API calls one function's bundle can make, as IAM actions. esbuild tree-shakes the
 * bundle: the SDK's packages declare no side effects and keep each command in a module of its
 * own, so every command left in it is a call some code path makes. Bundled SDK (how the
 * functions are packaged): each client's command builder is `makeBuilder(params, "<Service>",
 * "<Name>Client", plugin)` and each command `class extends <builder>(ep, mw, "<Action>", schema)`.
 * External SDK: `<client module>.<Name>Command` (or a paginator) on its require.
 */
export function awsCallsOfFunction(functionKey: string): string[] {
  const zip = path.join(PACKAGE_DIR, `${functionKey}.zip`);
  const code = new AdmZip(zip)
    .getEntries()
    .filter((entry) => entry.entryName.endsWith('.js'))
    .map((entry) => entry.getData().toString('utf8'))
    .join('\n');
  if (!code) throw new Error(`${zip} holds no .js file`);
  const actions = new Set<string>();
  const builders = new Map<string, string>();
  for (const m of code.matchAll(/([\w$]+)=[\w$]+\([\w$]+,"\w+","(\w+Client)",[\w$]+\)/g)) {
    if (CLIENT_PREFIX[m[2]]) builders.set(m[1], CLIENT_PREFIX[m[2]]);
  }
  for (const [builder, prefix] of builders) {
    const escaped = builder.replace(/\$/g, '\\$');
    for (const m of code.matchAll(new RegExp(`extends ${escaped}\\([\\w$]+,[\\w$]+,"(\\w+)"`, 'g'))) {
      if (!CLIENT_INTERNAL.has(`${prefix}:${m[1]}`)) actions.add(`${prefix}:${m[1]}`);
    }
  }
  const modules = new Map<string, string>();
  for (const m of code.matchAll(/([\w$]+)=(?:[\w$]+\()?require\("@aws-sdk\/client-([\w-]+)"\)/g)) modules.set(m[1], m[2]);
  for (const [variable, client] of modules) {
    const escaped = variable.replace(/\$/g, '\\$');
    const prefix = SERVICE_PREFIX[client] ?? client;
    for (const m of code.matchAll(new RegExp(`(?<![\\w$.])${escaped}\\.(?:(\\w+)Command|paginate(\\w+))\\b`, 'g'))) {
      actions.add(`${prefix}:${m[1] ?? m[2]}`);
    }
  }
  return [...actions].sort();
}

export function readRepoJson<T = unknown>(relative: string): T {
  return JSON.parse(readFileSync(path.join(ROOT, relative), 'utf8')) as T;
}
