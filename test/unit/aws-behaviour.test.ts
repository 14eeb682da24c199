/**
 * AWS behaviour the moto server does not reproduce, asserted against mocked clients that answer
 * as the AWS documentation says (test/README.md lists each gap).
 */
import 'aws-sdk-client-mock-jest';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  GetParametersCommand,
  ListCommandsCommand,
  PutParameterCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkImage } from '../../functions/check-image/check-image';
import { checkUpdateCommand } from '../../functions/check-update-command/check-update-command';
import { createImage } from '../../functions/create-image/create-image';
import { launchBuilder, launchClientToken } from '../../functions/launch-builder/launch-builder';
import { publishAmi } from '../../functions/publish-ami/publish-ami';
import { resolveBaseAmi } from '../../functions/resolve-base-ami/resolve-base-ami';
import { sendUpdateCommand } from '../../functions/send-update-command/send-update-command';
import { removeImage } from '../../functions/shared/ec2';
import { buildTags, OTHER_BUILD_ID, stateAfterImage, stepContext } from '../support/context';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
// No command output in CloudWatch Logs here: the failure reason falls back to the invocation's.
const logs = mockClient(CloudWatchLogsClient);

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

beforeEach(() => {
  ec2.reset();
  ssm.reset();
  logs.reset();
});

describe('AMI names are unique per account and region (moto accepts duplicates)', () => {
  const clashing = {
    ImageId: 'ami-0aaa0aaa0aaa0aaa0',
    Name: 'comfyui-multitenant-dev-0001-abababababab',
    State: 'available' as const,
    Tags: buildTags(undefined, { 'comfyui-ami:build-id': OTHER_BUILD_ID }),
  };

  it('refuses a fresh build whose AMI name another build already holds, found in the listing the search for a base made', async () => {
    // Prepare
    ssm.on(GetParametersCommand).resolves({ Parameters: [], InvalidParameters: ['/comfyui/ami/dev/latest', '/comfyui/ami/dev/metadata'] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(DescribeImagesCommand, { Filters: [{ Name: 'name', Values: ['comfyui-multitenant-dev*'] }] }).resolves({ Images: [clashing] });
    ec2
      .on(DescribeImagesCommand, { ImageIds: ['ami-0123456789abcdef0'] })
      .resolves({ Images: [{ ImageId: 'ami-0123456789abcdef0', State: 'available' }] });
    const ctx = stepContext({ baseImage: { amiId: 'ami-0123456789abcdef0' } });
    const { base: _base, ...state } = stateAfterImage();

    // Act / Assess
    await expect(resolveBaseAmi(state, ctx)).rejects.toMatchObject({ name: 'AmiNameInUse' });
    expect(ec2).not.toHaveReceivedCommandWith(DescribeImagesCommand, {
      Filters: [{ Name: 'name', Values: ['comfyui-multitenant-dev-0001-abababababab'] }],
    });
    expect(ec2).not.toHaveReceivedCommand(RunInstancesCommand);
  });

  it('refuses an incremental build whose AMI name another build already holds, asking EC2 for that name', async () => {
    const latest = 'ami-0123456789abcdef0';
    ssm.on(GetParametersCommand).resolves({
      Parameters: [
        { Name: '/comfyui/ami/dev/latest', Value: latest },
        { Name: '/comfyui/ami/dev/metadata', Value: JSON.stringify({ workflow_run_number: '0' }) },
      ],
    });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(DescribeImagesCommand, { ImageIds: [latest] }).resolves({ Images: [{ ImageId: latest, State: 'available' }] });
    ec2
      .on(DescribeImagesCommand, { Filters: [{ Name: 'name', Values: ['comfyui-multitenant-dev-0001-abababababab'] }] })
      .resolves({ Images: [clashing] });
    const { base: _base, ...state } = stateAfterImage();

    await expect(resolveBaseAmi(state, stepContext())).rejects.toMatchObject({ name: 'AmiNameInUse' });
  });

  it("records the base's root device and size, so the launch sizes the builder's volume without describing the base again", async () => {
    ssm.on(GetParametersCommand).resolves({ Parameters: [], InvalidParameters: ['/comfyui/ami/dev/latest', '/comfyui/ami/dev/metadata'] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0123456789abcdef0'] }).resolves({
      Images: [
        {
          ImageId: 'ami-0123456789abcdef0',
          State: 'available',
          RootDeviceName: '/dev/xvda',
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 30 } }],
        },
      ],
    });
    const { base: _base, ...state } = stateAfterImage();

    const base = await resolveBaseAmi(state, stepContext({ baseImage: { amiId: 'ami-0123456789abcdef0' } }));
    expect(base).toMatchObject({ mode: 'fresh', baseAmiId: 'ami-0123456789abcdef0', root: { deviceName: '/dev/xvda', sizeGiB: 30 } });
  });

  it('reuses its own image when CreateImage says the name is taken by this build', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', State: { Name: 'stopped' }, Tags: buildTags() }] }] });
    ec2
      .on(DescribeImagesCommand)
      .resolvesOnce({ Images: [] })
      .resolves({
        Images: [{ ImageId: 'ami-0bbb0bbb0bbb0bbb0', State: 'pending', Tags: buildTags() }],
      });
    ec2.on(CreateImageCommand).rejects(awsError('InvalidAMIName.Duplicate', 'AMI name x is already in use by AMI ami-0bbb0bbb0bbb0bbb0'));
    await expect(createImage(stateAfterImage({ image: undefined }), stepContext())).resolves.toMatchObject({
      amiId: 'ami-0bbb0bbb0bbb0bbb0',
    });
  });

  it('fails with AmiNameInUse when the duplicate belongs to another build, even of the same execution name', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', State: { Name: 'stopped' }, Tags: buildTags() }] }] });
    ec2
      .on(DescribeImagesCommand)
      .resolvesOnce({ Images: [] })
      .resolves({
        Images: [
          { ImageId: 'ami-0ccc0ccc0ccc0ccc0', State: 'available', Tags: buildTags(undefined, { 'comfyui-ami:build-id': OTHER_BUILD_ID }) },
        ],
      });
    ec2.on(CreateImageCommand).rejects(awsError('InvalidAMIName.Duplicate'));
    await expect(createImage(stateAfterImage({ image: undefined }), stepContext())).rejects.toMatchObject({ name: 'AmiNameInUse' });
  });
});

