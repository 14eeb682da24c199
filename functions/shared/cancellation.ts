import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Clients } from './clients';
import type { PipelineConfig } from './config';
import { BuildCancelled, CancelRefused } from './errors';
import type { Step, StepContext } from './handler';
import { isConditionFailure, RECORD_TTL_ATTRIBUTE, recordExpiry } from './lock-records';
import type { BuildState } from './state';

/**
 * A cancel is a record in the lock table, `cancel:<execution name>`, read where the build is about
 * to make something new or to pause: before it launches the builder or the test instance, before
 * CreateImage, before each wait registration (a long wait ends at its next fallback) and while it
 * waits for the environment lock. A cancelled step fails with BuildCancelled, which the ASL's
 * Catch sends through roll back. Stopping the execution instead would skip the roll back, and a
 * step already running (CreateImage in flight, a Lambda retry) would still make what nothing then
 * removes; a record is seen by the next reading step whatever the build is doing. Publish marks
 * the same item before it writes a parameter: the two conditional writes make "cancelled" and
 * "published" exclusive, so a cancel either stops the build before `latest` changes or is refused.
 * Environment names cannot contain ':', so these items never meet a lock. The record expires by
 * TTL (the release does not spend a call on it).
 */
const KEY_PREFIX = 'cancel:';

export function cancelRecordKey(executionName: string): string {
  return `${KEY_PREFIX}${executionName}`;
}

const key = (executionName: string) => ({ environment: { S: cancelRecordKey(executionName) } });

export interface CancelRequest {
  executionName: string;
  /** The execution's id (its ARN; `local:<name>` for an in-process run): a record of an earlier execution of the same name is not this one's. */
  executionId: string;
  environment: string;
  requestedBy: string;
  now?: Date;
}

/** Records a cancel; CancelRefused when the build has already published. */
export async function requestCancel(dynamodb: DynamoDBClient, config: PipelineConfig, request: CancelRequest): Promise<void> {
  const at = (request.now ?? new Date()).toISOString();
  try {
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: config.lock.table,
        Key: key(request.executionName),
        UpdateExpression:
          'SET execution_id = :id, build_environment = :env, cancel_requested_at = :at, cancel_requested_by = :by, #expires = :expires',
        // A publish record of an earlier execution of the same name does not refuse this one.
        ConditionExpression: 'attribute_not_exists(published_at) OR execution_id <> :id',
        ExpressionAttributeValues: {
          ':id': { S: request.executionId },
          ':env': { S: request.environment },
          ':at': { S: at },
          ':by': { S: request.requestedBy },
          ':expires': { N: recordExpiry(request.now) },
        },
        ExpressionAttributeNames: { '#expires': RECORD_TTL_ATTRIBUTE },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw new CancelRefused(
      `build ${request.executionName} has started to publish its AMI to ${config.parameterPrefix}/${request.environment}/latest: ` +
        `a cancel can no longer undo it; to go back, run: comfyui-ami rollback --env ${request.environment}`,
    );
  }
}

/** The execution a cancel record belongs to. */
export interface CancelledExecution {
  name: string;
  id: string;
}

/** BuildCancelled when a cancel of this execution was recorded. */
export async function throwIfCancelled(execution: CancelledExecution, { config, clients }: StepContext<'dynamodb'>): Promise<void> {
  const out = await clients.dynamodb.send(
    new GetItemCommand({ TableName: config.lock.table, Key: key(execution.name), ConsistentRead: true }),
  );
  const item = out.Item;
  if (!item?.cancel_requested_at?.S || item.execution_id?.S !== execution.id) return;
  throw new BuildCancelled(`cancelled by ${item.cancel_requested_by?.S ?? 'unknown'} at ${item.cancel_requested_at.S}`);
}

/**
 * Called by Publish before its first write: marks the build published, or fails with
 * BuildCancelled when a cancel came first. Repeating it (a retried publish) is harmless.
 */
export async function markPublishing(state: BuildState, ctx: StepContext<'dynamodb'>, now = new Date()): Promise<void> {
  const { config, clients } = ctx;
  try {
    await clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: config.lock.table,
        Key: key(state.execution.name),
        UpdateExpression: 'SET execution_id = :id, published_at = :at, #expires = :expires REMOVE cancel_requested_at, cancel_requested_by',
        ConditionExpression: 'attribute_not_exists(cancel_requested_at) OR execution_id <> :id',
        ExpressionAttributeValues: {
          ':id': { S: state.execution.id },
          ':at': { S: now.toISOString() },
          ':expires': { N: recordExpiry(now) },
        },
        ExpressionAttributeNames: { '#expires': RECORD_TTL_ATTRIBUTE },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    await throwIfCancelled(state.execution, ctx);
    throw error;
  }
}

/** The step, refusing to start once its build is cancelled. */
export function cancellable<O, K extends keyof Clients>(step: Step<BuildState, O, K>): Step<BuildState, O, K | 'dynamodb'> {
  return async (state, ctx) => {
    await throwIfCancelled(state.execution, ctx);
    return step(state, ctx);
  };
}
