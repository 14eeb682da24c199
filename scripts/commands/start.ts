import { parseRequest } from '../../functions/shared/request';
import { startBuild } from '../../functions/start-build/start-build';
import { checkAwsTarget } from '../lib/aws-target';
import { cliDeps, command } from '../lib/command';
import { quotaPreflight } from '../lib/gpu-quota';
import { buildInput } from '../lib/input';
import { CLI, loadCliConfig, resolveStateMachineArn, STACK_OPTIONS, STACK_USAGE } from '../lib/stack';

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

/** The fields of a build request, as flags. */
const START_FLAGS = {
  'input.environment': '--env',
  'input.image': '--image',
  'input.branch': '--branch',
  'input.commit_sha': '--commit-sha',
};

export const main = command({
  usage: USAGE,
  options: OPTIONS,
  // A whole --input names its fields as the file does (input.image); flags name them as flags.
  flags: (values) => (values.input === undefined ? START_FLAGS : {}),
  next: (error) =>
    error.name === 'ImageNotFound'
      ? 'push the image first, or name another with --image (aws ecr describe-images --repository-name ...)'
      : `${CLI} start --help`,
  run: async (values) => {
    const input = buildInput(values);
    const config = loadCliConfig(values.config);
    // Checked before any AWS call: a bad flag is refused even without credentials.
    const { environment } = parseRequest(input, config);
    await checkAwsTarget();
    if ((await quotaPreflight(config, environment)) !== null) return 2;
    const stateMachineArn = await resolveStateMachineArn(values);
    const started = await startBuild(input, { ...cliDeps(config), stateMachineArn });
    console.log(started.executionArn);
    console.error(
      started.alreadyStarted
        ? `already started: a build of ${started.imageUri} for ${started.environment} exists (${started.executionName}); nothing new started`
        : `started ${started.executionName}: ${started.environment} from ${started.imageUri}`,
    );
    console.error(`follow it: ${CLI} watch ${started.executionArn}`);
    return 0;
  },
});
