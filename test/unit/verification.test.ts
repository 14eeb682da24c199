/**
 * The verification steps against AWS's documented answers, which moto does not give: capacity
 * errors, an SSM agent that has not registered, a check that fails or never ends.
 */
import 'aws-sdk-client-mock-jest';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  GetParametersByPathCommand,
  ListCommandsCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkHealthCheck } from '../../functions/check-health-check/check-health-check';
import { cleanUp } from '../../functions/clean-up/clean-up';
import { launchTestInstance, testInstanceClientToken } from '../../functions/launch-test-instance/launch-test-instance';
import { rollBack } from '../../functions/roll-back/roll-back';
import { sendHealthCheck } from '../../functions/send-health-check/send-health-check';
import { configSchema, EVENT_WAIT_FALLBACK_SECONDS, healthCheckMaxAttempts } from '../../functions/shared/config';
import type { Published } from '../../functions/shared/state';
import { loadDefinition } from '../../scripts/lib/local-runner';
import { demoConfig } from '../support/builds';
import { buildTags, stateAfterImage, stepContext } from '../support/context';

const VERIFIER_TAGS = buildTags(undefined, { 'comfyui-ami:role': 'verifier' });

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const BUILD_ID = stateAfterImage().execution.buildId;
const AMI = 'ami-00000000000000002';
const TEST_INSTANCE = 'i-0000000000000test1';

function named(name: string, message = name): Error {
  return Object.assign(new Error(message), { name });
}

const withTestInstance = () => stateAfterImage({ testInstance: { instanceId: TEST_INSTANCE, amiId: AMI } });
const withHealthCheck = (attempt = 0) =>
  stateAfterImage({
    testInstance: { instanceId: TEST_INSTANCE, amiId: AMI },
    healthCheck: { commandId: 'cmd-health', documentName: 'ComfyUIAmi-HealthCheck' },
    ...(attempt > 0 ? { healthCheckStatus: { done: false, attempt, status: 'InProgress' } } : {}),
  });

beforeEach(() => {
  ec2.reset();
  ssm.reset();
});

describe('the verify config', () => {
  it('is on by default, with a 600 s timeout, and can be turned off per environment', () => {
    const parsed = configSchema.parse({
      repositories: ['comfyui'],
      environments: {
        dev: { tags: ['dev-*'], defaultTag: 'dev-latest' },
        lab: { tags: ['lab-*'], defaultTag: 'lab-latest', verify: { enabled: false } },
      },
    });
    expect(parsed.environments.dev.verify).toEqual({ enabled: true, timeoutSeconds: 600 });
    expect(parsed.environments.lab.verify).toEqual({ enabled: false, timeoutSeconds: 600 });
    expect(parsed.documents.healthCheck).toBe('ComfyUIAmi-HealthCheck');
  });

  it.each([[{ timeoutSeconds: 30 }], [{ timeoutSeconds: 7200 }], [{ enabled: 'yes' }], [{ retries: 3 }]])(
    'refuses verify %j, naming the field',
    (verify) => {
      const result = configSchema.safeParse({
        repositories: ['comfyui'],
        environments: { dev: { tags: ['dev-*'], defaultTag: 'dev-latest', verify } },
      });
      expect(result.success).toBe(false);
      expect(JSON.stringify(result.error?.issues.map((i) => i.path))).toContain('"verify"');
    },
  );

  it('bounds the check loop by the timeout plus a grace, at the fallback pause of the wait for its event', () => {
    expect(loadDefinition().States['Wait for the health check'].TimeoutSeconds).toBe(EVENT_WAIT_FALLBACK_SECONDS);
    // The first check right after sending, then three 300 s pauses: 900 s, the timeout and the grace.
    expect(healthCheckMaxAttempts({ enabled: true, timeoutSeconds: 600 })).toBe(4);
  });
});