describe('new AMIs are pending for minutes (moto makes them available at once)', () => {
  it('keeps polling while pending and changes nothing yet', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000002', State: 'pending', Tags: buildTags() }] });
    await expect(checkImage(stateAfterImage(), stepContext())).resolves.toEqual({ done: false, attempt: 1, status: 'pending' });
    expect(ec2).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('fails the build when the image ends failed, with the reason', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-00000000000000002', State: 'failed', StateReason: { Message: 'snapshot error' }, Tags: buildTags() }],
    });
    await expect(checkImage(stateAfterImage(), stepContext())).rejects.toMatchObject({
      name: 'AmiCreationFailed',
      message: expect.stringContaining('snapshot error'),
    });
  });

  it('gives up after the configured number of checks', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000002', State: 'pending', Tags: buildTags() }] });
    const ctx = stepContext();
    const state = stateAfterImage({ imageStatus: { done: false, attempt: ctx.config.polling.imageMaxAttempts - 1, status: 'pending' } });
    await expect(checkImage(state, ctx)).rejects.toMatchObject({ name: 'AmiTimedOut' });
  });

  it('makes the image IMDSv2-only once available (CreateImage cannot), and tags nothing after the fact', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-00000000000000002',
          State: 'available',
          BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { SnapshotId: 'snap-1' } }],
          Tags: buildTags(),
        },
      ],
    });
    ec2.on(ModifyImageAttributeCommand).resolves({});
    await expect(checkImage(stateAfterImage(), stepContext())).resolves.toMatchObject({ done: true });
    expect(ec2).toHaveReceivedCommandWith(ModifyImageAttributeCommand, {
      ImageId: 'ami-00000000000000002',
      ImdsSupport: { Value: 'v2.0' },
    });
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('leaves an image that already requires IMDSv2 as it is', async () => {
    ec2
      .on(DescribeImagesCommand)
      .resolves({ Images: [{ ImageId: 'ami-00000000000000002', State: 'available', ImdsSupport: 'v2.0', Tags: buildTags() }] });
    await expect(checkImage(stateAfterImage(), stepContext())).resolves.toMatchObject({ done: true });
    expect(ec2).not.toHaveReceivedCommand(ModifyImageAttributeCommand);
  });
});

