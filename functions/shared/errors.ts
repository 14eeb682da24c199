/**
 * Every error a step throws on purpose. The `name` is a literal (minifiers rename classes) and
 * is what the state machine's Retry and Catch match on: keep these strings and the ASL in step.
 */
export abstract class PipelineError extends Error {
  abstract override readonly name: string;
}

/**
 * One bad field: its path from the root the validator was given (`input.image`, `to`,
 * `config.environments.dev.tags.0`), the form it must take, and what was received. Each front
 * end names the field its own way (`body.image` for the API, `--image` for the CLI) from these
 * fields; the message, the one text that reaches a Step Functions Cause, is made from them too.
 */
export interface InvalidField {
  field: string;
  /** The allowed form, read after "must be": `a tag matching dev-* or a sha256 digest ...`. */
  allowed: string;
  /** What was received, already cut short; absent when there is nothing to show (a missing field). */
  received?: string;
  /** What is wrong, when "must be <allowed>" alone does not say it ("the tag ... is not a tag of environment prod"). */
  problem?: string;
  /** The field is absent. */
  missing?: boolean;
}

const MAX_RECEIVED = 100;

/** What was received, as it is quoted in a message: at most 100 characters. */
export function receivedText(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > MAX_RECEIVED ? `${text.slice(0, MAX_RECEIVED - 1)}…` : text;
}

/** `<field>: must be <allowed>, got "<received>"`, with the field named as `rename` says. */
export function describeField(issue: InvalidField, rename: (field: string) => string = (field) => field): string {
  const name = rename(issue.field);
  if (issue.missing) return `${name} is required; must be ${issue.allowed}`;
  const got = issue.received === undefined ? '' : `, got ${JSON.stringify(issue.received)}`;
  return issue.problem ? `${name}: ${issue.problem}; must be ${issue.allowed}` : `${name}: must be ${issue.allowed}${got}`;
}

/** Bad input of any kind: the bad fields as data, and a message made from them. */
export abstract class InvalidInput extends PipelineError {
  readonly issues: readonly InvalidField[];
  /** Where the input came from, when the field path alone does not say it (a config file's path). */
  readonly source: string | undefined;

  constructor(issues: InvalidField | readonly InvalidField[], source?: string) {
    const list = Array.isArray(issues) ? (issues as readonly InvalidField[]) : [issues as InvalidField];
    super(`${source ? `${source}: ` : ''}${list.map((issue) => describeField(issue)).join('; ')}`);
    this.issues = list;
    this.source = source;
  }

  /** The first bad field's path. */
  get field(): string {
    return this.issues[0]?.field ?? '';
  }

  get allowed(): string {
    return this.issues[0]?.allowed ?? '';
  }

  get received(): string | undefined {
    return this.issues[0]?.received;
  }

  /** The message with every field named as the caller knows it (a flag, a body field). */
  describe(rename: (field: string) => string): string {
    return this.issues.map((issue) => describeField(issue, rename)).join('; ');
  }
}

/** Names fields as a caller knows them: `{ 'input.image': '--image' }` maps `input.image` and the fields below it. */
export function fieldRenamer(names: Readonly<Record<string, string>>): (field: string) => string {
  return (field) => {
    for (const [from, to] of Object.entries(names)) {
      if (field === from || field.startsWith(`${from}.`)) return `${to}${field.slice(from.length)}`;
    }
    return field;
  };
}

/**
 * The same error with its fields named as the caller of a front end knows them (`to` of a
 * rollback request is `body.to` to an API caller); any other error as it is.
 */
export function renameFields(error: unknown, names: Readonly<Record<string, string>>): unknown {
  if (!(error instanceof InvalidInput)) return error;
  const rename = fieldRenamer(names);
  const Same = error.constructor as new (issues: readonly InvalidField[], source?: string) => InvalidInput;
  return new Same(
    error.issues.map((issue) => ({ ...issue, field: rename(issue.field) })),
    error.source,
  );
}

