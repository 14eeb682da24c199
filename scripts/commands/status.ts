import { SFNClient } from '@aws-sdk/client-sfn';
import { type BuildStatus, describeBuild } from '../../functions/build-status/build-status';
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

Prints a build's status, environment, and its AMI or its failure. Exits 0 when the build was
found, whatever its status; 1 when it was not.

  --json                     print the status as JSON
${STACK_USAGE}

Examples:
  ${CLI} status dev-3f1c6a0e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b --stack comfyui-ami-dev
  ${CLI} status arn:aws:states:eu-west-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-build-1 --json`;

export const OPTIONS = { ...STACK_OPTIONS, json: { type: 'boolean' } } as const;

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
