import { type AttributeValue, DeleteItemCommand, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { PipelineConfig } from '../../functions/shared/config';

/** An environment's lock item as people read it. */
export interface LockView {
  environment: string;
  table: string;
  /** The execution building the environment now, if any. */
  holder: string | null;
  holderExecution: string | null;
  holderRequest: string | null;
  leaseEnds: string | null;
  leaseExpired: boolean | null;
  /** The newest request seen: an older one is superseded. */
  newest: string | null;
  newestRequest: string | null;
  /** Request keys further ahead than lock.maxEventSkewMinutes: written before times were checked, or by hand. */
  aheadOfNow: string[];
}

const str = (v: AttributeValue | undefined): string | null => v?.S ?? null;

export async function readLock(
  dynamodb: DynamoDBClient,
  config: PipelineConfig,
  environment: string,
  now = new Date(),
): Promise<LockView | null> {
  const out = await dynamodb.send(
    new GetItemCommand({ TableName: config.lock.table, Key: { environment: { S: environment } }, ConsistentRead: true }),
  );
  const item = out.Item;
  if (!item) return null;
  const expires = item.expires_at?.N ? Number(item.expires_at.N) * 1000 : null;
  const horizon = new Date(now.getTime() + config.lock.maxEventSkewMinutes * 60000).toISOString();
  const keys = [str(item.holder_key), str(item.newest_key)].filter((k): k is string => k !== null);
  return {
    environment,
    table: config.lock.table,
    holder: str(item.holder),
    holderExecution: str(item.holder_id),
    holderRequest: str(item.holder_key),
    leaseEnds: expires === null ? null : new Date(expires).toISOString(),
    leaseExpired: expires === null ? null : expires < now.getTime(),
    newest: str(item.newest),
    newestRequest: str(item.newest_key),
    aheadOfNow: [...new Set(keys.filter((k) => k.slice(0, k.indexOf('|')) > horizon))],
  };
}

/** Deletes the environment's lock item (holder and newest-request mark). */
export async function clearLock(dynamodb: DynamoDBClient, config: PipelineConfig, environment: string): Promise<void> {
  await dynamodb.send(new DeleteItemCommand({ TableName: config.lock.table, Key: { environment: { S: environment } } }));
}
