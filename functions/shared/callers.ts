import type { PipelineConfig } from './config';
import { environmentConfig } from './config-values';
import { CallerNotAllowed } from './errors';

/** The IAM principal API Gateway verified (SigV4) for a request on an AWS_IAM route. */
export interface Caller {
  /** `requestContext.authorizer.iam.userArn`: an IAM user, or `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  arn: string;
  accountId: string;
}

const ASSUMED_ROLE = /^arn:([a-z-]+):sts::([0-9]{12}):assumed-role\/([^/]+)\/.+$/;

/**
 * The ARNs a principal answers to: its own, and for an assumed-role session the role's ARN as
 * IAM writes it without a path (the session ARN does not carry the role's path).
 */
export function principalArns(arn: string): string[] {
  const role = ASSUMED_ROLE.exec(arn);
  return role ? [arn, roleArnOf(role)] : [arn];
}

function roleArnOf(role: RegExpExecArray): string {
  return `arn:${role[1]}:iam::${role[2]}:role/${role[3]}`;
}

/**
 * Whether a principal matches a pattern. A session name is chosen by whoever assumes the role,
 * so a session is matched by its role's ARN, and by its own ARN only for a pattern that names
 * the sts service explicitly: `*release*` must not let `assumed-role/dev/release-x` in.
 */
function principalMatches(arn: string, pattern: string): boolean {
  const role = ASSUMED_ROLE.exec(arn);
  if (!role) return arnMatches(arn, pattern);
  return arnMatches(roleArnOf(role), pattern) || (/^arn:[a-z-]+:sts:/.test(pattern) && arnMatches(arn, pattern));
}

function arnMatches(arn: string, pattern: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(arn);
}

/** Whether `environments.{env}.callers` lets this principal ask for the environment; no list lets every caller in. */
export function callerAllowed(config: PipelineConfig, environment: string, caller: Caller): boolean {
  const patterns = environmentConfig(config, environment)?.callers;
  if (!patterns) return true;
  return patterns.some((pattern) => principalMatches(caller.arn, pattern));
}

export function assertCallerAllowed(config: PipelineConfig, environment: string, caller: Caller): void {
  if (callerAllowed(config, environment, caller)) return;
  const patterns = environmentConfig(config, environment)?.callers ?? [];
  throw new CallerNotAllowed(
    `caller ${caller.arn} may not request environment ${environment}: environments.${environment}.callers allows only ${patterns.join(', ')}`,
  );
}
