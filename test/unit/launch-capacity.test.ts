/**
 * GPU capacity: the launch of the builder and of the test instance falls through the configured
 * (instance type, subnet) pairs on EC2's capacity and limit answers, which moto never gives, and
 * fails with NoCapacity naming each pair only when every one was refused.
 */
import 'aws-sdk-client-mock-jest';
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkUpdateCommand } from '../../functions/check-update-command/check-update-command';
import { createImage } from '../../functions/create-image/create-image';
import { launchBuilder, launchClientToken } from '../../functions/launch-builder/launch-builder';
import { launchTestInstance } from '../../functions/launch-test-instance/launch-test-instance';
import { type PipelineConfig, parseConfig } from '../../functions/shared/config';
import { describeChoice, launchChoices } from '../../functions/shared/launch';
import { stopBuilder } from '../../functions/stop-builder/stop-builder';
import { demoConfig } from '../support/builds';
import { buildTags, stateAfterImage, stepContext } from '../support/context';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const SUBNET_A = 'subnet-0000000000000000a';
const SUBNET_B = 'subnet-0000000000000000b';
const INSTANCE = 'i-0123456789abcdef0';

function named(name: string, message = name): Error {
  return Object.assign(new Error(message), { name });
}

/** The demo config with the dev environment's builder choices. */
function devConfig(dev: Record<string, unknown>, builder: Record<string, unknown> = {}): Partial<PipelineConfig> {
  const base = demoConfig();
  return {
    builder: { ...base.builder, ...builder },
    environments: { ...base.environments, dev: { ...base.environments.dev, ...dev } },
  };
}

const TWO_BY_TWO = devConfig({ instanceTypes: ['g5.xlarge', 'g6.xlarge'], subnetIds: [SUBNET_A, SUBNET_B] });

const builderState = () => stateAfterImage({ builder: undefined, update: undefined, image: undefined });

function runInstancesCalls() {
  return ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
}

/** The (type, subnet, market) of each RunInstances, in the order sent. */
function attempts() {
  return runInstancesCalls().map((i) => [
    i.InstanceType,
    i.NetworkInterfaces?.[0]?.SubnetId,
    i.InstanceMarketOptions?.MarketType ?? 'on-demand',
  ]);
}

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeImagesCommand).resolves({
    Images: [{ ImageId: 'ami-00000000000000001', State: 'available', RootDeviceName: '/dev/sda1' }],
  });
});

describe('the launch order', () => {
  it('tries each instance type in every subnet before the next type, Spot first only for a builder that asks for it', () => {
    const config = stepContext(
      devConfig({ instanceTypes: ['g5.xlarge', 'g6.xlarge'], subnetIds: [SUBNET_A, SUBNET_B], spot: true }),
    ).config;

    expect(launchChoices(config, 'dev', { allowSpot: true }).map(describeChoice)).toEqual([
      `g5.xlarge in ${SUBNET_A} (Spot)`,
      `g5.xlarge in ${SUBNET_B} (Spot)`,
      `g6.xlarge in ${SUBNET_A} (Spot)`,
      `g6.xlarge in ${SUBNET_B} (Spot)`,
      `g5.xlarge in ${SUBNET_A}`,
      `g5.xlarge in ${SUBNET_B}`,
      `g6.xlarge in ${SUBNET_A}`,
      `g6.xlarge in ${SUBNET_B}`,
    ]);
    expect(launchChoices(config, 'dev', { allowSpot: false }).map(describeChoice)).toEqual([
      `g5.xlarge in ${SUBNET_A}`,
      `g5.xlarge in ${SUBNET_B}`,
      `g6.xlarge in ${SUBNET_A}`,
      `g6.xlarge in ${SUBNET_B}`,
    ]);
  });

  it("takes the builder default's types and subnets where the environment names none, and a single value as a list of one", () => {
    const config = stepContext(devConfig({}, { instanceType: 'g5.2xlarge', subnetId: SUBNET_B })).config;
    expect(launchChoices(config, 'dev', { allowSpot: true })).toEqual([
      { instanceType: 'g5.2xlarge', subnetId: SUBNET_B, market: 'on-demand' },
    ]);

    const lists = stepContext(
      devConfig({}, { instanceType: undefined, instanceTypes: ['g6.xlarge', 'g5.xlarge'], subnetIds: [SUBNET_A] }),
    ).config;
    expect(launchChoices(lists, 'prod', { allowSpot: true }).map(describeChoice)).toEqual([
      `g6.xlarge in ${SUBNET_A}`,
      `g5.xlarge in ${SUBNET_A}`,
    ]);
  });
});

