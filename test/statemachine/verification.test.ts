/**
 * Verify before publish, with the real ASL run in-process against the moto server. moto's
 * SendCommand runs nothing and reports Success, so the happy path is real end to end; the
 * failures (a check that fails or never ends, an agent that never registers, a launch without
 * capacity) are AWS's answers injected into the real steps' clients for the one call at stake.
 * Each failure must end with nothing leaked and the previous AMI and parameters untouched.
 */
import { DescribeInstancesCommand, EC2Client, type Instance } from '@aws-sdk/client-ec2';
import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { checkHealthCheck } from '../../functions/check-health-check/check-health-check';
import { launchTestInstance } from '../../functions/launch-test-instance/launch-test-instance';
import { sendHealthCheck } from '../../functions/send-health-check/send-health-check';
import { type Clients, defaultClients } from '../../functions/shared/clients';
import { logger, type Step, stepHandler } from '../../functions/shared/handler';
import type { BuildState } from '../../functions/shared/state';
import { TAG } from '../../functions/shared/tags';
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { type AccountState, readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

const config = demoConfig();
const VERIFICATION_STATES = ['Launch the test instance', 'Send the health check', 'Check the health check'];
let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  // The shared logger was made when this file imported the handler module, before the line above.
  logger.setLogLevel('SILENT');
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** A real client whose one command gets AWS's answer instead of moto's; every other call goes to moto. */
function answering(client: SSMClient, commandName: string, answer: () => Record<string, unknown>): SSMClient {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== commandName) return next(args);
      return { output: { $metadata: {}, ...answer() }, response: {} } as Awaited<ReturnType<typeof next>>;
    },
    { step: 'initialize', name: `answer-${commandName}` },
  );
  return client;
}

function failingSsm(client: SSMClient, commandName: string, error: () => Error): SSMClient {
  return answering(client, commandName, () => {
    throw error();
  });
}

function failingEc2(client: EC2Client, commandName: string, error: () => Error): EC2Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === commandName) throw error();
      return next(args);
    },
    { step: 'initialize', name: `fail-${commandName}` },
  );
  return client;
}

/** The real step, as its Lambda runs it, with some of its clients replaced. */
function withClients(step: Step<BuildState, unknown>, replace: (clients: Clients) => Partial<Clients>): LambdaHandler {
  const handler = stepHandler(
    (state: BuildState, ctx) => step(state, { ...ctx, clients: { ...ctx.clients, ...replace(ctx.clients) } }),
    defaultClients,
  );
  return (event, context) => handler(event as BuildState, context);
}

