/**
 * Fast snapshot restore (environments.{env}.fastSnapshotRestore): publish enables it on the new
 * AMI's own snapshots, clean up disables it on the AMIs `latest` no longer names (as the removal
 * guard allows), roll back on this build's unpublished AMI; nothing another build made otherwise.
 * moto has no fast snapshot restore: these run on aws-sdk-client-mock (test/support/fake-aws.ts);
 * the statemachine test test/statemachine/disks.test.ts runs the real ASL through the moto gaps proxy.
 */
import 'aws-sdk-client-mock-jest';
import { EC2Client, EnableFastSnapshotRestoresCommand } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { cleanUp } from '../../functions/clean-up/clean-up';
import { publishAmi } from '../../functions/publish-ami/publish-ami';
import { rollBack } from '../../functions/roll-back/roll-back';
import { parseConfig } from '../../functions/shared/config';
import type { BuildState } from '../../functions/shared/state';
import { buildTags, OTHER_BUILD_ID, stateAfterImage, stepContext } from '../support/context';
import { type FakeParameter, fakeEc2, fakeSsm } from '../support/fake-aws';

const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);

const OLD = 'ami-0000000000000000a';
const NEW = 'ami-00000000000000002';
const LATEST = '/comfyui/ami/dev/latest';
const ZONES = ['us-east-1a', 'us-east-1b'];
const other = buildTags(undefined, { 'comfyui-ami:build-id': OTHER_BUILD_ID });
const minute = (n: number) => new Date(Date.UTC(2026, 10, 27, 12, n));
const snapshotOf = (id: string, tags: { Key: string; Value: string }[], amiId: string) => ({
  id,
  tags: [...tags, { Key: 'comfyui-ami:image-id', Value: amiId }, { Key: 'comfyui-ami:role', Value: 'ami-snapshot' }],
});

/** The previous build's AMI (FSR on in both zones) and this build's new one; `latest` as given. */
function world(latest: string, parameters: [string, FakeParameter][] = []) {
  ec2.reset();
  ssm.reset();
  const w = fakeEc2(ec2, {
    instances: [],
    images: [
      { id: OLD, state: 'available', tags: other, snapshots: ['snap-old'] },
      // The new AMI also names a snapshot another build made (an image registered by hand could).
      { id: NEW, state: 'available', tags: buildTags(), snapshots: ['snap-new', 'snap-foreign'] },
    ],
    snapshots: [snapshotOf('snap-old', other, OLD), snapshotOf('snap-new', buildTags(), NEW), snapshotOf('snap-foreign', other, OLD)],
    fastRestores: new Map([
      ['snap-old', new Set(ZONES)],
      ['snap-foreign', new Set(['us-east-1a'])],
    ]),
  });
  const ssmWorld = fakeSsm(
    ssm,
    new Map([
      [LATEST, { versions: [latest], modified: minute(30) }],
      [`/comfyui/ami/dev/history/${OLD}`, { versions: ['{}'], modified: minute(1) }],
      ...parameters,
    ]),
  );
  return { ...w, parameters: ssmWorld, fastRestores: w.fastRestores as Map<string, Set<string>> };
}

function context(zones: string[] | undefined) {
  const ctx = stepContext();
  ctx.config = {
    ...ctx.config,
    environments: {
      ...ctx.config.environments,
      dev: { ...ctx.config.environments.dev, fastSnapshotRestore: zones ? { availabilityZones: zones } : undefined },
    },
  };
  (ctx.clients.ssm.config as { region: () => Promise<string> }).region = async () => 'us-east-1';
  return ctx;
}

const zonesOf = (w: ReturnType<typeof world>, snapshotId: string) => [...(w.fastRestores.get(snapshotId) ?? [])].sort();

describe('publish', () => {
  it("enables fast snapshot restore in the configured zones on the new AMI's own snapshots, before latest moves", async () => {
    const w = world(OLD);
    const published = await publishAmi(stateAfterImage(), context(ZONES));
    expect(published.fastSnapshotRestore).toEqual({ snapshotIds: ['snap-new'], availabilityZones: ZONES });
    expect(zonesOf(w, 'snap-new')).toEqual(ZONES);
    // The snapshot another build made keeps exactly what it had.
    expect(zonesOf(w, 'snap-foreign')).toEqual(['us-east-1a']);
    expect(w.parameters.get(LATEST)?.versions.at(-1)).toBe(NEW);
  });

  it('leaves snapshots alone when the environment has no fastSnapshotRestore', async () => {
    world(OLD);
    const published = await publishAmi(stateAfterImage(), context(undefined));
    expect(published.fastSnapshotRestore).toBeUndefined();
    expect(ec2).not.toHaveReceivedCommand(EnableFastSnapshotRestoresCommand);
  });

  it("never enables it on a rollback's target, which an earlier build made", async () => {
    world(NEW, [
      [`/comfyui/ami/dev/history/${OLD}`, { versions: [JSON.stringify({ ami_id: OLD, environment: 'dev' })], modified: minute(1) }],
    ]);
    const state: BuildState = stateAfterImage({
      base: { mode: 'rollback', baseAmiId: OLD, previousAmiId: NEW, buildNumber: 7, amiName: 'x' },
      image: { amiId: OLD, name: 'x' },
      request: { ...stateAfterImage().request!, rollbackTo: OLD },
    });
    await publishAmi(state, context(ZONES)).catch(() => undefined);
    expect(ec2).not.toHaveReceivedCommand(EnableFastSnapshotRestoresCommand);
  });

  it('fails with FastSnapshotRestoreFailed and EC2 reason when a pair is refused, before any parameter is written', async () => {
    const w = world(OLD);
    ec2.on(EnableFastSnapshotRestoresCommand).resolves({
      Unsuccessful: [
        {
          SnapshotId: 'snap-new',
          FastSnapshotRestoreStateErrors: [
            { AvailabilityZone: 'us-east-1b', Error: { Code: 'FastSnapshotRestoreLimitExceeded', Message: 'limit of 5 reached' } },
          ],
        },
      ],
    });
    await expect(publishAmi(stateAfterImage(), context(ZONES))).rejects.toMatchObject({
      name: 'FastSnapshotRestoreFailed',
      message: expect.stringContaining('snap-new in us-east-1b: FastSnapshotRestoreLimitExceeded'),
    });
    expect(w.parameters.get(LATEST)?.versions).toEqual([OLD]);
  });
});

