import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DeleteItemCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, DescribeRepositoriesCommand, ECRClient, ImageNotFoundException } from '@aws-sdk/client-ecr';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { defaultClients } from '../../functions/shared/clients';
import { readConfigFile } from '../../functions/shared/config';
import { ConfigInvalid } from '../../functions/shared/errors';
import {
  EXECUTION_NAME,
  executionArnFor,
  executionName,
  requestDiscriminator,
  stateMachineArnFromEnv,
} from '../../functions/shared/execution-name';
import { parseRequest } from '../../functions/shared/request';
import { dispatch } from '../../functions/start-build/handler';
import { type StartBuildDeps, startBuild } from '../../functions/start-build/start-build';

const ROOT = path.resolve(__dirname, '../..');
const CONFIG = readConfigFile(path.join(ROOT, 'config', 'pipeline.json'));
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:comfyui-ami-dev-bake-ami';
const REPOSITORY_URI = '123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui';
const DIGEST = `sha256:${'3f'.repeat(32)}`;
const OTHER_DIGEST = `sha256:${'a1'.repeat(32)}`;

const readEvent = (name: string) => JSON.parse(readFileSync(path.join(ROOT, 'events', name), 'utf8')) as Record<string, unknown>;
const ecrPush = (detail: Record<string, unknown> = {}) => {
  const event = readEvent('ecr-push-dev.json');
  // Delivered now: an event's time must lie within minutes of the build's start.
  return { ...event, time: new Date().toISOString(), detail: { ...(event.detail as object), 'image-digest': DIGEST, ...detail } };
};

const sfnMock = mockClient(SFNClient);
const ecrMock = mockClient(ECRClient);
const dynamoMock = mockClient(DynamoDBClient);
const ssmMock = mockClient(SSMClient);
const CALLER = 'arn:aws:sts::123456789012:assumed-role/dev-builder/alice';

function deps(): StartBuildDeps {
  return {
    config: CONFIG,
    // aws-sdk-client-mock replaces send() of every instance: the default clients are mocked too.
    clients: defaultClients(),
    logger: new Logger({ logLevel: 'SILENT' }),
    stateMachineArn: STATE_MACHINE_ARN,
  };
}

function apiEvent(
  body: string | undefined,
  overrides: Partial<APIGatewayProxyEventV2WithIAMAuthorizer['requestContext']> = {},
  isBase64Encoded = false,
): APIGatewayProxyEventV2WithIAMAuthorizer {
  return {
    version: '2.0',
    routeKey: 'POST /builds',
    rawPath: '/builds',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded,
    body,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: 'POST', path: '/builds', protocol: 'HTTP/1.1', sourceIp: '203.0.113.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: 'POST /builds',
      stage: '$default',
      time: '27/Nov/2025:14:00:00 +0000',
      timeEpoch: 1764252000000,
      authorizer: {
        iam: {
          accessKey: 'ASIAEXAMPLE',
          accountId: '123456789012',
          callerId: 'AROAEXAMPLE:alice',
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: CALLER,
          userId: 'AROAEXAMPLE:alice',
        },
      },
      ...overrides,
    },
  };
}

const startInputs = () => sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
const silent = new Logger({ logLevel: 'SILENT' });

beforeEach(() => {
  sfnMock.reset();
  ecrMock.reset();
  dynamoMock.reset();
  ssmMock.reset();
  dynamoMock.on(PutItemCommand).resolves({});
  dynamoMock.on(DeleteItemCommand).resolves({});
  ssmMock.on(GetParametersByPathCommand).resolves({ Parameters: [] });
  ecrMock.on(DescribeRepositoriesCommand).resolves({ repositories: [{ repositoryName: 'comfyui', repositoryUri: REPOSITORY_URI }] });
  ecrMock.on(DescribeImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageTags: ['dev-latest', 'dev-1234'] }] });
  sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
    executionArn: executionArnFor(STATE_MACHINE_ARN, input.name),
    startDate: new Date('2025-11-27T14:00:00Z'),
  }));
});

