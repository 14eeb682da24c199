import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { PipelineConfig } from '../../functions/shared/config';
import { buildLogs, type LogLine } from '../lib/build-logs';
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

export const USAGE = `usage: ${CLI} logs <execution-name|execution-arn> [--json] [stack]

Prints a deployed build's story in time order: its execution history (each state entered and
exited, each failure), the lines its step functions logged for it (/aws/lambda/<function>, the
lines naming the execution), and the output of its Run Commands (the config's commandLogGroup,
one stream per command, instance and step).

  --json                     print the lines as a JSON array of {time, source, text}
${STACK_USAGE}

Examples:
  ${CLI} logs dev-3f1c6a0e9b8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b --stack comfyui-ami-dev
  ${CLI} logs arn:aws:states:eu-west-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-build-1 --json`;

export const OPTIONS = { ...STACK_OPTIONS, json: { type: 'boolean' } } as const;

export function formatLine(line: LogLine): string {
  return `${line.time}  ${line.source.padEnd(24)}  ${line.text}`;
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
    const lines = await buildLogs(executionArn, config, { sfn: new SFNClient({}), logs: new CloudWatchLogsClient({}) });
    console.log(values.json ? JSON.stringify(lines, null, 2) : lines.map(formatLine).join('\n'));
    return 0;
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist')
      return failure(error, `check the name, or list builds: aws stepfunctions list-executions --state-machine-arn <arn>`);
    return failure(error, 'credentials need states:GetExecutionHistory and logs:FilterLogEvents');
  }
}