describe('clean up', () => {
  const published = (): BuildState =>
    stateAfterImage({
      published: { amiId: NEW, metadata: {} as never },
      builder: undefined,
      base: { ...stateAfterImage().base!, previousAmiId: OLD },
    });

  it('disables it on the replaced AMI, whose publish the new one superseded, before removing it', async () => {
    const w = world(NEW, [[`/comfyui/ami/dev/history/${NEW}`, { versions: ['{}'], modified: minute(30) }]]);
    w.fastRestores.set('snap-new', new Set(ZONES));
    const result = await cleanUp(published(), context(ZONES));
    expect(result.fastSnapshotRestoreDisabled).toEqual([{ amiId: OLD, snapshotIds: ['snap-old'], availabilityZones: ZONES }]);
    expect(result.removed.map((r) => r.amiId)).toEqual([OLD]);
    expect(zonesOf(w, 'snap-old')).toEqual([]);
    expect(zonesOf(w, 'snap-new')).toEqual(ZONES);
  });

  it('disables it on a retained previous AMI too (only latest keeps it), whatever the config says now', async () => {
    const w = world(NEW, [[`/comfyui/ami/dev/history/${NEW}`, { versions: ['{}'], modified: minute(30) }]]);
    const ctx = context(undefined);
    ctx.config.environments.dev = { ...ctx.config.environments.dev, retainPrevious: 1 };
    const result = await cleanUp(published(), ctx);
    expect(result.removed).toEqual([]);
    expect(result.fastSnapshotRestoreDisabled.map((c) => c.amiId)).toEqual([OLD]);
    expect(zonesOf(w, 'snap-old')).toEqual([]);
  });

  it('leaves it on an AMI the removal guard protects (its history entry is newer than latest)', async () => {
    const w = world(NEW, [[`/comfyui/ami/dev/history/${OLD}`, { versions: ['{}'], modified: minute(45) }]]);
    const result = await cleanUp(published(), context(ZONES));
    expect(result.fastSnapshotRestoreDisabled).toEqual([]);
    expect(zonesOf(w, 'snap-old')).toEqual(ZONES);
  });
});

describe('roll back', () => {
  it("disables it on this build's unpublished AMI before removing it, and leaves the earlier build's alone", async () => {
    const w = world(OLD, [[`/comfyui/ami/dev/metadata`, { versions: ['{}'], modified: minute(1) }]]);
    w.fastRestores.set('snap-new', new Set(ZONES));
    const result = await rollBack(stateAfterImage({ error: { Error: 'VerificationFailed', Cause: 'injected' } }), context(ZONES));
    expect(result.fastSnapshotRestoreDisabled).toEqual([{ amiId: NEW, snapshotIds: ['snap-new'], availabilityZones: ZONES }]);
    expect(result.removedImages.map((r) => r.amiId)).toEqual([NEW]);
    expect(w.fastRestores.has('snap-new')).toBe(false);
    // snap-foreign is not in the change: removing the AMI deletes what it names (removeImage), not this step.
    expect(zonesOf(w, 'snap-old')).toEqual(ZONES);
  });
});

describe('the config', () => {
  const base = { repositories: ['comfyui'] };
  it.each([
    [{ availabilityZones: [] }, 'config.environments.dev.fastSnapshotRestore.availabilityZones'],
    [{ availabilityZones: ['us-west-2-lax-1a'] }, 'an availability zone name such as us-east-1a'],
    [{ availabilityZones: ['us-east-1a', 'us-east-1a'] }, 'each zone once'],
    [{ zones: ['us-east-1a'] }, 'config.environments.dev.fastSnapshotRestore'],
  ])('refuses %j, naming the field', (fastSnapshotRestore, message) => {
    const raw = { ...base, environments: { dev: { tags: ['dev-*'], defaultTag: 'dev-1', fastSnapshotRestore } } };
    expect(() => parseConfig(raw, 'config')).toThrow(message);
  });
});
