import { Logger } from '@aws-lambda-powertools/logger';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeImagesCommand as DescribeEcrImagesCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { GetParameterCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { defaultClients } from '../../functions/shared/clients';
import { executionArnFor } from '../../functions/shared/execution-name';
import { type EnvironmentActionDeps, environmentActionFromApi } from '../../functions/start-environment-action/api';
import { demoConfig } from '../support/builds';

const config = demoConfig();
const silent = new Logger({ logLevel: 'SILENT' });

describe('POST /environments/{env}/rollback and /promote', () => {
  const sfn = mockClient(SFNClient);
  const ssm = mockClient(SSMClient);
  const ec2 = mockClient(EC2Client);
  const ecr = mockClient(ECRClient);
  const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:comfyui-ami-dev-bake-ami';
  const REPOSITORY_URI = '123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui';
  const DIGEST = `sha256:${'ab'.repeat(32)}`;
  const deps = (): EnvironmentActionDeps => ({
    config: { ...config, environments: { ...config.environments, prod: { ...config.environments.prod, promoteFrom: 'dev' } } },
    clients: defaultClients(),
    logger: silent,
    stateMachineArn: STATE_MACHINE_ARN,
  });
  const event = (route: 'rollback' | 'promote', env: string, body?: string): APIGatewayProxyEventV2 =>
    ({
      version: '2.0',
      routeKey: `POST /environments/{env}/${route}`,
      rawPath: `/environments/${env}/${route}`,
      rawQueryString: '',
      headers: {},
      isBase64Encoded: false,
      body,
      pathParameters: { env },
      requestContext: {
        domainName: 'api.example.com',
        stage: '$default',
        http: { method: 'POST', path: `/environments/${env}/${route}` },
        authorizer: { iam: { userArn: 'arn:aws:iam::123456789012:user/operator', accountId: '123456789012' } },
      },
    }) as unknown as APIGatewayProxyEventV2;
  const call = (e: APIGatewayProxyEventV2) => environmentActionFromApi(e, deps, silent);
  const history = (amiId: string, date: string) => ({
    Name: `/comfyui/ami/dev/history/${amiId}`,
    Value: JSON.stringify({ ami_id: amiId, environment: 'dev', docker_digest: DIGEST, creation_date: date }),
  });

  beforeEach(() => {
    for (const mock of [sfn, ssm, ec2, ecr]) mock.reset();
    sfn
      .on(StartExecutionCommand)
      .callsFake((input: { name: string }) => ({ executionArn: executionArnFor(STATE_MACHINE_ARN, input.name), startDate: new Date() }));
  });

  it('starts a rollback to the newest retained older build and answers 202', async () => {
    ssm.on(GetParameterCommand, { Name: '/comfyui/ami/dev/latest' }).resolves({ Parameter: { Value: 'ami-00000000000000003' } });
    ssm.on(GetParametersByPathCommand).resolves({
      Parameters: [history('ami-00000000000000003', '2026-11-03T00:00:00Z'), history('ami-00000000000000002', '2026-11-02T00:00:00Z')],
    });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ State: 'available' }] });
    const response = await call(event('rollback', 'dev'));
    expect(response).toMatchObject({ statusCode: 202 });
    const body = JSON.parse((response as { body: string }).body);
    expect(body).toMatchObject({
      environment: 'dev',
      rollbackTo: 'ami-00000000000000002',
      retained: true,
      statusUrl: expect.stringContaining('/builds/dev-rollback-'),
    });
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input ?? '{}');
    expect(input).toEqual({ action: 'rollback', environment: 'dev', rollback_to: 'ami-00000000000000002', source: 'api' });
    // IAM authorizes GetParametersByPath on the path as sent: the role grants `.../*/history`, no trailing slash.
    expect(ssm.commandCalls(GetParametersByPathCommand).map((c) => c.args[0].input.Path)).toEqual(['/comfyui/ami/dev/history']);
  });

  it("starts a build of the target from exactly the source's published digest and answers 202", async () => {
    ssm.on(GetParameterCommand, { Name: '/comfyui/ami/dev/metadata' }).resolves({
      Parameter: { Value: JSON.stringify({ environment: 'dev', docker_digest: DIGEST, branch: 'main', commit_sha: 'abc1234' }) },
    });
    // The digest reaches prod because dev, its promoteFrom source, published it (no prod tag points to it).
    ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
    ssm.on(GetParametersByPathCommand, { Path: '/comfyui/ami/dev/history' }).resolves({
      Parameters: [history('ami-00000000000000003', '2026-11-03T00:00:00Z')],
    });
    ecr.on(DescribeRepositoriesCommand).resolves({ repositories: [{ repositoryName: 'comfyui', repositoryUri: REPOSITORY_URI }] });
    ecr.on(DescribeEcrImagesCommand).resolves({ imageDetails: [{ imageDigest: DIGEST, imageTags: ['dev-latest'] }] });
    const response = await call(event('promote', 'prod', '{"from": "dev"}'));
    expect(response).toMatchObject({ statusCode: 202 });
    const body = JSON.parse((response as { body: string }).body);
    const name = String(body.executionName);
    expect(name).toMatch(/^prod-/);
    expect(body).toEqual({
      executionArn: executionArnFor(STATE_MACHINE_ARN, name),
      executionName: name,
      environment: 'prod',
      from: 'dev',
      digest: DIGEST,
      imageUri: `${REPOSITORY_URI}@${DIGEST}`,
      alreadyStarted: false,
      statusUrl: `https://api.example.com/environments/prod/builds/${name}`,
    });
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input ?? '{}');
    expect(input).toEqual({ environment: 'prod', image: `comfyui@${DIGEST}`, branch: 'main', commit_sha: 'abc1234', source: 'api' });
  });

  it.each([
    ['rollback', 'dev', '{"to": "ami-1"}', 'body.to', 'body.to: must be an AMI id'],
    ['rollback', 'dev', '{"target": "ami-0123456789abcdef0"}', 'body', 'unknown field(s) "target"'],
    ['rollback', 'qa', undefined, 'path.env', 'path.env: must be one of the configured environments'],
    ['promote', 'prod', undefined, 'body', 'body is required'],
    ['promote', 'prod', '{"from": 7}', 'body.from', 'body.from: must be a string'],
    ['promote', 'prod', '{"from": "staging"}', 'body.from', 'body.from: must be one of the configured environments'],
    [
      'promote',
      'dev',
      '{"from": "prod"}',
      'body.from',
      'body.from: must be the environment that config environments.dev.promoteFrom names',
    ],
    ['promote', 'prod', '[]', 'body', 'body: must be a JSON object'],
  ] as const)('%s %s %s answers 400 naming %s, and starts nothing', async (route, env, body, field, message) => {
    const response = await call(event(route, env, body));
    expect(response).toMatchObject({ statusCode: 400 });
    expect(JSON.parse((response as { body: string }).body)).toMatchObject({
      error: 'RequestInvalid',
      field,
      allowed: expect.any(String),
      message: expect.stringContaining(message),
    });
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('refuses a promotion when the source has published nothing', async () => {
    ssm.on(GetParameterCommand).rejects(Object.assign(new Error('not found'), { name: 'ParameterNotFound' }));
    const response = await call(event('promote', 'prod', '{"from": "dev"}'));
    expect(response).toMatchObject({ statusCode: 400 });
    expect((response as { body: string }).body).toContain('dev has published nothing');
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });
});
