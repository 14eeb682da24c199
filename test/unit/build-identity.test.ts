/**
 * A step invoked with a crafted state (ids of another build's instance or AMI, same execution
 * name) acts on nothing: each destructive step re-checks the ids against the build id's tags.
 * And the removal guard shared by roll back and clean up.
 */
import 'aws-sdk-client-mock-jest';
import {
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  EC2Client,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DeleteParametersCommand,
  GetParametersByPathCommand,
  ListCommandsCommand,
  PutParameterCommand,
  SendCommandCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkImage } from '../../functions/check-image/check-image';
import { cleanUp } from '../../functions/clean-up/clean-up';
import { createImage } from '../../functions/create-image/create-image';
import { publishAmi } from '../../functions/publish-ami/publish-ami';
import { sendUpdateCommand } from '../../functions/send-update-command/send-update-command';
import { identityOf, isOwnedBy } from '../../functions/shared/build-identity';
import { parameterPaths } from '../../functions/shared/names';
import { removalBlocker } from '../../functions/shared/removal-guard';
import { stopBuilder } from '../../functions/stop-builder/stop-builder';
import { buildTags, OTHER_BUILD_ID, stateAfterImage, stepContext } from '../support/context';
import { type FakeParameter, fakeEc2, fakeSsm, values } from '../support/fake-aws';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);

const LIVE = 'ami-0000000000000000a';
const THEIRS = 'i-0fedcba9876543210';
const other = buildTags(undefined, { 'comfyui-ami:build-id': OTHER_BUILD_ID });
const LATEST = '/comfyui/ami/dev/latest';
const paths = parameterPaths(stepContext().config, 'dev');

/** Another build's running builder and its published AMI; this build has made nothing yet. */
function otherBuildsWorld() {
  ec2.reset();
  ssm.reset();
  const world = fakeEc2(ec2, {
    instances: [{ id: THEIRS, state: 'stopped', tags: [...other, { Key: 'comfyui-ami:role', Value: 'builder' }] }],
    images: [{ id: LIVE, state: 'available', tags: other, snapshots: ['snap-live'] }],
    snapshots: [{ id: 'snap-live', tags: [...other, { Key: 'comfyui-ami:image-id', Value: LIVE }] }],
  });
  const parameters = fakeSsm(
    ssm,
    new Map<string, FakeParameter>([
      [LATEST, { versions: [LIVE], modified: new Date('2026-11-27T12:00:00Z') }],
      [`/comfyui/ami/dev/history/${LIVE}`, { versions: ['{}'], modified: new Date('2026-11-27T12:00:00Z') }],
    ]),
  );
  ssm.on(ListCommandsCommand).resolves({ Commands: [] });
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-x' } });
  ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
  ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-0000000000000000f' });
  ec2.on(CreateTagsCommand).resolves({});
  return { world, parameters };
}

/** Same execution name as the other build (Step Functions reuses names), its ids in the state. */
const crafted = () =>
  stateAfterImage({
    builder: { instanceId: THEIRS },
    image: { amiId: LIVE, name: 'x' },
    published: { amiId: LIVE, metadata: {} as never },
  });

function expectUntouched(world: ReturnType<typeof otherBuildsWorld>['world'], parameters: Map<string, FakeParameter>) {
  expect(ec2).not.toHaveReceivedCommand(StopInstancesCommand);
  expect(ec2).not.toHaveReceivedCommand(TerminateInstancesCommand);
  expect(ec2).not.toHaveReceivedCommand(CreateImageCommand);
  expect(ec2).not.toHaveReceivedCommand(DeregisterImageCommand);
  expect(ec2).not.toHaveReceivedCommand(DeleteSnapshotCommand);
  expect(ec2).not.toHaveReceivedCommand(CreateTagsCommand);
  expect(ssm).not.toHaveReceivedCommand(SendCommandCommand);
  expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
  expect(ssm).not.toHaveReceivedCommand(DeleteParametersCommand);
  expect(world.instances[0].state).toBe('stopped');
  expect(world.images[0].state).toBe('available');
  expect(values(parameters)[LATEST]).toBe(LIVE);
}

