/**
 * Roll back does what it can: each undo stands on its own, a failed one is named, and nothing
 * another build made is touched whatever the state says.
 */
import 'aws-sdk-client-mock-jest';
import { DeleteSnapshotCommand, DeregisterImageCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { rollBack } from '../../functions/roll-back/roll-back';
import { buildTags, OTHER_BUILD_ID, stateAfterImage, stepContext } from '../support/context';
import {
  awsError,
  type FakeImage,
  type FakeInstance,
  type FakeParameter,
  type FakeSnapshot,
  type Faults,
  fakeEc2,
  fakeSsm,
  values,
} from '../support/fake-aws';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);

const OLD = 'ami-0000000000000000a';
const NEW = 'ami-00000000000000002';
const MINE = 'i-0123456789abcdef0';
const THEIRS = 'i-0fedcba9876543210';
const LATEST = '/comfyui/ami/dev/latest';
const METADATA = '/comfyui/ami/dev/metadata';
const metadata = (amiId: string) => JSON.stringify({ ami_id: amiId, environment: 'dev' });
const other = buildTags(undefined, { 'comfyui-ami:build-id': OTHER_BUILD_ID });

interface World {
  instances: FakeInstance[];
  images: FakeImage[];
  snapshots: FakeSnapshot[];
  parameters: Map<string, FakeParameter>;
}

/** The live AMI of an earlier build, and this build's builder and AMI, published as far as `latest`. */
function world(faults: Faults = new Map()): World {
  ec2.reset();
  ssm.reset();
  const minute = (n: number) => new Date(Date.UTC(2026, 10, 27, 12, n));
  const ec2World = fakeEc2(
    ec2,
    {
      instances: [
        { id: MINE, state: 'stopped', tags: [...buildTags(), { Key: 'comfyui-ami:role', Value: 'builder' }] },
        { id: THEIRS, state: 'running', tags: [...other, { Key: 'comfyui-ami:role', Value: 'builder' }] },
      ],
      images: [
        { id: OLD, state: 'available', tags: other, snapshots: ['snap-old'] },
        { id: NEW, state: 'available', tags: buildTags(), snapshots: ['snap-new'] },
      ],
      snapshots: [
        { id: 'snap-old', tags: [...other, { Key: 'comfyui-ami:image-id', Value: OLD }] },
        { id: 'snap-new', tags: [...buildTags(), { Key: 'comfyui-ami:image-id', Value: NEW }] },
      ],
    },
    faults,
  );
  const parameters = fakeSsm(
    ssm,
    new Map([
      [LATEST, { versions: [OLD, NEW], modified: minute(30) }],
      [METADATA, { versions: [metadata(OLD), metadata(NEW)], modified: minute(30) }],
      [`/comfyui/ami/dev/history/${OLD}`, { versions: [metadata(OLD)], modified: minute(1) }],
      [`/comfyui/ami/dev/history/${NEW}`, { versions: [metadata(NEW)], modified: minute(30) }],
    ]),
    faults,
  );
  return { ...ec2World, parameters };
}

const failedState = () => stateAfterImage({ error: { Error: 'LatestNotConfirmed', Cause: 'injected' } });

