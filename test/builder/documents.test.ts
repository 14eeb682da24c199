import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildDocuments,
  configuredOptions,
  freshInstall,
  imageUriPattern,
  readConfiguredRepositories,
  type SsmCommandDocument,
  update,
} from '../../builder/documents.cjs';
import { createHost, expectCallsInOrder, GOOD_URI, HOSTILE_URIS, paramsEnv, REGISTRY, REPO_ROOT, SCRIPTS_DIR } from './harness';

const parseServerlessVariables = require('osls/lib/configuration/variables/parse.js') as (value: string) => unknown;
const serverlessFileSource = require('osls/lib/configuration/variables/sources/file.js') as {
  resolve(input: Record<string, unknown>): Promise<{ value: unknown }>;
};

const REPOSITORIES = ['comfyui', 'team/comfy.ui'];
const documents = buildDocuments({ repositories: REPOSITORIES });
const both: Array<[string, SsmCommandDocument]> = [
  ['fresh', documents.fresh],
  ['incremental', documents.incremental],
];
const runCommand = (doc: SsmCommandDocument) => doc.mainSteps[0].inputs.runCommand;
const scriptOf = (doc: SsmCommandDocument) => `${runCommand(doc).join('\n')}\n`;

describe('the SSM documents', () => {
  it.each(both)('%s: is a schema 2.2 document with one aws:runShellScript step', (_, doc) => {
    expect(doc.schemaVersion).toBe('2.2');
    expect(doc.mainSteps).toHaveLength(1);
    expect(doc.mainSteps[0].action).toBe('aws:runShellScript');
    expect(doc.mainSteps[0].precondition).toEqual({ StringEquals: ['platformType', 'Linux'] });
    expect(Buffer.byteLength(JSON.stringify(doc))).toBeLessThan(64 * 1024);
  });

  it.each(both)("%s: passes every parameter as an environment variable, and only the pipeline's three have no default", (_, doc) => {
    for (const parameter of Object.values(doc.parameters)) {
      expect(parameter.interpolationType).toBe('ENV_VAR');
      expect(parameter.type).toBe('String');
    }
    const required = Object.entries(doc.parameters)
      .filter(([, p]) => p.default === undefined)
      .map(([name]) => name);
    expect(required.sort()).toEqual(['ContainerPort', 'Gpu', 'ImageUri']);
    expect(doc.parameters.Gpu.allowedValues).toEqual(['true', 'false']);
  });

  it('gives the fresh document a NvidiaDriverBranch parameter with a default', () => {
    expect(documents.fresh.parameters.NvidiaDriverBranch).toMatchObject({ default: '580', allowedPattern: '^[0-9]{3,4}$' });
    expect(buildDocuments({ repositories: ['comfyui'], nvidiaDriverBranch: '590' }).fresh.parameters.NvidiaDriverBranch.default).toBe(
      '590',
    );
    expect(() => buildDocuments({ repositories: ['comfyui'], nvidiaDriverBranch: '580;id' })).toThrow(/nvidiaDriverBranch/);
    expect(
      new RegExp(documents.fresh.parameters.NvidiaDriverBranch.allowedPattern as string).test(
        documents.fresh.parameters.NvidiaDriverBranch.default as string,
      ),
    ).toBe(true);
  });

  describe.each(both)('%s: ImageUri allowedPattern', (_, doc) => {
    const pattern = new RegExp(doc.parameters.ImageUri.allowedPattern as string);

    it.each([
      GOOD_URI,
      `${REGISTRY}/team/comfy.ui@sha256:${'a'.repeat(64)}`,
      `123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/comfyui@sha256:${'0'.repeat(64)}`,
      `123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/comfyui@sha256:${'9'.repeat(64)}`,
    ])('accepts %s', (uri) => {
      expect(pattern.test(uri)).toBe(true);
    });

    it.each(Object.entries(HOSTILE_URIS))('rejects an ImageUri with %s', (_, uri) => {
      expect(pattern.test(uri)).toBe(false);
    });

    it('escapes the dots of repository names', () => {
      expect(pattern.test(`${REGISTRY}/team/comfyxui@sha256:${'a'.repeat(64)}`)).toBe(false);
    });
  });

  it.each(both)('%s: ContainerPort allowedPattern accepts 1-65535 only', (_, doc) => {
    const pattern = new RegExp(doc.parameters.ContainerPort.allowedPattern as string);
    for (const good of ['1', '80', '8188', '9999', '10000', '59999', '64999', '65499', '65529', '65535']) {
      expect([good, pattern.test(good)]).toEqual([good, true]);
    }
    for (const bad of ['', '0', '08188', '65536', '70000', '100000', '8188 ', ' 8188', '81a8', '-1', '8188\n']) {
      expect([bad, pattern.test(bad)]).toEqual([bad, false]);
    }
  });

  it('narrows the pattern to one region when asked', () => {
    const pattern = new RegExp(imageUriPattern(['comfyui'], 'eu-west-1'));

    expect(pattern.test(GOOD_URI.replace('us-east-1', 'eu-west-1'))).toBe(true);
    expect(pattern.test(GOOD_URI)).toBe(false);
  });

  it.each([[[]], [['Bad-Name']], [['a;b']], [['comfyui', '(x|.*)']]])('refuses repositories %j', (repositories) => {
    expect(() => buildDocuments({ repositories })).toThrow(/repositor/);
  });

  it('refuses a region that is not a region name', () => {
    expect(() => buildDocuments({ repositories: ['comfyui'], region: 'us-east-1|.*' })).toThrow(/region/);
  });

  it.each(both)('%s: contains no SSM parameter reference and no Serverless variable', (_, doc) => {
    const text = JSON.stringify(doc);
    expect(text).not.toContain('{{');
    for (const line of runCommand(doc)) {
      expect([line, parseServerlessVariables(line)]).toEqual([line, null]);
    }
  });

  it.each(both)('%s: gives the scripts the same ImageUri pattern that SSM checks', (_, doc) => {
    expect(runCommand(doc)).toContain(`COMFYUI_IMAGE_URI_PATTERN='${doc.parameters.ImageUri.allowedPattern}'`);
  });

  it('embeds the script files unchanged', () => {
    const host = createHost();
    try {
      host.freshInstance();
      const { last } = host.runAsSsm({ text: scriptOf(documents.fresh) }, { ...paramsEnv(), STUB_GPU: '1' });
      expect(last.status).toBe(0);
      for (const name of [
        'lib.sh',
        'fresh-install.sh',
        'comfyui-run.sh',
        'comfyui-health.sh',
        'update.sh',
        'smoke-check.sh',
        'finalize.sh',
        'seal.sh',
      ]) {
        expect([name, host.read(`opt/comfyui-ami/${name}`)]).toEqual([name, readFileSync(join(SCRIPTS_DIR, name), 'utf8')]);
      }
    } finally {
      host.cleanup();
    }
  });
});

