import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { DescribeExecutionCommand, ExecutionDoesNotExist, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { type BuildStatusDeps, statusFromApi } from '../../functions/build-status/api';
import { callerAllowed, principalArns } from '../../functions/shared/callers';
import { defaultClients } from '../../functions/shared/clients';
import { configSchema, type PipelineConfig, readConfigFile } from '../../functions/shared/config';
import { executionArnFor } from '../../functions/shared/execution-name';
import { assertImageBelongs } from '../../functions/shared/image-belongs';
import { recordedRequester, requestRecordKey } from '../../functions/shared/requester';
import { dispatch } from '../../functions/start-build/handler';
import type { StartBuildDeps } from '../../functions/start-build/start-build';

const ROOT = path.resolve(__dirname, '../..');
const BASE = readConfigFile(path.join(ROOT, 'config', 'pipeline.json'));
const RELEASE_ONLY: PipelineConfig = {
  ...BASE,
  environments: {
    ...BASE.environments,
    prod: { ...BASE.environments.prod, callers: ['arn:aws:iam::*:role/release-*'], promoteFrom: 'staging' },
  },
};
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:comfyui-ami-dev-bake-ami';
const REPOSITORY_URI = '123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui';
const DIGEST = `sha256:${'3f'.repeat(32)}`;
const DEV_BUILDER = 'arn:aws:sts::123456789012:assumed-role/dev-builder/alice';
const RELEASER = 'arn:aws:sts::123456789012:assumed-role/release-bot/ci-42';

const sfnMock = mockClient(SFNClient);
const ecrMock = mockClient(ECRClient);
const dynamoMock = mockClient(DynamoDBClient);
const ssmMock = mockClient(SSMClient);
const silent = new Logger({ logLevel: 'SILENT' });

function event(
  routeKey: string,
  rawPath: string,
  body: unknown,
  pathParameters?: Record<string, string>,
  userArn: string | null = DEV_BUILDER,
): APIGatewayProxyEventV2WithIAMAuthorizer {
  const [method] = routeKey.split(' ');
  const iam = {
    accessKey: 'ASIAEXAMPLE',
    accountId: '123456789012',
    callerId: 'AROAEXAMPLE:x',
    cognitoIdentity: null,
    principalOrgId: '',
    userArn: userArn ?? '',
    userId: 'AROAEXAMPLE:x',
  };
  const requestContext = {
    accountId: '123456789012',
    apiId: 'abc123',
    domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
    domainPrefix: 'abc123',
    http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.1', userAgent: 'test' },
    requestId: 'req-1',
    routeKey,
    stage: '$default',
    time: '27/Nov/2026:14:00:00 +0000',
    timeEpoch: 1795788000000,
    authorizer: { iam },
  };
  if (userArn === null) Reflect.deleteProperty(requestContext, 'authorizer');
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    body: body === undefined ? undefined : JSON.stringify(body),
    pathParameters,
    requestContext,
  };
}

const startDeps = (config: PipelineConfig) => (): StartBuildDeps => ({
  config,
  clients: defaultClients(),
  logger: silent,
  stateMachineArn: STATE_MACHINE_ARN,
});

async function call(
  e: APIGatewayProxyEventV2WithIAMAuthorizer,
  config: PipelineConfig = BASE,
): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  const response = (await dispatch(e, startDeps(config), silent)) as { statusCode: number; body: string };
  return { statusCode: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown> };
}

const postBuilds = (body: unknown, userArn?: string) => event('POST /builds', '/builds', body, undefined, userArn);
const postEnv = (env: string, body: unknown, userArn?: string | null) =>
  event('POST /environments/{env}/builds', `/environments/${env}/builds`, body, { env }, userArn);
const historyEntry = (environment: string, digest: string) => ({
  Name: `/comfyui/ami/${environment}/history/ami-0123456789abcdef0`,
  Value: JSON.stringify({ ami_id: 'ami-0123456789abcdef0', environment, docker_digest: digest }),
});