describe('CreateImage tags the AMI and its snapshots in the request (moto refuses snapshot tags)', () => {
  it('asks for the pipeline tags on image and snapshot, and sends no CreateTags', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', State: { Name: 'stopped' }, Tags: buildTags() }] }] });
    ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-00000000000000002' });
    await createImage(stateAfterImage({ image: undefined }), stepContext());
    const input = ec2.commandCalls(CreateImageCommand)[0].args[0].input;
    const specs = Object.fromEntries(
      (input.TagSpecifications ?? []).map((t) => [t.ResourceType, Object.fromEntries((t.Tags ?? []).map((tag) => [tag.Key, tag.Value]))]),
    );
    expect(Object.keys(specs).sort()).toEqual(['image', 'snapshot']);
    expect(specs.image).toMatchObject({
      'comfyui-ami:managed-by': 'comfyui-ami-pipeline',
      'comfyui-ami:role': 'ami',
      'comfyui-ami:execution': 'dev-exec-1',
    });
    expect(specs.snapshot).toMatchObject({
      'comfyui-ami:managed-by': 'comfyui-ami-pipeline',
      'comfyui-ami:role': 'ami-snapshot',
      'comfyui-ami:execution': 'dev-exec-1',
    });
    expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  });
});

describe('RunInstances honours ClientToken (moto ignores it)', () => {
  it('sends a token derived from the execution and the launch choice, the same on every retry', async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-00000000000000001',
          State: 'available',
          RootDeviceName: '/dev/sda1',
          BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 200 } }],
        },
      ],
    });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0123456789abcdef0' }] });
    const state = stateAfterImage({ builder: undefined });
    await launchBuilder(state, stepContext());
    await launchBuilder(state, stepContext());
    const calls = ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    expect(calls[0].ClientToken).toBe(launchClientToken(state.execution.id, { instanceType: 'g4dn.xlarge', market: 'on-demand' }));
    expect(calls[1].ClientToken).toBe(calls[0].ClientToken);
    expect(calls[0].ClientToken!.length).toBeLessThanOrEqual(64);
    // IMDSv2 only, encrypted root at least as large as the base's, no key pair, terminate on shutdown.
    expect(calls[0]).toMatchObject({
      MetadataOptions: { HttpTokens: 'required' },
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { Encrypted: true, VolumeSize: 200 } }],
      InstanceInitiatedShutdownBehavior: 'terminate',
    });
    expect(calls[0].KeyName).toBeUndefined();
  });

  it('states the network interface in full: a public IP only when the config asks, and the configured EBS key', async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    ec2
      .on(DescribeImagesCommand)
      .resolves({ Images: [{ ImageId: 'ami-00000000000000001', State: 'available', RootDeviceName: '/dev/sda1' }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0123456789abcdef0' }] });
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const state = stateAfterImage({ builder: undefined });
    const builder = stepContext().config.builder;
    await launchBuilder(
      state,
      stepContext({
        builder: { ...builder, subnetId: 'subnet-0123456789abcdef0', securityGroupIds: ['sg-0123456789abcdef0'], ebsKmsKeyArn: key },
      }),
    );
    await launchBuilder(state, stepContext({ builder: { ...builder, associatePublicIpAddress: true } }));
    const [quiet, public_] = ec2.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    expect(quiet.NetworkInterfaces).toEqual([
      {
        DeviceIndex: 0,
        SubnetId: 'subnet-0123456789abcdef0',
        Groups: ['sg-0123456789abcdef0'],
        AssociatePublicIpAddress: false,
        DeleteOnTermination: true,
      },
    ]);
    expect(quiet.SubnetId).toBeUndefined();
    expect(quiet.SecurityGroupIds).toBeUndefined();
    expect(quiet.BlockDeviceMappings?.[0].Ebs).toMatchObject({ Encrypted: true, KmsKeyId: key });
    expect(public_.NetworkInterfaces?.[0].AssociatePublicIpAddress).toBe(true);
    expect(public_.BlockDeviceMappings?.[0].Ebs?.KmsKeyId).toBeUndefined();
  });
});

