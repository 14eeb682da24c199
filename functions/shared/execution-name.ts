import { ENVIRONMENT_NAME } from './config';
import { ConfigInvalid, RequestInvalid } from './errors';
import { DIGEST } from './request';

/** What Step Functions accepts as an execution name (and what the API takes as a build id). */
export const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

const DIGEST_HEX_CHARS = 40;

/**
 * One name per (environment, image digest): a duplicate ECR event, a second tag on the same
 * image or a repeated request all map to the same execution, which Step Functions starts once.
 */
export function executionName(environment: string, digest: string): string {
  if (!ENVIRONMENT_NAME.test(environment)) throw new RequestInvalid(`environment: "${environment}" is not an environment name`);
  if (!DIGEST.test(digest)) throw new RequestInvalid(`digest: "${digest}" is not sha256: followed by 64 lowercase hex characters`);
  return `${environment}-${digest.slice('sha256:'.length, 'sha256:'.length + DIGEST_HEX_CHARS)}`;
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
    throw new RequestInvalid(`id: must be an execution ARN or name (letters, digits, - and _, at most 80), got "${idOrArn.slice(0, 100)}"`);
  }
  if (!stateMachineArn || !isStateMachineArn(stateMachineArn)) {
    throw new RequestInvalid(`stateMachineArn: a state machine ARN is needed to find execution "${idOrArn}"`);
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
  if (!arn || !isStateMachineArn(arn)) throw new ConfigInvalid(`${STATE_MACHINE_ARN_VAR} must hold the bake state machine's ARN, got "${arn ?? ''}"`);
  return arn;
}
