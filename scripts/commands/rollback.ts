import { planRollback, startRollback } from '../../functions/start-build/rollback';
import { cliDeps, LOCAL_OPTIONS, LOCAL_USAGE, localWaitMs, runLocally } from '../lib/environment-action';
import {
  CLI,
  failure,
  loadCliConfig,
  parseCommandLine,
  resolveStateMachineArn,
  STACK_OPTIONS,
  STACK_USAGE,
  UsageError,
  usageFailure,
} from '../lib/stack';

export const USAGE = `usage: ${CLI} rollback --env <environment> [--to <ami-id>] [stack | --local [--fast] [--json]]

Points the environment's latest and metadata back to an earlier build, through the state
machine and the environment's lock. When the AMI is still retained (see retainPrevious) it is
re-pointed at once after the same checks as a new AMI; when it is gone, the digest its history
entry recorded is rebuilt. Default target: the newest retained build older than the current
one, else the newest older build.

  --env <environment>        an environment of the pipeline config
  --to <ami-id>              a build of that environment (${CLI} history --env <environment> lists them)
${LOCAL_USAGE}
${STACK_USAGE}`;

const OPTIONS = { ...STACK_OPTIONS, ...LOCAL_OPTIONS, env: { type: 'string' }, to: { type: 'string' } } as const;

/** Field names in validation messages, as flags. */
function asFlags(message: string): string {
  return message.replace(/^environment:/, '--env:').replace(/^to:/, '--to:');
}

export async function main(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseCommandLine<typeof OPTIONS>>['values'];
  try {
    const parsed = parseCommandLine(argv, OPTIONS);
    values = parsed.values;
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument(s): ${parsed.positionals.join(' ')}`);
    if (values.env === undefined) throw new UsageError('--env is required');
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
  const request = { environment: values.env, to: values.to, source: 'cli' as const };
  try {
    const config = loadCliConfig(values.config);
    if (values.local) {
      const waitMs = localWaitMs(values);
      const plan = await planRollback(request, cliDeps(config));
      console.error(
        `rolling ${request.environment} back to ${plan.target.amiId} (${plan.target.available ? 'retained: re-point' : 'gone: rebuild'} ${plan.target.digest ?? ''})`,
      );
      return await runLocally(plan.input, config, plan.executionName, waitMs, values.json ?? false);
    }
    const stateMachineArn = await resolveStateMachineArn(values);
    const started = await startRollback(request, { ...cliDeps(config), stateMachineArn });
    console.log(started.executionArn);
    console.error(
      `started ${started.executionName}: ${started.environment} back to ${started.rollbackTo} (${started.retained ? 'retained: re-point' : 'gone: rebuild'} ${started.digest ?? ''})`,
    );
    console.error(`follow it: ${CLI} watch ${started.executionArn}`);
    return 0;
  } catch (error) {
    const e = error as Error;
    if (e instanceof UsageError) return usageFailure(e.message, USAGE);
    if (e.name === 'RequestInvalid' || e.name === 'ConfigInvalid') {
      console.error(`error: ${asFlags(e.message)}`);
      return 2;
    }
    return failure(error, `${CLI} rollback --help`);
  }
}
