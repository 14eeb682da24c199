/**
 * Cancel, with the real ASL run in-process against the moto server: a cancel recorded at a
 * given point (after the builder launched, while a check is being retried, after CreateImage,
 * just before publish) ends the build through roll back with nothing left behind, `latest`
 * unchanged and the lock released; a build waiting for the lock ends without taking it; a cancel
 * after publish is refused and the build completes. The records expire by TTL.
 */
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { cancelRecordKey, requestCancel } from '../../functions/shared/cancellation';
import { AwsThrottled } from '../../functions/shared/errors';
import { logger } from '../../functions/shared/handler';
import { RECORD_TTL_ATTRIBUTE } from '../../functions/shared/lock-records';
import type { BuildState } from '../../functions/shared/state';
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { type AccountState, readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

const config = demoConfig();
let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  logger.setLogLevel('SILENT');
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

async function realHandler(folder: string): Promise<LambdaHandler> {
  return ((await import(`../../functions/${folder}/handler`)) as { handler: LambdaHandler }).handler;
}

function cancel(executionName: string) {
  return requestCancel(new DynamoDBClient({}), config, {
    executionName,
    executionId: `local:${executionName}`,
    environment: 'dev',
    requestedBy: 'arn:aws:iam::123456789012:user/operator',
  });
}

async function item(key: string) {
  return (await new DynamoDBClient({}).send(new GetItemCommand({ TableName: config.lock.table, Key: { environment: { S: key } } }))).Item;
}

/** The record stays until its TTL, which outlasts the 14 days in which an execution can be redriven, and is at most 15 days away. */
async function expectExpiringRecord(name: string) {
  const expires = Number((await item(cancelRecordKey(name)))?.[RECORD_TTL_ATTRIBUTE]?.N) * 1000;
  expect(expires).toBeGreaterThan(Date.now() + 14 * 24 * 3600 * 1000);
  expect(expires).toBeLessThanOrEqual(Date.now() + 15 * 24 * 3600 * 1000);
}

let baseline: Set<string>;
let pushes = 0;

beforeAll(async () => {
  await seedAccount(config);
  baseline = await snapshotIds();
  const first = await pushImage('comfyui', 'dev-latest', 'one');
  expect((await build(pushEvent('comfyui', 'dev-latest', first), config, 'dev-first')).status).toBe('SUCCEEDED');
});

/** The account as it is (one published dev AMI; a cancelled build changes nothing), and a newer image pushed. */
async function newerImage(): Promise<{ before: AccountState; input: unknown }> {
  pushes += 1;
  const digest = await pushImage('comfyui', 'dev-latest', `newer-${pushes}`);
  return { before: await readAccount(baseline), input: pushEvent('comfyui', 'dev-latest', digest) };
}

describe('cancel', () => {
  const points: { title: string; state: string; folder: string; when: (name: string, real: LambdaHandler) => LambdaHandler }[] = [
    {
      title: 'after the builder launched',
      state: 'Launch the builder instance',
      folder: 'launch-builder',
      when: (name, real) => async (event, context) => {
        const out = await real(event, context);
        await cancel(name);
        return out;
      },
    },
    {
      title: 'during the update poll, while a check is being retried',
      state: 'Check the update',
      folder: 'check-update-command',
      when: (name, real) => {
        let calls = 0;
        return async (event, context) => {
          calls += 1;
          if (calls > 1) return real(event, context);
          await cancel(name);
          throw new AwsThrottled('injected: the first check is throttled');
        };
      },
    },
    {
      title: 'after CreateImage, while the AMI is pending',
      state: 'Create the AMI',
      folder: 'create-image',
      when: (name, real) => async (event, context) => {
        const out = await real(event, context);
        await cancel(name);
        return out;
      },
    },
    {
      title: 'just before publish (the cancel wins the race)',
      state: 'Publish the AMI',
      folder: 'publish-ami',
      when: (name, real) => async (event, context) => {
        await cancel(name);
        return real(event, context);
      },
    },
  ];

  it.each(points)('$title: rolls back, leaves nothing behind, keeps latest and releases the lock', async ({ state, folder, when }) => {
    const { before, input } = await newerImage();
    const name = `dev-cancel-${folder}`;

    const result = await buildWith(input, config, name, { [state]: when(name, await realHandler(folder)) });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('BuildCancelled');
    expect(result.cause).toContain('cancelled by arn:aws:iam::123456789012:user/operator');
    expect(result.steps.map((s) => s.name)).toEqual(expect.arrayContaining(['Roll back the build', 'Release the lock after failure']));
    const after = await readAccount(baseline);
    expect(after.liveBuilders).toEqual([]);
    expect(after.amis).toEqual(before.amis);
    expect(after.orphanSnapshots).toEqual([]);
    expect(after.parameters).toEqual(before.parameters);
    expect((await item('dev'))?.holder).toBeUndefined();
    await expectExpiringRecord(name);
  });

  it('as the build takes the environment lock: launches nothing and releases the lock', async () => {
    const { before, input } = await newerImage();
    const name = 'dev-cancel-at-start';
    const real = await realHandler('acquire-lock');
    const handler: LambdaHandler = async (event, context) => {
      await cancel(name);
      return real(event, context);
    };

    const result = await buildWith(input, config, name, { 'Acquire the environment lock': handler });

    expect(result.error).toBe('BuildCancelled');
    // Read before RunInstances: the first step that would make something refuses.
    expect(result.failedState).toBe('Launch the builder instance');
    expect(await readAccount(baseline)).toEqual(before);
    expect((await item('dev'))?.holder).toBeUndefined();
  });

  it('while the build waits for the environment lock: ends without ever taking it', async () => {
    const { before, input } = await newerImage();
    const name = 'dev-cancel-waiting';
    const dynamodb = new DynamoDBClient({});
    // Another build holds the lock: an older request, its lease running.
    const other = { S: '2000-01-01T00:00:00.000Z|dev-other' };
    await dynamodb.send(
      new PutItemCommand({
        TableName: config.lock.table,
        Item: {
          environment: { S: 'dev' },
          holder: { S: 'dev-other' },
          holder_id: { S: 'local:dev-other' },
          holder_key: other,
          newest: { S: 'dev-other' },
          newest_key: other,
          expires_at: { N: String(Math.floor(Date.now() / 1000) + 3600) },
        },
      }),
    );
    const real = await realHandler('acquire-lock');
    let attempts = 0;
    const handler: LambdaHandler = async (event, context) => {
      attempts += 1;
      if (attempts === 2) await cancel(name);
      return real(event, context);
    };

    try {
      const result = await buildWith(input, config, name, { 'Acquire the environment lock': handler });

      expect(result.error).toBe('BuildCancelled');
      expect(attempts).toBe(2);
      expect(result.steps.map((s) => s.name)).not.toContain('Launch the builder instance');
      expect(await readAccount(baseline)).toEqual(before);
      expect((await item('dev'))?.holder).toEqual({ S: 'dev-other' });
    } finally {
      await dynamodb.send(new DeleteItemCommand({ TableName: config.lock.table, Key: { environment: { S: 'dev' } } }));
    }
  });

  it('after publish: is refused naming the way back, and the build completes', async () => {
    const { input } = await newerImage();
    const name = 'dev-cancel-too-late';
    const real = await realHandler('clean-up');
    let refusal: unknown;
    const handler: LambdaHandler = async (event, context) => {
      await cancel(name).catch((error: unknown) => {
        refusal = error;
      });
      return real(event as BuildState, context);
    };

    const result = await buildWith(input, config, name, { 'Clean up': handler });

    expect(result.status).toBe('SUCCEEDED');
    expect(refusal).toMatchObject({ name: 'CancelRefused', message: expect.stringContaining('comfyui-ami rollback --env dev') });
    const after = await readAccount(baseline);
    expect(after.parameters['/comfyui/ami/dev/latest']).toBe(result.output?.amiId);
    expect(after.liveBuilders).toEqual([]);
    expect((await item(cancelRecordKey(name)))?.published_at).toBeDefined();
    await expectExpiringRecord(name);
  });
});