beforeEach(() => {
  for (const mock of [sfnMock, ecrMock, dynamoMock, ssmMock]) mock.reset();
  ecrMock.on(DescribeRepositoriesCommand).resolves({ repositories: [{ repositoryName: 'comfyui', repositoryUri: REPOSITORY_URI }] });
  ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageTags: ['dev-latest'] }] });
  sfnMock
    .on(StartExecutionCommand)
    .callsFake((input: { name: string }) => ({ executionArn: executionArnFor(STATE_MACHINE_ARN, input.name), startDate: new Date() }));
  dynamoMock.on(PutItemCommand).resolves({});
  dynamoMock.on(DeleteItemCommand).resolves({});
  ssmMock.on(GetParametersByPathCommand).resolves({ Parameters: [] });
});

describe('the configuration of authority', () => {
  const withProd = (prod: Record<string, unknown>) => ({
    repositories: ['comfyui'],
    environments: {
      staging: { tags: ['staging-*'], defaultTag: 'staging-latest' },
      prod: { tags: ['prod-latest'], defaultTag: 'prod-latest', ...prod },
    },
  });

  it('takes caller ARN patterns and a source environment of promotion', () => {
    const parsed = configSchema.parse(
      withProd({ callers: ['arn:aws:iam::*:role/release-*', 'arn:aws:iam::123456789012:user/alice'], promoteFrom: 'staging' }),
    );
    expect(parsed.environments.prod).toMatchObject({
      callers: ['arn:aws:iam::*:role/release-*', 'arn:aws:iam::123456789012:user/alice'],
      promoteFrom: 'staging',
    });
  });

  it.each([
    ['a caller that is no ARN', { callers: ['release-*'] }, 'environments.prod.callers.0'],
    ['an empty caller list (would lock everyone out of POST /builds)', { callers: [] }, 'environments.prod.callers'],
    ['promotion from an unknown environment', { promoteFrom: 'qa' }, 'environments.prod.promoteFrom'],
    ['promotion from itself', { promoteFrom: 'prod' }, 'environments.prod.promoteFrom'],
  ])('refuses %s naming the field', (_what, prod, field) => {
    const result = configSchema.safeParse(withProd(prod));
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});

describe('caller principals', () => {
  it('matches an assumed-role session by its role ARN, an IAM user by its own', () => {
    expect(principalArns(RELEASER)).toEqual([RELEASER, 'arn:aws:iam::123456789012:role/release-bot']);
    expect(principalArns('arn:aws:iam::123456789012:user/alice')).toEqual(['arn:aws:iam::123456789012:user/alice']);
    expect(callerAllowed(RELEASE_ONLY, 'prod', { arn: RELEASER, accountId: '123456789012' })).toBe(true);
    expect(callerAllowed(RELEASE_ONLY, 'prod', { arn: DEV_BUILDER, accountId: '123456789012' })).toBe(false);
    // A session name cannot smuggle the role pattern in: only the role name counts.
    expect(
      callerAllowed(RELEASE_ONLY, 'prod', {
        arn: 'arn:aws:sts::123456789012:assumed-role/dev-builder/role/release-x',
        accountId: '123456789012',
      }),
    ).toBe(false);
    // A session name is the assumer's choice: it matches only patterns that name sts.
    const loose: PipelineConfig = {
      ...BASE,
      environments: { ...BASE.environments, prod: { ...BASE.environments.prod, callers: ['arn:*:*::*:*release-*'] } },
    };
    expect(
      callerAllowed(loose, 'prod', { arn: 'arn:aws:sts::123456789012:assumed-role/dev-builder/release-x', accountId: '123456789012' }),
    ).toBe(false);
    expect(callerAllowed(loose, 'prod', { arn: RELEASER, accountId: '123456789012' })).toBe(true);
    const bySession: PipelineConfig = {
      ...BASE,
      environments: {
        ...BASE.environments,
        prod: { ...BASE.environments.prod, callers: ['arn:aws:sts::*:assumed-role/release-bot/ci-*'] },
      },
    };
    expect(callerAllowed(bySession, 'prod', { arn: RELEASER, accountId: '123456789012' })).toBe(true);
    // No list: any caller the route's IAM lets in.
    expect(callerAllowed(RELEASE_ONLY, 'dev', { arn: DEV_BUILDER, accountId: '123456789012' })).toBe(true);
  });
});

describe('POST /environments/{env}/builds', () => {
  it('starts the environment of the path, records the caller before starting, and answers with the env-in-path status URL', async () => {
    const response = await call(postEnv('dev', undefined));
    const name = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.name ?? '';
    expect(name).toMatch(new RegExp(`^dev-${DIGEST.slice(7, 31)}-[0-9a-f]{12}$`));
    expect(response).toEqual({
      statusCode: 202,
      body: expect.objectContaining({
        environment: 'dev',
        executionName: name,
        statusUrl: `https://abc123.execute-api.us-east-1.amazonaws.com/environments/dev/builds/${name}`,
      }),
    });
    expect(JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.input ?? '')).toEqual({
      environment: 'dev',
      source: 'api',
    });
    const put = dynamoMock.commandCalls(PutItemCommand)[0].args[0].input;
    expect(put.Item).toMatchObject({ environment: { S: requestRecordKey(name) }, requested_by: { S: DEV_BUILDER } });
    expect(put.TableName).toBe(BASE.lock.table);
    // The identity is not in the execution input, where a console caller could write one.
    expect(sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.input).not.toContain(DEV_BUILDER);
  });

  it('takes image, branch and commit from the body, and refuses a body that names another environment', async () => {
    expect((await call(postEnv('dev', { image: 'comfyui:dev-latest', branch: 'main', commit_sha: 'abc1234' }))).statusCode).toBe(202);
    expect((await call(postEnv('dev', { environment: 'dev' }))).statusCode).toBe(202);
    const other = await call(postEnv('dev', { environment: 'prod' }));
    expect(other).toEqual({
      statusCode: 400,
      body: {
        error: 'RequestInvalid',
        field: 'body.environment',
        allowed: expect.any(String),
        received: expect.any(String),
        message: expect.stringMatching(/^body\.environment: /),
      },
    });
  });

  it.each([
    ['an unknown environment', 'qa'],
    ['a prototype key', 'constructor'],
  ])('refuses %s in the path naming path.env, before any AWS call', async (_what, env) => {
    const response = await call(postEnv(env, undefined));
    expect(response).toEqual({
      statusCode: 400,
      body: {
        error: 'RequestInvalid',
        field: 'path.env',
        allowed: expect.any(String),
        received: expect.any(String),
        message: expect.stringMatching(/^path\.env: /),
      },
    });
    expect([...ecrMock.calls(), ...sfnMock.calls(), ...dynamoMock.calls()]).toHaveLength(0);
  });

  it('refuses a request that carries no IAM principal with 403', async () => {
    const response = await call(postEnv('dev', undefined, null));
    expect(response).toEqual({ statusCode: 403, body: { error: 'CallerNotAllowed', message: expect.stringContaining('AWS_IAM') } });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('answers 404 for a route no table holds', async () => {
    const response = await call(event('DELETE /builds/{id}', '/builds/x', undefined, { id: 'x' }));
    expect(response).toEqual({
      statusCode: 404,
      body: { error: 'RouteNotFound', message: expect.stringContaining('POST /environments/{env}/builds') },
    });
  });

  it('removes its record when the execution does not start', async () => {
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('rate exceeded'), { name: 'ThrottlingException' }));
    expect((await call(postEnv('dev', undefined))).statusCode).toBe(503);
    const del = dynamoMock.commandCalls(DeleteItemCommand)[0].args[0].input;
    const name = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input.name ?? '';
    expect(del).toMatchObject({
      Key: { environment: { S: requestRecordKey(name) } },
      ExpressionAttributeNames: { '#held': 'requested_by' },
      ExpressionAttributeValues: { ':value': { S: DEV_BUILDER } },
    });
  });
});

describe('environments.{env}.callers on POST /builds', () => {
  it('refuses a caller the list does not name with 403, before asking ECR or starting anything', async () => {
    const response = await call(postBuilds({ environment: 'prod' }), RELEASE_ONLY);
    expect(response).toEqual({
      statusCode: 403,
      body: { error: 'CallerNotAllowed', message: expect.stringContaining('environments.prod.callers') },
    });
    expect([...ecrMock.calls(), ...sfnMock.calls(), ...dynamoMock.calls()]).toHaveLength(0);
  });

  it('accepts a caller the list names, and any caller for an environment without a list', async () => {
    ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageTags: ['prod-latest'] }] });
    expect((await call(postBuilds({ environment: 'prod' }, RELEASER), RELEASE_ONLY)).statusCode).toBe(202);
    expect(dynamoMock.commandCalls(PutItemCommand)[0].args[0].input.Item?.requested_by).toEqual({ S: RELEASER });
    expect((await call(postBuilds({ environment: 'dev' }), RELEASE_ONLY)).statusCode).toBe(202);
  });

  it('leaves the env-in-path route to IAM: the list applies to body-addressed requests', async () => {
    ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageTags: ['prod-latest'] }] });
    expect((await call(postEnv('prod', undefined), RELEASE_ONLY)).statusCode).toBe(202);
  });
});

