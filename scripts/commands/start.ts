import { Logger } from '@aws-lambda-powertools/logger';
import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import type { PipelineConfig } from '../../functions/shared/config';
import { parseRequest } from '../../functions/shared/request';
import { startBuild } from '../../functions/start-build/start-build';
import { checkAwsTarget } from '../lib/aws-target';
import { quotaPreflight } from '../lib/gpu-quota';
import { buildInput } from '../lib/input';
import {
  CLI,
  failure,
  loadCliConfig,
  parseCommandLine,
  resolveStateMachineArn,
  STACK_OPTIONS,
  STACK_USAGE,
  UsageError,
  usageFailure,
} from '../lib/stack';

export const USAGE = `usage: ${CLI} start --env <environment> [--image <repo:tag|repo@sha256:...>] [--branch <name>] [--commit-sha <sha>] [stack]
       ${CLI} start --input <file.json> [stack]

Starts a bake of one environment's AMI and prints the execution ARN. The image defaults to the
environment's default tag; it is resolved to a digest first, and a build of the same environment
and digest that already exists is reported instead of started twice.

  --env <environment>        an environment of the pipeline config
  --image <reference>        repo:tag or repo@sha256:<64 hex>, optionally behind the ECR registry host
  --branch <name>            git branch recorded in the AMI metadata
  --commit-sha <sha>         git commit recorded in the AMI metadata
  --input <file>             a whole input instead: a console sample (events/console-*.json) or an ECR push event
${STACK_USAGE}

Examples:
  ${CLI} start --env dev --stack comfyui-ami-dev
  ${CLI} start --env prod --image comfyui:prod-2025-11-27 --branch main --commit-sha abc1234 --stack comfyui-ami-prod
  ${CLI} start --input events/console-dev-tag.json --state-machine-arn arn:aws:states:eu-west-1:123456789012:stateMachine:comfyui-ami-dev-bake-ami`;

export const OPTIONS = {
  ...STACK_OPTIONS,
  env: { type: 'string' },
  image: { type: 'string' },
  branch: { type: 'string' },
  'commit-sha': { type: 'string' },
  input: { type: 'string' },
} as const;

/** Field names in validation messages, as flags. */
function asFlags(message: string): string {
  return message
    .replace(/\binput\.environment\b/g, '--env')
    .replace(/\binput\.image\b/g, '--image')
    .replace(/\binput\.branch\b/g, '--branch')
    .replace(/\binput\.commit_sha\b/g, '--commit-sha');
}

export async function main(argv: string[]): Promise<number> {
  let input: Record<string, unknown>;
  let stateMachineArn: string;
  let fromFlags: boolean;
  let config: PipelineConfig;
  let environment: string;
  try {
    const { values, positionals } = parseCommandLine(argv, OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument(s): ${positionals.join(' ')}`);
    fromFlags = values.input === undefined;
    input = buildInput(values);
    config = loadCliConfig(values.config);
    try {
      environment = parseRequest(input, config).environment;
    } catch (error) {
      if ((error as Error).name !== 'RequestInvalid') throw error;
      throw new UsageError(fromFlags ? asFlags((error as Error).message) : `--input: ${(error as Error).message}`);
    }
    await checkAwsTarget();
    stateMachineArn = await resolveStateMachineArn(values);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
  if ((await quotaPreflight(config, environment)) !== null) return 2;

  try {
    // Fresh clients: the endpoint or credentials may have changed since the last command.
    resetDefaultClients();
    const started = await startBuild(input, {
      stateMachineArn,
      config,
      clients: defaultClients(),
      logger: new Logger({ serviceName: 'comfyui-ami-cli', logLevel: 'SILENT' }),
    });
    console.log(started.executionArn);
    console.error(
      started.alreadyStarted
        ? `already started: a build of ${started.imageUri} for ${started.environment} exists (${started.executionName}); nothing new started`
        : `started ${started.executionName}: ${started.environment} from ${started.imageUri}`,
    );
    console.error(`follow it: ${CLI} watch ${started.executionArn}`);
    return 0;
  } catch (error) {
    const name = (error as Error).name;
    // What only ECR and the history can tell (a digest that does not belong to the environment): a bad flag too.
    if (name === 'RequestInvalid')
      return usageFailure(fromFlags ? asFlags((error as Error).message) : `--input: ${(error as Error).message}`, USAGE);
    if (name === 'ImageNotFound')
      return failure(error, `push the image first, or name another with --image (aws ecr describe-images --repository-name ...)`);
    return failure(error, `${CLI} start --help`);
  }
}
