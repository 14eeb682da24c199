import { userInfo } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { cancelBuild } from '../../functions/cancel-build/cancel-build';
import type { PipelineConfig } from '../../functions/shared/config';
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

export const USAGE = `usage: ${CLI} cancel <execution-name|execution-arn> [--json] [stack]

Cancels a running build: records the cancel in the lock table, and the build's next step (at
most one Wait state later, a minute at most) fails with BuildCancelled, so the build rolls back
like any failed one: its builder and test instance are terminated, an AMI it made is removed
with its snapshots, latest is left as it was, and the environment's lock is released.
A build that has started to publish cannot be cancelled: to go back, use ${CLI} rollback.
Exit 0 when the cancel is recorded, 1 when the build has ended, published or was not found.

  --json                     print the cancelled build as JSON
${STACK_USAGE}

Examples:
  ${CLI} cancel dev-3f1c6a0e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b --stack comfyui-ami-dev
  ${CLI} cancel arn:aws:states:eu-west-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-build-1`;

export const OPTIONS = { ...STACK_OPTIONS, json: { type: 'boolean' } } as const;

/** Who asked, as far as this machine knows; CloudTrail's UpdateItem event names the IAM principal. */
function requester(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no user entry (a container): keep "unknown"
  }
  return `${CLI} cancel (local user ${user}; CloudTrail UpdateItem names the principal)`;
}

export async function main(argv: string[]): Promise<number> {
  let executionArn: string;
  let values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
  let config: PipelineConfig;
  try {
    const parsed = parseCommandLine(argv, OPTIONS);
    values = parsed.values;
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const id = onePositional(parsed.positionals, '<execution-name|execution-arn>');
    config = loadCliConfig(values.config);
    executionArn = await resolveExecutionArn(id, values);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
  try {
    const cancelled = await cancelBuild(executionArn, requester(), { sfn: new SFNClient({}), dynamodb: new DynamoDBClient({}), config });
    if (values.json) console.log(JSON.stringify({ ...cancelled, status: 'CANCEL_REQUESTED' }, null, 2));
    else
      console.log(
        `cancel recorded for ${cancelled.executionName} (${cancelled.environment}, at ${cancelled.currentStep ?? 'an unknown step'}): ` +
          'its next step fails with BuildCancelled and the build rolls back',
      );
    console.error(`follow the roll back: ${CLI} watch ${cancelled.executionArn}`);
    return 0;
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'BuildNotFound')
      return failure(error, `check the name, or list builds: aws stepfunctions list-executions --state-machine-arn <arn>`);
    if (name === 'CancelRefused') return failure(error, `${CLI} status ${executionArn}`);
    return failure(error, `check the table ${config.lock.table} exists in this region and credentials allow dynamodb:UpdateItem on it`);
  }
}