describe('execution names', () => {
  it('derives one name per environment, digest and request, within Step Functions limits', () => {
    const name = executionName('dev', DIGEST, 'event:1');
    expect(name).toMatch(new RegExp(`^dev-${'3f'.repeat(12)}-[0-9a-f]{12}$`));
    expect(executionName('dev', DIGEST, 'event:1')).toBe(name);
    expect(executionName('dev', DIGEST, 'event:2')).not.toBe(name);
    expect(executionName('staging', DIGEST, 'event:1')).not.toBe(name);
    expect(executionName('dev', OTHER_DIGEST, 'event:1')).not.toBe(name);
    const longest = executionName(`e${'x'.repeat(31)}`, DIGEST, 'event:1');
    expect(longest.length).toBeLessThanOrEqual(80);
    expect(longest).toMatch(EXECUTION_NAME);
  });

  it('takes the request part from the ECR event id, and a fresh one for any other request', () => {
    expect(requestDiscriminator(ecrPush())).toBe(requestDiscriminator(ecrPush()));
    expect(requestDiscriminator({ ...ecrPush(), id: 'another-event' })).not.toBe(requestDiscriminator(ecrPush()));
    expect(requestDiscriminator({ environment: 'dev' })).not.toBe(requestDiscriminator({ environment: 'dev' }));
    // An id that is not an EventBridge id (or a console body that carries one) gives no fixed name.
    expect(requestDiscriminator({ ...ecrPush(), id: '../x y' })).toMatch(/^request:/);
    expect(requestDiscriminator({ environment: 'dev', id: 'x' })).toMatch(/^request:/);
  });

  it('refuses what is not an environment or a digest', () => {
    expect(() => executionName('Dev', DIGEST, 'x')).toThrow(expect.objectContaining({ name: 'RequestInvalid' }));
    expect(() => executionName('dev', 'sha256:abc', 'x')).toThrow(expect.objectContaining({ name: 'RequestInvalid' }));
  });

  it('builds an execution ARN from a name and the state machine, and keeps an ARN as it is', () => {
    const arn = executionArnFor(STATE_MACHINE_ARN, 'dev-abc');
    expect(arn).toBe('arn:aws:states:us-east-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-abc');
    expect(executionArnFor(undefined, arn)).toBe(arn);
    expect(() => executionArnFor(STATE_MACHINE_ARN, 'a/b')).toThrow(/^id: /);
    expect(() => executionArnFor(undefined, 'dev-abc')).toThrow(/state machine ARN/);
  });

  it('reads the state machine ARN from the environment, naming the variable when it is wrong', () => {
    const saved = process.env.STATE_MACHINE_ARN;
    try {
      delete process.env.STATE_MACHINE_ARN;
      expect(() => stateMachineArnFromEnv()).toThrow(
        expect.objectContaining({ name: 'ConfigInvalid', message: expect.stringContaining('STATE_MACHINE_ARN') }),
      );
      process.env.STATE_MACHINE_ARN = STATE_MACHINE_ARN;
      expect(stateMachineArnFromEnv()).toBe(STATE_MACHINE_ARN);
    } finally {
      if (saved === undefined) delete process.env.STATE_MACHINE_ARN;
      else process.env.STATE_MACHINE_ARN = saved;
    }
  });
});

