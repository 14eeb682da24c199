import '../../scripts/lib/polyfills';
import { Logger } from '@aws-lambda-powertools/logger';
import { DescribeImagesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeImagesCommand as DescribeEcrImagesCommand } from '@aws-sdk/client-ecr';
import { CreateStateMachineCommand, DescribeExecutionCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import type { PipelineConfig } from '../../functions/shared/config';
import { getJsonParameter } from '../../functions/shared/parameters';
import { recordRequester } from '../../functions/shared/requester';
import { dispatch } from '../../functions/start-build/handler';
import type { StartBuildDeps } from '../../functions/start-build/start-build';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

/**
 * Only an environment's own images reach it, against the moto server, through the three ways in: the CLI's `run`
 * (runLocalBuild), the start function behind the API (ECR, SSM, DynamoDB and Step Functions in
 * moto), and the state machine input itself. A refused request creates nothing.
 */

const base = demoConfig();
const QA = { ...base.environments.dev, tags: ['qa-latest', 'qa-*'], defaultTag: 'qa-latest' };
const config: PipelineConfig = { ...base, environments: { ...base.environments, qa: QA } };
const promoting: PipelineConfig = {
  ...config,
  environments: { ...config.environments, prod: { ...config.environments.prod, promoteFrom: 'qa' } },
};
const RELEASER = 'arn:aws:sts::123456789012:assumed-role/release-bot/ci-42';

let moto: Moto;
let stateMachineArn: string;
let serial = 0;

function apiEvent(
  routeKey: string,
  path: string,
  body: unknown,
  pathParameters?: Record<string, string>,
): APIGatewayProxyEventV2WithIAMAuthorizer {
  const [method] = routeKey.split(' ');
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
    body: JSON.stringify(body),
    pathParameters,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.1', userAgent: 'test' },
      requestId: `req-${path}`,
      routeKey,
      stage: '$default',
      time: '27/Nov/2026:14:00:00 +0000',
      timeEpoch: 1795788000000,
      authorizer: {
        iam: {
          accessKey: 'ASIAEXAMPLE',
          accountId: '123456789012',
          callerId: 'AROAEXAMPLE:ci-42',
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: RELEASER,
          userId: 'AROAEXAMPLE:ci-42',
        },
      },
    },
  };
}

const silent = new Logger({ logLevel: 'SILENT' });
const deps = (cfg: PipelineConfig) => (): StartBuildDeps => ({ config: cfg, clients: defaultClients(), logger: silent, stateMachineArn });

async function post(
  cfg: PipelineConfig,
  environment: string,
  image: string,
  bodyAddressed: boolean,
): Promise<{ statusCode: number; body: Record<string, unknown> }> {
  const event = bodyAddressed
    ? apiEvent('POST /builds', '/builds', { environment, image })
    : apiEvent('POST /environments/{env}/builds', `/environments/${environment}/builds`, { image }, { env: environment });
  const response = (await dispatch(event, deps(cfg), silent)) as { statusCode: number; body: string };
  return { statusCode: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown> };
}

/** Everything a request could create or change. */
async function accountFacts(baseline: Set<string>) {
  const { ec2, sfn } = defaultClients();
  const instances = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .map((i) => i.InstanceId);
  const images = ((await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? []).map((i) => i.ImageId).sort();
  const executions = ((await sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions ?? []).map((e) => e.name).sort();
  return { account: await readAccount(baseline, '/'), instances, images, executions };
}

/** Refused by all three ways in, naming input.image (body.image on the API), with nothing made. */
async function expectRefusedEverywhere(cfg: PipelineConfig, environment: string, image: string): Promise<void> {
  const baseline = await snapshotIds();
  const before = await accountFacts(baseline);
  serial += 1;

  // The CLI's run: refused up front, or at Normalize.
  let cli: string;
  try {
    const summary = await build({ environment, image, source: 'cli' }, cfg, `refused-cli-${serial}`);
    cli = `${summary.status} ${summary.error}: ${summary.cause}`;
  } catch (error) {
    cli = `${(error as Error).name}: ${(error as Error).message}`;
  }
  expect(cli).toMatch(/RequestInvalid.*input\.image/s);

  // The state machine input, straight into the ASL (a console start).
  const run = await buildWith({ environment, image }, cfg, `refused-sm-${serial}`, {});
  expect({ status: run.status, error: run.error, failedState: run.failedState, steps: run.steps.map((s) => s.name) }).toEqual({
    status: 'FAILED',
    error: 'RequestInvalid',
    failedState: 'Normalize the request',
    steps: ['Normalize the request'],
  });
  expect(run.cause).toContain('input.image');

  // The start function, body-addressed and env-in-path.
  for (const bodyAddressed of [true, false]) {
    const response = await post(cfg, environment, image, bodyAddressed);
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
  }

  expect(await accountFacts(baseline)).toEqual(before);
}

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
  resetDefaultClients();
  await seedAccount(config);
  const created = await defaultClients().sfn.send(
    new CreateStateMachineCommand({
      name: 'comfyui-ami-test-bake-ami',
      definition: '{"StartAt":"x","States":{"x":{"Type":"Succeed"}}}',
      roleArn: 'arn:aws:iam::123456789012:role/sfn',
    }),
  );
  stateMachineArn = created.stateMachineArn ?? '';
}, 60000);
afterAll(async () => moto?.stop());

