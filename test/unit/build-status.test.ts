import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { DescribeExecutionCommand, ExecutionDoesNotExist, GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { type BuildStatusDeps, statusFromApi } from '../../functions/build-status/api';
import { describeBuild, failureReason, MAX_REASON_CHARS, readableCause } from '../../functions/build-status/build-status';
import { readConfigFile } from '../../functions/shared/config';
import { executionArnFor } from '../../functions/shared/execution-name';

const ROOT = path.resolve(__dirname, '../..');
const CONFIG = readConfigFile(path.join(ROOT, 'config', 'pipeline.json'));
const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:comfyui-ami-dev-bake-ami';
const NAME = `dev-${'3f'.repeat(20)}`;
const ARN = executionArnFor(STATE_MACHINE_ARN, NAME);
const START = new Date('2025-11-27T14:00:00Z');
const STOP = new Date('2025-11-27T14:40:00Z');

const readEvent = (name: string) => readFileSync(path.join(ROOT, 'events', name), 'utf8');
const lambdaCause = (message: string) =>
  JSON.stringify({ errorType: 'UpdateCommandFailed', errorMessage: message, trace: ['at x (/var/task/index.js:1:1)'] });

const sfnMock = mockClient(SFNClient);
const silent = new Logger({ logLevel: 'SILENT' });
const deps = (): BuildStatusDeps => ({ sfn: new SFNClient({ region: 'us-east-1' }), stateMachineArn: STATE_MACHINE_ARN, config: CONFIG });

function getEvent(id: string | undefined): APIGatewayProxyEventV2WithIAMAuthorizer {
  return {
    version: '2.0',
    routeKey: 'GET /builds/{id}',
    rawPath: `/builds/${id}`,
    rawQueryString: '',
    headers: {},
    isBase64Encoded: false,
    pathParameters: id === undefined ? undefined : { id },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: 'GET', path: `/builds/${id}`, protocol: 'HTTP/1.1', sourceIp: '203.0.113.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: 'GET /builds/{id}',
      stage: '$default',
      time: '27/Nov/2025:14:00:00 +0000',
      timeEpoch: 1764252000000,
      authorizer: {
        iam: {
          accessKey: 'ASIAEXAMPLE',
          accountId: '123456789012',
          callerId: 'AROAEXAMPLE:audit',
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: 'arn:aws:sts::123456789012:assumed-role/auditor/audit',
          userId: 'AROAEXAMPLE:audit',
        },
      },
    },
  };
}

beforeEach(() => {
  sfnMock.reset();
});

describe('describeBuild', () => {
  it('reports a successful build with its AMI, from the summary the state machine outputs', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      name: NAME,
      status: 'SUCCEEDED',
      startDate: START,
      stopDate: STOP,
      input: readEvent('ecr-push-dev.json'),
      output: JSON.stringify({
        status: 'SUCCEEDED',
        environment: 'dev',
        amiId: 'ami-0123456789abcdef0',
        mode: 'incremental',
        executionName: NAME,
      }),
    });
    await expect(describeBuild(new SFNClient({}), ARN, CONFIG)).resolves.toEqual({
      executionName: NAME,
      executionArn: ARN,
      status: 'SUCCEEDED',
      environment: 'dev',
      amiId: 'ami-0123456789abcdef0',
      startDate: START.toISOString(),
      stopDate: STOP.toISOString(),
    });
    expect(sfnMock.commandCalls(GetExecutionHistoryCommand)).toHaveLength(0);
  });

  it('reports a failed build with its error and the message of its cause', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      name: NAME,
      status: 'FAILED',
      startDate: START,
      stopDate: STOP,
      input: readEvent('console-prod-digest.json'),
      error: 'UpdateCommandFailed',
      cause: lambdaCause('ComfyUIAmi-Update ended Failed on i-0123 (command c-1); last output: docker: pull access denied'),
      redriveCount: 1,
    });
    const status = await describeBuild(new SFNClient({}), ARN, CONFIG);
    expect(status).toMatchObject({
      status: 'FAILED',
      environment: 'prod',
      error: 'UpdateCommandFailed',
      cause: 'ComfyUIAmi-Update ended Failed on i-0123 (command c-1); last output: docker: pull access denied',
      redriveCount: 1,
    });
    expect(status.amiId).toBeUndefined();
  });

  it('reports a running build with the environment of its pushed tag and the step it is in', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: ARN, name: NAME, status: 'RUNNING', startDate: START, input: readEvent('ecr-push-dev.json') });
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 12, type: 'WaitStateExited', timestamp: STOP, stateExitedEventDetails: { name: 'Wait for the update' } },
        { id: 13, type: 'TaskStateEntered', timestamp: STOP, stateEnteredEventDetails: { name: 'Check the update' } },
        { id: 14, type: 'LambdaFunctionScheduled', timestamp: STOP },
      ],
    });
    await expect(describeBuild(new SFNClient({}), ARN, CONFIG)).resolves.toMatchObject({
      status: 'RUNNING',
      environment: 'dev',
      currentStep: 'Check the update',
    });
    expect(sfnMock.commandCalls(GetExecutionHistoryCommand)[0].args[0].input).toMatchObject({ executionArn: ARN, reverseOrder: true });
  });

  it('reports an unknown environment as null rather than failing', async () => {
    sfnMock
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: ARN, name: NAME, status: 'ABORTED', startDate: START, input: '{"something":"else"}' });
    await expect(describeBuild(new SFNClient({}), ARN, CONFIG)).resolves.toMatchObject({ status: 'ABORTED', environment: null });
  });

  it('names an unknown execution BuildNotFound', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    await expect(describeBuild(new SFNClient({}), ARN, CONFIG)).rejects.toMatchObject({
      name: 'BuildNotFound',
      message: expect.stringContaining(NAME),
    });
  });

  it('reduces a cause to a reason: before any command output, its first line, at most 200 characters', () => {
    expect(failureReason(lambdaCause('X ended Failed; last output: docker: pull access denied'))).toBe('X ended Failed');
    expect(failureReason('first line\nsecond line')).toBe('first line');
    expect(failureReason('y'.repeat(500))).toHaveLength(MAX_REASON_CHARS);
    expect(failureReason(undefined)).toBeUndefined();
  });

  it('keeps a cause that is not a Lambda error as it is', () => {
    expect(readableCause('States.Timeout after 50 s')).toBe('States.Timeout after 50 s');
    expect(readableCause(undefined)).toBeUndefined();
  });
});

