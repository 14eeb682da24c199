import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { command, configAndEnvironment, ENVIRONMENT_OPTIONS } from '../lib/command';
import { clearLock, type LockView, readLock } from '../lib/lock-item';
import { CLI, UsageError } from '../lib/stack';

export const USAGE = `usage: ${CLI} lock --env <env> [--json] [--config <file>]
       ${CLI} lock --env <env> --clear --yes [--config <file>]

Shows the build lock of an environment: the build holding it, its lease, and the newest request
(an older request ends as superseded). --clear deletes the lock item; it asks for --yes, because
a build still running would then no longer keep another build of the environment from starting.

  --env <env>       the environment
  --json            print the lock item as JSON
  --clear           delete the lock item (with --yes)
  --yes             confirm --clear
  --config <file>   pipeline config (default: PIPELINE_CONFIG or config/pipeline.json)
  -h, --help        this help

Examples:
  ${CLI} lock --env dev
  ${CLI} lock --env prod --json
  ${CLI} lock --env dev --clear --yes`;

export const OPTIONS = { ...ENVIRONMENT_OPTIONS, clear: { type: 'boolean' }, yes: { type: 'boolean' } } as const;

export function formatLock(view: LockView): string {
  const rows: [string, string | null][] = [
    ['environment', view.environment],
    ['holder', view.holder ?? 'none (the environment is free)'],
    ['execution', view.holderExecution],
    ['its request', view.holderRequest],
    ['lease ends', view.leaseEnds && `${view.leaseEnds}${view.leaseExpired ? ' (expired: the next build takes it over)' : ''}`],
    ['newest', view.newest],
    ['its request', view.newestRequest],
    [
      'ahead of now',
      view.aheadOfNow.length > 0 ? `${view.aheadOfNow.join(', ')} (ignored by acquiring builds; clear with --clear --yes)` : null,
    ],
  ];
  return rows
    .filter(([, value]) => value !== null)
    .map(([key, value]) => `${key.padEnd(14)}${value}`)
    .join('\n');
}

export const main = command({
  usage: USAGE,
  options: OPTIONS,
  next: () => 'check the lock table exists in this region and credentials allow dynamodb:GetItem/DeleteItem on it',
  run: async (values) => {
    const { config, env } = configAndEnvironment(values);
    if (values.yes && !values.clear) throw new UsageError('--yes only confirms --clear');
    const dynamodb = new DynamoDBClient({});
    const view = await readLock(dynamodb, config, env);
    if (values.clear) {
      if (!view) {
        console.log(`no lock item for ${env} in ${config.lock.table}: nothing to clear`);
        return 0;
      }
      if (!values.yes) {
        const holder = view.holder ? `held by ${view.holder}${view.leaseExpired ? ' (lease expired)' : ''}` : 'not held';
        throw new UsageError(
          `--clear deletes the lock item of ${env} (${holder}; newest request ${view.newest ?? 'none'}). If that build is still running, another build of ${env} can then start alongside it. Add --yes to delete it.`,
        );
      }
      await clearLock(dynamodb, config, env);
      console.log(`cleared the lock of ${env} (was: holder ${view.holder ?? 'none'}, newest ${view.newest ?? 'none'})`);
      return 0;
    }
    if (!view) {
      console.log(values.json ? JSON.stringify(null) : `no lock item for ${env} in ${config.lock.table}: the environment is free`);
      return 0;
    }
    console.log(values.json ? JSON.stringify(view, null, 2) : formatLock(view));
    return 0;
  },
});
