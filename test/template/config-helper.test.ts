import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../functions/shared/config';

const HELPER = path.resolve(__dirname, '../../scripts/serverless/config.cjs');

interface Helper {
  json: string;
  ecrPushPattern: { detail: Record<string, unknown> };
  parameterReadArns: { 'Fn::Sub': string }[];
  repositoryArns: { 'Fn::Sub': string }[];
}

/** scripts/serverless/config.cjs loaded by plain Node, as osls loads it, for a config of the test's own. */
function helperFor(config: unknown): Helper {
  const dir = mkdtempSync(path.join(tmpdir(), 'comfyui-ami-config-'));
  const file = path.join(dir, 'pipeline.json');
  writeFileSync(file, JSON.stringify(config));
  try {
    const run = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(HELPER)})))`], {
      env: { ...process.env, COMFYUI_AMI_TEST_CONFIG_FILE: file },
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(run.stderr);
    return JSON.parse(run.stdout) as Helper;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const base = {
  repositories: ['comfyui', 'team/comfyui-gpu'],
  environments: {
    dev: { tags: ['dev-*'], defaultTag: 'dev-latest' },
    lab: { repository: 'team/comfyui-gpu', tags: ['lab-latest', 'lab-*'], defaultTag: 'lab-latest' },
  },
};

describe('scripts/serverless/config.cjs', () => {
  it('pairs each repository with the tag patterns of its own environments when there are several', () => {
    const { ecrPushPattern } = helperFor(base);
    expect(ecrPushPattern.detail).toEqual({
      'action-type': ['PUSH'],
      result: ['SUCCESS'],
      $or: [
        { 'repository-name': ['comfyui'], 'image-tag': [{ wildcard: 'dev-*' }] },
        { 'repository-name': ['team/comfyui-gpu'], 'image-tag': [{ wildcard: 'lab-*' }, 'lab-latest'] },
      ],
    });
  });

  it('scopes ECR to the configured repositories and parameter reads to the prefix and a private base parameter', () => {
    const helper = helperFor({ ...base, parameterPrefix: '/images/comfy', baseImage: { parameter: '/golden/ubuntu' } });
    expect(helper.repositoryArns.map((a) => a['Fn::Sub'])).toEqual([
      'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/comfyui',
      'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/team/comfyui-gpu',
    ]);
    expect(helper.parameterReadArns.map((a) => a['Fn::Sub'])).toEqual([
      'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/images/comfy/*',
      'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/golden/ubuntu',
    ]);
  });

  it('reads no base parameter when the base is an AMI id, and passes the config on as the schema parsed it', () => {
    const config = { ...base, baseImage: { amiId: 'ami-0123456789abcdef0' } };
    const helper = helperFor(config);
    expect(helper.parameterReadArns).toHaveLength(1);
    // Defaults filled in: the functions trust this JSON without the schema (config-env.ts).
    expect(helper.json).toBe(JSON.stringify(parseConfig(config, 'test')));
    expect(JSON.parse(helper.json).environments.dev.verify).toEqual({ enabled: true, timeoutSeconds: 600 });
  });

  it('refuses an invalid config, naming the field', () => {
    expect(() => helperFor({ ...base, environments: { dev: { tags: ['dev latest'], defaultTag: 'dev-latest' } } })).toThrow(
      /environments\.dev\.tags\.0/,
    );
  });
});
