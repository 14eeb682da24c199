/**
 * Issue 13, items 3 and 4 with the real ASL and handlers against moto: a builder launched with a
 * root volume initialization rate, and fast snapshot restore on the published AMI's snapshots,
 * disabled on the AMI it replaces and never left on by a failed build. moto has no fast snapshot
 * restore; the moto gaps proxy (test/support/moto-gaps.ts) answers those three calls as EC2 does.
 */
import { DescribeFastSnapshotRestoresCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { defaultClients } from '../../functions/shared/clients';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';
import { config, failing, named } from '../support/step-failures';

let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

const region = process.env.AWS_REGION ?? 'us-east-1';
const ZONES = [`${region}a`, `${region}b`];
const disks = demoConfig({
  builder: { ...config.builder, volumeInitializationRate: 200 },
  environments: { ...config.environments, dev: { ...config.environments.dev, fastSnapshotRestore: { availabilityZones: ZONES } } },
});

/** The AMI's snapshots and, per snapshot, the zones where EC2 reports fast snapshot restore. */
async function fastRestoresOf(amiId: string): Promise<Record<string, string[]>> {
  const { ec2 } = defaultClients();
  const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }))).Images?.[0];
  const ids = (image?.BlockDeviceMappings ?? []).map((m) => m.Ebs?.SnapshotId ?? '').filter(Boolean);
  expect(ids.length).toBeGreaterThan(0);
  const out = await ec2.send(new DescribeFastSnapshotRestoresCommand({ Filters: [{ Name: 'snapshot-id', Values: ids }] }));
  return Object.fromEntries(
    ids.map((id) => [
      id,
      (out.FastSnapshotRestores ?? [])
        .filter((r) => r.SnapshotId === id)
        .map((r) => r.AvailabilityZone ?? '')
        .sort(),
    ]),
  );
}

describe('builder and host disks', () => {
  it('builds with a volume initialization rate, enables FSR on the new AMI, disables it on the one it replaces, and a failed build leaves none', async () => {
    // Prepare: a first build of dev, with FSR configured
    await moto.reset();
    await seedAccount(disks);
    const baseline = await snapshotIds();
    const one = await build(pushEvent('comfyui', 'dev-latest', await pushImage('comfyui', 'dev-latest', 'one')), disks, 'dev-disks-1');
    expect(one.status).toBe('SUCCEEDED');
    const first = (await readAccount(baseline)).parameters['/comfyui/ami/dev/latest'];
    const firstSnapshots = Object.keys(await fastRestoresOf(first));
    expect(Object.values(await fastRestoresOf(first))).toEqual(firstSnapshots.map(() => ZONES));

    // Act: an incremental build replaces it
    const two = await build(pushEvent('comfyui', 'dev-latest', await pushImage('comfyui', 'dev-latest', 'two')), disks, 'dev-disks-2');
    expect(two.status).toBe('SUCCEEDED');
    const second = (await readAccount(baseline)).parameters['/comfyui/ami/dev/latest'];
    expect(second).not.toBe(first);

    // Assess: only the published AMI's snapshots restore fast; the replaced AMI is gone, FSR first
    const secondSnapshots = Object.keys(await fastRestoresOf(second));
    expect(Object.values(await fastRestoresOf(second))).toEqual(secondSnapshots.map(() => ZONES));
    expect([...moto.fastSnapshotRestores().keys()].sort()).toEqual(secondSnapshots.sort());
    expect(firstSnapshots.some((id) => secondSnapshots.includes(id))).toBe(false);

    // Act: a third build fails after publish enabled FSR and wrote latest
    const input = pushEvent('comfyui', 'dev-latest', await pushImage('comfyui', 'dev-latest', 'three'));
    const publishFails = await failing('Publish the AMI', 'after', named('UpdateCommandFailed', 'injected after the writes'));
    const three = await buildWith(input, disks, 'dev-disks-3', { 'Publish the AMI': publishFails });

    // Assess: rolled back, latest as before, the failed build's snapshots gone with no FSR left on
    expect(three).toMatchObject({ status: 'FAILED', error: 'UpdateCommandFailed' });
    const after = await readAccount(baseline);
    expect(after.parameters['/comfyui/ami/dev/latest']).toBe(second);
    expect(after.amis.dev).toEqual([second]);
    expect(after.orphanSnapshots).toEqual([]);
    expect([...moto.fastSnapshotRestores().keys()].sort()).toEqual(secondSnapshots.sort());
  });
});
