import { join } from 'node:path';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { readConfigFile } from '../functions/shared/config';
import { parameterPaths } from '../functions/shared/names';
import { startMoto } from '../test/support/moto';
import { type BuildSummary, runLocalBuild } from './commands/run';
import { quotaPreflight } from './lib/gpu-quota';
import { useEndpoint } from './lib/moto';
import { PythonToolsError, pythonTools } from './lib/python-tools';
import { ecrPushEvent, pushImage, seedAccount } from './lib/seed';

const ENVIRONMENT = 'dev';

function banner(text: string): void {
  console.log(`\n== ${text}`);
}

function report(summary: BuildSummary): void {
  if (summary.status !== 'SUCCEEDED') throw new Error(`build ${summary.executionName} failed: ${summary.error}: ${summary.cause}`);
  console.log(
    `   -> ${summary.mode} build ${summary.executionName}: ${summary.amiId}${summary.previousAmiId ? ` (replaces ${summary.previousAmiId})` : ''}`,
  );
}

/** The main job end to end against a local emulator: a fresh build, a push, an incremental build. */
async function demo(): Promise<number> {
  let python: string;
  try {
    python = pythonTools().python;
  } catch (error) {
    if (!(error instanceof PythonToolsError)) throw error;
    console.error(`npm run demo: ${error.message}`);
    return 1;
  }
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const config = readConfigFile(join(__dirname, '..', 'config', 'demo.json'));
  const moto = await startMoto(python);
  try {
    useEndpoint(moto.endpoint);
    banner(`Local AWS emulator (moto) at ${moto.endpoint}; seeding an Ubuntu 22.04 base image and an ECR repository`);
    await seedAccount(config);
    const repository = config.repositories[0];
    // As `run` and `start` do before a build: against moto (which has no EC2 quotas) it warns and goes on.
    if ((await quotaPreflight(config, ENVIRONMENT)) !== null) return 2;

    const first = await pushImage(repository, `${ENVIRONMENT}-latest`, 'comfyui build 1');
    banner(`Pushed ${repository}:${ENVIRONMENT}-latest (${first}); first build of "${ENVIRONMENT}" starts from Ubuntu`);
    const pushEvent = (digest: string) => ecrPushEvent(repository, `${ENVIRONMENT}-latest`, digest);
    report(await runLocalBuild({ input: pushEvent(first), config, executionName: `${ENVIRONMENT}-build-1`, waitMs: 0, retryMs: 0 }));

    const second = await pushImage(repository, `${ENVIRONMENT}-latest`, 'comfyui build 2');
    banner(`Pushed a new ${repository}:${ENVIRONMENT}-latest (${second}); the second build updates the first AMI`);
    report(await runLocalBuild({ input: pushEvent(second), config, executionName: `${ENVIRONMENT}-build-2`, waitMs: 0, retryMs: 0 }));

    banner('What a consumer reads from SSM Parameter Store');
    const ssm = new SSMClient({});
    const paths = parameterPaths(config, ENVIRONMENT);
    const latest = (await ssm.send(new GetParameterCommand({ Name: paths.latest }))).Parameter?.Value ?? '';
    const metadata = (await ssm.send(new GetParameterCommand({ Name: paths.metadata }))).Parameter?.Value ?? '';
    const history = (await ssm.send(new GetParameterCommand({ Name: paths.history(latest) }))).Parameter?.Value ?? '';
    console.log(`${paths.latest}\n  ${latest}`);
    console.log(`${paths.metadata}\n  ${JSON.stringify(JSON.parse(metadata), null, 2).replace(/\n/g, '\n  ')}`);
    console.log(`${paths.history(latest)}\n  ${history === metadata ? '(same JSON as metadata)' : history}`);
    return 0;
  } finally {
    await moto.stop();
  }
}

demo().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`npm run demo failed: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
