import { type DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import type { PipelineConfig } from './config';
import { deleteRecordWhile, isConditionFailure } from './lock-records';
import type { RequestSource } from './state';

/**
 * Who asked for a build, kept where the execution's input cannot reach: the start function
 * writes the caller's IAM principal (from API Gateway's SigV4 check) into the lock table under
 * `request:<execution name>` before it starts the execution, and "Normalize the request" reads
 * it. Environment names cannot contain ':', so these items never meet a lock.
 */
const KEY_PREFIX = 'request:';
/** A record older than this before the execution started belongs to an earlier execution of the same name. */
const FRESH_SECONDS = 600;

export function requestRecordKey(executionName: string): string {
  return `${KEY_PREFIX}${executionName}`;
}

const key = (executionName: string) => ({ environment: { S: requestRecordKey(executionName) } });

/**
 * Records the principal for an execution about to start. A fresh record of another request for
 * the same name is kept: that request started (or is starting) the execution. Returns whether
 * this call wrote the record.
 */
export async function recordRequester(
  dynamodb: DynamoDBClient,
  config: PipelineConfig,
  executionName: string,
  requestedBy: string,
  now = new Date(),
): Promise<boolean> {
  const at = Math.floor(now.getTime() / 1000);
  try {
    await dynamodb.send(
      new PutItemCommand({
        TableName: config.lock.table,
        Item: { ...key(executionName), requested_by: { S: requestedBy }, recorded_at: { N: String(at) } },
        ConditionExpression: 'attribute_not_exists(environment) OR recorded_at < :stale',
        ExpressionAttributeValues: { ':stale': { N: String(at - FRESH_SECONDS) } },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Removes this caller's record when its execution did not start, so it names no later execution. */
export async function forgetRequester(
  dynamodb: DynamoDBClient,
  config: PipelineConfig,
  executionName: string,
  requestedBy: string,
): Promise<void> {
  await deleteRecordWhile(dynamodb, config.lock.table, key(executionName), 'requested_by', requestedBy);
}

/**
 * The caller of an API build route and its record, for startBuild: the one place that writes
 * requester records takes it, so a function that never records (the environment actions) bundles
 * no DynamoDB.
 */
export interface RequesterRecord {
  requestedBy: string;
  /** Whether this call wrote the record (recordRequester). */
  record(executionName: string): Promise<boolean>;
  forget(executionName: string): Promise<void>;
}

export function requesterRecord(dynamodb: DynamoDBClient, config: PipelineConfig, requestedBy: string): RequesterRecord {
  return {
    requestedBy,
    record: (executionName) => recordRequester(dynamodb, config, executionName, requestedBy),
    forget: (executionName) => forgetRequester(dynamodb, config, executionName, requestedBy),
  };
}

/** The principal the start function recorded for this execution, or null when it recorded none. */
export async function recordedRequester(
  dynamodb: DynamoDBClient,
  config: PipelineConfig,
  executionName: string,
  startTime: string,
): Promise<string | null> {
  if (executionName === '') return null;
  const out = await dynamodb.send(new GetItemCommand({ TableName: config.lock.table, Key: key(executionName), ConsistentRead: true }));
  const requestedBy = out.Item?.requested_by?.S;
  const recordedAt = Number(out.Item?.recorded_at?.N ?? NaN);
  if (!requestedBy || !Number.isFinite(recordedAt)) return null;
  const started = Math.floor(new Date(startTime).getTime() / 1000);
  // Written just before StartExecution; allow some clock skew after it.
  return recordedAt >= started - FRESH_SECONDS && recordedAt <= started + 60 ? requestedBy : null;
}

/**
 * What is honestly known when no principal was recorded: the execution was started directly
 * (console, CLI, SDK: CloudTrail's StartExecution event names the principal) or by an ECR push
 * (CloudTrail's PutImage event names the pusher). The input's own claims are never used.
 */
export function unrecordedRequester(source: RequestSource): string {
  return source === 'ecr-push'
    ? 'ecr-push (pusher not recorded; CloudTrail PutImage names it)'
    : 'console (principal not recorded; CloudTrail StartExecution names it)';
}
