import { planPromotion, startPromotion } from '../../functions/start-build/promote';
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

export const USAGE = `usage: ${CLI} promote --from <environment> --to <environment> [stack | --local [--fast] [--json]]

Builds the target environment from exactly the digest the source environment has published
(its metadata's docker_digest). Allowed only when the config says so:
environments.<to>.promoteFrom = "<from>".

  --from <environment>       the environment whose published image is promoted
  --to <environment>         the environment to build
${LOCAL_USAGE}
${STACK_USAGE}`;

const OPTIONS = { ...STACK_OPTIONS, ...LOCAL_OPTIONS, from: { type: 'string' }, to: { type: 'string' } } as const;

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
    if (values.from === undefined || values.to === undefined) throw new UsageError('--from and --to are required');
  } catch (error) {
    if (error instanceof UsageError) return usageFailure(error.message, USAGE);
    return failure(error);
  }
  const request = { from: values.from, to: values.to, source: 'cli' as const };
  try {
    const config = loadCliConfig(values.config);
    if (values.local) {
      const waitMs = localWaitMs(values);
      const plan = await planPromotion(request, cliDeps(config));
      console.error(`promoting ${request.from}'s ${plan.digest} to ${request.to}`);
      return await runLocally(plan.input, config, undefined, waitMs, values.json ?? false);
    }
    const stateMachineArn = await resolveStateMachineArn(values);
    const started = await startPromotion(request, { ...cliDeps(config), stateMachineArn });
    console.log(started.executionArn);
    console.error(
      started.alreadyStarted
        ? `already started: a build of ${started.imageUri} for ${started.environment} exists (${started.executionName}); nothing new started`
        : `started ${started.executionName}: ${started.environment} from ${started.from}'s ${started.imageUri}`,
    );
    console.error(`follow it: ${CLI} watch ${started.executionArn}`);
    return 0;
  } catch (error) {
    const e = error as Error;
    if (e instanceof UsageError) return usageFailure(e.message, USAGE);
    if (e.name === 'RequestInvalid' || e.name === 'ConfigInvalid') {
      console.error(`error: ${e.message.replace(/^from:/, '--from:').replace(/^to:/, '--to:')}`);
      return 2;
    }
    return failure(error, `${CLI} promote --help`);
  }
}
