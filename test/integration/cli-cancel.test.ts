/**
 * `cancel` and POST /environments/{env}/builds/{id}/cancel against the moto server: a running
 * build gets the record its next step reads (shared/cancellation.ts); an ended build, one that
 * has started to publish, an unknown one and one of another environment are refused, and the
 * record is never written for them. (The roll back that follows: test/statemachine/cancel.test.ts.)
 * The same record tells a step that makes something whether an earlier attempt of it began.
 */
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateStateMachineCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { cancelFromApi } from '../../functions/cancel-build/api';
import { beginUnlessCancelled, cancelRecordKey, markPublishing, throwIfCancelled } from '../../functions/shared/cancellation';
import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import type { StepContext } from '../../functions/shared/handler';
import type { BuildState } from '../../functions/shared/state';
import { main as cancel } from '../../scripts/commands/cancel';
import { main as start } from '../../scripts/commands/start';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { STATE_MACHINE_ARN_ENV } from '../../scripts/lib/stack';
import { demoConfig } from '../support/builds';
import { deployedDefinition, runCli } from '../support/cli';
import { type Moto, startMoto } from '../support/moto';

const config = demoConfig();
const OPERATOR = 'arn:aws:sts::123456789012:assumed-role/operator/alice';
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined };
let moto: Moto;
let stateMachineArn: string;

/** A running execution of `env` (moto runs nothing: it stays RUNNING). */
async function startBuild(env: string): Promise<{ name: string; arn: string }> {
  const started = await runCli(start, ['--env', env, '--state-machine-arn', stateMachineArn]);
  expect(started.code).toBe(0);
  return { arn: started.out, name: started.out.slice(started.out.lastIndexOf(':') + 1) };
}

async function record(name: string) {
  const key = { environment: { S: cancelRecordKey(name) } };
  return (await new DynamoDBClient({}).send(new GetItemCommand({ TableName: config.lock.table, Key: key, ConsistentRead: true }))).Item;
}

function stepContext(): StepContext {
  resetDefaultClients();
  return { config, clients: defaultClients(), logger: silent } as unknown as StepContext;
}

function stateOf(build: { name: string; arn: string }): BuildState {
  return { execution: { name: build.name, id: build.arn, startTime: new Date().toISOString(), buildId: 'b' } } as BuildState;
}

function cancelEvent(env: string, id: string, caller = OPERATOR): APIGatewayProxyEventV2 {
  const routeKey = 'POST /environments/{env}/builds/{id}/cancel';
  const rawPath = `/environments/${env}/builds/${id}/cancel`;
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    pathParameters: { env, id },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: 'POST', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.1', userAgent: 'test' },
      requestId: 'req',
      routeKey,
      stage: '$default',
      time: '28/Nov/2026:01:00:00 +0000',
      timeEpoch: 1795831200000,
      authorizer: { iam: { accountId: '123456789012', userArn: caller } },
    },
  } as unknown as APIGatewayProxyEventV2;
}

function apiDeps(overrides: Partial<typeof config> = {}) {
  resetDefaultClients();
  const { sfn, dynamodb } = defaultClients();
  return () => ({ sfn, dynamodb, config: { ...config, ...overrides }, stateMachineArn });
}

beforeAll(async () => {
  delete process.env[STATE_MACHINE_ARN_ENV];
  moto = await startMoto();
  await seedAccount(config);
  await pushImage('comfyui', 'dev-latest', 'dev image');
  await pushImage('comfyui', 'staging-latest', 'staging image');
  const created = await new SFNClient({}).send(
    new CreateStateMachineCommand({
      name: 'comfyui-ami-test-bake-ami',
      definition: deployedDefinition(),
      roleArn: 'arn:aws:iam::123456789012:role/t',
    }),
  );
  stateMachineArn = created.stateMachineArn ?? '';
});
afterAll(async () => moto?.stop());

