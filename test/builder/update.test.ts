import { createHost, expectCallsInOrder, GOOD_URI, type Host, OLD_URI, paramsEnv, REGISTRY } from './harness';

// The image file of a host made from the previous AMI, with a line an operator added.
const PREVIOUS_IMAGE_ENV = [
  '# Read by comfyui.service (systemd EnvironmentFile).',
  'COMFYUI_VOLUMES=/srv/models:/models:ro',
  'COMFYUI_ENV_FILE=/etc/comfyui/comfyui.env',
  `COMFYUI_IMAGE=${OLD_URI}`,
  'COMFYUI_PORT=8188',
  'COMFYUI_GPU=true',
  '',
].join('\n');

describe('update.sh', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
    host.write('etc/comfyui/image.env', PREVIOUS_IMAGE_ENV);
  });
  afterEach(() => host.cleanup());

  const run = (env: Record<string, string> = {}) =>
    host.run('update.sh', { ...paramsEnv(), STUB_GPU: '1', STUB_DOCKER_IMAGES: 'sha256:old sha256:current sha256:other', ...env });

  it('pulls by digest, verifies it, smoke-checks, then switches the image file and removes the other images', () => {
    const result = run();

    expect(result.status).toBe(0);
    expectCallsInOrder(result.calls, [
      /^amazon-ssm-agent --version$/,
      /^snap wait system seed\.loaded$/,
      /^snap refresh --hold=6h$/,
      /^systemctl stop apt-daily\.timer apt-daily-upgrade\.timer$/,
      /^systemctl start docker\.service$/,
      new RegExp(`^docker pull ${GOOD_URI}$`),
      /^docker image inspect --format \{\{range \.RepoDigests\}\}\{\{println \.\}\}\{\{end\}\} /,
      /^systemctl stop comfyui\.service comfyui-health\.timer$/,
      new RegExp(`^docker run --detach --name comfyui-ami-smoke --pull never .*${GOOD_URI}$`),
      /^docker inspect --format .* comfyui-ami-smoke$/,
      /^docker rm --force comfyui-ami-smoke$/,
      /^docker container prune --force$/,
      /^docker image rm --force sha256:old$/,
      /^docker image rm --force sha256:other$/,
      /^docker image prune --force$/,
    ]);
    expect(result.calls).not.toContain('docker image rm --force sha256:current');
    expect(host.read('etc/comfyui/image.env')).toBe(
      [
        '# Read by comfyui.service (systemd EnvironmentFile).',
        'COMFYUI_VOLUMES=/srv/models:/models:ro',
        'COMFYUI_ENV_FILE=/etc/comfyui/comfyui.env',
        `COMFYUI_IMAGE=${GOOD_URI}`,
        'COMFYUI_PORT=8188',
        'COMFYUI_GPU=true',
        '',
      ].join('\n'),
    );
  });

  it('configures the ECR credential helper for the registry of the image', () => {
    expect(run().status).toBe(0);

    expect(JSON.parse(host.read('root/.docker/config.json'))).toEqual({ credHelpers: { [REGISTRY]: 'ecr-login' } });
  });

  it('writes the image file with defaults on a fresh host', () => {
    host.cleanup();
    host = createHost();

    expect(run({ SSM_ContainerPort: '3000', SSM_Gpu: 'false' }).status).toBe(0);

    expect(host.read('etc/comfyui/image.env')).toContain(
      [
        'COMFYUI_VOLUMES=/var/lib/comfyui:/data',
        'COMFYUI_ENV_FILE=/etc/comfyui/comfyui.env',
        `COMFYUI_IMAGE=${GOOD_URI}`,
        'COMFYUI_PORT=3000',
        'COMFYUI_GPU=false',
        '',
      ].join('\n'),
    );
  });

  it('is safe to run twice', () => {
    expect(run().status).toBe(0);
    const after = host.read('etc/comfyui/image.env');
    const config = host.read('root/.docker/config.json');

    const second = run({ STUB_DOCKER_IMAGES: 'sha256:current' });

    expect(second.status).toBe(0);
    expect(host.read('etc/comfyui/image.env')).toBe(after);
    expect(host.read('root/.docker/config.json')).toBe(config);
    expect(second.calls.some((c) => c.startsWith('docker image rm'))).toBe(false);
  });

  it('leaves the image file alone when the pull fails', () => {
    const result = run({ STUB_FAIL: 'docker:pull' });

    expect(result.status).not.toBe(0);
    expect(result.calls.filter((c) => c.startsWith('docker pull'))).toHaveLength(3);
    expect(result.lastErrorLine).toBe(`ERROR [update]: docker pull ${GOOD_URI} failed`);
    expect(host.read('etc/comfyui/image.env')).toBe(PREVIOUS_IMAGE_ENV);
    expect(result.calls.some((c) => c.startsWith('docker run') || c.startsWith('docker image rm'))).toBe(false);
  });

  it('retries a transient pull failure', () => {
    const result = run({ STUB_FAIL_ONCE: 'docker:pull' });

    expect(result.status).toBe(0);
    expect(result.calls.filter((c) => c.startsWith('docker pull'))).toHaveLength(2);
  });

  describe('what the pull fetched', () => {
    // The stub image: layers aaaaaaaaaaa1 (1,000 bytes compressed), bbbbbbbbbbb2 (20,000), ccccccccccc3 (300,000).
    const report = (result: { stdout: string }) => result.stdout.split('\n').filter((l) => l.startsWith('comfyui-ami-pull: '));

    it.each([
      ['a host with none of its layers (fresh)', '', 'pulled_bytes=321000 pulled_layers=3 present_layers=0'],
      [
        'a host of the previous AMI sharing the two lower layers',
        'aaaaaaaaaaa1,bbbbbbbbbbb2',
        'pulled_bytes=300000 pulled_layers=1 present_layers=2',
      ],
      ['a host holding every layer', 'aaaaaaaaaaa1,bbbbbbbbbbb2,ccccccccccc3', 'pulled_bytes=0 pulled_layers=0 present_layers=3'],
      // Docker finds a layer by its chain: above a changed layer, every layer is fetched again.
      ['a host whose lowest layer differs', 'bbbbbbbbbbb2,ccccccccccc3', 'pulled_bytes=321000 pulled_layers=3 present_layers=0'],
    ])('prints one line with the compressed bytes and layers pulled, on %s', (_, have, line) => {
      const result = run({ STUB_DOCKER_HAVE: have });

      expect(result.status).toBe(0);
      expect(report(result)).toEqual([`comfyui-ami-pull: ${line}`]);
    });

    it('reads no manifest when nothing was pulled', () => {
      const result = run({ STUB_DOCKER_HAVE: 'aaaaaaaaaaa1,bbbbbbbbbbb2,ccccccccccc3' });

      expect(result.calls.some((c) => c.startsWith('docker manifest'))).toBe(false);
    });

    it('says the bytes are unknown, and goes on, when the manifest cannot be read', () => {
      const result = run({ STUB_DOCKER_NO_MANIFEST: '1' });

      expect(result.status).toBe(0);
      expect(report(result)).toEqual(['comfyui-ami-pull: pulled_bytes=unknown pulled_layers=3 present_layers=0']);
      expect(result.stderr).toContain('cannot read the layer sizes from the image manifest');
    });
  });

  it('refuses a pulled image whose digest does not match', () => {
    const result = run({ STUB_DOCKER_REPO_DIGESTS: OLD_URI });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toMatch(/^ERROR \[update\]: pulled image does not have digest sha256:0123/);
    expect(host.read('etc/comfyui/image.env')).toBe(PREVIOUS_IMAGE_ENV);
  });

  it('leaves the image file alone when the smoke check fails', () => {
    const result = run({ STUB_HTTP: '000', STUB_DOCKER_STATES: 'running none 0,exited none 1' });

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('ERROR [smoke-check]: the image exited during the smoke check (status exited, exit code 1)');
    expect(result.lastErrorLine).toBe('ERROR [update]: smoke check failed: image.env still names the previous image');
    expect(host.read('etc/comfyui/image.env')).toBe(PREVIOUS_IMAGE_ENV);
    expect(result.calls.some((c) => c.startsWith('docker image rm'))).toBe(false);
  });

  it('names the failing command when an unexpected command fails', () => {
    const result = run({ STUB_FAIL: 'systemctl:start docker' });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toMatch(
      /^ERROR \[update\]: command failed \(exit 1\) at update\.sh:\d+: systemctl start docker\.service$/,
    );
    expect(host.read('etc/comfyui/image.env')).toBe(PREVIOUS_IMAGE_ENV);
  });

  it('refuses a GPU environment on a host built without the NVIDIA toolkit', () => {
    host.cleanup();
    host = createHost({ without: ['nvidia-ctk'] });
    host.write('etc/comfyui/image.env', PREVIOUS_IMAGE_ENV);

    const result = run();

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toBe(
      'ERROR [update]: the environment wants a GPU but this host has no NVIDIA container toolkit: run a fresh build',
    );
    expect(result.calls.some((c) => c.startsWith('docker pull'))).toBe(false);
  });

  it('refuses to run on a host without the ECR credential helper', () => {
    host.cleanup();
    host = createHost({ without: ['docker-credential-ecr-login'] });

    const result = run();

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toContain('the Amazon ECR credential helper is not installed');
  });
});

