import { planRollback, startRollback } from '../../functions/start-build/rollback';
import { cliDeps, command } from '../lib/command';
import { LOCAL_OPTIONS, LOCAL_USAGE, localWaitMs, runLocally } from '../lib/environment-action';
import { CLI, loadCliConfig, resolveStateMachineArn, STACK_OPTIONS, STACK_USAGE, UsageError } from '../lib/stack';

export const USAGE = `usage: ${CLI} rollback --env <environment> [--to <ami-id>] [stack | --local [--fast] [--json]]

Points the environment's latest and metadata back to an earlier build, through the state
machine and the environment's lock. When the AMI is still retained (see retainPrevious) it is
re-pointed at once after the same checks as a new AMI; when it is gone, the digest its history
entry recorded is rebuilt. Default target: the newest retained build older than the current
one, else the newest older build.

  --env <environment>        an environment of the pipeline config
  --to <ami-id>              a build of that environment (${CLI} history --env <environment> lists them)
${LOCAL_USAGE}
${STACK_USAGE}

Examples:
  ${CLI} rollback --env prod --stack comfyui-ami-prod
  ${CLI} rollback --env prod --to ami-0123456789abcdef0 --stack comfyui-ami-prod
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 ${CLI} rollback --env dev --local --fast --config config/demo.json`;

export const OPTIONS = { ...STACK_OPTIONS, ...LOCAL_OPTIONS, env: { type: 'string' }, to: { type: 'string' } } as const;

/** The fields of a rollback request, as flags. */
const ROLLBACK_FLAGS = { environment: '--env', to: '--to', 'input.environment': '--env', 'input.rollback_to': '--to' };

export const main = command({
  usage: USAGE,
  options: OPTIONS,
  flags: ROLLBACK_FLAGS,
  next: () => `${CLI} rollback --help`,
  run: async (values) => {
    if (values.env === undefined) throw new UsageError('--env is required');
    const request = { environment: values.env, to: values.to, source: 'cli' as const };
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
  },
});