describe('launchTestInstance', () => {
  beforeEach(() => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'available' }] });
  });

  it("boots the new AMI with the environment's type, the builder's network and profile, IMDSv2 only, tagged as this build's verifier", async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE }] });
    const ctx = stepContext({
      builder: { ...demoConfig().builder, subnetId: 'subnet-0123456789abcdef0', securityGroupIds: ['sg-0123456789abcdef0'] },
      environments: { ...demoConfig().environments, dev: { ...demoConfig().environments.dev, instanceType: 'g5.2xlarge' } },
    });

    const result = await launchTestInstance(stateAfterImage(), ctx);

    expect(result).toEqual({ instanceId: TEST_INSTANCE, amiId: AMI, instanceType: 'g5.2xlarge', subnetId: 'subnet-0123456789abcdef0' });
    expect(ec2).toHaveReceivedCommandWith(RunInstancesCommand, {
      ImageId: AMI,
      InstanceType: 'g5.2xlarge',
      NetworkInterfaces: [
        expect.objectContaining({ DeviceIndex: 0, SubnetId: 'subnet-0123456789abcdef0', Groups: ['sg-0123456789abcdef0'] }),
      ],
      IamInstanceProfile: { Name: 'comfyui-ami-builder' },
      MetadataOptions: expect.objectContaining({ HttpTokens: 'required' }),
      ClientToken: testInstanceClientToken(BUILD_ID, AMI, {
        instanceType: 'g5.2xlarge',
        subnetId: 'subnet-0123456789abcdef0',
        market: 'on-demand',
      }),
    });
    const tags = ec2.commandCalls(RunInstancesCommand)[0].args[0].input.TagSpecifications?.[0].Tags;
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: 'comfyui-ami:managed-by', Value: 'comfyui-ami-pipeline' },
        { Key: 'comfyui-ami:role', Value: 'verifier' },
        { Key: 'comfyui-ami:build-id', Value: BUILD_ID },
        { Key: 'comfyui-ami:environment', Value: 'dev' },
      ]),
    );
  });

  it('reuses the test instance this build already launched', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE, ImageId: AMI }] }] });

    const result = await launchTestInstance(stateAfterImage(), stepContext());

    expect(result.instanceId).toBe(TEST_INSTANCE);
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: expect.arrayContaining([
        { Name: 'tag:comfyui-ami:build-id', Values: [BUILD_ID] },
        { Name: 'tag:comfyui-ami:role', Values: ['verifier'] },
      ]),
    });
  });

  it.each(['InsufficientInstanceCapacity', 'InstanceLimitExceeded', 'VcpuLimitExceeded', 'Unsupported'])(
    'fails with NoCapacity when EC2 answers %s for its only instance type and subnet',
    async (code) => {
      ec2.on(RunInstancesCommand).rejects(named(code, 'We currently do not have sufficient g4dn.xlarge capacity'));

      await expect(launchTestInstance(stateAfterImage(), stepContext())).rejects.toMatchObject({
        name: 'NoCapacity',
        message: expect.stringContaining(`g4dn.xlarge in the default subnet: ${code}: We currently do not have sufficient`),
      });
    },
  );

  it('fails with TestInstanceLaunchFailed, trying nothing else, when EC2 cannot find the AMI', async () => {
    ec2.on(RunInstancesCommand).rejects(named('InvalidAMIID.NotFound', 'The image id does not exist'));
    const ctx = stepContext({ builder: { ...demoConfig().builder, subnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b'] } });

    await expect(launchTestInstance(stateAfterImage(), ctx)).rejects.toMatchObject({ name: 'TestInstanceLaunchFailed' });
    expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
  });

  it('lets a throttled RunInstances through to the retry as it is', async () => {
    ec2.on(RunInstancesCommand).rejects(named('RequestLimitExceeded'));
    await expect(launchTestInstance(stateAfterImage(), stepContext())).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
  });

  it('refuses to boot an AMI that is not available', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'failed' }] });
    await expect(launchTestInstance(stateAfterImage(), stepContext())).rejects.toMatchObject({ name: 'TestInstanceLaunchFailed' });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  it('boots an AMI that Check the AMI found available without describing it again', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE }] });
    const checked = stateAfterImage({ imageStatus: { done: true, attempt: 1, status: 'available' } });

    await expect(launchTestInstance(checked, stepContext())).resolves.toMatchObject({ instanceId: TEST_INSTANCE, amiId: AMI });
    expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
    expect(ec2).toHaveReceivedCommandWith(RunInstancesCommand, { ImageId: AMI });
  });
});

describe('sendHealthCheck', () => {
  const ctx = stepContext();
  const running = {
    Reservations: [{ Instances: [{ Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE, State: { Name: 'running' as const } }] }],
  };

  it('sends the health-check document with the image, GPU, port and timeout as typed parameters', async () => {
    ec2.on(DescribeInstancesCommand).resolves(running);
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-health' } });

    const result = await sendHealthCheck(withTestInstance(), ctx);

    expect(result).toEqual({ commandId: 'cmd-health', documentName: 'ComfyUIAmi-HealthCheck' });
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      InstanceIds: [TEST_INSTANCE],
      DocumentName: 'ComfyUIAmi-HealthCheck',
      Parameters: { ImageUri: [stateAfterImage().request!.imageUri], Gpu: ['true'], ContainerPort: ['8188'], TimeoutSeconds: ['600'] },
    });
  });

  it('retries as TestInstanceAgentNotReady while SSM does not know the new instance (InvalidInstanceId)', async () => {
    ec2.on(DescribeInstancesCommand).resolves(running);
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    ssm.on(SendCommandCommand).rejects(named('InvalidInstanceId'));

    await expect(sendHealthCheck(withTestInstance(), ctx)).rejects.toMatchObject({ name: 'TestInstanceAgentNotReady' });
  });

  it('waits while the instance is pending', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE, State: { Name: 'pending' } }] }] });
    await expect(sendHealthCheck(withTestInstance(), ctx)).rejects.toMatchObject({ name: 'TestInstanceAgentNotReady' });
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });

  it('fails the verification when the booted instance did not stay up', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              Tags: VERIFIER_TAGS,
              InstanceId: TEST_INSTANCE,
              State: { Name: 'terminated' },
              StateReason: { Message: 'Client.InstanceInitiatedShutdown' },
            },
          ],
        },
      ],
    });
    await expect(sendHealthCheck(withTestInstance(), ctx)).rejects.toMatchObject({
      name: 'VerificationFailed',
      message: expect.stringContaining('InstanceInitiatedShutdown'),
    });
  });

  it('does not send a second check when a retry finds the first', async () => {
    ec2.on(DescribeInstancesCommand).resolves(running);
    ssm.on(ListCommandsCommand).resolves({
      Commands: [
        {
          CommandId: 'cmd-first',
          Comment: `comfyui-ami verify ${BUILD_ID}`,
          DocumentName: 'ComfyUIAmi-HealthCheck',
          Status: 'InProgress',
        },
      ],
    });

    await expect(sendHealthCheck(withTestInstance(), ctx)).resolves.toEqual({
      commandId: 'cmd-first',
      documentName: 'ComfyUIAmi-HealthCheck',
    });
    expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  });
});

