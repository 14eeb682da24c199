import { type DynamoDBClient, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { isConditionFailure } from './lock-records';

/**
 * Each environment's last build result, in the lock table under `result:{env}` (a key no
 * environment can have, apart from the lock items): what `status --env` shows, for deployed and
 * local runs alike. Written by the announce step only.
 */
export const RESULT_KEY_PREFIX = 'result:';

export interface LastResult {
  result: string;
  execution_name: string;
  execution_id: string;
  finished_at: string;
  ami_id: string | null;
  error: string | null;
}

const key = (environment: string) => ({ environment: { S: `${RESULT_KEY_PREFIX}${environment}` } });

/** Only a later end replaces the record: announcements of overlapping builds may arrive out of order. */
export async function recordLastResult(dynamodb: DynamoDBClient, table: string, environment: string, last: LastResult): Promise<boolean> {
  try {
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: table,
        Key: key(environment),
        UpdateExpression: 'SET last_result = :r, finished_at = :f',
        ConditionExpression: 'attribute_not_exists(finished_at) OR finished_at <= :f',
        ExpressionAttributeValues: { ':r': { S: JSON.stringify(last) }, ':f': { S: last.finished_at } },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

export async function readLastResult(dynamodb: DynamoDBClient, table: string, environment: string): Promise<LastResult | null> {
  const out = await dynamodb.send(new GetItemCommand({ TableName: table, Key: key(environment), ConsistentRead: true }));
  const text = out.Item?.last_result?.S;
  if (!text) return null;
  try {
    return JSON.parse(text) as LastResult;
  } catch {
    return null;
  }
}
