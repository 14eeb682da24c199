/** The builder's root volume gets the configured gp3 throughput and IOPS (faster image pulls). */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { launchBuilder } from '../../functions/launch-builder/launch-builder';
import { parseConfig } from '../../functions/shared/config';
import { stateAfterImage, stepContext } from '../support/context';

const ec2 = mockClient(EC2Client);

beforeEach(() => {
  ec2.reset();
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
  ec2.on(DescribeImagesCommand).resolves({
    Images: [
      {
        ImageId: 'ami-00000000000000001',
        State: 'available',
        RootDeviceName: '/dev/sda1',
        BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 8 } }],
      },
    ],
  });
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0123456789abcdef0' }] });
});

it.each([
  ['the defaults', {}, { Throughput: 500, Iops: 6000 }],
  ['configured values', { rootVolumeThroughput: 250, rootVolumeIops: 4000 }, { Throughput: 250, Iops: 4000 }],
])('launches the builder with %s for gp3 throughput and IOPS', async (_, builder, expected) => {
  const ctx = stepContext();
  ctx.config = { ...ctx.config, builder: { ...ctx.config.builder, ...builder } };
  await launchBuilder(stateAfterImage({ builder: undefined }), ctx);

  const input = ec2.commandCalls(RunInstancesCommand)[0].args[0].input;
  expect(input.BlockDeviceMappings?.[0].Ebs).toMatchObject({ VolumeType: 'gp3', ...expected });
});

describe('the root volume initialization rate', () => {
  const rateOf = async (builder: object, dev: object = {}) => {
    const ctx = stepContext();
    ctx.config = {
      ...ctx.config,
      builder: { ...ctx.config.builder, ...builder },
      environments: { ...ctx.config.environments, dev: { ...ctx.config.environments.dev, ...dev } },
    };
    await launchBuilder(stateAfterImage({ builder: undefined }), ctx);
    return ec2.commandCalls(RunInstancesCommand)[0].args[0].input.BlockDeviceMappings?.[0].Ebs?.VolumeInitializationRate;
  };

  it('is not sent by default: EBS initializes at its own (free) rate', async () => {
    expect(await rateOf({})).toBeUndefined();
  });

  it('sends builder.volumeInitializationRate on the root volume', async () => {
    expect(await rateOf({ volumeInitializationRate: 200 })).toBe(200);
  });

  it.each([
    ['turns it off for one environment', 0, undefined],
    ['sets its own rate', 300, 300],
  ])("lets the environment's volumeInitializationRate override it: %s", async (_, envRate, expected) => {
    expect(await rateOf({ volumeInitializationRate: 200 }, { volumeInitializationRate: envRate })).toBe(expected);
  });

  it.each([
    [
      { builder: { volumeInitializationRate: 99 } },
      'config.builder.volumeInitializationRate: must be 0 (off) or a rate in MiB/s from 100 to 300',
    ],
    [
      { builder: { volumeInitializationRate: 301 } },
      'config.builder.volumeInitializationRate: must be 0 (off) or a rate in MiB/s from 100 to 300',
    ],
    [
      { environments: { dev: { tags: ['dev-*'], defaultTag: 'dev-1', volumeInitializationRate: 50 } } },
      'config.environments.dev.volumeInitializationRate: must be 0 (off) or a rate in MiB/s from 100 to 300',
    ],
  ])('refuses a rate EBS does not accept, naming the field: %j', (raw, message) => {
    const base = { repositories: ['comfyui'], environments: { dev: { tags: ['dev-*'], defaultTag: 'dev-1' } } };
    expect(() => parseConfig({ ...base, ...raw }, 'config')).toThrow(message);
  });
});

describe('the base AMI the launch starts from', () => {
  const withRoot = (sizeGiB: number) => {
    const state = stateAfterImage({ builder: undefined });
    return { ...state, base: { ...state.base!, root: { deviceName: '/dev/xvda', sizeGiB } } };
  };

  it('takes the root device and size Resolve recorded, without describing the base again', async () => {
    await launchBuilder(withRoot(250), stepContext());

    expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
    const mapping = ec2.commandCalls(RunInstancesCommand)[0].args[0].input.BlockDeviceMappings?.[0];
    expect(mapping).toMatchObject({ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 250 } });
  });

  it('describes the base for a state written before Resolve recorded its root, and refuses one no longer available', async () => {
    await launchBuilder(stateAfterImage({ builder: undefined }), stepContext());
    expect(ec2).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
    expect(ec2.commandCalls(RunInstancesCommand)[0].args[0].input.BlockDeviceMappings?.[0].DeviceName).toBe('/dev/sda1');

    ec2.reset();
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001', State: 'deregistered' }] });
    await expect(launchBuilder(stateAfterImage({ builder: undefined }), stepContext())).rejects.toMatchObject({ name: 'BaseAmiNotFound' });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  it.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'])(
    'fails with BaseAmiNotFound when the base is gone since Resolve (RunInstances answers %s)',
    async (code) => {
      ec2
        .on(RunInstancesCommand)
        .rejects(Object.assign(new Error(`The image id '[ami-00000000000000001]' does not exist`), { name: code }));
      await expect(launchBuilder(withRoot(100), stepContext())).rejects.toMatchObject({
        name: 'BaseAmiNotFound',
        message: expect.stringContaining('ami-00000000000000001'),
      });
      expect(ec2).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
    },
  );
});
