import { planRollback, startRollback } from '../../functions/start-environment-action/rollback';
import { environmentActionCommand, LOCAL_OPTIONS, LOCAL_USAGE } from '../lib/environment-action';
import { CLI, STACK_OPTIONS, STACK_USAGE, UsageError } from '../lib/stack';

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

/** How the target comes back: re-pointed when its AMI is retained, else rebuilt from its digest. */
const how = (target: { available: boolean; digest: string | null }) =>
  `${target.available ? 'retained: re-point' : 'gone: rebuild'} ${target.digest ?? ''}`;

export const main = environmentActionCommand('rollback', {
  usage: USAGE,
  options: OPTIONS,
  flags: ROLLBACK_FLAGS,
  request: (values) => {
    if (values.env === undefined) throw new UsageError('--env is required');
    return { environment: values.env, to: values.to, source: 'cli' as const };
  },
  plan: planRollback,
  planned: (plan, values) => `rolling ${values.env} back to ${plan.target.amiId} (${how(plan.target)})`,
  start: startRollback,
  started: (started) =>
    `started ${started.executionName}: ${started.environment} back to ${started.rollbackTo} (${how({ available: started.retained, digest: started.digest })})`,
});