describe('update.sh GPU check (GPU environments)', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
  });
  afterEach(() => host.cleanup());

  it('runs the new image with --gpus all, checks nvidia-smi in it, reloads systemd and checks again', () => {
    const result = host.run('update.sh', { ...paramsEnv(), STUB_GPU: '1' });

    expect(result.status).toBe(0);
    expectCallsInOrder(result.calls, [
      /^nvidia-smi -L$/,
      new RegExp(`^docker run --detach --name comfyui-ami-gpu-check --pull never --gpus all --entrypoint sleep ${GOOD_URI} 600$`),
      /^docker exec comfyui-ami-gpu-check nvidia-smi -L$/,
      /^systemctl daemon-reload$/,
      /^docker exec comfyui-ami-gpu-check nvidia-smi -L$/,
      /^docker rm --force comfyui-ami-gpu-check$/,
      /^docker run --detach --name comfyui-ami-smoke /,
    ]);
    expect(result.stdout).toContain('GPU check passed');
  });

  it('fails the build, keeping the previous image, when the builder has no working GPU', () => {
    host.write('etc/comfyui/image.env', PREVIOUS_IMAGE_ENV);
    const result = host.run('update.sh', paramsEnv());

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toMatch(
      /^ERROR \[update\]: nvidia-smi fails on this builder .*: a GPU environment needs a GPU builder with a loaded driver$/,
    );
    expect(host.read('etc/comfyui/image.env')).toBe(PREVIOUS_IMAGE_ENV);
  });

  it('fails when the container loses the GPU on systemctl daemon-reload (no /dev/char links)', () => {
    const result = host.run('update.sh', { ...paramsEnv(), STUB_GPU: '1', STUB_NO_DEV_CHAR: '1' });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toMatch(
      /^ERROR \[update\]: the container lost its GPU after systemctl daemon-reload .*Failed to initialize NVML: Unknown Error.*the \/dev\/char links of the NVIDIA devices are missing$/,
    );
    expect(result.calls).toContain('docker rm --force comfyui-ami-gpu-check');
  });

  it('makes no GPU call for a CPU-only environment', () => {
    const result = host.run('update.sh', paramsEnv(undefined, 'false'));

    expect(result.status).toBe(0);
    expect(result.calls.filter((c) => /nvidia|--gpus|gpu-check/.test(c))).toEqual([]);
  });
});

