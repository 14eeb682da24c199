/**
 * The steps that make something look for what an earlier attempt of theirs made only when the
 * build's record says one began (shared/cancellation.ts beginUnlessCancelled, markPublishing):
 * a first attempt makes its resource straight away, a repeated one reuses what it finds.
 */
import 'aws-sdk-client-mock-jest';
import { CreateImageCommand, DescribeImagesCommand, DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { createImage } from '../../functions/create-image/create-image';
import { launchBuilder } from '../../functions/launch-builder/launch-builder';
import { launchTestInstance } from '../../functions/launch-test-instance/launch-test-instance';
import { publishAmi } from '../../functions/publish-ami/publish-ami';
import { buildTags, stateAfterImage, stepContext } from '../support/context';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const FIRST = { repeated: false };
const REPEATED = { repeated: true };
const BUILDER = 'i-0123456789abcdef0';
const AMI = 'ami-00000000000000002';
const LATEST = '/comfyui/ami/dev/latest';

const instance = (role: string, imageId = 'ami-00000000000000001') => ({
  Reservations: [
    {
      Instances: [
        {
          InstanceId: BUILDER,
          ImageId: imageId,
          State: { Name: 'stopped' as const },
          Tags: [...buildTags(), { Key: 'comfyui-ami:role', Value: role }],
        },
      ],
    },
  ],
});
const builderState = () => {
  const state = stateAfterImage({ builder: undefined, update: undefined, image: undefined });
  // Resolve recorded the base's root device, so the launch describes no image.
  return { ...state, base: { ...state.base!, root: { deviceName: '/dev/sda1', sizeGiB: 30 } } };
};

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000new1' }] });
  ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-000000000000000n1' });
});

describe('Launch the builder', () => {
  it('launches at once on a first attempt', async () => {
    await expect(launchBuilder(builderState(), stepContext(), FIRST)).resolves.toMatchObject({ instanceId: 'i-0000000000000new1' });
    expect(ec2).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });

  it('reuses the builder an earlier attempt launched', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instance('builder'));
    await expect(launchBuilder(builderState(), stepContext(), REPEATED)).resolves.toMatchObject({ instanceId: BUILDER });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });
});

describe('Launch the test instance', () => {
  const checked = () => stateAfterImage({ imageStatus: { done: true, attempt: 1, status: 'available' } });

  it('launches at once on a first attempt', async () => {
    await expect(launchTestInstance(checked(), stepContext(), FIRST)).resolves.toMatchObject({ instanceId: 'i-0000000000000new1' });
    expect(ec2).not.toHaveReceivedCommand(DescribeInstancesCommand);
  });

  it('reuses the test instance an earlier attempt launched from this AMI', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instance('verifier', AMI));
    await expect(launchTestInstance(checked(), stepContext(), REPEATED)).resolves.toMatchObject({ instanceId: BUILDER });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });
});

describe('Create the AMI', () => {
  const stopped = () => stateAfterImage({ image: undefined });

  it("checks only that the builder is this build's, then creates the image, on a first attempt", async () => {
    ec2.on(DescribeInstancesCommand).resolves(instance('builder'));
    await expect(createImage(stopped(), stepContext(), FIRST)).resolves.toMatchObject({ amiId: 'ami-000000000000000n1' });
    expect(ec2).not.toHaveReceivedCommand(DescribeImagesCommand);
  });

  it('reuses the image an earlier attempt started', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, Name: 'n', State: 'pending', Tags: buildTags() }] });
    await expect(createImage(stopped(), stepContext(), REPEATED)).resolves.toMatchObject({ amiId: AMI });
    expect(ec2).not.toHaveReceivedCommand(CreateImageCommand);
  });
});

describe('Publish the AMI', () => {
  beforeEach(() => {
    ec2
      .on(DescribeImagesCommand)
      .resolves({ Images: [{ ImageId: AMI, State: 'available', CreationDate: '2026-11-27T12:00:00Z', Tags: buildTags() }] });
    ssm.on(PutParameterCommand).resolves({ Version: 1 });
    ssm.on(GetParameterCommand, { Name: LATEST }).resolves({ Parameter: { Name: LATEST, Value: AMI } });
  });
  const ctx = () => {
    const c = stepContext();
    (c.clients.ssm.config as { region: () => Promise<string> }).region = async () => 'us-east-1';
    return c;
  };

  it('writes history, metadata and latest without reading latest first on a first attempt, then reads it back', async () => {
    await publishAmi(stateAfterImage(), ctx(), FIRST);
    expect(ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input.Name)).toEqual([
      `/comfyui/ami/dev/history/${AMI}`,
      '/comfyui/ami/dev/metadata',
      LATEST,
    ]);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 1);
  });

  it('writes nothing again when an earlier attempt had and latest already holds the AMI', async () => {
    await publishAmi(stateAfterImage(), ctx(), REPEATED);
    expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
    expect(ssm).toHaveReceivedCommandTimes(GetParameterCommand, 2);
  });
});
