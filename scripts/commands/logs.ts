import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SFNClient } from '@aws-sdk/client-sfn';
import { buildLogs, type LogLine } from '../lib/build-logs';
import { executionCommand, LIST_BUILDS } from '../lib/command';
import { CLI, loadCliConfig, STACK_OPTIONS, STACK_USAGE } from '../lib/stack';

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

export const main = executionCommand({
  usage: USAGE,
  options: OPTIONS,
  next: (error) =>
    error.name === 'ExecutionDoesNotExist' ? LIST_BUILDS : 'credentials need states:GetExecutionHistory and logs:FilterLogEvents',
  run: async (values, executionArn) => {
    const config = loadCliConfig(values.config);
    const lines = await buildLogs(executionArn, config, { sfn: new SFNClient({}), logs: new CloudWatchLogsClient({}) });
    console.log(values.json ? JSON.stringify(lines, null, 2) : lines.map(formatLine).join('\n'));
    return 0;
  },
});
