import { type AttributeValue, type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { Clients } from './clients';
import type { PipelineConfig } from './config';
import { BuildCancelled, CancelRefused } from './errors';
import type { Step, StepContext } from './handler';
import { BUILD_RECORD_DAYS, isConditionFailure, RECORD_TTL_ATTRIBUTE, recordExpiry } from './lock-records';
import type { BuildState } from './state';

/**
 * A cancel is a record in the lock table, `cancel:<execution name>`, checked where the build is
 * about to make something new or to pause: before it launches the builder or the test instance
 * and before CreateImage (by the conditional write that marks the step begun), before each wait
 * registration (a long wait ends at its next fallback) and while it waits for the environment
 * lock. A cancelled step fails with BuildCancelled, which the ASL's Catch sends through roll back. Stopping the execution instead would skip the roll back, and a
 * step already running (CreateImage in flight, a Lambda retry) would still make what nothing then
 * removes; a record is seen by the next reading step whatever the build is doing. Publish marks
 * the same item before it writes a parameter: the two conditional writes make "cancelled" and
 * "published" exclusive, so a cancel either stops the build before `latest` changes or is refused.
 * Environment names cannot contain ':', so these items never meet a lock. The record expires by
 * TTL (the release does not spend a call on it), after the window in which the execution can
 * be redriven.
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
          ':expires': { N: recordExpiry(request.now, BUILD_RECORD_DAYS) },
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
  throw cancelledBy(item);
}

function cancelledBy(item: Record<string, AttributeValue> | undefined): BuildCancelled {
  return new BuildCancelled(`cancelled by ${item?.cancel_requested_by?.S ?? 'unknown'} at ${item?.cancel_requested_at?.S ?? 'unknown'}`);
}

/** Whether an earlier attempt of a step (a retry, a redrive) had begun: only then can it have made something. */
export interface Attempt {
  repeated: boolean;
}

/**
 * The build's record updated unless a cancel of this execution was recorded (then
 * BuildCancelled, naming who cancelled from the record the write lost to); the record as it was.
 */
async function updateUnlessCancelled(
  execution: CancelledExecution,
  update: { expression: string; names?: Record<string, string>; values?: Record<string, AttributeValue> },
  { config, clients }: StepContext<'dynamodb'>,
  now: Date,
): Promise<Record<string, AttributeValue> | undefined> {
  try {
    const out = await clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: config.lock.table,
        Key: key(execution.name),
        UpdateExpression: `${update.expression}, #expires = :expires`,
        ConditionExpression: 'attribute_not_exists(cancel_requested_at) OR execution_id <> :id',
        ExpressionAttributeValues: {
          ...update.values,
          ':id': { S: execution.id },
          ':expires': { N: recordExpiry(now, BUILD_RECORD_DAYS) },
        },
        ExpressionAttributeNames: { ...update.names, '#expires': RECORD_TTL_ATTRIBUTE },
        ReturnValues: 'ALL_OLD',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return out.Attributes;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw cancelledBy((error as { Item?: Record<string, AttributeValue> }).Item);
  }
}

/** Whether an earlier attempt of a step (a retry, a redrive) had begun: only then can it have made something. */
export interface Attempt {
  repeated: boolean;
}

/**
 * One conditional write before a step makes something: BuildCancelled when a cancel of this
 * execution was recorded; otherwise it marks the step begun and says whether an earlier attempt
 * had. A first attempt then needs no look for what it would have made.
 */
export async function beginUnlessCancelled(
  execution: CancelledExecution,
  step: string,
  ctx: StepContext<'dynamodb'>,
  now = new Date(),
): Promise<Attempt> {
  const mark = `began_${step}`;
  const before = await updateUnlessCancelled(execution, { expression: 'SET #began = :id', names: { '#began': mark } }, ctx, now);
  return { repeated: before?.[mark]?.S === execution.id };
}

/**
 * Called by Publish before its first write: marks the build published, or fails with
 * BuildCancelled when a cancel came first. Repeating it (a retried publish) is harmless, and it
 * says whether an earlier attempt of this execution had marked it (and so may have written).
 */
export async function markPublishing(state: BuildState, ctx: StepContext<'dynamodb'>, now = new Date()): Promise<Attempt> {
  const before = await updateUnlessCancelled(
    state.execution,
    {
      expression: 'REMOVE cancel_requested_at, cancel_requested_by SET execution_id = :id, published_at = :at',
      values: { ':at': { S: now.toISOString() } },
    },
    ctx,
    now,
  );
  return { repeated: Boolean(before?.published_at?.S) && before?.execution_id?.S === state.execution.id };
}

/** A step that makes something, told whether an earlier attempt of it began. */
export type MakingStep<O, K extends keyof Clients> = (state: BuildState, ctx: StepContext<K>, attempt: Attempt) => Promise<O>;

/** The step, refusing to start once its build is cancelled; `name` keys its mark in the build's record. */
export function cancellable<O, K extends keyof Clients>(name: string, step: MakingStep<O, K>): Step<BuildState, O, K | 'dynamodb'> {
  return async (state, ctx) => step(state, ctx, await beginUnlessCancelled(state.execution, name, ctx));
}
