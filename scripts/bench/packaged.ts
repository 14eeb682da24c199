/** `sls package` into a scratch directory, and each function's bundle unzipped, with its environment. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import AdmZip from 'adm-zip';
import type { LoadTarget } from './load-time';

const ROOT = path.resolve(__dirname, '..', '..');

export interface PackagedFunction extends LoadTarget {
  /** The zip's size: what Lambda downloads and unpacks at a cold start. */
  zipBytes: number;
}

interface LambdaResource {
  Type: string;
  Properties: { Handler: string; Code: { S3Key: string }; Environment?: { Variables?: Record<string, unknown> } };
}

export function packageFunctions(dir: string): PackagedFunction[] {
  rmSync(dir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'dummy',
    AWS_SECRET_ACCESS_KEY: 'dummy',
    AWS_REGION: 'us-east-1',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
  };
  for (const key of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ENDPOINT_URL', 'PIPELINE_CONFIG', 'COMFYUI_AMI_TEST_CONFIG_FILE'])
    delete env[key];
  const sls = path.join(ROOT, 'node_modules', '.bin', 'sls');
  const run = spawnSync(sls, ['package', '--stage', 'bench', '--region', 'us-east-1', '--package', dir], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`sls package failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  const template = JSON.parse(readFileSync(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as {
    Resources: Record<string, LambdaResource>;
  };
  const functions: PackagedFunction[] = [];
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const zipName = path.basename(resource.Properties.Code.S3Key);
    const zip = path.join(dir, zipName);
    const unzipped = path.join(dir, 'unzipped', zipName.replace(/\.zip$/, ''));
    mkdirSync(unzipped, { recursive: true });
    new AdmZip(zip).extractAllTo(unzipped, true);
    // `functions/x/handler.handler` -> functions/x/handler.js
    const file = path.join(unzipped, `${resource.Properties.Handler.replace(/\.[^.]+$/, '')}.js`);
    // What Lambda sets from the template; references (ARNs) resolved only on deploy get a stand-in.
    const variables = Object.entries(resource.Properties.Environment?.Variables ?? {}).map(([k, v]) => [
      k,
      typeof v === 'string' ? v : 'unresolved-reference',
    ]);
    functions.push({ name: zipName.replace(/\.zip$/, ''), file, env: Object.fromEntries(variables), zipBytes: statSync(zip).size });
  }
  return functions.sort((a, b) => a.name.localeCompare(b.name));
}
