import { planPromotion, startPromotion } from '../../functions/start-environment-action/promote';
import { environmentActionCommand, LOCAL_OPTIONS, LOCAL_USAGE } from '../lib/environment-action';
import { CLI, STACK_OPTIONS, STACK_USAGE, UsageError } from '../lib/stack';

export const USAGE = `usage: ${CLI} promote --from <environment> --to <environment> [stack | --local [--fast] [--json]]

Builds the target environment from exactly the digest the source environment has published
(its metadata's docker_digest). Allowed only when the config says so:
environments.<to>.promoteFrom = "<from>".

  --from <environment>       the environment whose published image is promoted
  --to <environment>         the environment to build
${LOCAL_USAGE}
${STACK_USAGE}

Examples:
  ${CLI} promote --from staging --to prod --stack comfyui-ami-prod
  AWS_ENDPOINT_URL=http://127.0.0.1:5000 ${CLI} promote --from staging --to prod --local --fast --config config/demo.json`;

export const OPTIONS = { ...STACK_OPTIONS, ...LOCAL_OPTIONS, from: { type: 'string' }, to: { type: 'string' } } as const;

/** The fields of a promotion request, as flags. */
const PROMOTE_FLAGS = { from: '--from', to: '--to' };

export const main = environmentActionCommand('promote', {
  usage: USAGE,
  options: OPTIONS,
  flags: PROMOTE_FLAGS,
  request: (values) => {
    if (values.from === undefined || values.to === undefined) throw new UsageError('--from and --to are required');
    return { from: values.from, to: values.to, source: 'cli' as const };
  },
  plan: planPromotion,
  planned: (plan, values) => `promoting ${values.from}'s ${plan.digest} to ${values.to}`,
  start: startPromotion,
  started: (started) =>
    started.alreadyStarted
      ? `already started: a build of ${started.imageUri} for ${started.environment} exists (${started.executionName}); nothing new started`
      : `started ${started.executionName}: ${started.environment} from ${started.from}'s ${started.imageUri}`,
});
