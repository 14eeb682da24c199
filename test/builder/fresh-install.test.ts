import { statSync } from 'node:fs';
import { createHost, expectCallsInOrder, type Host, paramsEnv } from './harness';

describe('fresh-install.sh', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
  });
  afterEach(() => host.cleanup());

  it('installs Docker, the ECR helper, the NVIDIA driver and toolkit, and the unit for a GPU environment', () => {
    const result = host.run('fresh-install.sh', paramsEnv());

    expect(result.status).toBe(0);
    expectCallsInOrder(result.calls, [
      /^snap wait system seed\.loaded$/,
      /^snap refresh --hold=6h$/,
      /^cloud-init status --wait$/,
      /^fuser \/var\/lib\/dpkg\/lock-frontend/,
      /^dpkg --configure -a$/,
      /^apt-get -y -q .*-o DPkg::Lock::Timeout=\d+ .* update$/,
      /^apt-get .* upgrade$/,
      /^apt-get .* install --no-install-recommends .*\bdocker\.io amazon-ecr-credential-helper$/,
      /^systemctl enable docker\.service$/,
      /^systemctl start docker\.service$/,
      /^ubuntu-drivers --gpgpu install nvidia:570-server$/,
      /^apt-get .* install --no-install-recommends nvidia-utils-570-server$/,
      /^apt-get .* install --no-install-recommends linux-modules-nvidia-570-server-\S+$/,
      /^modprobe nvidia$/,
      /^curl .*https:\/\/nvidia\.github\.io\/libnvidia-container\/gpgkey$/,
      /^gpg --batch --yes --dearmor -o <root>\/usr\/share\/keyrings\/nvidia-container-toolkit-keyring\.gpg /,
      /^apt-get .* update$/,
      /^apt-get .* install --no-install-recommends nvidia-container-toolkit$/,
      /^nvidia-ctk runtime configure --runtime=docker --config=<root>\/etc\/docker\/daemon\.json$/,
      /^systemctl restart docker\.service$/,
      /^systemctl daemon-reload$/,
      /^systemctl enable comfyui\.service$/,
    ]);
    expect(result.calls.some((c) => /^apt-get .* install .*nvidia-dkms/.test(c))).toBe(false);
    expect(host.read('etc/apt/sources.list.d/nvidia-container-toolkit.list')).toBe(
      'deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://nvidia.github.io/libnvidia-container/stable/deb/amd64 /\n',
    );
  });

  it('installs the unit that runs the image from /etc/comfyui/image.env with restart on failure', () => {
    expect(host.run('fresh-install.sh', paramsEnv()).status).toBe(0);

    const unit = host.read('etc/systemd/system/comfyui.service');
    expect(unit).toContain('EnvironmentFile=/etc/comfyui/image.env');
    expect(unit).toContain('ExecStart=/usr/local/sbin/comfyui-run');
    expect(unit).toContain('Restart=on-failure');
    expect(unit).toContain('Requires=docker.service');
    expect(unit).toContain('WantedBy=multi-user.target');
    expect(statSync(host.path('usr/local/sbin/comfyui-run')).mode & 0o777).toBe(0o755);
    expect(statSync(host.path('etc/comfyui/comfyui.env')).mode & 0o777).toBe(0o600);
    expect(host.exists('var/lib/comfyui')).toBe(true);
  });

  it('makes no NVIDIA call for a CPU-only environment', () => {
    const result = host.run('fresh-install.sh', paramsEnv(undefined, 'false'));

    expect(result.status).toBe(0);
    expect(result.calls.filter((c) => /nvidia|ubuntu-drivers|gpgkey|gpg /.test(c))).toEqual([]);
    expect(result.stdout).toContain('CPU-only environment: no NVIDIA driver or container toolkit');
    expect(result.calls).toContain('systemctl enable comfyui.service');
  });

  it('uses the driver branch given as NvidiaDriverBranch', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), SSM_NvidiaDriverBranch: '535', STUB_DPKG_QUERY: 'linux-modules-nvidia-535-server-aws install ok installed' });

    expect(result.status).toBe(0);
    expect(result.calls).toContain('ubuntu-drivers --gpgpu install nvidia:535-server');
  });

  it('falls back to the DKMS driver when ubuntu-drivers installed no kernel module package', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), STUB_DPKG_QUERY: '' });

    expect(result.status).toBe(0);
    expect(result.calls.some((c) => / install --no-install-recommends linux-headers-\S+ nvidia-dkms-570-server nvidia-headless-no-dkms-570-server$/.test(c))).toBe(true);
  });

  it('waits for the dpkg lock held by cloud-init or unattended-upgrades', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), STUB_FUSER: 'busy,busy,free' });

    expect(result.status).toBe(0);
    expect(result.stdout).toContain('waiting for the dpkg/apt lock');
    const firstDpkg = result.calls.indexOf('dpkg --configure -a');
    expect(result.calls.slice(0, firstDpkg).filter((c) => c.startsWith('fuser ')).length).toBe(3);
  });

  it('fails with a clear message when the dpkg lock is never released', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), STUB_FUSER: 'busy', COMFYUI_APT_LOCK_TIMEOUT: '3' });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toBe('ERROR [fresh-install]: the dpkg lock is still held after 3s');
    expect(result.calls.some((c) => c.startsWith('apt-get'))).toBe(false);
  });

  it('retries a transient mirror error, refreshing the package lists', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), STUB_FAIL_ONCE: 'apt-get:docker.io' });

    expect(result.status).toBe(0);
    expectCallsInOrder(result.calls, [/^apt-get .* install .*docker\.io/, /^apt-get .* update$/, /^apt-get .* install .*docker\.io/]);
    expect(result.stderr).toContain('apt-get install failed (attempt 1 of 5)');
  });

  it('gives up on apt after five attempts with a short error line', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), STUB_FAIL: 'apt-get:docker.io' });

    expect(result.status).not.toBe(0);
    expect(result.calls.filter((c) => / install .*docker\.io/.test(c))).toHaveLength(5);
    expect(result.lastErrorLine).toMatch(/^ERROR \[fresh-install\]: apt-get install .*docker\.io.* failed after 5 attempts$/);
  });

  it('falls back to refresh.hold when snapd has no --hold', () => {
    const result = host.run('fresh-install.sh', { ...paramsEnv(), STUB_FAIL: 'snap:--hold' });

    expect(result.status).toBe(0);
    expect(result.calls.some((c) => /^snap set system refresh\.hold=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c))).toBe(true);
  });

  it('is safe to run twice and keeps an edited container environment file', () => {
    expect(host.run('fresh-install.sh', paramsEnv()).status).toBe(0);
    host.write('etc/comfyui/comfyui.env', 'HF_TOKEN_FILE=/run/secrets/hf\n', 0o600);
    const unitBefore = host.read('etc/systemd/system/comfyui.service');

    const second = host.run('fresh-install.sh', paramsEnv());

    expect(second.status).toBe(0);
    expect(host.read('etc/comfyui/comfyui.env')).toBe('HF_TOKEN_FILE=/run/secrets/hf\n');
    expect(host.read('etc/systemd/system/comfyui.service')).toBe(unitBefore);
  });
});
