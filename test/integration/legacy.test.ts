/**
 * Migration from the old system's AMIs against the moto server: several legacy AMIs per
 * environment (plain name, suffixed name, Name tag only), environments sharing a prefix (qa and
 * qa-east), the newest picked; `comfyui-ami legacy` lists them and deletes them only once the
 * first pipeline build has published.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateImageCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { resetDefaultClients } from '../../functions/shared/clients';
import type { PipelineConfig } from '../../functions/shared/config';
import { findLegacyImages, legacyOwner } from '../../functions/shared/legacy';
import { main as legacy } from '../../scripts/commands/legacy';
import { useEndpoint } from '../../scripts/lib/moto';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { build, demoConfig, pushEvent } from '../support/builds';
import { runCli } from '../support/cli';
import { FAST_REGION } from '../support/fault-proxy';
import { type Moto, startMoto } from '../support/moto';

// Builds against moto on a loaded machine take more than jest's default.
jest.setTimeout(180_000);

const base = demoConfig();
const config: PipelineConfig = {
  ...base,
  environments: {
    ...base.environments,
    qa: { ...base.environments.dev, tags: ['qa-latest'], defaultTag: 'qa-latest' },
    'qa-east': { ...base.environments.dev, tags: ['qaeast-latest'], defaultTag: 'qaeast-latest' },
  },
};
const CONFIG_FILE = join(tmpdir(), `legacy-config-${process.pid}.json`);
let moto: Moto;
const ami: Record<string, string> = {};

const run = (argv: string[]) => runCli(legacy, [...argv, '--config', CONFIG_FILE]);

/** An AMI the old system would have made: its name, and optionally only a Name tag. */
async function oldAmi(baseAmiId: string, name: string, nameTag?: string): Promise<string> {
  const ec2 = new EC2Client({});
  const run = await ec2.send(new RunInstancesCommand({ ImageId: baseAmiId, MinCount: 1, MaxCount: 1, InstanceType: 'g4dn.xlarge' }));
  const instanceId = run.Instances?.[0]?.InstanceId ?? '';
  const image = await ec2.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: name,
      TagSpecifications: nameTag ? [{ ResourceType: 'image', Tags: [{ Key: 'Name', Value: nameTag }] }] : undefined,
    }),
  );
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  // moto's CreationDate counts whole seconds: keep the order of creation unambiguous.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  return image.ImageId ?? '';
}

const registered = async () =>
  new Set(((await new EC2Client({}).send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? []).map((i) => i.ImageId ?? ''));

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
  // Few stock AMIs in this region: DescribeImages stays fast (see fault-proxy.ts).
  useEndpoint(moto.endpoint, FAST_REGION);
  resetDefaultClients();
  writeFileSync(CONFIG_FILE, JSON.stringify(config));
  const { baseAmiId } = await seedAccount(config);
  ami.qaPlain = await oldAmi(baseAmiId, 'comfyui-multitenant-qa');
  ami.qaSuffixed = await oldAmi(baseAmiId, 'comfyui-multitenant-qa-2024-06-01');
  ami.qaTagged = await oldAmi(baseAmiId, 'golden-image-7', 'comfyui-multitenant-qa');
  ami.qaEast = await oldAmi(baseAmiId, 'comfyui-multitenant-qa-east-3');
  ami.qaz = await oldAmi(baseAmiId, 'comfyui-multitenant-qaz');
  ami.dev = await oldAmi(baseAmiId, 'comfyui-multitenant-dev-old');
}, 180_000);
afterAll(async () => {
  await moto?.stop();
  rmSync(CONFIG_FILE, { force: true });
});