describe("a crafted state naming another build's resources", () => {
  it.each([
    ['Stop the builder', stopBuilder],
    ['Send the update command', sendUpdateCommand],
    ['Create the AMI', createImage],
    ['Check the AMI (tags snapshots)', checkImage],
    ['Publish the AMI', publishAmi],
    ['Clean up', cleanUp],
  ] as const)('makes "%s" refuse with ResourceNotOwned and touch nothing', async (_name, step) => {
    const { world, parameters } = otherBuildsWorld();
    const state = crafted();
    if (step === createImage) state.image = undefined;
    await expect(step(state, stepContext())).rejects.toMatchObject({ name: 'ResourceNotOwned' });
    expectUntouched(world, parameters);
  });
});

describe('identity', () => {
  it('needs the pipeline, the environment and the build id, all three', () => {
    const identity = identityOf(stateAfterImage());
    expect(isOwnedBy(buildTags(), identity)).toBe(true);
    expect(isOwnedBy(other, identity)).toBe(false);
    expect(isOwnedBy(buildTags(undefined, { 'comfyui-ami:environment': 'prod' }), identity)).toBe(false);
    expect(isOwnedBy(buildTags(undefined, { 'comfyui-ami:managed-by': 'someone' }), identity)).toBe(false);
    expect(
      isOwnedBy(
        buildTags().filter((t) => t.Key !== 'comfyui-ami:build-id'),
        identity,
      ),
    ).toBe(false);
  });
});

describe('the removal guard', () => {
  const world = (entries: [string, FakeParameter][]) => {
    ssm.reset();
    fakeSsm(ssm, new Map(entries));
  };
  const at = (iso: string) => new Date(iso);

  it('keeps the AMI latest names', async () => {
    world([[LATEST, { versions: [LIVE], modified: at('2026-11-27T12:00:00Z') }]]);
    await expect(removalBlocker(new SSMClient({ region: 'us-east-1' }), paths, LIVE)).resolves.toBe(`${LATEST} names it`);
  });

  it('keeps an AMI a completed publish recorded in history', async () => {
    world([
      [LATEST, { versions: ['ami-0000000000000000b'], modified: at('2026-11-27T12:00:00Z') }],
      [paths.history(LIVE), { versions: ['{}'], modified: at('2026-11-27T11:00:00Z') }],
    ]);
    await expect(removalBlocker(new SSMClient({ region: 'us-east-1' }), paths, LIVE)).resolves.toBe(
      `${paths.history(LIVE)} records its publish`,
    );
  });

  it('lets clean up remove an AMI recorded before its own publish, never one recorded after', async () => {
    world([
      [LATEST, { versions: ['ami-0000000000000000b'], modified: at('2026-11-27T12:00:00Z') }],
      [paths.history(LIVE), { versions: ['{}'], modified: at('2026-11-27T11:00:00Z') }],
    ]);
    const client = new SSMClient({ region: 'us-east-1' });
    await expect(removalBlocker(client, paths, LIVE, { supersededAt: at('2026-11-27T12:00:00Z') })).resolves.toBeNull();
    await expect(removalBlocker(client, paths, LIVE, { supersededAt: at('2026-11-27T10:00:00Z') })).resolves.toContain(
      'records its publish',
    );
  });

  it('lets an AMI that nothing names go', async () => {
    world([[LATEST, { versions: ['ami-0000000000000000b'], modified: at('2026-11-27T12:00:00Z') }]]);
    await expect(removalBlocker(new SSMClient({ region: 'us-east-1' }), paths, LIVE)).resolves.toBeNull();
  });

  it('fails rather than answer when it cannot read latest', async () => {
    ssm.reset();
    fakeSsm(ssm, new Map(), new Map([['GetParameter', Object.assign(new Error('denied'), { name: 'AccessDeniedException' })]]));
    await expect(removalBlocker(new SSMClient({ region: 'us-east-1' }), paths, LIVE)).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });
});
