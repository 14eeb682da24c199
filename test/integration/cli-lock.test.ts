/**
 * The lock against the moto server's DynamoDB: a poisoned lock item (a request timed far ahead,
 * written before event times were checked) no longer supersedes later builds, and `comfyui-ami
 * lock` shows and clears a stuck item.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { defaultClients } from '../../functions/shared/clients';
import { acquireLock } from '../../functions/shared/environment-lock';
import { main as lock } from '../../scripts/commands/lock';
import { createLockTable } from '../../scripts/lib/seed';
import { DEMO_CONFIG_PATH, demoConfig } from '../support/builds';
import { runCli } from '../support/cli';
import { stateAfterImage } from '../support/context';
import { type Moto, startMoto } from '../support/moto';

const config = demoConfig();
let moto: Moto;

const run = (argv: string[]) => runCli(lock, [...argv, '--config', DEMO_CONFIG_PATH]);

const item = async () =>
  (
    await new DynamoDBClient({}).send(
      new GetItemCommand({ TableName: config.lock.table, Key: { environment: { S: 'dev' } }, ConsistentRead: true }),
    )
  ).Item;

async function poison(): Promise<void> {
  await new DynamoDBClient({}).send(
    new PutItemCommand({
      TableName: config.lock.table,
      Item: { environment: { S: 'dev' }, newest: { S: 'dev-poison' }, newest_key: { S: '2999-01-01T00:00:00.000Z|dev-poison' } },
    }),
  );
}

beforeAll(async () => {
  moto = await startMoto();
  await createLockTable(config);
});
afterAll(async () => moto?.stop());

describe('a poisoned lock item', () => {
  it('no longer supersedes a later build: a request key far ahead of now is ignored', async () => {
    await poison();
    const now = new Date().toISOString();
    const state = stateAfterImage({ lock: undefined });
    state.request = { ...state.request!, requestedAt: now };
    const status = await acquireLock(state, { config, clients: defaultClients(), logger: new Logger({ logLevel: 'SILENT' }) });
    expect(status).toMatchObject({ status: 'acquired' });
    expect((await item())?.newest_key?.S).toBe(`${now}|${state.execution.name}`);
  });
});

describe('comfyui-ami lock', () => {
  it('shows the lock item, and flags a request key ahead of now', async () => {
    await poison();
    const shown = await run(['--env', 'dev']);
    expect(shown.code).toBe(0);
    expect(shown.out).toMatch(/^newest\s+dev-poison$/m);
    expect(shown.out).toMatch(
      /^ahead of now\s+2999-01-01T00:00:00.000Z\|dev-poison \(ignored by acquiring builds; clear with --clear --yes\)$/m,
    );
    const json = await run(['--env', 'dev', '--json']);
    expect(JSON.parse(json.out)).toMatchObject({ environment: 'dev', newest: 'dev-poison', holder: null });
  });

  it('refuses --clear without --yes, saying what it would remove, and removes nothing', async () => {
    await poison();
    const refused = await run(['--env', 'dev', '--clear']);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('--clear deletes the lock item of dev (not held; newest request dev-poison)');
    expect(refused.err).toContain('Add --yes');
    expect(await item()).toBeDefined();
  });

  it('clears the item with --clear --yes, then shows the environment free', async () => {
    await poison();
    const cleared = await run(['--env', 'dev', '--clear', '--yes']);
    expect([cleared.code, cleared.out]).toEqual([0, 'cleared the lock of dev (was: holder none, newest dev-poison)']);
    expect(await item()).toBeUndefined();
    const shown = await run(['--env', 'dev']);
    expect(shown.out).toBe(`no lock item for dev in ${config.lock.table}: the environment is free`);
  });

  it('exits 2 naming the flag for an unknown environment, a missing --env or a lone --yes', async () => {
    expect(await run(['--env', 'qa'])).toMatchObject({
      code: 2,
      err: expect.stringContaining('--env: must be one of the configured environments'),
    });
    expect(await run([])).toMatchObject({ code: 2, err: expect.stringContaining('--env is required') });
    expect(await run(['--env', 'dev', '--yes'])).toMatchObject({ code: 2, err: expect.stringContaining('--yes only confirms --clear') });
  });
});