describe('the image must belong to the environment (start function)', () => {
  it('refuses comfyui:qa-latest for prod naming body.image, without asking ECR', async () => {
    const response = await call(postBuilds({ environment: 'prod', image: 'comfyui:qa-latest' }));
    expect(response).toEqual({
      statusCode: 400,
      body: {
        error: 'RequestInvalid',
        field: 'body.image',
        allowed: expect.any(String),
        received: expect.any(String),
        message: expect.stringMatching(/^body\.image: /),
      },
    });
    expect(response.body.message).toContain('prod-latest');
    expect([...ecrMock.calls(), ...sfnMock.calls()]).toHaveLength(0);
  });

  it('refuses a digest only another environment tagged and prod never published, starting nothing', async () => {
    const response = await call(postEnv('prod', { image: `comfyui@${DIGEST}` }));
    expect(response).toEqual({
      statusCode: 400,
      body: {
        error: 'RequestInvalid',
        field: 'body.image',
        allowed: expect.any(String),
        received: expect.any(String),
        message: expect.stringMatching(/^body\.image: /),
      },
    });
    expect(ssmMock.commandCalls(GetParametersByPathCommand)[0].args[0].input.Path).toBe('/comfyui/ami/prod/history');
    expect([...sfnMock.calls(), ...dynamoMock.calls()]).toHaveLength(0);
  });

  it('accepts a digest prod published before, and with promoteFrom one its source published', async () => {
    ssmMock.on(GetParametersByPathCommand, { Path: '/comfyui/ami/prod/history' }).resolves({ Parameters: [historyEntry('prod', DIGEST)] });
    expect((await call(postEnv('prod', { image: `comfyui@${DIGEST}` }))).statusCode).toBe(202);

    ssmMock.reset();
    ssmMock.on(GetParametersByPathCommand).resolves({ Parameters: [] });
    ssmMock
      .on(GetParametersByPathCommand, { Path: '/comfyui/ami/staging/history' })
      .resolves({ Parameters: [historyEntry('staging', DIGEST)] });
    expect((await call(postEnv('prod', { image: `comfyui@${DIGEST}` }))).statusCode).toBe(400);
    expect((await call(postEnv('prod', { image: `comfyui@${DIGEST}` }), RELEASE_ONLY)).statusCode).toBe(202);
  });

  it('tells the promote command why an image belongs', async () => {
    ssmMock
      .on(GetParametersByPathCommand, { Path: '/comfyui/ami/staging/history' })
      .resolves({ Parameters: [historyEntry('staging', DIGEST)] });
    const ssm = defaultClients().ssm;
    await expect(
      assertImageBelongs('prod', { repository: 'comfyui', digest: DIGEST, tags: ['prod-latest'] }, { config: RELEASE_ONLY, ssm }),
    ).resolves.toEqual({ kind: 'tag', tag: 'prod-latest' });
    await expect(
      assertImageBelongs('prod', { repository: 'comfyui', digest: DIGEST, tags: [] }, { config: RELEASE_ONLY, ssm }),
    ).resolves.toEqual({
      kind: 'published',
      environment: 'staging',
      amiId: 'ami-0123456789abcdef0',
    });
    await expect(
      assertImageBelongs('prod', { repository: 'comfyui', digest: DIGEST, tags: [] }, { config: BASE, ssm }, 'promote.digest'),
    ).rejects.toMatchObject({
      name: 'RequestInvalid',
      message: expect.stringMatching(/^promote\.digest: /),
    });
  });
});

