import { type AttributeValue, GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { LockTimedOut } from './errors';
import type { StepContext } from './handler';
import { isConditionFailure } from './lock-records';
import { type BuildState, type LockStatus, need } from './state';

/**
 * One item per environment in a DynamoDB table: conditional writes make taking, handing over
 * and releasing the lock atomic. The item holds the build in progress (holder) and the newest
 * request seen (newest); a request older than either is superseded: the newest image wins.
 * Keys sort by request time, then execution name, so every pair of requests is ordered.
 */
function requestKey(state: BuildState): string {
  return `${need(state, 'request').requestedAt}|${state.execution.name}`;
}

/**
 * Keys beyond this are no request's: request times are checked to lie at most
 * lock.maxEventSkewMinutes ahead, so a key further ahead was written before that check existed
 * (or by hand) and must not supersede every later build. `~` sorts after any execution name.
 */
function keyHorizon(config: StepContext['config'], now = Date.now()): string {
  return `${new Date(now + config.lock.maxEventSkewMinutes * 60000).toISOString()}|~`;
}

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });

/** A holder is stale when its lease ran out, or Step Functions says its execution has ended. */
async function isStale(item: Record<string, AttributeValue>, { clients }: StepContext<'sfn'>): Promise<boolean> {
  if (Number(item.expires_at?.N ?? 0) * 1000 < Date.now()) return true;
  const holderId = item.holder_id?.S ?? '';
  if (!holderId.startsWith('arn:aws:states:')) return false;
  try {
    const execution = await clients.sfn.send(new DescribeExecutionCommand({ executionArn: holderId }));
    return execution.status !== 'RUNNING';
  } catch (error) {
    return (error as Error).name === 'ExecutionDoesNotExist';
  }
}

export async function acquireLock(state: BuildState, ctx: StepContext<'dynamodb' | 'sfn'>): Promise<LockStatus> {
  const { config, clients, logger } = ctx;
  const environment = need(state, 'request').environment;
  const me = state.execution.name;
  const myKey = requestKey(state);
  const attempt = (state.lock?.attempt ?? 0) + 1;
  const key = { environment: s(environment) };
  const take = (condition: string, values: Record<string, AttributeValue>) =>
    clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: config.lock.table,
        Key: key,
        UpdateExpression: 'SET holder = :me, holder_id = :id, holder_key = :key, expires_at = :exp, newest = :me, newest_key = :key',
        ConditionExpression: condition,
        ExpressionAttributeValues: {
          ':me': s(me),
          ':id': s(state.execution.id),
          ':key': s(myKey),
          ':exp': n(Math.floor(Date.now() / 1000) + config.lock.leaseMinutes * 60),
          ':horizon': s(horizon),
          ...values,
        },
      }),
    );
  const horizon = keyHorizon(config);
  const notNewer = '(attribute_not_exists(newest_key) OR newest_key <= :key OR newest_key > :horizon)';

  try {
    await take(`(attribute_not_exists(holder) OR holder = :me) AND ${notNewer}`, {});
    return { status: 'acquired', attempt, other: null };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }

  const item =
    (await clients.dynamodb.send(new GetItemCommand({ TableName: config.lock.table, Key: key, ConsistentRead: true }))).Item ?? {};
  const holder = item.holder?.S ?? null;
  const isNewer = (k: string | undefined): k is string => k !== undefined && k > myKey && k <= horizon;
  const newer = [item.holder_key?.S, item.newest_key?.S].filter(isNewer);
  if (newer.length > 0) {
    const by = isNewer(item.newest_key?.S) ? item.newest?.S : holder;
    logger.info('request superseded by a newer one', { environment, by });
    return { status: 'superseded', attempt, other: by ?? null };
  }

  if (holder && (await isStale(item, ctx))) {
    try {
      await take(`holder = :stale AND ${notNewer}`, { ':stale': s(holder) });
      logger.warn('took over a stale lock', { environment, staleHolder: holder });
      return { status: 'acquired', attempt, other: holder };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  if (attempt >= config.lock.maxWaitAttempts) {
    throw new LockTimedOut(
      `environment ${environment} is still locked by ${holder ?? 'another build'} after ${attempt} checks (lock.maxWaitAttempts); see it with: comfyui-ami lock --env ${environment}`,
    );
  }
  try {
    await clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: config.lock.table,
        Key: key,
        UpdateExpression: 'SET newest = :me, newest_key = :key',
        ConditionExpression: notNewer,
        ExpressionAttributeValues: { ':me': s(me), ':key': s(myKey), ':horizon': s(horizon) },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return { status: 'superseded', attempt, other: null };
  }
  return { status: 'waiting', attempt, other: holder };
}

/** Frees the environment if this execution holds it; the newest-request mark stays. */
export async function releaseLock(state: BuildState, { config, clients }: StepContext<'dynamodb'>): Promise<{ released: boolean }> {
  const environment = state.request?.environment;
  if (!environment) return { released: false };
  try {
    await clients.dynamodb.send(
      new UpdateItemCommand({
        TableName: config.lock.table,
        Key: { environment: s(environment) },
        UpdateExpression: 'REMOVE holder, holder_id, holder_key, expires_at',
        ConditionExpression: 'holder = :me',
        ExpressionAttributeValues: { ':me': s(state.execution.name) },
      }),
    );
    return { released: true };
  } catch (error) {
    if (isConditionFailure(error)) return { released: false };
    throw error;
  }
}