/** Runs `action`; an invalid-input error it throws comes out with its fields renamed. */
export async function namingFields<T>(names: Readonly<Record<string, string>>, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw renameFields(error, names);
  }
}

/** The pipeline configuration is missing or malformed. Never retried. */
export class ConfigInvalid extends InvalidInput {
  override readonly name = 'ConfigInvalid';
}

/** A build request (event, console input, API body, CLI flag) is malformed. Never retried. */
export class RequestInvalid extends InvalidInput {
  override readonly name = 'RequestInvalid';
}

/** The requested image (tag or digest) does not exist in ECR. */
export class ImageNotFound extends PipelineError {
  override readonly name = 'ImageNotFound';
}

/** No base AMI could be resolved (the configured parameter or AMI is missing). */
export class BaseAmiNotFound extends PipelineError {
  override readonly name = 'BaseAmiNotFound';
}

/** The AMI name this build would use already belongs to an image of another build. */
export class AmiNameInUse extends PipelineError {
  override readonly name = 'AmiNameInUse';
}

/** SendCommand refused the builder: its SSM agent has not registered yet. Retried with backoff. */
export class AgentNotRegistered extends PipelineError {
  override readonly name = 'AgentNotRegistered';
}

/** The builder vanished or is in a state a build cannot continue from. */
export class BuilderLost extends PipelineError {
  override readonly name = 'BuilderLost';
}

/** The builder did not reach `stopped` within the allowed number of checks. */
export class BuilderStopTimedOut extends PipelineError {
  override readonly name = 'BuilderStopTimedOut';
}

/** The update command ended in a failure status; the message holds the tail of its output. */
export class UpdateCommandFailed extends PipelineError {
  override readonly name = 'UpdateCommandFailed';
}

/** The update command did not finish within the allowed number of checks. */
export class UpdateTimedOut extends PipelineError {
  override readonly name = 'UpdateTimedOut';
}

/** CreateImage ended in `failed` (or the image disappeared). */
export class AmiCreationFailed extends PipelineError {
  override readonly name = 'AmiCreationFailed';
}

/** The AMI did not become available within the allowed number of checks. */
export class AmiTimedOut extends PipelineError {
  override readonly name = 'AmiTimedOut';
}

/** `latest` does not (yet) hold the new AMI id after PutParameter: validation is asynchronous. */
export class LatestNotConfirmed extends PipelineError {
  override readonly name = 'LatestNotConfirmed';
}

/** The test instance could not be launched from the new AMI (capacity, limits, or the AMI is not available). */
export class TestInstanceLaunchFailed extends PipelineError {
  override readonly name = 'TestInstanceLaunchFailed';
}

/** SendCommand refused the test instance: its SSM agent has not registered (yet). Retried, bounded. */
export class TestInstanceAgentNotReady extends PipelineError {
  override readonly name = 'TestInstanceAgentNotReady';
}

/** The new AMI did not boot into a healthy ComfyUI; the message holds the tail of the check's output. */
export class VerificationFailed extends PipelineError {
  override readonly name = 'VerificationFailed';
}

/** The health check did not finish within the environment's verify.timeoutSeconds (and a grace). */
export class VerificationTimedOut extends PipelineError {
  override readonly name = 'VerificationTimedOut';
}

/**
 * A state names an instance or AMI whose tags do not show this build id, environment and
 * pipeline. Never retried: a step acts only on what its own build made.
 */
export class ResourceNotOwned extends PipelineError {
  override readonly name = 'ResourceNotOwned';
}

/**
 * Clean up did its work but a transient fault kept it from releasing the environment lock. The
 * state machine retries the step (it is safe to run again), then goes on to announce the success:
 * a published build is never failed for its lock, which the next build takes over.
 */
export class LockNotReleased extends PipelineError {
  override readonly name = 'LockNotReleased';
}

