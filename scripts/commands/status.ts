import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type BuildStatus, describeBuild } from '../../functions/build-status/build-status';
import { environmentConfig } from '../../functions/shared/config';
import { formatEnvironmentStatus, readEnvironmentStatus } from '../lib/environment-status';
import {
  CLI,
  failure,
  loadCliConfig,
  onePositional,
  parseCommandLine,
  resolveExecutionArn,
  STACK_OPTIONS,
  STACK_USAGE,
  UsageError,
  usageFailure,
} from '../lib/stack';

export const USAGE = `usage: ${CLI} status <execution-name|execution-arn> [--json] [stack]
       ${CLI} status --env <env|all> [--json] [--config <file>]

Prints a build's status, environment, and its AMI or its failure. Exits 0 when the build was
found, whatever its status; 1 when it was not.

With --env: each environment's current AMI (latest), its age against maxAgeDays, the digest and
tag it was built from (metadata), and its last build's result. Reads SSM and the lock table only.

  --env <env|all>            the per-environment view, of one environment or all of them
  --json                     print the status as JSON
${STACK_USAGE}

Examples:
  ${CLI} status dev-3f1c6a0e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b --stack comfyui-ami-dev
  ${CLI} status arn:aws:states:eu-west-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-build-1 --json
  ${CLI} status --env all`;

export const OPTIONS = { ...STACK_OPTIONS, json: { type: 'boolean' }, env: { type: 'string' } } as const;

/** `status --env`: no state machine needed, so no stack lookup. */
async function environmentsMain(env: string, positionals: string[], values: { json?: boolean; config?: string }): Promise<number> {
  try {
    if (positionals.length > 0) throw new UsageError(`--env takes no build name, got: ${positionals.join(' ')}`);
    const config = loadCliConfig(values.config);
    const names = Object.keys(config.environments).sort();
    if (env !== 'all' && !environmentConfig(config, env)) {
      throw new UsageError(`--env must be one of the configured environments (${names.join(', ')}) or all, got "${env.slice(0, 40)}"`);
    }
    const rows = await readEnvironmentStatus(
      { ssm: new SSMClient({}), dynamodb: new DynamoDBClient({}) },
      config,
      env === 'all' ? names : [env],
    );
    console.log(values.json ? JSON.stringify(rows, null, 2) : formatEnvironmentStatus(rows));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
}

export function formatStatus(status: BuildStatus): string {
  const rows: [string, string | number | null | undefined][] = [
    ['build', status.executionName],
    ['status', status.status],
    ['environment', status.environment ?? 'unknown'],
    ['step', status.currentStep],
    ['ami', status.amiId],
    ['superseded by', status.supersededBy],
    ['error', status.error],
    ['cause', status.cause],
    ['started', status.startDate],
    ['stopped', status.stopDate],
    ['redrives', status.redriveCount],
    ['arn', status.executionArn],
  ];
  return rows
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([key, value]) => `${key.padEnd(14)}${value}`)
    .join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let executionArn: string;
  let values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
  try {
    const parsed = parseCommandLine(argv, OPTIONS);
    values = parsed.values;
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (values.env !== undefined) return await environmentsMain(values.env, parsed.positionals, values);
    executionArn = await resolveExecutionArn(onePositional(parsed.positionals, '<execution-name|execution-arn>'), values);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
  try {
    const status = await describeBuild(new SFNClient({}), executionArn, loadCliConfig(values.config));
    console.log(values.json ? JSON.stringify(status, null, 2) : formatStatus(status));
    if (status.status === 'FAILED' || status.status === 'TIMED_OUT' || status.status === 'ABORTED') {
      console.error(`next: ${CLI} watch ${executionArn} (the steps and the failure), or ${CLI} redrive ${executionArn}`);
    }
    return 0;
  } catch (error) {
    return failure(
      error,
      (error as Error).name === 'BuildNotFound'
        ? `check the name, or list builds: aws stepfunctions list-executions --state-machine-arn <arn>`
        : undefined,
    );
  }
}
