import { createHash, randomUUID } from 'node:crypto';
import { ENVIRONMENT_NAME } from './config-values';
import { ConfigInvalid, RequestInvalid, receivedText } from './errors';
import { isPlainObject } from './json';
import { DIGEST } from './patterns';

/** What Step Functions accepts as an execution name (and what the API takes as a build id). */
export const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** The `{id}` of an API path: an execution name only, since an ARN could name another state machine's execution. */
export function pathBuildId(pathParameters: Record<string, string | undefined> | undefined): string {
  const id = pathParameters?.id ?? '';
  if (!EXECUTION_NAME.test(id))
    throw new RequestInvalid({
      field: 'path.id',
      allowed: "a build's execution name (letters, digits, - and _, at most 80)",
      received: receivedText(id),
    });
  return id;
}

const DIGEST_HEX_CHARS = 24;
const DISCRIMINATOR_HEX_CHARS = 12;
const EVENT_ID = /^[A-Za-z0-9-]{1,128}$/;

/**
 * `<env>-<24 hex of the digest>-<12 hex of the request>`: readable, at most 70 characters. The
 * request part is the EventBridge event id for an ECR push, so a duplicate delivery of the same
 * event maps to the same execution, which Step Functions starts once; a later push of the same
 * digest is another event, hence another build (never refused as ExecutionAlreadyExists). Any
 * other request is a build of its own. The name only names: resources belong to the build id.
 */
export function executionName(environment: string, digest: string, discriminator: string): string {
  if (!ENVIRONMENT_NAME.test(environment))
    throw new RequestInvalid({ field: 'environment', allowed: 'an environment name', received: receivedText(environment) });
  if (!DIGEST.test(digest))
    throw new RequestInvalid({
      field: 'digest',
      allowed: 'sha256: followed by 64 lowercase hex characters',
      received: receivedText(digest),
    });
  const request = createHash('sha256').update(discriminator).digest('hex').slice(0, DISCRIMINATOR_HEX_CHARS);
  return `${environment}-${digest.slice('sha256:'.length, 'sha256:'.length + DIGEST_HEX_CHARS)}-${request}`;
}

/** The EventBridge event id of an ECR push (the same on every delivery of it); else a fresh id. */
export function requestDiscriminator(input: unknown): string {
  const record = isPlainObject(input) ? input : {};
  const id = record.id;
  if (record.source === 'aws.ecr' && typeof id === 'string' && EVENT_ID.test(id)) return `event:${id}`;
  return `request:${randomUUID()}`;
}

const STATE_MACHINE_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;
const EXECUTION_ARN = /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$/;

export function isStateMachineArn(text: string): boolean {
  return STATE_MACHINE_ARN.test(text);
}

export function isExecutionArn(text: string): boolean {
  return EXECUTION_ARN.test(text);
}

/** The ARN of an execution given its ARN or its name; Step Functions derives it the same way. */
export function executionArnFor(stateMachineArn: string | undefined, idOrArn: string): string {
  if (isExecutionArn(idOrArn)) return idOrArn;
  if (!EXECUTION_NAME.test(idOrArn)) {
    throw new RequestInvalid({
      field: 'id',
      allowed: 'an execution ARN or name (letters, digits, - and _, at most 80)',
      received: receivedText(idOrArn),
    });
  }
  if (!stateMachineArn || !isStateMachineArn(stateMachineArn)) {
    throw new RequestInvalid({
      field: 'stateMachineArn',
      problem: `a state machine ARN is needed to find execution "${idOrArn}"`,
      allowed: 'a state machine ARN',
    });
  }
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${idOrArn}`;
}

export function executionNameOf(executionArn: string): string {
  return executionArn.slice(executionArn.lastIndexOf(':') + 1);
}

export const STATE_MACHINE_ARN_VAR = 'STATE_MACHINE_ARN';

/** The bake state machine of the Lambdas behind the API and the ECR rule (set by serverless.yml). */
export function stateMachineArnFromEnv(): string {
  const arn = process.env[STATE_MACHINE_ARN_VAR];
  if (!arn || !isStateMachineArn(arn))
    throw new ConfigInvalid({ field: STATE_MACHINE_ARN_VAR, allowed: "the bake state machine's ARN", received: arn ?? '' });
  return arn;
}
