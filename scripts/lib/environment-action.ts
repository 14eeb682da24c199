import type { PipelineConfig } from '../../functions/shared/config';
import { type BuildSummary, failureSummary, runLocalBuild } from '../commands/run';
import { UsageError } from './stack';

/** --local, --fast, --wait-seconds, --json: how rollback and promote run in this process, like `run`. */
export const LOCAL_OPTIONS = {
  local: { type: 'boolean' },
  fast: { type: 'boolean' },
  'wait-seconds': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const LOCAL_USAGE = `  --local                    run the state machine in this process (as \`run\` does) instead of on the stack
  --fast | --wait-seconds <n>  with --local: no waiting, or n seconds per Wait state and retry
  --json                     with --local: make the last line of stdout a JSON summary`;

export function localWaitMs(values: { fast?: boolean; 'wait-seconds'?: string }): number | undefined {
  if (values.fast) return 0;
  if (values['wait-seconds'] === undefined) return undefined;
  const n = Number(values['wait-seconds']);
  if (!Number.isFinite(n) || n < 0 || n > 3600) throw new UsageError('--wait-seconds must be a number of seconds from 0 to 3600');
  return n * 1000;
}

/** Runs one execution in-process and prints its outcome; the exit status of `run`. */
export async function runLocally(
  input: Record<string, unknown>,
  config: PipelineConfig,
  executionName: string | undefined,
  waitMs: number | undefined,
  json: boolean,
): Promise<number> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const summary: BuildSummary = await runLocalBuild({ input, config, executionName, waitMs, retryMs: waitMs });
  if (summary.status === 'SUPERSEDED') console.log(`Skipped: a newer request for ${summary.environment} is being or will be handled`);
  else if (summary.status === 'SUCCEEDED') {
    const how = summary.mode === 'rollback' ? 're-pointed to the retained' : `built (${summary.mode})`;
    console.log(
      `${config.parameterPrefix}/${summary.environment}/latest is now ${summary.amiId}, ${how} AMI; it was ${summary.previousAmiId ?? 'unset'}`,
    );
  } else {
    console.log(`Failed: ${summary.error}: ${summary.cause}`);
    for (const line of failureSummary(summary)) console.log(line);
  }
  if (json) console.log(JSON.stringify(summary));
  if (summary.status !== 'FAILED') return 0;
  return summary.error === 'RequestInvalid' || summary.error === 'ConfigInvalid' ? 2 : 1;
}
