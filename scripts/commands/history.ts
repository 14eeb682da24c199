import { environmentConfig } from '../../functions/shared/config';
import { type HistoryRow, listHistory } from '../../functions/start-build/history';
import { cliDeps } from '../lib/environment-action';
import { CLI, failure, loadCliConfig, parseCommandLine, UsageError, usageFailure } from '../lib/stack';

export const USAGE = `usage: ${CLI} history --env <environment> [--json] [--config <file>]

Lists the environment's builds, newest first, from its history parameters and EC2: the AMI,
the digest and tag it was built from, its date, how it was built, who asked (ecr-push, console,
api or cli), and whether the AMI still exists (only those can be re-pointed to by rollback).

  --env <environment>        an environment of the pipeline config
  --json                     print the rows as JSON
  --config <file>            pipeline config (default: PIPELINE_CONFIG or config/pipeline.json)`;

const OPTIONS = {
  env: { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function formatHistory(rows: HistoryRow[]): string {
  const header = ['', 'AMI', 'DIGEST', 'TAG', 'DATE', 'MODE', 'ASKED BY', 'AMI EXISTS'];
  const lines = rows.map((r) => [
    r.latest ? '*' : '',
    r.amiId,
    r.digest ? r.digest.slice(0, 'sha256:'.length + 12) : '-',
    r.tag ?? '-',
    r.date ?? '-',
    r.mode ?? '-',
    r.source ?? '-',
    r.available ? 'yes' : 'no',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  return [header, ...lines]
    .map((l) =>
      l
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseCommandLine(argv, OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument(s): ${positionals.join(' ')}`);
    if (values.env === undefined) throw new UsageError('--env is required');
    const config = loadCliConfig(values.config);
    if (!environmentConfig(config, values.env)) {
      throw new UsageError(
        `--env: must be one of the configured environments (${Object.keys(config.environments).join(', ')}), got "${values.env.slice(0, 40)}"`,
      );
    }
    const rows = await listHistory(values.env, cliDeps(config));
    if (values.json) console.log(JSON.stringify(rows));
    else if (rows.length === 0) console.log(`no builds of ${values.env} recorded under ${config.parameterPrefix}/${values.env}/history/`);
    else console.log(formatHistory(rows));
    return 0;
  } catch (error) {
    const e = error as Error;
    if (e instanceof UsageError) return usageFailure(e.message, USAGE);
    if (e.name === 'ConfigInvalid') {
      console.error(`error: ${e.message}`);
      return 2;
    }
    return failure(error);
  }
}