/** Roll back could not undo everything; the message names what is left, each with its reason. */
export class RollbackIncomplete extends PipelineError {
  override readonly name = 'RollbackIncomplete';
}

/** The environment stayed locked by another build for all the allowed checks. */
export class LockTimedOut extends PipelineError {
  override readonly name = 'LockTimedOut';
}

/** AWS throttled a call past the SDK's own retries. Retried by the state machine. */
export class AwsThrottled extends PipelineError {
  override readonly name = 'AwsThrottled';
}

/** AWS answered 5xx or the connection failed past the SDK's own retries. Retried. */
export class AwsUnavailable extends PipelineError {
  override readonly name = 'AwsUnavailable';
}

/** AWS refused a call for lack of permission. Never retried: a deployment problem. */
export class AwsAccessDenied extends PipelineError {
  override readonly name = 'AwsAccessDenied';
}

/** A rollback's target cannot be re-pointed to: it is `latest` already, or not this pipeline's AMI of the environment. */
export class RollbackRefused extends PipelineError {
  override readonly name = 'RollbackRefused';
}

/** EC2 refused to enable or disable fast snapshot restore for a snapshot and zone (its reason in the message). */
export class FastSnapshotRestoreFailed extends PipelineError {
  override readonly name = 'FastSnapshotRestoreFailed';
}

/**
 * A cancel was recorded for this build (`comfyui-ami cancel`, or the API): the step refuses to
 * go on, and the ASL's Catch sends the build through roll back like any other failure.
 */
export class BuildCancelled extends PipelineError {
  override readonly name = 'BuildCancelled';
}

/** A cancel came too late: the build has published its AMI (the way back is a rollback), or has ended. */
export class CancelRefused extends PipelineError {
  override readonly name = 'CancelRefused';
}

/** Errors the state machine retries on every Task, besides the Lambda service's own. */
export const TRANSIENT_ERRORS = ['AwsThrottled', 'AwsUnavailable', 'TimeoutError'] as const;

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'TooManyUpdates',
]);
const ACCESS_DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'AuthFailure',
]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/**
 * Maps an AWS SDK error that escaped a step to a named pipeline error, so the state machine can
 * tell transient faults (retry) from permanent ones (roll back). Pipeline errors pass through.
 */
export function classifyError(error: unknown): Error {
  if (error instanceof PipelineError) return error;
  if (!(error instanceof Error)) return new AwsUnavailable(String(error));
  const e = error as Error & SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  const where = `${e.name}: ${e.message}`;
  if (THROTTLING.has(e.name) || status === 429) return withCause(new AwsThrottled(where), error);
  if (ACCESS_DENIED.has(e.name) || status === 403) return withCause(new AwsAccessDenied(where), error);
  if (e.$fault === 'server' || (status !== undefined && status >= 500)) return withCause(new AwsUnavailable(where), error);
  // Middy's early timeout and the SDK's socket timeout are both named TimeoutError: retried as is.
  if (e.name === 'TimeoutError') return error;
  if ((e.code && NETWORK_CODES.has(e.code)) || NETWORK_CODES.has(e.name)) return withCause(new AwsUnavailable(where), error);
  return error;
}

function withCause<T extends Error>(named: T, cause: unknown): T {
  Object.defineProperty(named, 'cause', { value: cause, enumerable: false });
  return named;
}

/** No execution of the bake state machine has the requested id (name or ARN). */
export class BuildNotFound extends PipelineError {
  override readonly name = 'BuildNotFound';
}

/** The caller's IAM principal may not ask for this environment (config `environments.{env}.callers`). Never retried. */
export class CallerNotAllowed extends PipelineError {
  override readonly name = 'CallerNotAllowed';
}

/**
 * Every configured (instance type, subnet) pair, and Spot then On-Demand where asked, was refused
 * for capacity or a limit; the message names each pair and EC2's answer. Never retried.
 */
export class NoCapacity extends PipelineError {
  override readonly name = 'NoCapacity';
}
