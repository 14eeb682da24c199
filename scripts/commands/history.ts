import { type HistoryRow, listHistory } from '../../functions/start-environment-action/history';
import { cliDeps, command, configAndEnvironment, ENVIRONMENT_OPTIONS } from '../lib/command';
import { CLI } from '../lib/stack';

export const USAGE = `usage: ${CLI} history --env <environment> [--json] [--config <file>]

Lists the environment's builds, newest first, from its history parameters and EC2: the AMI,
the digest and tag it was built from, its date, how it was built, who asked (ecr-push, console,
api or cli), and whether the AMI still exists (only those can be re-pointed to by rollback).

  --env <environment>        an environment of the pipeline config
  --json                     print the rows as JSON
  --config <file>            pipeline config (default: PIPELINE_CONFIG or config/pipeline.json)
  -h, --help                 this help

Examples:
  ${CLI} history --env prod
  ${CLI} history --env dev --json --config config/demo.json`;

export const OPTIONS = { ...ENVIRONMENT_OPTIONS } as const;

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

export const main = command({
  usage: USAGE,
  options: OPTIONS,
  run: async (values) => {
    const { config, env } = configAndEnvironment(values);
    const rows = await listHistory(env, cliDeps(config));
    if (values.json) console.log(JSON.stringify(rows));
    else if (rows.length === 0) console.log(`no builds of ${env} recorded under ${config.parameterPrefix}/${env}/history/`);
    else console.log(formatHistory(rows));
    return 0;
  },
});
