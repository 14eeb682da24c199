import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  CONFIG_ENV_VAR,
  loadConfig,
  type PipelineConfig,
  parseConfig,
  readConfigFile,
  resetConfigCache,
} from '../../functions/shared/config';
import { executionArnFor, isExecutionArn, isStateMachineArn } from '../../functions/shared/execution-name';
import { readableServiceError } from './aws-target';

/** A wrong command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const STATE_MACHINE_ARN_ENV = 'COMFYUI_AMI_STATE_MACHINE_ARN';
export const STACK_OUTPUT = 'StateMachineArn';
export const CLI = 'comfyui-ami';

/** How every command finds the deployed state machine. */
export const STACK_OPTIONS = {
  'state-machine-arn': { type: 'string' },
  stack: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const STACK_USAGE = `  --state-machine-arn <arn>  the bake state machine (or env ${STATE_MACHINE_ARN_ENV})
  --stack <name>             find it in the outputs of this CloudFormation stack (e.g. comfyui-ami-dev)
  --config <file>            pipeline config (default: ${CONFIG_ENV_VAR} or config/pipeline.json)
  -h, --help                 this help`;

/** node:util parseArgs, strict, its errors turned into UsageError (they name the flag). */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Prints the problem and the usage; the exit code of a wrong command line. */
export function usageFailure(message: string, usage: string): number {
  console.error(`error: ${message}\n\n${usage}`);
  return 2;
}

/** Prints an operational failure and, when known, the command to run next; exit 2 for bad configuration or no AWS target. */
export function failure(error: unknown, next?: string): number {
  const e = readableServiceError(error) as Error;
  console.error(`error: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`);
  // Step Functions keeps an execution's name for 90 days after it ends: say what the name means.
  if (e.name === 'ExecutionAlreadyExists')
    console.error(
      'an execution of that name exists already (running, or ended within the last 90 days): choose another name, or follow that one',
    );
  if (next) console.error(`next: ${next}`);
  return e.name === 'ConfigInvalid' || e.name === 'AwsTargetMissing' ? 2 : 1;
}

/** --config, else PIPELINE_CONFIG, else config/pipeline.json of this repository. */
export function loadCliConfig(file: string | undefined): PipelineConfig {
  if (file) {
    try {
      readFileSync(file);
    } catch {
      throw new UsageError(`--config: cannot read ${file}`);
    }
    return readConfigFile(file);
  }
  if (process.env[CONFIG_ENV_VAR]) {
    resetConfigCache();
    return loadConfig();
  }
  const fallback = path.resolve(__dirname, '../../config/pipeline.json');
  return parseConfig(JSON.parse(readFileSync(fallback, 'utf8')), fallback);
}

export interface StackFlags {
  'state-machine-arn'?: string;
  stack?: string;
}

/** The StateMachineArn output of a deployed stack. */
export async function stateMachineArnFromStack(stackName: string): Promise<string> {
  // Installed with osls; loaded only when --stack is used.
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const out = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stackName }));
  const arn = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === STACK_OUTPUT)?.OutputValue;
  if (!arn) throw new Error(`stack ${stackName} has no ${STACK_OUTPUT} output: is it the ComfyUI AMI stack, and is it deployed?`);
  return arn;
}

/** --state-machine-arn, else --stack's output, else COMFYUI_AMI_STATE_MACHINE_ARN. */
export async function resolveStateMachineArn(flags: StackFlags): Promise<string> {
  const flag = flags['state-machine-arn'];
  if (flag !== undefined) {
    if (!isStateMachineArn(flag))
      throw new UsageError(
        `--state-machine-arn: "${flag}" is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)`,
      );
    return flag;
  }
  if (flags.stack !== undefined) {
    if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(flags.stack))
      throw new UsageError(`--stack: "${flags.stack}" is not a CloudFormation stack name`);
    return stateMachineArnFromStack(flags.stack);
  }
  const fromEnv = process.env[STATE_MACHINE_ARN_ENV];
  if (fromEnv) {
    if (!isStateMachineArn(fromEnv)) throw new UsageError(`${STATE_MACHINE_ARN_ENV}: "${fromEnv}" is not a state machine ARN`);
    return fromEnv;
  }
  throw new UsageError(`--state-machine-arn or --stack is required (or set ${STATE_MACHINE_ARN_ENV})`);
}

/** The id of status, watch and redrive, as their command line names it. */
export const EXECUTION_FLAGS = { id: '<execution-name|execution-arn>' };

/** An execution ARN as given, or built from a name and the state machine. */
export async function resolveExecutionArn(idOrArn: string, flags: StackFlags): Promise<string> {
  if (isExecutionArn(idOrArn)) return idOrArn;
  return executionArnFor(await resolveStateMachineArn(flags), idOrArn);
}
