import { spawnSync } from 'node:child_process';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { build, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

const config = demoConfig();
let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

/** The user's own consumer code path: boto3, as in their Parameter Store document. */
function readAsConsumer(env: string): { latest: string; metadata: Record<string, string>; history: string[]; amis: string[] } {
  const script = `
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='x', aws_secret_access_key='x')
ssm = boto3.client('ssm', **kw); ec2 = boto3.client('ec2', **kw)
env = sys.argv[2]
latest = ssm.get_parameter(Name=f'/comfyui/ami/{env}/latest')['Parameter']['Value']
metadata = json.loads(ssm.get_parameter(Name=f'/comfyui/ami/{env}/metadata')['Parameter']['Value'])
history = [p['Name'] for p in ssm.get_parameters_by_path(Path=f'/comfyui/ami/{env}/history/')['Parameters']]
amis = [i['ImageId'] for i in ec2.describe_images(Owners=['self'])['Images'] if any(t['Key'] == 'Name' and t['Value'] == f'comfyui-multitenant-{env}' for t in i.get('Tags', []))]
print(json.dumps(dict(latest=latest, metadata=metadata, history=history, amis=amis)))
`;
  const out = spawnSync(process.env.PYTHON ?? 'python3', ['-c', script, moto.serverEndpoint, env], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(out.stderr);
  return JSON.parse(out.stdout);
}

describe('two builds of one environment against the moto server', () => {
  it('leaves latest on the newest AMI, full metadata, a history entry per build, one AMI and nothing else', async () => {
    // Prepare
    await seedAccount(config);
    const baseline = await snapshotIds();
    const first = await pushImage('comfyui', 'dev-latest', 'image one');

    // Act
    const one = await build(pushEvent('comfyui', 'dev-latest', first), config, 'dev-one');
    const afterOne = await readAccount(baseline);
    const second = await pushImage('comfyui', 'dev-latest', 'image two');
    const two = await build({ environment: 'dev', branch: 'main', commit_sha: 'abc123def456' }, config, 'dev-two');

    // Assess
    expect(one).toMatchObject({ status: 'SUCCEEDED', mode: 'fresh', previousAmiId: null });
    expect(two).toMatchObject({ status: 'SUCCEEDED', mode: 'incremental', previousAmiId: one.amiId });
    const consumer = readAsConsumer('dev');
    expect(consumer.latest).toBe(two.amiId);
    expect(consumer.amis).toEqual([two.amiId]);
    expect(Object.keys(consumer.metadata)).toEqual(
      expect.arrayContaining([
        'ami_id',
        'docker_image',
        'environment',
        'creation_date',
        'branch',
        'commit_sha',
        'region',
        'workflow_run_id',
        'workflow_run_number',
      ]),
    );
    expect(consumer.metadata).toMatchObject({
      ami_id: two.amiId,
      docker_image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui@${second}`,
      environment: 'dev',
      branch: 'main',
      commit_sha: 'abc123def456',
      region: 'us-east-1',
      workflow_run_id: 'dev-two',
      workflow_run_number: '2',
    });
    expect(consumer.metadata.creation_date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(consumer.history.sort()).toEqual([`/comfyui/ami/dev/history/${one.amiId}`, `/comfyui/ami/dev/history/${two.amiId}`].sort());

    const account = await readAccount(baseline);
    expect(account.liveBuilders).toEqual([]);
    expect(account.amis).toEqual({ dev: [two.amiId] });
    // The first AMI's snapshots went with it.
    expect(afterOne.orphanSnapshots).toEqual([]);
    expect(account.orphanSnapshots).toEqual([]);
  });
});