describe('comfyui-ami cancel', () => {
  it('records the cancel of a running build, which the build then refuses to go past', async () => {
    const build = await startBuild('dev');

    const result = await runCli(cancel, [build.name, '--state-machine-arn', stateMachineArn]);

    expect(result.code).toBe(0);
    expect(result.out).toMatch(
      new RegExp(`^cancel recorded for ${build.name} \\(dev, at .+\\): the build fails with BuildCancelled before it makes anything more`),
    );
    expect(result.err).toContain(`comfyui-ami watch ${build.arn}`);
    expect(await record(build.name)).toMatchObject({
      execution_id: { S: build.arn },
      build_environment: { S: 'dev' },
      cancel_requested_by: { S: expect.stringMatching(/^comfyui-ami cancel \(local user /) },
    });
    const byWhom = expect.stringMatching(/^cancelled by comfyui-ami cancel \(local user .+\) at \d{4}-/);
    await expect(throwIfCancelled(stateOf(build).execution, stepContext())).rejects.toMatchObject({
      name: 'BuildCancelled',
      message: byWhom,
    });
    // The conditional writes name who cancelled from the record their condition lost to.
    await expect(markPublishing(stateOf(build), stepContext())).rejects.toMatchObject({ name: 'BuildCancelled', message: byWhom });
    await expect(beginUnlessCancelled(stateOf(build).execution, 'launchBuilder', stepContext())).rejects.toMatchObject({
      name: 'BuildCancelled',
      message: byWhom,
    });
  });

  it('refuses a build that has started to publish, naming the way back, with exit 1', async () => {
    const build = await startBuild('dev');
    await markPublishing(stateOf(build), stepContext());

    const result = await runCli(cancel, [build.arn, '--json']);

    expect(result.code).toBe(1);
    expect(result.err).toContain('CancelRefused');
    expect(result.err).toContain('comfyui-ami rollback --env dev');
    expect((await record(build.name))?.cancel_requested_at).toBeUndefined();
  });

  it('refuses a build that has ended, and an unknown one, with exit 1; a bad command line with exit 2', async () => {
    const build = await startBuild('dev');
    await new SFNClient({}).send(new StopExecutionCommand({ executionArn: build.arn }));

    const ended = await runCli(cancel, [build.name, '--state-machine-arn', stateMachineArn]);
    const unknown = await runCli(cancel, ['dev-no-such-build', '--state-machine-arn', stateMachineArn]);
    const noBuild = await runCli(cancel, ['--state-machine-arn', stateMachineArn]);

    expect([ended.code, ended.err]).toEqual([1, expect.stringMatching(/CancelRefused: build .+ has ended \(ABORTED\)/)]);
    expect([unknown.code, unknown.err]).toEqual([1, expect.stringContaining('BuildNotFound')]);
    expect([noBuild.code, noBuild.err]).toEqual([2, expect.stringContaining('<execution-name|execution-arn> is required')]);
    expect(await record(build.name)).toBeUndefined();
  });
});

describe('POST /environments/{env}/builds/{id}/cancel', () => {
  it('answers 202 and records the caller as who cancelled', async () => {
    const build = await startBuild('dev');

    const response = await cancelFromApi(cancelEvent('dev', build.name), apiDeps(), silent);

    expect(response.statusCode).toBe(202);
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ executionName: build.name, environment: 'dev', status: 'CANCEL_REQUESTED' });
    expect((await record(build.name))?.cancel_requested_by).toEqual({ S: OPERATOR });
  });

  it('answers 404 for a build of another environment, 403 for a caller the environment does not allow, 400 for a malformed id', async () => {
    const build = await startBuild('staging');
    const onlyCi = { ...config.environments, staging: { ...config.environments.staging, callers: ['arn:aws:iam::123456789012:role/ci'] } };

    const wrongEnv = await cancelFromApi(cancelEvent('dev', build.name), apiDeps(), silent);
    const notAllowed = await cancelFromApi(cancelEvent('staging', build.name), apiDeps({ environments: onlyCi }), silent);
    const badId = await cancelFromApi(cancelEvent('dev', 'x;y'), apiDeps(), silent);

    expect([wrongEnv.statusCode, JSON.parse(wrongEnv.body ?? '{}').error]).toEqual([404, 'BuildNotFound']);
    expect([notAllowed.statusCode, JSON.parse(notAllowed.body ?? '{}').error]).toEqual([403, 'CallerNotAllowed']);
    expect([badId.statusCode, JSON.parse(badId.body ?? '{}').message]).toEqual([400, expect.stringMatching(/^path\.id: /)]);
    expect(await record(build.name)).toBeUndefined();
  });
});

describe("a step's mark in the build's record", () => {
  const days = (item: Awaited<ReturnType<typeof record>>) => (Number(item?.wait_expires_at?.N) * 1000 - Date.now()) / 86_400_000;

  it('tells a step whether an earlier attempt of it began in this execution, and outlives the redrive window', async () => {
    const build = await startBuild('dev');
    const { execution } = stateOf(build);

    await expect(beginUnlessCancelled(execution, 'launchBuilder', stepContext())).resolves.toEqual({ repeated: false });
    await expect(beginUnlessCancelled(execution, 'launchBuilder', stepContext())).resolves.toEqual({ repeated: true });
    await expect(beginUnlessCancelled(execution, 'createImage', stepContext())).resolves.toEqual({ repeated: false });
    // An execution redriven up to 14 days later still finds its marks.
    expect(days(await record(build.name))).toBeGreaterThan(14);
  });

  it("does not take an earlier execution's mark under the same name for this one's", async () => {
    const build = await startBuild('dev');
    const earlier = { ...stateOf(build).execution, id: `${build.arn}-earlier` };
    await beginUnlessCancelled(earlier, 'launchTestInstance', stepContext());

    await expect(beginUnlessCancelled(stateOf(build).execution, 'launchTestInstance', stepContext())).resolves.toEqual({ repeated: false });
  });

  it('tells Publish whether an earlier attempt had marked the publish (and so may have written)', async () => {
    const build = await startBuild('dev');

    await expect(markPublishing(stateOf(build), stepContext())).resolves.toEqual({ repeated: false });
    await expect(markPublishing(stateOf(build), stepContext())).resolves.toEqual({ repeated: true });
    expect(days(await record(build.name))).toBeGreaterThan(14);
  });
});