describe('roll back', () => {
  it('undoes everything of this build and leaves the earlier build alone', async () => {
    const w = world();
    const result = await rollBack(failedState(), stepContext());
    expect(result.terminated).toEqual([MINE]);
    expect(result.removedImages.map((r) => r.amiId)).toEqual([NEW]);
    expect(values(w.parameters)).toEqual({ [LATEST]: OLD, [METADATA]: metadata(OLD), [`/comfyui/ami/dev/history/${OLD}`]: metadata(OLD) });
    expect(w.images.find((i) => i.id === OLD)?.state).toBe('available');
    expect(w.snapshots.map((s) => s.id)).toEqual(['snap-old']);
    expect(w.instances.find((i) => i.id === THEIRS)?.state).toBe('running');
  });

  it('still removes the AMI, its snapshots and its history when metadata cannot be put back, then names metadata', async () => {
    const w = world(new Map([[`PutParameter:${METADATA}`, awsError('AccessDeniedException', 403)]]));
    const error = await rollBack(failedState(), stepContext()).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'RollbackIncomplete', message: expect.stringContaining(`put back ${METADATA}`) });
    expect((error as Error).message).not.toContain('remove AMI');
    expect(values(w.parameters)[LATEST]).toBe(OLD);
    expect(w.parameters.has(`/comfyui/ami/dev/history/${NEW}`)).toBe(false);
    expect(w.images.find((i) => i.id === NEW)?.state).toBe('deregistered');
    expect(w.snapshots.map((s) => s.id)).toEqual(['snap-old']);
    expect(w.instances.find((i) => i.id === MINE)?.state).toBe('terminated');
  });

  it('keeps the AMI latest still names when latest cannot be put back, undoes the rest, and names both', async () => {
    const w = world(new Map([[`PutParameter:${LATEST}`, awsError('AccessDeniedException', 403)]]));
    const error = await rollBack(failedState(), stepContext()).catch((e: Error) => e);
    expect(error).toMatchObject({ name: 'RollbackIncomplete' });
    expect((error as Error).message).toContain(`put back ${LATEST}`);
    expect((error as Error).message).toContain(`remove AMI ${NEW} and its snapshots (RollbackIncomplete: kept because ${LATEST} names it)`);
    // Consumers are never left with a latest that names a removed AMI.
    expect(w.images.find((i) => i.id === NEW)?.state).toBe('available');
    expect(values(w.parameters)[METADATA]).toBe(metadata(OLD));
    expect(w.parameters.has(`/comfyui/ami/dev/history/${NEW}`)).toBe(false);
    expect(w.instances.find((i) => i.id === MINE)?.state).toBe('terminated');
  });

  it('still removes the AMI and puts parameters back when the builder cannot be terminated', async () => {
    const w = world(new Map([[`TerminateInstances:${MINE}`, awsError('UnauthorizedOperation', 403)]]));
    await expect(rollBack(failedState(), stepContext())).rejects.toMatchObject({
      name: 'RollbackIncomplete',
      message: expect.stringContaining(`terminate instance ${MINE}`),
    });
    expect(w.images.find((i) => i.id === NEW)?.state).toBe('deregistered');
    expect(values(w.parameters)[LATEST]).toBe(OLD);
  });

  it('still puts every parameter back when the AMI cannot be deregistered', async () => {
    const w = world(new Map([[`DeregisterImage:${NEW}`, awsError('UnauthorizedOperation', 403)]]));
    await expect(rollBack(failedState(), stepContext())).rejects.toMatchObject({
      name: 'RollbackIncomplete',
      message: expect.stringContaining(`remove AMI ${NEW} and its snapshots`),
    });
    expect(values(w.parameters)).toEqual({ [LATEST]: OLD, [METADATA]: metadata(OLD), [`/comfyui/ami/dev/history/${OLD}`]: metadata(OLD) });
    expect(w.instances.find((i) => i.id === MINE)?.state).toBe('terminated');
  });

  it('fails with the transient error, naming what is left, when every failure was transient (the ASL retries it)', async () => {
    world(new Map([[`DeleteParameter:/comfyui/ami/dev/history/${NEW}`, awsError('ThrottlingException')]]));
    await expect(rollBack(failedState(), stepContext())).rejects.toMatchObject({
      name: 'AwsThrottled',
      message: expect.stringContaining(`delete /comfyui/ami/dev/history/${NEW}`),
    });
  });

  it('touches nothing another build made when the state names its instance and its live AMI', async () => {
    const w = world();
    // Same execution name, another build: what Step Functions allows after 90 days, or a crafted state.
    const crafted = stateAfterImage({
      builder: { instanceId: THEIRS },
      image: { amiId: OLD, name: 'x' },
      error: { Error: 'X', Cause: 'y' },
    });
    ec2.resetHistory();
    ssm.resetHistory();
    const result = await rollBack(crafted, stepContext());
    expect(result.ignored).toEqual([THEIRS, OLD]);
    expect(ec2).not.toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [THEIRS] });
    expect(ec2).not.toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: OLD });
    expect(ec2).not.toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-old' });
    // Only this build's own writes (latest and metadata naming its AMI) are undone.
    expect(ssm).not.toHaveReceivedCommandWith(PutParameterCommand, { Name: LATEST, Value: expect.not.stringMatching(OLD) });
    expect(ssm).not.toHaveReceivedCommandWith(DeleteParameterCommand, { Name: `/comfyui/ami/dev/history/${OLD}` });
    expect(values(w.parameters)[LATEST]).toBe(OLD);
    expect(w.images.find((i) => i.id === OLD)?.state).toBe('available');
    expect(w.instances.find((i) => i.id === THEIRS)?.state).toBe('running');
  });

  it('refuses a state whose build id is not one the state machine drew', async () => {
    world();
    const crafted = stateAfterImage();
    crafted.execution = { ...crafted.execution, buildId: '' };
    await expect(rollBack(crafted, stepContext())).rejects.toMatchObject({
      name: 'ResourceNotOwned',
      message: expect.stringContaining('state.execution.buildId'),
    });
    expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
    expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
  });
});