describe('launching the builder through capacity errors', () => {
  it('launches on the next pair when EC2 has no capacity for the first, and records the pair it used', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(
        named(
          'InsufficientInstanceCapacity',
          'We currently do not have sufficient g5.xlarge capacity in the Availability Zone you requested (us-east-1a).',
        ),
      )
      .resolves({ Instances: [{ InstanceId: INSTANCE }] });
    const state = builderState();

    const builder = await launchBuilder(state, stepContext(TWO_BY_TWO));

    expect(builder).toEqual({ instanceId: INSTANCE, instanceType: 'g5.xlarge', subnetId: SUBNET_B, market: 'on-demand' });
    expect(attempts()).toEqual([
      ['g5.xlarge', SUBNET_A, 'on-demand'],
      ['g5.xlarge', SUBNET_B, 'on-demand'],
    ]);
    const [first, second] = runInstancesCalls();
    // One token per choice: EC2 refuses a token reused with other parameters (IdempotentParameterMismatch).
    expect(second.ClientToken).toBe(
      launchClientToken(state.execution.id, { instanceType: 'g5.xlarge', subnetId: SUBNET_B, market: 'on-demand' }),
    );
    expect(first.ClientToken).not.toBe(second.ClientToken);
    expect(second.TagSpecifications).toEqual(first.TagSpecifications);
  });

  it.each(['InstanceLimitExceeded', 'VcpuLimitExceeded', 'Unsupported'])('moves on to the next pair on %s too', async (code) => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(named(code))
      .resolves({ Instances: [{ InstanceId: INSTANCE }] });

    await expect(launchBuilder(builderState(), stepContext(TWO_BY_TWO))).resolves.toMatchObject({ subnetId: SUBNET_B });
  });

  it('fails with NoCapacity naming every pair and its answer when all were refused', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(named('InsufficientInstanceCapacity', 'no g5.xlarge in us-east-1a'))
      .rejectsOnce(named('Unsupported', 'g5.xlarge is not supported in us-east-1b'))
      .rejectsOnce(named('InsufficientInstanceCapacity', 'no g6.xlarge in us-east-1a'))
      .rejectsOnce(named('VcpuLimitExceeded', 'You have requested more vCPU capacity than your current vCPU limit of 4'));

    const error = await launchBuilder(builderState(), stepContext(TWO_BY_TWO)).catch((e: Error) => e);

    expect(error).toMatchObject({ name: 'NoCapacity' });
    expect((error as Error).message).toBe(
      'no capacity for the builder after 4 launch attempts: ' +
        `g5.xlarge in ${SUBNET_A}: InsufficientInstanceCapacity: no g5.xlarge in us-east-1a; ` +
        `g5.xlarge in ${SUBNET_B}: Unsupported: g5.xlarge is not supported in us-east-1b; ` +
        `g6.xlarge in ${SUBNET_A}: InsufficientInstanceCapacity: no g6.xlarge in us-east-1a; ` +
        `g6.xlarge in ${SUBNET_B}: VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 4`,
    );
    expect(runInstancesCalls()).toHaveLength(4);
  });

  it.each([
    ['InvalidParameterValue', 'a request EC2 refuses whatever the zone'],
    ['UnauthorizedOperation', 'a denied launch (IAM)'],
    ['RequestLimitExceeded', 'throttling, retried by the state machine from the first pair'],
  ])('does not fall through %s (%s)', async (code) => {
    ec2.on(RunInstancesCommand).rejects(named(code));

    await expect(launchBuilder(builderState(), stepContext(TWO_BY_TWO))).rejects.toMatchObject({ name: code });
    expect(runInstancesCalls()).toHaveLength(1);
  });

  it('launches nothing when a retried step finds the builder this build already launched', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: INSTANCE,
              InstanceType: 'g6.xlarge',
              SubnetId: SUBNET_A,
              Tags: buildTags(undefined, { 'comfyui-ami:role': 'builder' }),
            },
          ],
        },
      ],
    });

    const builder = await launchBuilder(builderState(), stepContext(TWO_BY_TWO));

    expect(builder).toEqual({ instanceId: INSTANCE, instanceType: 'g6.xlarge', subnetId: SUBNET_A, market: 'on-demand' });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });
});