async function verifierInstances(): Promise<Instance[]> {
  const out = await new EC2Client({}).send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.role}`, Values: ['verifier'] }] }));
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** A seeded account with one published dev AMI and a newer image pushed. */
async function accountWithOneBuild(): Promise<{
  before: AccountState;
  baseline: Set<string>;
  input: unknown;
  testInstancesBefore: Set<string>;
}> {
  await moto.reset();
  await seedAccount(config);
  const baseline = await snapshotIds();
  const first = await pushImage('comfyui', 'dev-latest', 'one');
  const one = await build(pushEvent('comfyui', 'dev-latest', first), config, 'dev-first');
  expect(one.status).toBe('SUCCEEDED');
  const second = await pushImage('comfyui', 'dev-latest', 'two');
  const testInstancesBefore = new Set((await verifierInstances()).map((i) => i.InstanceId ?? ''));
  return { before: await readAccount(baseline), baseline, input: pushEvent('comfyui', 'dev-latest', second), testInstancesBefore };
}

describe('verify before publish', () => {
  it('boots the new AMI on a tagged IMDSv2 test instance, runs the health check on it, publishes, and clean up terminates it', async () => {
    const { baseline, input, testInstancesBefore } = await accountWithOneBuild();

    const result = await buildWith(input, config, 'dev-verified', {});

    expect(result.status).toBe('SUCCEEDED');
    const order = result.steps.map((s) => s.name);
    expect(order.slice(order.indexOf('Check the AMI') + 1, order.indexOf('Publish the AMI'))).toEqual(VERIFICATION_STATES);
    const amiId = result.output?.amiId as string;
    const mine = (await verifierInstances()).filter((i) => !testInstancesBefore.has(i.InstanceId ?? ''));
    expect(mine).toHaveLength(1);
    const [instance] = mine;
    expect(instance).toMatchObject({
      ImageId: amiId,
      InstanceType: 'g4dn.xlarge',
      State: { Name: 'terminated' },
      MetadataOptions: { HttpTokens: 'required' },
    });
    const tag = (key: string) => instance.Tags?.find((t) => t.Key === key)?.Value;
    expect([tag(TAG.managedBy), tag(TAG.environment), tag(TAG.execution)]).toEqual(['comfyui-ami-pipeline', 'dev', 'dev-verified']);
    expect(tag(TAG.build)).toMatch(/^[0-9a-f-]{36}$/);
    const commands = (await new SSMClient({}).send(new ListCommandsCommand({ InstanceId: instance.InstanceId }))).Commands ?? [];
    expect(commands.map((c) => c.DocumentName)).toEqual(['ComfyUIAmi-HealthCheck']);
    expect(commands[0].Parameters).toMatchObject({
      ImageUri: [expect.stringMatching(/@sha256:[0-9a-f]{64}$/)],
      Gpu: ['true'],
      ContainerPort: ['8188'],
      TimeoutSeconds: ['600'],
    });
    const after = await readAccount(baseline);
    expect(after.amis).toEqual({ dev: [amiId] });
    expect(after.parameters['/comfyui/ami/dev/latest']).toBe(amiId);
    expect(after.liveBuilders).toEqual([]);
  });

  it('skips the stage when the environment turns verification off', async () => {
    const { baseline, input, testInstancesBefore } = await accountWithOneBuild();
    const off = demoConfig({
      environments: { ...config.environments, dev: { ...config.environments.dev, verify: { enabled: false, timeoutSeconds: 600 } } },
    });

    const result = await buildWith(input, off, 'dev-unverified', {});

    expect(result.status).toBe('SUCCEEDED');
    expect(result.steps.map((s) => s.name)).not.toEqual(expect.arrayContaining([VERIFICATION_STATES[0]]));
    expect((await verifierInstances()).filter((i) => !testInstancesBefore.has(i.InstanceId ?? ''))).toEqual([]);
    expect((await readAccount(baseline)).parameters['/comfyui/ami/dev/latest']).toBe(result.output?.amiId);
  });

  const unhealthy = (stderr: string) => () => ({
    Status: 'Failed',
    StandardOutputContent: 'docker is active\n',
    StandardErrorContent: stderr,
  });
  const cases: {
    title: string;
    state: string;
    handler: () => LambdaHandler;
    error: string;
    cause: RegExp;
    launched: boolean;
    configOverride?: Parameters<typeof demoConfig>[0];
  }[] = [
    {
      title: 'the container runs another image (unhealthy)',
      state: 'Check the health check',
      handler: () =>
        withClients(checkHealthCheck, () => ({
          ssm: answering(
            new SSMClient({}),
            'GetCommandInvocationCommand',
            unhealthy('ERROR [health-check]: container comfyui runs sha256:old, not the pushed image\n'),
          ),
        })),
      error: 'VerificationFailed',
      cause: /failed its health check[\s\S]*ERROR \[health-check\]: container comfyui runs sha256:old, not the pushed image$/,
      launched: true,
    },
    {
      title: 'ComfyUI never answers HTTP',
      state: 'Check the health check',
      handler: () =>
        withClients(checkHealthCheck, () => ({
          ssm: answering(
            new SSMClient({}),
            'GetCommandInvocationCommand',
            unhealthy('ERROR [health-check]: ComfyUI did not answer on http://127.0.0.1:8188/system_stats within 600s\n'),
          ),
        })),
      error: 'VerificationFailed',
      cause: /ComfyUI did not answer on http:\/\/127\.0\.0\.1:8188\/system_stats within 600s$/,
      launched: true,
    },
    {
      title: 'the check never finishes',
      state: 'Check the health check',
      handler: () =>
        withClients(checkHealthCheck, () => ({
          ssm: answering(new SSMClient({}), 'GetCommandInvocationCommand', () => ({ Status: 'InProgress' })),
        })),
      error: 'VerificationTimedOut',
      // A 60 s check: the first look, then one after each of two 300 s pauses (the wait for its event).
      cause: /still InProgress on test instance i-\w+ after 3 checks/,
      launched: true,
      configOverride: {
        environments: { ...config.environments, dev: { ...config.environments.dev, verify: { enabled: true, timeoutSeconds: 60 } } },
      },
    },
    {
      title: 'the SSM agent never registers',
      state: 'Send the health check',
      handler: () =>
        withClients(sendHealthCheck, () => ({
          ssmOnce: failingSsm(new SSMClient({ maxAttempts: 1 }), 'SendCommandCommand', () =>
            named('InvalidInstanceId', 'Instances not in a valid state for account'),
          ),
        })),
      error: 'TestInstanceAgentNotReady',
      cause: /SSM agent on test instance i-\w+ has not registered yet/,
      launched: true,
    },
    {
      title: 'EC2 has no capacity for the test instance',
      state: 'Launch the test instance',
      handler: () =>
        withClients(launchTestInstance, () => ({
          ec2: failingEc2(new EC2Client({}), 'RunInstancesCommand', () =>
            named(
              'InsufficientInstanceCapacity',
              'We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested',
            ),
          ),
        })),
      error: 'NoCapacity',
      cause: /^no capacity for the test instance after 1 launch attempt: g4dn\.xlarge in the default subnet: InsufficientInstanceCapacity/,
      launched: false,
    },
  ];

  it.each(cases.map((c) => [c.title, c] as const))('fails the build when %s, removes the new AMI and leaks nothing', async (_title, c) => {
    // Prepare
    const { before, baseline, input, testInstancesBefore } = await accountWithOneBuild();
    const buildConfig = demoConfig(c.configOverride);

    // Act
    const result = await buildWith(input, buildConfig, `dev-verify-${cases.indexOf(c)}`, { [c.state]: c.handler() });
    const after = await readAccount(baseline);
    const launched = (await verifierInstances()).filter((i) => !testInstancesBefore.has(i.InstanceId ?? ''));

    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: c.error, failedState: c.state });
    expect(result.cause).toMatch(c.cause);
    expect(result.steps.map((s) => s.name)).toContain('Roll back the build');
    expect(result.steps.map((s) => s.name)).not.toContain('Publish the AMI');
    expect(launched.map((i) => i.State?.Name)).toEqual(c.launched ? ['terminated'] : []);
    expect(after.liveBuilders).toEqual([]);
    expect(after.orphanSnapshots).toEqual([]);
    expect(after.amis).toEqual(before.amis);
    expect(after.parameters).toEqual(before.parameters);
  });

  it('retries the agent a bounded number of times before giving up', async () => {
    const { input } = await accountWithOneBuild();
    const handler = withClients(sendHealthCheck, () => ({
      ssmOnce: failingSsm(new SSMClient({ maxAttempts: 1 }), 'SendCommandCommand', () => named('InvalidInstanceId', 'not registered')),
    }));

    const result = await buildWith(input, config, 'dev-agent-bounded', { 'Send the health check': handler });

    expect(result.error).toBe('TestInstanceAgentNotReady');
    // 1 + the MaxAttempts of its Retry on TestInstanceAgentNotReady.
    expect(result.steps.find((s) => s.name === 'Send the health check')?.attempts).toBe(13);
  });
});