describe('GET /environments/{env}/builds/{id}', () => {
  const NAME = `dev-${'3f'.repeat(20)}`;
  const statusDeps = (): BuildStatusDeps => ({ sfn: defaultClients().sfn, stateMachineArn: STATE_MACHINE_ARN, config: BASE });
  const get = async (env: string, id: string) => {
    const response = await statusFromApi(
      event('GET /environments/{env}/builds/{id}', `/environments/${env}/builds/${id}`, undefined, { env, id }),
      statusDeps,
      silent,
    );
    return { statusCode: response.statusCode, body: JSON.parse(response.body as string) as Record<string, unknown> };
  };
  const execution = (environment: string) =>
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: executionArnFor(STATE_MACHINE_ARN, NAME),
      name: NAME,
      status: 'SUCCEEDED',
      startDate: new Date(),
      output: JSON.stringify({ environment, amiId: 'ami-0123456789abcdef0' }),
    });

  it("answers 200 for a build of the path's environment", async () => {
    execution('dev');
    expect(await get('dev', NAME)).toMatchObject({ statusCode: 200, body: { environment: 'dev', amiId: 'ami-0123456789abcdef0' } });
  });

  it('refuses a build of another environment as not found, exactly as a build that does not exist', async () => {
    execution('prod');
    const other = await get('dev', NAME);
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    const missing = await get('dev', NAME);
    expect(other).toEqual({ statusCode: 404, body: { error: 'BuildNotFound', message: `no build ${NAME} in environment dev` } });
    expect(missing).toEqual(other);
  });

  it('refuses an unknown environment in the path before asking Step Functions', async () => {
    expect(await get('qa', NAME)).toEqual({
      statusCode: 400,
      body: {
        error: 'RequestInvalid',
        field: 'path.env',
        allowed: expect.any(String),
        received: expect.any(String),
        message: expect.stringMatching(/^path\.env: /),
      },
    });
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('the requester record', () => {
  const started = '2026-11-27T14:00:00.000Z';
  const at = (iso: string) => String(Math.floor(new Date(iso).getTime() / 1000));

  it('is used when written just before the execution started, and ignored when older (an earlier execution of the name)', async () => {
    const dynamodb = defaultClients().dynamodb;
    dynamoMock.on(GetItemCommand).resolves({ Item: { requested_by: { S: RELEASER }, recorded_at: { N: at('2026-11-27T13:59:58Z') } } });
    await expect(recordedRequester(dynamodb, BASE, 'dev-x', started)).resolves.toBe(RELEASER);
    dynamoMock.on(GetItemCommand).resolves({ Item: { requested_by: { S: RELEASER }, recorded_at: { N: at('2026-11-27T12:00:00Z') } } });
    await expect(recordedRequester(dynamodb, BASE, 'dev-x', started)).resolves.toBeNull();
    dynamoMock.on(GetItemCommand).resolves({});
    await expect(recordedRequester(dynamodb, BASE, 'dev-x', started)).resolves.toBeNull();
  });
});