describe('a Spot builder', () => {
  const SPOT = devConfig({ instanceTypes: ['g5.xlarge'], subnetIds: [SUBNET_A, SUBNET_B], spot: true });

  it('asks for a one-time Spot instance that terminates when reclaimed', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: INSTANCE }] });

    await expect(launchBuilder(builderState(), stepContext(SPOT))).resolves.toMatchObject({ market: 'spot', subnetId: SUBNET_A });
    expect(runInstancesCalls()[0].InstanceMarketOptions).toEqual({
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
    });
  });

  it.each(['InsufficientInstanceCapacity', 'MaxSpotInstanceCountExceeded', 'SpotMaxPriceTooLow'])(
    'falls back to On-Demand when Spot answers %s in every subnet',
    async (code) => {
      ec2
        .on(RunInstancesCommand)
        .rejectsOnce(named(code))
        .rejectsOnce(named(code))
        .resolves({ Instances: [{ InstanceId: INSTANCE }] });

      await expect(launchBuilder(builderState(), stepContext(SPOT))).resolves.toMatchObject({ market: 'on-demand', subnetId: SUBNET_A });
      expect(attempts()).toEqual([
        ['g5.xlarge', SUBNET_A, 'spot'],
        ['g5.xlarge', SUBNET_B, 'spot'],
        ['g5.xlarge', SUBNET_A, 'on-demand'],
      ]);
    },
  );
});

describe('imaging a Spot builder (EC2 cannot stop a one-time Spot instance: UnsupportedOperation)', () => {
  const builderInstance = (lifecycle: 'spot' | undefined, state: string) => ({
    Reservations: [
      {
        Instances: [
          {
            InstanceId: INSTANCE,
            InstanceLifecycle: lifecycle,
            State: { Name: state as never },
            Tags: buildTags(undefined, { 'comfyui-ami:role': 'builder' }),
          },
        ],
      },
    ],
  });

  it('does not stop a running Spot builder, and images it with a reboot', async () => {
    ec2.on(DescribeInstancesCommand).resolves(builderInstance('spot', 'running'));
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-00000000000000002' });

    await expect(stopBuilder(stateAfterImage(), stepContext())).resolves.toMatchObject({ done: true });
    await createImage(stateAfterImage({ image: undefined }), stepContext());

    expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
    expect(ec2).toHaveReceivedCommandWith(CreateImageCommand, { InstanceId: INSTANCE, NoReboot: false });
  });

  it('stops an On-Demand builder and images it stopped, without a reboot', async () => {
    ec2.on(DescribeInstancesCommand).resolves(builderInstance(undefined, 'running'));
    await expect(stopBuilder(stateAfterImage(), stepContext())).resolves.toMatchObject({ done: false });
    expect(ec2).toHaveReceivedCommandWith(StopInstancesCommand, { InstanceIds: [INSTANCE] });

    ec2.on(DescribeInstancesCommand).resolves(builderInstance(undefined, 'stopped'));
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-00000000000000002' });
    await createImage(stateAfterImage({ image: undefined }), stepContext());
    expect(ec2).toHaveReceivedCommandWith(CreateImageCommand, { NoReboot: true });
  });

  it('fails as BuilderLost when EC2 reclaimed the Spot builder (terminated), which rolls the build back', async () => {
    ec2.on(DescribeInstancesCommand).resolves(builderInstance('spot', 'terminated'));
    await expect(stopBuilder(stateAfterImage(), stepContext())).rejects.toMatchObject({ name: 'BuilderLost' });
  });

  it('notices a reclaimed Spot builder while its update command still shows InProgress', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const spot = stateAfterImage({ builder: { instanceId: INSTANCE, instanceType: 'g5.xlarge', market: 'spot' } });

    ec2.on(DescribeInstancesCommand).resolves(builderInstance('spot', 'running'));
    await expect(checkUpdateCommand(spot, stepContext())).resolves.toMatchObject({ done: false });

    ec2.on(DescribeInstancesCommand).resolves(builderInstance('spot', 'terminated'));
    await expect(checkUpdateCommand(spot, stepContext())).rejects.toMatchObject({
      name: 'BuilderLost',
      message: expect.stringContaining(`Spot builder ${INSTANCE} is terminated`),
    });
  });

  it('asks EC2 nothing while an On-Demand builder runs its command', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    await expect(checkUpdateCommand(stateAfterImage(), stepContext())).resolves.toMatchObject({ done: false });
    expect(ec2).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });
});