describe('aws:ec2:image parameters are validated asynchronously (moto stores any value at once)', () => {
  it('fails with LatestNotConfirmed when latest does not read back the new id', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-00000000000000002', State: 'available', CreationDate: '2026-11-27T12:00:00.000Z', Tags: buildTags() }],
    });
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: 'ami-00000000000000001' } });
    ssm.on(PutParameterCommand).resolves({ Version: 2 });
    await expect(publishAmi(stateAfterImage(), stepContext())).rejects.toMatchObject({ name: 'LatestNotConfirmed' });
    expect(ssm).toHaveReceivedCommandWith(PutParameterCommand, { Name: '/comfyui/ami/dev/latest', DataType: 'aws:ec2:image' });
  });

  it('writes history, then metadata, then latest', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [{ ImageId: 'ami-00000000000000002', State: 'available', CreationDate: '2026-11-27T12:00:00.000Z', Tags: buildTags() }],
    });
    ssm
      .on(GetParameterCommand)
      .resolvesOnce({ Parameter: { Value: 'ami-00000000000000001' } })
      .resolves({ Parameter: { Value: 'ami-00000000000000002' } });
    ssm.on(PutParameterCommand).resolves({ Version: 2 });
    await publishAmi(stateAfterImage(), stepContext());
    expect(ssm.commandCalls(PutParameterCommand).map((c) => c.args[0].input.Name)).toEqual([
      '/comfyui/ami/dev/history/ami-00000000000000002',
      '/comfyui/ami/dev/metadata',
      '/comfyui/ami/dev/latest',
    ]);
  });
});

describe('SSM Run Command really runs (moto reports Success for everything)', () => {
  it('retries as AgentNotRegistered while SSM does not know the new instance', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', State: { Name: 'running' }, Tags: buildTags() }] }] });
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    ssm.on(SendCommandCommand).rejects(awsError('InvalidInstanceId'));
    await expect(sendUpdateCommand(stateAfterImage({ update: undefined }), stepContext())).rejects.toMatchObject({
      name: 'AgentNotRegistered',
    });
  });

  it('passes the image as a document parameter, never inside shell text', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0123456789abcdef0', State: { Name: 'running' }, Tags: buildTags() }] }] });
    ssm.on(ListCommandsCommand).resolves({ Commands: [] });
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-9' } });
    const state = stateAfterImage({ update: undefined });
    await sendUpdateCommand(state, stepContext());
    expect(ssm).toHaveReceivedCommandWith(SendCommandCommand, {
      DocumentName: 'ComfyUIAmi-Update',
      Parameters: { ImageUri: [state.request!.imageUri], Gpu: ['true'], ContainerPort: ['8188'] },
    });
  });

  it('keeps polling while the invocation does not exist yet', async () => {
    ssm.on(GetCommandInvocationCommand).rejects(awsError('InvocationDoesNotExist'));
    await expect(checkUpdateCommand(stateAfterImage(), stepContext())).resolves.toMatchObject({ done: false, status: 'Pending' });
  });

  it('fails the build with the tail of stderr when the command failed', async () => {
    const stderr = `${'noise\n'.repeat(1000)}docker: pull access denied for comfyui`;
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StandardErrorContent: stderr });
    const failure = checkUpdateCommand(stateAfterImage(), stepContext());
    await expect(failure).rejects.toMatchObject({ name: 'UpdateCommandFailed', message: expect.stringContaining('pull access denied') });
    const message = String(await failure.catch((e: Error) => e.message));
    expect(message.length).toBeLessThan(2600);
  });

  it('gives up after the configured number of checks', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const ctx = stepContext();
    const state = stateAfterImage({ updateStatus: { done: false, attempt: ctx.config.polling.commandMaxAttempts, status: 'InProgress' } });
    await expect(checkUpdateCommand(state, ctx)).rejects.toMatchObject({ name: 'UpdateTimedOut' });
  });
});

describe('a snapshot shared by another AMI is never deleted', () => {
  it('keeps it and deletes the rest', async () => {
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-00000000000000001',
          State: 'available',
          BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-a' } }, { Ebs: { SnapshotId: 'snap-b' } }],
        },
      ],
    });
    ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [] });
    ec2.on(DeregisterImageCommand).resolves({});
    ec2.on(DeleteSnapshotCommand, { SnapshotId: 'snap-a' }).rejects(awsError('InvalidSnapshot.InUse'));
    ec2.on(DeleteSnapshotCommand, { SnapshotId: 'snap-b' }).resolves({});
    await expect(removeImage(new EC2Client({}), 'ami-00000000000000001')).resolves.toEqual({
      amiId: 'ami-00000000000000001',
      deregistered: true,
      deletedSnapshots: ['snap-b'],
      keptSnapshots: ['snap-a'],
    });
  });
});