describe('checkHealthCheck', () => {
  it('is done when the check succeeded', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success' });
    await expect(checkHealthCheck(withHealthCheck(), stepContext())).resolves.toEqual({ done: true, attempt: 1, status: 'Success' });
  });

  it('keeps polling while the check runs or its invocation does not exist yet', async () => {
    ssm.on(GetCommandInvocationCommand).resolvesOnce({ Status: 'InProgress' }).rejects(named('InvocationDoesNotExist'));
    await expect(checkHealthCheck(withHealthCheck(), stepContext())).resolves.toMatchObject({
      done: false,
      attempt: 1,
      status: 'InProgress',
    });
    await expect(checkHealthCheck(withHealthCheck(1), stepContext())).resolves.toMatchObject({
      done: false,
      attempt: 2,
      status: 'Pending',
    });
  });

  it("fails the build with VerificationFailed and the tail of the check's output", async () => {
    const stderr = `${'noise\n'.repeat(1000)}ERROR [health-check]: ComfyUI answered HTTP 500, not 200, on http://127.0.0.1:8188/system_stats within 600s\n`;
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StandardErrorContent: stderr });

    const error = await checkHealthCheck(withHealthCheck(), stepContext()).catch((e: Error) => e);

    expect(error).toMatchObject({ name: 'VerificationFailed' });
    expect((error as Error).message).toContain(`AMI ${AMI} failed its health check`);
    expect((error as Error).message.endsWith('ComfyUI answered HTTP 500, not 200, on http://127.0.0.1:8188/system_stats within 600s')).toBe(
      true,
    );
    expect((error as Error).message.length).toBeLessThan(2400);
  });

  it("fails with VerificationTimedOut after the timeout's number of checks", async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const ctx = stepContext({
      environments: {
        ...demoConfig().environments,
        dev: { ...demoConfig().environments.dev, verify: { enabled: true, timeoutSeconds: 60 } },
      },
    });
    const max = healthCheckMaxAttempts({ enabled: true, timeoutSeconds: 60 });

    await expect(checkHealthCheck(withHealthCheck(max - 2), ctx)).resolves.toMatchObject({ done: false, attempt: max - 1 });
    await expect(checkHealthCheck(withHealthCheck(max - 1), ctx)).rejects.toMatchObject({ name: 'VerificationTimedOut' });
  });
});

describe('the test instance after the check, and the roll back', () => {
  it('is terminated by the clean up with the builder, in one call, found by build id whatever the state says', async () => {
    const BUILDER = 'i-0123456789abcdef0';
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'available', Tags: buildTags() }] });
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            { Tags: buildTags(), InstanceId: BUILDER },
            { Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE },
          ],
        },
      ],
    });
    ec2.on(TerminateInstancesCommand).resolves({});
    // latest names another AMI: nothing is removed, only the instances go.
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-0000000000000other' } });
    ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
    const state = stateAfterImage({
      testInstance: { instanceId: 'i-someone-elses', amiId: AMI },
      published: { amiId: AMI, metadata: {} as Published['metadata'] },
    });

    const result = await cleanUp(state, stepContext());

    expect(result.terminated).toEqual([BUILDER, TEST_INSTANCE]);
    expect(ec2).toHaveReceivedCommandTimes(TerminateInstancesCommand, 1);
    expect(ec2).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [BUILDER, TEST_INSTANCE] });
  });

  it('is not reached by a state without a build id: the clean up looks for nothing', async () => {
    const state = stateAfterImage({ published: { amiId: AMI, metadata: {} as Published['metadata'] } });
    state.execution = { ...state.execution, buildId: '' };
    await expect(cleanUp(state, stepContext())).rejects.toMatchObject({ name: 'ResourceNotOwned' });
    expect(ec2).not.toHaveReceivedCommand(DescribeInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
  });

  it("has the roll back terminate this build's test instance too", async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ Tags: VERIFIER_TAGS, InstanceId: TEST_INSTANCE }] }] });
    ec2.on(TerminateInstancesCommand).resolves({});
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });

    const result = await rollBack(stateAfterImage({ builder: undefined, image: undefined }), stepContext());

    expect(result.terminated).toEqual([TEST_INSTANCE]);
  });
});
