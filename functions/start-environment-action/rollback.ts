import { randomBytes } from 'node:crypto';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { environmentConfig } from '../shared/config-values';
import { RequestInvalid, receivedText } from '../shared/errors';
import { executionArnFor } from '../shared/execution-name';
import type { StarterContext } from '../shared/handler';
import { AMI_ID } from '../shared/patterns';
import { parseRollbackInput } from '../shared/request';
import type { RequestSource } from '../shared/state';
import { defaultRollbackTarget, type HistoryRow, listHistory } from './history';

/** The history (SSM), whether its AMIs still exist (EC2), and StartExecution. */
export type RollbackDeps = StarterContext<'ssm' | 'ec2' | 'sfn'>;

export interface RollbackRequest {
  environment: string;
  /** An AMI of the environment's history; default: see defaultRollbackTarget. */
  to?: string;
  source: Exclude<RequestSource, 'ecr-push'>;
}

export interface StartedRollback {
  executionArn: string;
  executionName: string;
  environment: string;
  rollbackTo: string;
  digest: string | null;
  /** Whether the target AMI still existed when the rollback started (it is decided again under the lock). */
  retained: boolean;
}

/** Unique per request: a rollback is never a duplicate of a build or of an earlier rollback. */
function rollbackExecutionName(environment: string, amiId: string): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:T.Z]/g, '')
    .slice(0, 14);
  return `${environment}-rollback-${amiId.slice('ami-'.length)}-${stamp}${randomBytes(2).toString('hex')}`.slice(0, 80);
}

export interface RollbackPlan {
  /** The state machine input: `{"action": "rollback", "environment", "rollback_to", "source"}`. */
  input: Record<string, unknown>;
  executionName: string;
  target: HistoryRow;
}

/** The allowed form of a rollback target. */
function builtForm(environment: string): string {
  return `an AMI id of an earlier build of ${environment} (comfyui-ami history --env ${environment} lists them)`;
}

/**
 * Checks a rollback before anything starts (the environment, the target being a build of it
 * that is not `latest`) and picks the default target. Reads only.
 */
export async function planRollback(request: RollbackRequest, deps: Pick<RollbackDeps, 'config' | 'clients'>): Promise<RollbackPlan> {
  const { config } = deps;
  if (!environmentConfig(config, request.environment)) {
    throw new RequestInvalid({
      field: 'environment',
      allowed: `one of the configured environments (${Object.keys(config.environments).join(', ')})`,
      received: receivedText(request.environment),
    });
  }
  if (request.to !== undefined && !AMI_ID.test(request.to))
    throw new RequestInvalid({ field: 'to', allowed: 'an AMI id such as ami-0123456789abcdef0', received: receivedText(request.to) });
  const rows = await listHistory(request.environment, deps);
  const target = request.to === undefined ? defaultRollbackTarget(rows) : rows.find((r) => r.amiId === request.to);
  if (!target) {
    throw new RequestInvalid(
      request.to === undefined
        ? {
            field: 'environment',
            problem: `${request.environment} has no build older than the one latest names; nothing to roll back to`,
            allowed: 'an environment with an earlier build',
          }
        : { field: 'to', problem: `${request.to} is no build of ${request.environment}`, allowed: builtForm(request.environment) },
    );
  }
  if (target.latest)
    throw new RequestInvalid({
      field: 'to',
      problem: `${target.amiId} is already latest for ${request.environment}; nothing to roll back`,
      allowed: builtForm(request.environment),
    });
  const input = { action: 'rollback', environment: request.environment, rollback_to: target.amiId, source: request.source };
  parseRollbackInput(input, config);
  return { input, executionName: rollbackExecutionName(request.environment, target.amiId), target };
}

/**
 * Starts a planned rollback on the state machine, which re-points `latest` to the target or
 * rebuilds its digest under the environment's lock.
 */
export async function startRollback(request: RollbackRequest, deps: RollbackDeps): Promise<StartedRollback> {
  const { input, executionName: name, target } = await planRollback(request, deps);
  const out = await deps.clients.sfn.send(
    new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input: JSON.stringify(input) }),
  );
  deps.logger.info('rollback started', { environment: request.environment, target: target.amiId, retained: target.available, name });
  return {
    executionArn: out.executionArn ?? executionArnFor(deps.stateMachineArn, name),
    executionName: name,
    environment: request.environment,
    rollbackTo: target.amiId,
    digest: target.digest,
    retained: target.available,
  };
}