describe('running a document', () => {
  it('fresh: installs and reboots (exit 194); run again by the agent, checks the GPU, updates, smoke-checks and finalizes', () => {
    const host = createHost();
    try {
      host.freshInstance();
      const { runs, last, reboots } = host.runAsSsm(
        { text: scriptOf(documents.fresh) },
        { ...paramsEnv(), STUB_GPU: '1', STUB_NEW_KERNEL: '6.8.0-1020-aws' },
      );

      expect(reboots).toBe(1);
      expect(runs[0].status).toBe(194);
      expectCallsInOrder(runs[0].calls, [
        /^apt-get .* install .*docker\.io/,
        /^apt-get .* install --no-install-recommends linux-modules-nvidia-580-server-6\.8\.0-1020-aws nvidia-headless-no-dkms-580-server nvidia-utils-580-server$/,
        /^systemctl enable comfyui\.service comfyui-health\.timer$/,
      ]);
      // Nothing after the reboot request runs before the reboot.
      expect(runs[0].calls.some((c) => c.startsWith('docker pull') || c.startsWith('cloud-init clean'))).toBe(false);

      expect(last.status).toBe(0);
      expect(last.calls.some((c) => / install /.test(c))).toBe(false);
      expectCallsInOrder(last.calls, [
        /^nvidia-smi -L$/,
        new RegExp(`^docker pull ${GOOD_URI}$`),
        /^docker exec comfyui-ami-gpu-check nvidia-smi -L$/,
        /^systemctl daemon-reload$/,
        /^docker exec comfyui-ami-gpu-check nvidia-smi -L$/,
        /^docker run --detach --name comfyui-ami-smoke .*--gpus all /,
        /^curl .*\/system_stats$/,
        /^cloud-init clean --logs --machine-id$/,
        /^systemctl start comfyui-ami-seal\.service$/,
        /^sync$/,
      ]);
      expect(last.calls.some((c) => c.startsWith('snap refresh --unhold'))).toBe(false);
      expect(host.read('etc/comfyui/image.env')).toContain(`COMFYUI_IMAGE=${GOOD_URI}\n`);
      expect(host.exists('var/lib/comfyui-ami')).toBe(false);
    } finally {
      host.cleanup();
    }
  });

  it('fresh: fails the build when the GPU check after the reboot fails', () => {
    const host = createHost();
    try {
      host.freshInstance();
      // No GPU on the builder: everything installs, but nvidia-smi fails after the reboot.
      const { last, reboots } = host.runAsSsm({ text: scriptOf(documents.fresh) }, paramsEnv());

      expect(reboots).toBe(1);
      expect(last.status).not.toBe(0);
      expect(last.lastErrorLine).toMatch(/^ERROR \[fresh-install\]: nvidia-smi failed after the reboot /);
      expect(last.calls.some((c) => c.startsWith('docker pull') || c.startsWith('cloud-init clean'))).toBe(false);
    } finally {
      host.cleanup();
    }
  });

  it('incremental: updates, smoke-checks and finalizes without reinstalling anything', () => {
    const host = createHost();
    try {
      const result = host.runText(scriptOf(documents.incremental), { ...paramsEnv(), STUB_GPU: '1' });

      expect(result.status).toBe(0);
      expect(result.calls.some((c) => c.startsWith('apt-get') && !c.endsWith(' clean'))).toBe(false);
      expect(result.calls).toContain('systemctl stop apt-daily.timer apt-daily-upgrade.timer');
      expectCallsInOrder(result.calls, [/^docker pull /, /^docker run --detach /, /^cloud-init clean /, /^sync$/]);
    } finally {
      host.cleanup();
    }
  });

  it('stops at the first failing step with its error as the last line', () => {
    const host = createHost();
    try {
      const result = host.runText(scriptOf(documents.incremental), { ...paramsEnv(), STUB_FAIL: 'docker:pull' });

      expect(result.status).not.toBe(0);
      expect(result.lastErrorLine).toBe(`ERROR [update]: docker pull ${GOOD_URI} failed`);
      expect(result.calls.some((c) => c.startsWith('cloud-init'))).toBe(false);
    } finally {
      host.cleanup();
    }
  });

  it('refuses an image from a repository that is not configured, even past SSM', () => {
    const host = createHost();
    try {
      const result = host.runText(scriptOf(documents.incremental), paramsEnv(`${REGISTRY}/other@sha256:${'a'.repeat(64)}`));

      expect(result.status).toBe(1);
      expect(result.calls).toEqual([]);
    } finally {
      host.cleanup();
    }
  });
});

