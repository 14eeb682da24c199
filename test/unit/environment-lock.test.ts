/**
 * The environment lock on its own, DynamoDB mocked: acquiring a free lock, waiting behind a live
 * holder, being superseded by a newer request, taking over a stale holder, giving up after
 * lock.maxWaitAttempts, and releasing only what this execution holds.
 */
import 'aws-sdk-client-mock-jest';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  type GetItemCommandOutput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { acquireLock, releaseLock } from '../../functions/shared/environment-lock';
import type { BuildState } from '../../functions/shared/state';
import { stateAfterImage, stepContext } from '../support/context';

const dynamo = mockClient(DynamoDBClient);
const sfn = mockClient(SFNClient);

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
const state = (overrides: Partial<BuildState> = {}) => stateAfterImage(overrides);
const MY_KEY = '2026-11-27T12:00:00Z|dev-exec-1';
const HOLDER_ARN = 'arn:aws:states:us-east-1:123456789012:execution:bake-ami:dev-exec-0';
const inAnHour = () => String(Math.floor(Date.now() / 1000) + 3600);

/** The lock item another build left: its holder, its key and lease, and the newest request. */
function lockItem(item: Record<string, string>): void {
  const attributes: NonNullable<GetItemCommandOutput['Item']> = {};
  for (const [key, value] of Object.entries(item)) attributes[key] = key === 'expires_at' ? { N: value } : { S: value };
  dynamo.on(GetItemCommand).resolves({ Item: attributes });
}

beforeEach(() => {
  dynamo.reset();
  sfn.reset();
  dynamo.on(UpdateItemCommand).resolves({});
});

describe('acquireLock', () => {
  it('takes a free lock, writing this build as holder and newest request, with a lease', async () => {
    await expect(acquireLock(state(), stepContext())).resolves.toEqual({ status: 'acquired', attempt: 1, other: null });

    const update = dynamo.commandCalls(UpdateItemCommand)[0].args[0].input;
    expect(update.ConditionExpression).toMatch(/attribute_not_exists\(holder\) OR holder = :me/);
    expect(update.ExpressionAttributeValues).toMatchObject({ ':me': { S: 'dev-exec-1' }, ':key': { S: MY_KEY } });
    const lease = Number(update.ExpressionAttributeValues?.[':exp'].N) - Date.now() / 1000;
    expect(lease).toBeGreaterThan(stepContext().config.lock.leaseMinutes * 60 - 5);
  });

  it('waits behind a live holder with an older request, recording itself as the newest', async () => {
    dynamo.on(UpdateItemCommand).rejectsOnce(conditionFailed()).resolves({});
    lockItem({ holder: 'dev-exec-0', holder_id: HOLDER_ARN, holder_key: '2026-11-27T11:00:00Z|dev-exec-0', expires_at: inAnHour() });
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });

    await expect(acquireLock(state({ lock: { status: 'waiting', attempt: 2, other: 'dev-exec-0' } }), stepContext())).resolves.toEqual({
      status: 'waiting',
      attempt: 3,
      other: 'dev-exec-0',
    });
    expect(dynamo.commandCalls(UpdateItemCommand)[1].args[0].input.UpdateExpression).toBe('SET newest = :me, newest_key = :key');
  });

  it('is superseded by a newer request, and writes nothing more', async () => {
    dynamo.on(UpdateItemCommand).rejects(conditionFailed());
    lockItem({
      holder: 'dev-exec-0',
      holder_key: '2026-11-27T11:00:00Z|dev-exec-0',
      newest: 'dev-exec-2',
      newest_key: '2026-11-27T12:30:00Z|dev-exec-2',
      expires_at: inAnHour(),
    });

    await expect(acquireLock(state(), stepContext())).resolves.toEqual({ status: 'superseded', attempt: 1, other: 'dev-exec-2' });
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(1);
  });

  it('takes over a holder whose execution has ended, even within its lease', async () => {
    dynamo.on(UpdateItemCommand).rejectsOnce(conditionFailed()).resolves({});
    lockItem({ holder: 'dev-exec-0', holder_id: HOLDER_ARN, holder_key: '2026-11-27T11:00:00Z|dev-exec-0', expires_at: inAnHour() });
    sfn.on(DescribeExecutionCommand, { executionArn: HOLDER_ARN }).resolves({ status: 'FAILED' });

    await expect(acquireLock(state(), stepContext())).resolves.toEqual({ status: 'acquired', attempt: 1, other: 'dev-exec-0' });
    expect(dynamo.commandCalls(UpdateItemCommand)[1].args[0].input).toMatchObject({
      ConditionExpression: expect.stringMatching(/^holder = :stale/),
      ExpressionAttributeValues: expect.objectContaining({ ':stale': { S: 'dev-exec-0' } }),
    });
  });

  it('ignores a newest key further ahead than an event may be (a poisoned entry heals)', async () => {
    dynamo.on(UpdateItemCommand).rejectsOnce(conditionFailed()).resolves({});
    lockItem({ holder: 'dev-exec-0', holder_key: '2999-01-01T00:00:00Z|dev-exec-0', newest: 'dev-exec-0', expires_at: '1' });

    await expect(acquireLock(state(), stepContext())).resolves.toMatchObject({ status: 'acquired', other: 'dev-exec-0' });
  });

  it('gives up with LockTimedOut after lock.maxWaitAttempts checks, naming the holder and the command that shows it', async () => {
    dynamo.on(UpdateItemCommand).rejects(conditionFailed());
    lockItem({ holder: 'dev-exec-0', holder_id: HOLDER_ARN, holder_key: '2026-11-27T11:00:00Z|dev-exec-0', expires_at: inAnHour() });
    sfn.on(DescribeExecutionCommand).resolves({ status: 'RUNNING' });
    const ctx = stepContext();
    const last = { status: 'waiting' as const, attempt: ctx.config.lock.maxWaitAttempts - 1, other: 'dev-exec-0' };

    await expect(acquireLock(state({ lock: last }), ctx)).rejects.toMatchObject({
      name: 'LockTimedOut',
      message: expect.stringContaining('locked by dev-exec-0'),
    });
    await expect(acquireLock(state({ lock: last }), ctx)).rejects.toThrow(/comfyui-ami lock --env dev/);
  });

  it('lets an AWS error through', async () => {
    dynamo.on(UpdateItemCommand).rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    await expect(acquireLock(state(), stepContext())).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
  });
});

describe('releaseLock', () => {
  it('frees the lock only on the condition that this execution holds it', async () => {
    await expect(releaseLock(state(), stepContext())).resolves.toEqual({ released: true });
    expect(dynamo).toHaveReceivedCommandWith(UpdateItemCommand, {
      UpdateExpression: 'REMOVE holder, holder_id, holder_key, expires_at',
      ConditionExpression: 'holder = :me',
      ExpressionAttributeValues: { ':me': { S: 'dev-exec-1' } },
    });
  });

  it('answers not released when another build holds it, and when the request never got parsed', async () => {
    dynamo.on(UpdateItemCommand).rejects(conditionFailed());
    await expect(releaseLock(state(), stepContext())).resolves.toEqual({ released: false });
    dynamo.reset();
    await expect(releaseLock(state({ request: undefined }), stepContext())).resolves.toEqual({ released: false });
    expect(dynamo).not.toHaveReceivedCommand(UpdateItemCommand);
  });
});
