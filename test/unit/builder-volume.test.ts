/** The builder's root volume gets the configured gp3 throughput and IOPS (faster image pulls). */
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { launchBuilder } from '../../functions/launch-builder/launch-builder';
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