describe('launching the test instance through capacity errors', () => {
  const testState = () => stateAfterImage();

  it('boots the new AMI on the next pair, On-Demand even when the builder uses Spot', async () => {
    ec2
      .on(RunInstancesCommand)
      .rejectsOnce(named('InsufficientInstanceCapacity'))
      .resolves({ Instances: [{ InstanceId: 'i-0000000000000test1' }] });
    const ctx = stepContext(devConfig({ instanceTypes: ['g5.xlarge', 'g6.xlarge'], subnetIds: [SUBNET_A], spot: true }));

    const result = await launchTestInstance(testState(), ctx);

    expect(result).toEqual({
      instanceId: 'i-0000000000000test1',
      amiId: 'ami-00000000000000002',
      instanceType: 'g6.xlarge',
      subnetId: SUBNET_A,
    });
    expect(attempts()).toEqual([
      ['g5.xlarge', SUBNET_A, 'on-demand'],
      ['g6.xlarge', SUBNET_A, 'on-demand'],
    ]);
  });

  it('fails with NoCapacity naming each pair when all were refused', async () => {
    ec2.on(RunInstancesCommand).rejects(named('InsufficientInstanceCapacity', 'none left'));

    await expect(launchTestInstance(testState(), stepContext(TWO_BY_TWO))).rejects.toMatchObject({
      name: 'NoCapacity',
      message: expect.stringMatching(
        new RegExp(
          `^no capacity for the test instance after 4 launch attempts: g5\\.xlarge in ${SUBNET_A}: InsufficientInstanceCapacity: none left; .*g6\\.xlarge in ${SUBNET_B}: InsufficientInstanceCapacity: none left$`,
        ),
      ),
    });
  });
});

describe('the configuration of instance types and subnets', () => {
  const raw = () => JSON.parse(JSON.stringify(demoConfig())) as Record<string, Record<string, unknown>>;

  it('refuses a single value and a list of the same field together, naming the list', () => {
    const both = raw();
    both.builder.instanceTypes = ['g5.xlarge'];
    expect(() => parseConfig(both, 'pipeline.json')).toThrow(
      /config\.builder\.instanceTypes: must be given without instanceType: set one instanceType or the list instanceTypes, not both/,
    );
    const subnets = raw();
    subnets.builder.subnetId = SUBNET_A;
    subnets.builder.subnetIds = [SUBNET_B];
    expect(() => parseConfig(subnets, 'pipeline.json')).toThrow(/config\.builder\.subnetIds: must be given without subnetId/);
  });

  it('refuses more pairs than one step can try inside its timeout, and malformed entries, naming the field', () => {
    const many = raw();
    (many.environments as Record<string, Record<string, unknown>>).dev.instanceTypes = ['g5.xlarge', 'g6.xlarge', 'g4dn.xlarge'];
    (many.environments as Record<string, Record<string, unknown>>).dev.subnetIds = [
      SUBNET_A,
      SUBNET_B,
      'subnet-0000000000000000c',
      'subnet-0000000000000000d',
      'subnet-0000000000000000e',
    ];
    expect(() => parseConfig(many, 'pipeline.json')).toThrow(
      /config\.environments\.dev\.subnetIds: must be at most 12 instance type and subnet pairs \(instance types x subnets\), not 15/,
    );

    const bad = raw();
    bad.builder.subnetIds = ['subnet-zz'];
    expect(() => parseConfig(bad, 'pipeline.json')).toThrow(
      /config\.builder\.subnetIds\.0: must be a subnet id such as subnet-0123456789abcdef0/,
    );
  });
});
