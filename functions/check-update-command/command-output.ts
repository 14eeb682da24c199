import { type CloudWatchLogsClient, DescribeLogStreamsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';

/** Events read from the end of a stream; the agent uploads output in chunks of many lines. */
const TAIL_EVENTS = 50;

/**
 * The end of a command's output from its CloudWatch Logs group. GetCommandInvocation keeps
 * only the first 8,000 characters of stderr, which apt output fills; the error line the
 * builder scripts print last is at the end. The agent names the streams
 * <command id>/<instance id>/<step>/stdout and .../stderr; stderr is preferred.
 * Undefined when there is no stream (yet).
 */
export async function commandOutputTail(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  commandId: string,
  instanceId: string,
): Promise<string | undefined> {
  const listed = await logs.send(new DescribeLogStreamsCommand({ logGroupName, logStreamNamePrefix: `${commandId}/${instanceId}/` }));
  const names = (listed.logStreams ?? []).map((s) => s.logStreamName).filter((n): n is string => typeof n === 'string');
  const stream = names.find((n) => n.endsWith('/stderr')) ?? names.find((n) => n.endsWith('/stdout'));
  if (!stream) return undefined;
  // startFromHead false: the newest events.
  const out = await logs.send(new GetLogEventsCommand({ logGroupName, logStreamName: stream, startFromHead: false, limit: TAIL_EVENTS }));
  const text = (out.events ?? []).map((e) => (e.message ?? '').replace(/\n$/, '')).join('\n');
  return text.trim() === '' ? undefined : text;
}