describe('the Serverless entry points', () => {
  it('reads the repositories from a pipeline config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'comfyui-ami-config-'));
    try {
      const file = join(dir, 'pipeline.json');
      writeFileSync(file, JSON.stringify({ repositories: ['comfyui', 'other'] }));
      expect(readConfiguredRepositories(file)).toEqual(['comfyui', 'other']);

      writeFileSync(file, '{"repositories": "comfyui"}');
      expect(() => readConfiguredRepositories(file)).toThrow(/"repositories" must be a list/);
      expect(() => readConfiguredRepositories(join(dir, 'missing.json'))).toThrow(/cannot read the pipeline config/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('resolves ${file(builder/documents.cjs):freshInstall} and :update as osls does', async () => {
    const expected = buildDocuments(configuredOptions());
    expect(expected.fresh.parameters.NvidiaDriverBranch.default).toBe(
      JSON.parse(readFileSync(join(REPO_ROOT, 'config', 'pipeline.json'), 'utf8')).builder.nvidiaDriverBranch,
    );
    const resolve = (address: string) =>
      serverlessFileSource.resolve({
        serviceDir: REPO_ROOT,
        params: ['builder/documents.cjs'],
        address,
        options: {},
        resolveVariable: async () => null,
        resolveConfigurationProperty: async () => null,
        resolveVariablesInString: async (s: string) => s,
      });

    expect((await resolve('freshInstall')).value).toEqual(expected.fresh);
    expect((await resolve('update')).value).toEqual(expected.incremental);
    expect(await freshInstall({ options: {}, resolveVariable: async () => null })).toEqual(expected.fresh);
    expect(await update()).toEqual(expected.incremental);
  });
});
