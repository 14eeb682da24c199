import { userInfo } from 'node:os';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { cancelBuild } from '../../functions/cancel-build/cancel-build';
import { executionCommand, LIST_BUILDS } from '../lib/command';
import { CLI, loadCliConfig, STACK_OPTIONS, STACK_USAGE } from '../lib/stack';

export const USAGE = `usage: ${CLI} cancel <execution-name|execution-arn> [--json] [stack]

Cancels a running build: records the cancel in the lock table, and the build fails with
BuildCancelled before it makes or publishes anything more (at its next lock check, launch,
CreateImage, pause or publish: up to 5 minutes while it waits for the update command or the AMI,
until the end of a health check that is running), so the build rolls back like any failed one: its builder and test instance are terminated, an AMI it made is removed
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

export const main = executionCommand({
  usage: USAGE,
  options: OPTIONS,
  next: (error) =>
    error.name === 'BuildNotFound'
      ? LIST_BUILDS
      : error.name === 'CancelRefused'
        ? `${CLI} status <build> (the build has published or ended)`
        : 'check the lock table exists in this region and credentials allow dynamodb:UpdateItem on it',
  run: async (values, executionArn) => {
    const config = loadCliConfig(values.config);
    const cancelled = await cancelBuild(executionArn, requester(), { sfn: new SFNClient({}), dynamodb: new DynamoDBClient({}), config });
    if (values.json) console.log(JSON.stringify({ ...cancelled, status: 'CANCEL_REQUESTED' }, null, 2));
    else
      console.log(
        `cancel recorded for ${cancelled.executionName} (${cancelled.environment}, at ${cancelled.currentStep ?? 'an unknown step'}): ` +
          'the build fails with BuildCancelled before it makes anything more, and rolls back',
      );
    console.error(`follow the roll back: ${CLI} watch ${cancelled.executionArn}`);
    return 0;
  },
});