describe('GET /builds/{id}', () => {
  const get = async (id: string | undefined) => {
    const response = await statusFromApi(getEvent(id), deps, silent);
    return { statusCode: response.statusCode, body: JSON.parse(response.body as string) as Record<string, unknown> };
  };

  it('answers 200 with status, environment and AMI', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      name: NAME,
      status: 'SUCCEEDED',
      startDate: START,
      output: JSON.stringify({ environment: 'dev', amiId: 'ami-0123456789abcdef0' }),
    });
    const response = await get(NAME);
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({ status: 'SUCCEEDED', environment: 'dev', amiId: 'ami-0123456789abcdef0' });
    expect(sfnMock.commandCalls(DescribeExecutionCommand)[0].args[0].input).toEqual({ executionArn: ARN });
  });

  it('answers a failed build with a short reason: no command output, one line, bounded', async () => {
    const output = 'E: secret-looking line from the build\n'.repeat(50);
    sfnMock.on(DescribeExecutionCommand).resolves({
      executionArn: ARN,
      name: NAME,
      status: 'FAILED',
      startDate: START,
      error: 'UpdateCommandFailed',
      cause: lambdaCause(`ComfyUIAmi-Update ended Failed on i-0123 (command c-1); last output:\n${output}`),
    });
    const response = await get(NAME);
    expect(response.statusCode).toBe(200);
    expect(response.body).toMatchObject({
      status: 'FAILED',
      error: 'UpdateCommandFailed',
      cause: 'ComfyUIAmi-Update ended Failed on i-0123 (command c-1)',
    });
    expect(JSON.stringify(response.body)).not.toContain('secret-looking');
  });

  it('answers 404 for an execution that does not exist', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ message: 'Execution Does Not Exist', $metadata: {} }));
    const response = await get('dev-0000');
    expect(response).toEqual({ statusCode: 404, body: { error: 'BuildNotFound', message: expect.stringContaining('dev-0000') } });
  });

  it.each([
    ['an ARN (it could name another state machine)', ARN],
    ['a path', 'a/b'],
    ['a name longer than 80', 'x'.repeat(81)],
    ['no id', undefined],
  ])('answers 400 naming the id for %s, without asking Step Functions', async (_what, id) => {
    const response = await get(id);
    expect(response.statusCode).toBe(400);
    expect(response.body).toEqual({
      error: 'RequestInvalid',
      field: 'path.id',
      allowed: "a build's execution name (letters, digits, - and _, at most 80)",
      received: id === undefined ? '' : expect.stringMatching(/^(a\/b|arn:|x{80})/),
      message: expect.stringMatching(/^path\.id: must be a build's execution name/),
    });
    expect(sfnMock.calls()).toHaveLength(0);
  });

  it('answers 500 without details on an unexpected error', async () => {
    sfnMock.on(DescribeExecutionCommand).rejects(new TypeError('cannot read properties of undefined'));
    const response = await get(NAME);
    expect(response).toEqual({ statusCode: 500, body: { error: 'InternalError', message: expect.any(String) } });
  });
});
