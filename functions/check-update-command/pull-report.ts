import { type CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';

/** What the builder's pull fetched: update.sh prints it once (builder/scripts/update.sh, pull_image). */
export interface PullReport {
  /** Compressed bytes of the layers the pull fetched; null when the builder could not read the manifest. */
  pulledBytes: number | null;
  pulledLayers: number;
  /** Layers the host already had (the previous AMI's), which Docker did not fetch again. */
  presentLayers: number;
}

const MARKER = 'comfyui-ami-pull';
const LINE = /^comfyui-ami-pull: pulled_bytes=(\d+|unknown) pulled_layers=(\d+) present_layers=(\d+)$/gm;

/** The last report line in a command's output, if any. */
export function parsePullReport(text: string | undefined): PullReport | undefined {
  const matches = [...(text ?? '').matchAll(LINE)];
  const last = matches.at(-1);
  if (!last) return undefined;
  return {
    pulledBytes: last[1] === 'unknown' ? null : Number(last[1]),
    pulledLayers: Number(last[2]),
    presentLayers: Number(last[3]),
  };
}

/**
 * The report from the command's log streams: GetCommandInvocation keeps only the first 24,000
 * characters of stdout, which a fresh install's apt output fills long before the pull.
 */
export async function pullReportFromLogs(
  logs: CloudWatchLogsClient,
  logGroupName: string,
  commandId: string,
  instanceId: string,
): Promise<PullReport | undefined> {
  const out = await logs.send(
    new FilterLogEventsCommand({ logGroupName, logStreamNamePrefix: `${commandId}/${instanceId}/`, filterPattern: `"${MARKER}"` }),
  );
  return parsePullReport((out.events ?? []).map((e) => e.message ?? '').join('\n'));
}