describe('smoke-check.sh', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
  });
  afterEach(() => host.cleanup());

  const HEALTHCHECK = '{"Test":["CMD-SHELL","curl -f http://localhost:8188/"],"Interval":5000000000}';

  it('passes on HTTP 200 from /system_stats on the container port, published on the loopback', () => {
    const result = host.run('smoke-check.sh', { ...paramsEnv(undefined, 'true', '8190'), STUB_GPU: '1', STUB_HTTP: '000,000,503,200' });

    expect(result.status).toBe(0);
    expect(result.calls.find((c) => c.startsWith('docker run'))).toBe(
      `docker run --detach --name comfyui-ami-smoke --pull never --publish 127.0.0.1:8190:8190 --gpus all ${GOOD_URI}`,
    );
    expect(result.calls.filter((c) => /^curl .* http:\/\/127\.0\.0\.1:8190\/system_stats$/.test(c))).toHaveLength(4);
    expect(result.stdout).toContain('smoke check passed: HTTP 200 from /system_stats');
    expect(result.calls[result.calls.length - 1]).toBe('docker rm --force comfyui-ami-smoke');
  });

  it('fails when ComfyUI keeps running but never answers HTTP 200 in time', () => {
    const result = host.run('smoke-check.sh', { ...paramsEnv(undefined, 'false'), STUB_HTTP: '000', COMFYUI_SMOKE_TIMEOUT: '4' });

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('stub container output');
    expect(result.lastErrorLine).toBe(
      'ERROR [smoke-check]: ComfyUI did not answer HTTP 200 on /system_stats within 4s (last answer 000, status running)',
    );
  });

  it('fails when the HEALTHCHECK reports unhealthy, showing the container output', () => {
    const result = host.run('smoke-check.sh', {
      ...paramsEnv(undefined, 'false'),
      STUB_DOCKER_HEALTHCHECK: HEALTHCHECK,
      STUB_HTTP: '000',
      STUB_DOCKER_STATES: 'running starting 0,running unhealthy 0',
    });

    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('stub container output');
    expect(result.lastErrorLine).toBe("ERROR [smoke-check]: the image's HEALTHCHECK reports unhealthy");
    expect(result.calls[result.calls.length - 1]).toBe('docker rm --force comfyui-ami-smoke');
  });

  it('fails when the container exits', () => {
    const result = host.run('smoke-check.sh', {
      ...paramsEnv(undefined, 'false'),
      STUB_HTTP: '000',
      STUB_DOCKER_STATES: 'running none 0,exited none 137',
    });
    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toBe('ERROR [smoke-check]: the image exited during the smoke check (status exited, exit code 137)');
  });

  it('gives a GPU environment the GPUs, and fails when the builder has none', () => {
    const cpu = host.run('smoke-check.sh', { ...paramsEnv(undefined, 'false'), STUB_GPU: '1' });
    expect(cpu.calls.find((c) => c.startsWith('docker run'))).not.toContain('--gpus');

    const noGpu = host.run('smoke-check.sh', paramsEnv(undefined, 'true'));
    expect(noGpu.status).not.toBe(0);
    expect(noGpu.lastErrorLine).toBe('ERROR [smoke-check]: the image did not start');
  });

  it('fails when the image is not present locally', () => {
    const result = host.run('smoke-check.sh', { ...paramsEnv(), STUB_DOCKER_NO_IMAGE: '1' });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toBe(`ERROR [smoke-check]: image ${GOOD_URI} is not present locally (pull it first)`);
    expect(result.calls.some((c) => c.startsWith('docker run'))).toBe(false);
  });
});