describe('the image must belong to the environment', () => {
  let qaDigest: string;

  it('refuses comfyui:qa-latest for prod on the CLI, the API and the state machine input, creating nothing', async () => {
    qaDigest = await pushImage('comfyui', 'qa-latest', 'a qa image');
    await expectRefusedEverywhere(config, 'prod', 'comfyui:qa-latest');
  });

  it('refuses the digest qa-latest points to for prod (tagged only for qa, never published by prod)', async () => {
    await expectRefusedEverywhere(config, 'prod', `comfyui@${qaDigest}`);
  });

  it('refuses a digest that no environment tag points to and that prod never published', async () => {
    const loose = await pushImage('comfyui', 'scratch-1', 'an image of no environment');
    await expectRefusedEverywhere(config, 'prod', `comfyui@${loose}`);
    // And one ECR does not even know: still refused as not prod's, before anything else.
    await expectRefusedEverywhere(config, 'prod', `comfyui@sha256:${'0f'.repeat(32)}`);
  });

  let published: string;

  it('accepts a tag of the environment pointing to the pushed digest, by tag and by digest', async () => {
    published = await pushImage('comfyui', 'prod-latest', 'prod image one');
    // A second, environment-less tag keeps the image in ECR once prod-latest moves on.
    await pushImage('comfyui', 'keep-prod-one', 'prod image one');
    const byTag = await build({ environment: 'prod' }, config, 'prod-by-tag');
    expect(byTag).toMatchObject({ status: 'SUCCEEDED', environment: 'prod' });
    const metadata = await getJsonParameter(defaultClients().ssm, '/comfyui/ami/prod/metadata');
    expect(metadata?.docker_digest).toBe(published);

    const byDigest = await post(config, 'prod', `comfyui@${published}`, false);
    expect(byDigest).toMatchObject({ statusCode: 202, body: { environment: 'prod', imageUri: expect.stringContaining(published) } });
  });

  it('accepts a digest the environment published before, once no tag of it points there', async () => {
    await pushImage('comfyui', 'prod-latest', 'prod image two');
    const tags = await defaultClients().ecr.send(
      new DescribeEcrImagesCommand({ repositoryName: 'comfyui', imageIds: [{ imageDigest: published }] }),
    );
    expect(tags.imageDetails?.[0]?.imageTags).toEqual(['keep-prod-one']);
    const again = await build({ environment: 'prod', image: `comfyui@${published}` }, config, 'prod-republish');
    expect(again).toMatchObject({ status: 'SUCCEEDED', environment: 'prod' });
  });

  it('accepts, for prod promoted from qa, a digest qa published, and only with promoteFrom configured', async () => {
    const qaOne = await pushImage('comfyui', 'qa-1', 'a qa release');
    expect(await build({ environment: 'qa', image: 'comfyui:qa-1' }, config, 'qa-one')).toMatchObject({ status: 'SUCCEEDED' });
    await pushImage('comfyui', 'qa-1', 'the next qa release');
    await pushImage('comfyui', 'keep-qa-one', 'a qa release');

    await expectRefusedEverywhere(config, 'prod', `comfyui@${qaOne}`);
    const promoted = await post(promoting, 'prod', `comfyui@${qaOne}`, false);
    expect(promoted).toMatchObject({ statusCode: 202, body: { environment: 'prod' } });
    expect(await build({ environment: 'prod', image: `comfyui@${qaOne}` }, promoting, 'prod-promoted')).toMatchObject({
      status: 'SUCCEEDED',
    });
  });
});

describe("the caller's identity reaches the metadata", () => {
  it('records the API caller recorded by the start function, not anything in the input', async () => {
    const digest = await pushImage('comfyui', 'dev-7', 'a dev image');
    const response = await post(config, 'dev', 'comfyui:dev-7', false);
    expect(response.statusCode).toBe(202);
    const name = String(response.body.executionName);
    // Moto's Step Functions does not run the states: run the real ASL with the execution's name and input.
    const started = await defaultClients().sfn.send(new DescribeExecutionCommand({ executionArn: String(response.body.executionArn) }));
    const summary = await build(JSON.parse(started.input ?? '{}'), config, name);
    expect(summary.status).toBe('SUCCEEDED');
    const metadata = await getJsonParameter(defaultClients().ssm, '/comfyui/ami/dev/metadata');
    expect(metadata).toMatchObject({ requested_by: RELEASER, source: 'api', docker_digest: digest });
  });

  it('records a console start honestly as not known, and refuses an identity smuggled into the input', async () => {
    await pushImage('comfyui', 'dev-8', 'another dev image');
    expect(await build({ environment: 'dev', image: 'comfyui:dev-8' }, config, 'dev-console')).toMatchObject({ status: 'SUCCEEDED' });
    const metadata = await getJsonParameter(defaultClients().ssm, '/comfyui/ami/dev/metadata');
    expect(metadata?.requested_by).toBe('console (principal not recorded; CloudTrail StartExecution names it)');

    const forged = await buildWith({ environment: 'dev', image: 'comfyui:dev-8', requested_by: RELEASER }, config, 'dev-forged', {});
    expect({ status: forged.status, error: forged.error }).toEqual({ status: 'FAILED', error: 'RequestInvalid' });
    expect(forged.cause).toContain('requested_by');
  });

  it('ignores a record older than the execution (an earlier execution of the same name)', async () => {
    await pushImage('comfyui', 'dev-9', 'a third dev image');
    await recordRequester(defaultClients().dynamodb, config, 'dev-stale', RELEASER, new Date(Date.now() - 3600_000));
    expect(await build({ environment: 'dev', image: 'comfyui:dev-9' }, config, 'dev-stale')).toMatchObject({ status: 'SUCCEEDED' });
    const metadata = await getJsonParameter(defaultClients().ssm, '/comfyui/ami/dev/metadata');
    expect(metadata?.requested_by).toMatch(/^console \(principal not recorded/);
  });
});
