import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SSMClient } from '@aws-sdk/client-ssm';
import { type BuildStatus, describeBuild } from '../../functions/build-status/build-status';
import { environmentConfig } from '../../functions/shared/config';
import { command, LIST_BUILDS } from '../lib/command';
import { formatEnvironmentStatus, readEnvironmentStatus } from '../lib/environment-status';
import { buildEnd, describeRollback, redriveAdvice } from '../lib/outcome';
import { CLI, EXECUTION_FLAGS, loadCliConfig, resolveExecutionArn, STACK_OPTIONS, STACK_USAGE, UsageError } from '../lib/stack';

export const USAGE = `usage: ${CLI} status <execution-name|execution-arn> [--json] [stack]
       ${CLI} status --env <env|all> [--json] [--config <file>]

Prints a build's status, environment, and its AMI or its failure; for a failed build, the
step it stopped in and what its roll back removed, and whether a redrive can help. Exits 0 when
the build was found, whatever its status; 1 when it was not.

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
async function showEnvironments(env: string, values: { json?: boolean; config?: string }): Promise<number> {
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

const ENDED_BADLY = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

export const main = command({
  usage: USAGE,
  options: OPTIONS,
  positional: EXECUTION_FLAGS.id,
  withoutPositional: (values) => values.env !== undefined,
  flags: EXECUTION_FLAGS,
  next: (error) => (error.name === 'BuildNotFound' ? LIST_BUILDS : undefined),
  run: async (values, id) => {
    if (values.env !== undefined) return showEnvironments(values.env, values);
    const executionArn = await resolveExecutionArn(id, values);
    const sfn = new SFNClient({});
    const status = await describeBuild(sfn, executionArn, loadCliConfig(values.config));
    const end = ENDED_BADLY.has(status.status) ? await buildEnd(sfn, executionArn, status.status) : null;
    const lines = end ? describeRollback(end.rollback) : [];
    const advice = end ? redriveAdvice(end) : null;
    if (values.json) {
      console.log(
        JSON.stringify({ ...status, ...(end && { stoppedIn: end.lastState, rollback: end.rollback, redrive: advice }) }, null, 2),
      );
    } else {
      console.log(formatStatus(status));
      if (end) console.log(`${'stopped in'.padEnd(14)}${end.lastState ?? 'unknown'}`);
      for (const line of lines) console.log(`${'roll back'.padEnd(14)}${line}`);
    }
    if (advice) {
      console.error(
        advice.offer
          ? `next: ${CLI} watch ${executionArn} (the steps and the failure), or ${CLI} redrive ${executionArn}: ${advice.why}`
          : `next: ${CLI} watch ${executionArn} (the steps and the failure); no redrive: ${advice.why}`,
      );
    }
    return 0;
  },
});