describe('console sample inputs (events/*.json)', () => {
  const files = readdirSync(path.join(ROOT, 'events')).filter((f) => f.endsWith('.json'));

  it('holds a console input per environment, one with a tag, one with a digest and an ECR push event', () => {
    for (const env of Object.keys(CONFIG.environments)) expect(files).toContain(`console-${env}.json`);
    const inputs = files.map(readEvent);
    expect(inputs.some((i) => typeof i.image === 'string' && i.image.includes(':') && !i.image.includes('@'))).toBe(true);
    expect(inputs.some((i) => typeof i.image === 'string' && i.image.includes('@sha256:'))).toBe(true);
    expect(files).toContain('ecr-push-dev.json');
  });

  it.each(files)('%s is accepted by parseRequest against config/pipeline.json as it is', (file) => {
    const input = readEvent(file);
    // A sample ECR event is checked as of its own time.
    const parsed = parseRequest(input, CONFIG, typeof input.time === 'string' ? new Date(input.time) : new Date());
    const match = /^(?:console|ecr-push|api-body)-([a-z0-9-]+?)(?:-tag|-digest)?\.json$/.exec(file);
    expect(match).not.toBeNull();
    expect(parsed.environment).toBe(match![1]);
  });
});

describe('startBuild', () => {
  it('starts the execution named after (environment, digest, event) with the original input', async () => {
    const event = ecrPush();
    const started = await startBuild(event, deps());
    const name = executionName('dev', DIGEST, requestDiscriminator(event));
    expect(started).toEqual({
      executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`,
      executionName: name,
      environment: 'dev',
      imageUri: `${REPOSITORY_URI}@${DIGEST}`,
      alreadyStarted: false,
    });
    const call = sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(call.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(JSON.parse(call.input!)).toEqual(event);
  });

  it('resolves a console tag to its digest for the name, and starts with the input unchanged', async () => {
    const input = readEvent('console-dev-tag.json');
    const started = await startBuild(input, deps());
    expect(started.executionName).toMatch(new RegExp(`^dev-${'3f'.repeat(12)}-[0-9a-f]{12}$`));
    expect(ecrMock.commandCalls(DescribeImagesCommand)[0].args[0].input.imageIds).toEqual([{ imageTag: 'dev-1234' }]);
    expect(startInputs().map((i) => JSON.parse(i.input!))).toEqual([input]);
  });

  it('names a duplicate delivery of one event alike, and treats ExecutionAlreadyExists as started', async () => {
    await startBuild(ecrPush(), deps());
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const again = await startBuild(ecrPush(), deps());
    expect(again.alreadyStarted).toBe(true);
    const name = executionName('dev', DIGEST, requestDiscriminator(ecrPush()));
    expect(again.executionArn).toBe(executionArnFor(STATE_MACHINE_ARN, name));
    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(new Set(names)).toEqual(new Set([name]));
  });

  it('starts a new build for a later push of a digest built before, under a name of its own', async () => {
    const first = await startBuild(ecrPush(), deps());
    const repush = await startBuild({ ...ecrPush(), id: 'a-later-push-event' }, deps());
    expect(repush.alreadyStarted).toBe(false);
    expect(repush.executionName).not.toBe(first.executionName);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(2);
  });

  it('refuses a bad input naming the field, and neither asks ECR nor starts anything', async () => {
    await expect(startBuild({ environment: 'qa' }, deps())).rejects.toMatchObject({
      name: 'RequestInvalid',
      message: expect.stringContaining('input.environment'),
    });
    await expect(startBuild(ecrPush({ 'image-tag': 'feature-x' }), deps())).rejects.toMatchObject({
      name: 'RequestInvalid',
      message: expect.stringContaining('input.detail.image-tag'),
    });
    await expect(startBuild({ environment: 'dev', image: 'comfyui:dev;reboot' }, deps())).rejects.toMatchObject({
      name: 'RequestInvalid',
      message: expect.stringContaining('input.image'),
    });
    expect(ecrMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('starts nothing when the image is not in ECR', async () => {
    ecrMock.on(DescribeImagesCommand).rejects(new ImageNotFoundException({ message: 'not found', $metadata: {} }));
    await expect(startBuild(readEvent('console-dev.json'), deps())).rejects.toMatchObject({ name: 'ImageNotFound' });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('lets other Step Functions errors through', async () => {
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('rate exceeded'), { name: 'ThrottlingException' }));
    await expect(startBuild(readEvent('console-dev.json'), deps())).rejects.toMatchObject({ name: 'ThrottlingException' });
  });
});

describe('the handler', () => {
  it('starts a build from an EventBridge ECR push event and returns what it started', async () => {
    await expect(dispatch(ecrPush(), deps, silent)).resolves.toMatchObject({
      executionName: executionName('dev', DIGEST, requestDiscriminator(ecrPush())),
      alreadyStarted: false,
    });
  });

  it('throws a named error for an event it refuses, so the failure is visible and nothing starts', async () => {
    await expect(dispatch(ecrPush({ 'repository-name': 'other' }), deps, silent)).rejects.toMatchObject({ name: 'RequestInvalid' });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('maps a throttled StartExecution to AwsThrottled, for the asynchronous retry', async () => {
    sfnMock
      .on(StartExecutionCommand)
      .rejects(Object.assign(new Error('rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    await expect(dispatch(ecrPush(), deps, silent)).rejects.toMatchObject({ name: 'AwsThrottled' });
  });

  it.each([
    ['a console input sent straight to the function', readEvent('console-dev.json'), 'event'],
    ['an HTTP API request of payload format 1.0', { ...apiEvent('{"environment": "dev"}'), version: '1.0' }, 'event'],
    ['an EventBridge event of another source', { ...ecrPush(), source: 'aws.s3' }, 'event.source'],
    ['an ECR push without its event id', (({ id: _id, ...rest }) => rest)(ecrPush() as Record<string, unknown>), 'event.id'],
  ])('refuses %s, naming the field of its contract, and starts nothing', async (_what, event, field) => {
    await expect(dispatch(event, deps, silent)).rejects.toMatchObject({ name: 'RequestInvalid', field });
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('POST /builds', () => {
  const post = (body: unknown, overrides?: Partial<APIGatewayProxyEventV2WithIAMAuthorizer['requestContext']>) =>
    dispatch(apiEvent(typeof body === 'string' ? body : JSON.stringify(body), overrides), deps, silent) as Promise<{
      statusCode: number;
      body: string;
    }>;
  const bodyOf = (response: { body: string }) => JSON.parse(response.body) as Record<string, unknown>;

  it('answers 202 with the execution and its status URL, and starts with source "api"', async () => {
    const response = await post({ environment: 'dev', image: 'comfyui:dev-1234', branch: 'main', commit_sha: 'abc1234' });
    expect(response.statusCode).toBe(202);
    const name = String(bodyOf(response).executionName);
    expect(name).toMatch(new RegExp(`^dev-${'3f'.repeat(12)}-[0-9a-f]{12}$`));
    expect(bodyOf(response)).toEqual({
      executionArn: executionArnFor(STATE_MACHINE_ARN, name),
      executionName: name,
      environment: 'dev',
      imageUri: `${REPOSITORY_URI}@${DIGEST}`,
      alreadyStarted: false,
      statusUrl: `https://abc123.execute-api.us-east-1.amazonaws.com/builds/${name}`,
    });
    expect(startInputs().map((i) => JSON.parse(i.input!))).toEqual([
      { environment: 'dev', image: 'comfyui:dev-1234', branch: 'main', commit_sha: 'abc1234', source: 'api' },
    ]);
  });

  it('puts a named stage in the status URL', async () => {
    const response = await post({ environment: 'dev' }, { stage: 'v1' });
    expect(bodyOf(response).statusUrl).toBe(
      `https://abc123.execute-api.us-east-1.amazonaws.com/v1/builds/${String(bodyOf(response).executionName)}`,
    );
  });

  it('decodes a base64 body', async () => {
    const event = apiEvent(Buffer.from(JSON.stringify({ environment: 'staging' })).toString('base64'), {}, true);
    const response = (await dispatch(event, deps, silent)) as { statusCode: number; body: string };
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response).environment).toBe('staging');
  });

  it('answers 202 with alreadyStarted when the same image was already requested', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'exists', $metadata: {} }));
    const response = await post({ environment: 'dev' });
    expect(response.statusCode).toBe(202);
    expect(bodyOf(response).alreadyStarted).toBe(true);
  });

  it.each([
    ['an unknown environment', { environment: 'qa' }, 'body.environment', 'one of the configured environments (dev, staging, prod)'],
    [
      'a malformed environment',
      { environment: 'Prod!' },
      'body.environment',
      'lowercase letters, digits and -, starting with a letter (at most 32)',
    ],
    ['a missing environment', { image: 'comfyui:dev-latest' }, 'body.environment', 'a string'],
    [
      'an image of another repository',
      { environment: 'dev', image: 'other:dev-1' },
      'body.image',
      'an image of repository "comfyui" (environment dev)',
    ],
    [
      'an image with shell characters',
      { environment: 'dev', image: 'comfyui:$(reboot)' },
      'body.image',
      expect.stringContaining('<repository>:<tag>'),
    ],
    ['a bad commit sha', { environment: 'dev', commit_sha: 'not-hex' }, 'body.commit_sha', '7 to 40 lowercase hex characters'],
    [
      'a field the API does not take',
      { environment: 'dev', source: 'console' },
      'body',
      'an object with only environment, image, branch, commit_sha',
    ],
    ['an ECR event', readEvent('ecr-push-dev.json'), 'body', 'an object with only environment, image, branch, commit_sha'],
    ['a JSON array', [], 'body', expect.stringMatching(/^a JSON object: /)],
    ['text that is not JSON', '{"environment": ', 'body', expect.stringMatching(/^JSON: /)],
    ['an empty body', '', 'body', expect.stringContaining('"environment"')],
  ])('refuses %s with 400 naming the field and its allowed form, and starts nothing', async (_what, body, field, allowed) => {
    const response = await post(body);
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response)).toMatchObject({
      error: 'RequestInvalid',
      field,
      allowed,
      message: expect.stringMatching(new RegExp(`^${field}[ :]`)),
    });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('refuses an oversized body before parsing it', async () => {
    const response = await post({ environment: 'dev', branch: `b${'x'.repeat(9000)}` });
    expect(response.statusCode).toBe(400);
    expect(bodyOf(response).message).toMatch(/^body: must be at most 8192 bytes/);
    expect(ecrMock.calls()).toHaveLength(0);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('answers 422 when the image is not in ECR', async () => {
    ecrMock.on(DescribeImagesCommand).rejects(new ImageNotFoundException({ message: 'not found', $metadata: {} }));
    const response = await post({ environment: 'dev', image: 'comfyui:dev-404' });
    expect(response.statusCode).toBe(422);
    expect(bodyOf(response)).toEqual({ error: 'ImageNotFound', message: expect.stringContaining('comfyui:dev-404') });
  });

  it('answers 503 when AWS throttles, and 500 without details on an unexpected error', async () => {
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('rate exceeded'), { name: 'ThrottlingException' }));
    expect((await post({ environment: 'dev' })).statusCode).toBe(503);
    sfnMock.on(StartExecutionCommand).rejects(new TypeError('x is undefined'));
    const response = await post({ environment: 'dev' });
    expect(response.statusCode).toBe(500);
    expect(bodyOf(response)).toEqual({ error: 'InternalError', message: expect.not.stringContaining('undefined') });
  });

  it('answers 500 naming the variable when the function is misconfigured', async () => {
    const broken = (): StartBuildDeps => {
      throw new ConfigInvalid({ field: 'STATE_MACHINE_ARN', allowed: "the bake state machine's ARN", received: '' });
    };
    const response = (await dispatch(apiEvent(JSON.stringify({ environment: 'dev' })), broken, silent)) as {
      statusCode: number;
      body: string;
    };
    expect(response.statusCode).toBe(500);
    expect(bodyOf(response)).toEqual({ error: 'ConfigInvalid', message: expect.stringContaining('STATE_MACHINE_ARN') });
  });
});
