import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { PipelineConfig } from './config';
import { deleteRecordWhile, RECORD_TTL_ATTRIBUTE, recordExpiry } from './lock-records';

/**
 * Which paused execution waits for which resource: `wait:<resource id>` -> the task token of the
 * Task that waits for it. Kept in the lock table under keys no environment can have (names hold
 * no ':'), like the requester records. It is the only authority the event receiver trusts: an
 * event for a resource no execution registered resumes nothing.
 */
const KEY_PREFIX = 'wait:';
/** A registration no event consumed (a lost event) expires by TTL on this attribute. */
export const WAIT_TTL_ATTRIBUTE = RECORD_TTL_ATTRIBUTE;

/** What a wait waits for: an AMI leaving pending, a Run Command ending, an instance stopping (the builder). */
export const WAIT_KINDS = ['image', 'command', 'instance'] as const;
export type WaitKind = (typeof WAIT_KINDS)[number];

export const isWaitKind = (value: unknown): value is WaitKind => (WAIT_KINDS as readonly unknown[]).includes(value);

export interface WaitRegistration {
  resourceId: string;
  kind: WaitKind;
  taskToken: string;
  executionId: string;
}

const key = (resourceId: string) => ({ environment: { S: `${KEY_PREFIX}${resourceId}` } });

/** A newer registration for the same resource replaces the older: that Task has ended. */
export async function registerWait(
  dynamodb: DynamoDBClient,
  config: PipelineConfig,
  wait: WaitRegistration,
  now = new Date(),
): Promise<void> {
  await dynamodb.send(
    new PutItemCommand({
      TableName: config.lock.table,
      Item: {
        ...key(wait.resourceId),
        kind: { S: wait.kind },
        task_token: { S: wait.taskToken },
        execution_id: { S: wait.executionId },
        [WAIT_TTL_ATTRIBUTE]: { N: recordExpiry(now) },
      },
    }),
  );
}

export async function findWait(dynamodb: DynamoDBClient, config: PipelineConfig, resourceId: string): Promise<WaitRegistration | null> {
  const out = await dynamodb.send(new GetItemCommand({ TableName: config.lock.table, Key: key(resourceId), ConsistentRead: true }));
  const item = out.Item;
  const kind = item?.kind?.S;
  const taskToken = item?.task_token?.S;
  if (!item || !isWaitKind(kind) || !taskToken) return null;
  return { resourceId, kind, taskToken, executionId: item.execution_id?.S ?? '' };
}

/** Removes the registration only while it still holds this token (a newer wait keeps its own). */
export async function forgetWait(dynamodb: DynamoDBClient, config: PipelineConfig, resourceId: string, taskToken: string): Promise<void> {
  await deleteRecordWhile(dynamodb, config.lock.table, key(resourceId), 'task_token', taskToken);
}