describe('legacy AMIs', () => {
  it('belong to the configured environment with the longest matching name', () => {
    expect(legacyOwner(config, 'comfyui-multitenant-qa')).toBe('qa');
    expect(legacyOwner(config, 'comfyui-multitenant-qa-7')).toBe('qa');
    expect(legacyOwner(config, 'comfyui-multitenant-qa-east')).toBe('qa-east');
    expect(legacyOwner(config, 'comfyui-multitenant-qa-east-2024')).toBe('qa-east');
    expect(legacyOwner(config, 'comfyui-multitenant-qaz')).toBeNull();
    expect(legacyOwner(config, 'other-qa')).toBeNull();
    // Without qa-east configured, its old AMIs are qa's (a suffix of qa's name).
    const { 'qa-east': _east, ...environments } = config.environments;
    expect(legacyOwner({ ...config, environments }, 'comfyui-multitenant-qa-east-3')).toBe('qa');
  });

  it("are found per environment whatever their suffix or Name tag, newest first, and never another environment's", async () => {
    const ec2 = new EC2Client({});
    expect((await findLegacyImages(ec2, config, 'qa')).map((i) => i.ImageId)).toEqual([ami.qaTagged, ami.qaSuffixed, ami.qaPlain]);
    expect((await findLegacyImages(ec2, config, 'qa-east')).map((i) => i.ImageId)).toEqual([ami.qaEast]);
    expect((await findLegacyImages(ec2, config, 'dev')).map((i) => i.ImageId)).toEqual([ami.dev]);
  });

  it('are listed by `legacy --env qa` with their snapshots and size', async () => {
    const listed = await run(['--env', 'qa']);
    expect(listed.code).toBe(0);
    const lines = listed.out.split('\n');
    expect(lines.slice(0, 3).map((l) => l.split(' ')[0])).toEqual([ami.qaTagged, ami.qaSuffixed, ami.qaPlain]);
    expect(lines[0]).toMatch(/ \d+ GiB {2}golden-image-7 \(Name tag comfyui-multitenant-qa\) {2}snapshots: snap-/);
    expect(lines[3]).toMatch(/^3 legacy AMI\(s\), \d+ GiB of snapshots$/);
    const json = JSON.parse((await run(['--env', 'qa', '--json'])).out) as { amiId: string; snapshots: string[] }[];
    expect(json.map((a) => a.amiId)).toEqual([ami.qaTagged, ami.qaSuffixed, ami.qaPlain]);
    expect(json.every((a) => a.snapshots.length > 0)).toBe(true);
  });

  it('refuses --delete before the environment has a published pipeline build, removing nothing', async () => {
    const before = await registered();
    const refused = await run(['--env', 'qa', '--delete']);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('refused to delete legacy AMIs of qa: /comfyui/ami/qa/latest does not exist');
    expect(await registered()).toEqual(before);
  });

  it("migrates qa from its newest legacy AMI, then --delete removes only qa's legacy AMIs", async () => {
    const digest = await pushImage('comfyui', 'qa-latest', 'qa image');
    const first = await build(pushEvent('comfyui', 'qa-latest', digest), config, 'qa-first');
    expect(first).toMatchObject({ status: 'SUCCEEDED', mode: 'migration' });
    const metadata = JSON.parse(
      (await new SSMClient({}).send(new GetParameterCommand({ Name: '/comfyui/ami/qa/metadata' }))).Parameter?.Value ?? '{}',
    ) as Record<string, unknown>;
    expect(metadata).toMatchObject({ build_mode: 'migration', base_ami_id: ami.qaTagged, previous_ami_id: null });
    // The build itself removes no legacy AMI: the pipeline did not make them.
    expect([...(await registered())]).toEqual(expect.arrayContaining([ami.qaPlain, ami.qaSuffixed, ami.qaTagged, first.amiId]));

    const deleted = await run(['--env', 'qa', '--delete']);
    expect(deleted.code).toBe(0);
    expect(deleted.out.split('\n').filter((l) => l.startsWith('removed '))).toHaveLength(3);
    const left = await registered();
    for (const id of [ami.qaPlain, ami.qaSuffixed, ami.qaTagged]) expect(left.has(id)).toBe(false);
    for (const id of [ami.qaEast, ami.qaz, ami.dev, first.amiId ?? '']) expect(left.has(id)).toBe(true);
  });

  it("migrates qa-east from its own legacy AMI, not qa's", async () => {
    const digest = await pushImage('comfyui', 'qaeast-latest', 'qa-east image');
    const first = await build(pushEvent('comfyui', 'qaeast-latest', digest), config, 'qa-east-first');
    expect(first).toMatchObject({ status: 'SUCCEEDED', mode: 'migration' });
    const metadata = JSON.parse(
      (await new SSMClient({}).send(new GetParameterCommand({ Name: '/comfyui/ami/qa-east/metadata' }))).Parameter?.Value ?? '{}',
    ) as Record<string, unknown>;
    expect(metadata.base_ami_id).toBe(ami.qaEast);
  });
});
