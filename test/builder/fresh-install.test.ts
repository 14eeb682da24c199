import { statSync } from 'node:fs';
import { BOOT_KERNEL, createHost, expectCallsInOrder, type Host, paramsEnv, SSM_REBOOT } from './harness';

const NEW_KERNEL = '6.8.0-1020-aws';
const GPU = { ...paramsEnv(), STUB_GPU: '1', STUB_NEW_KERNEL: NEW_KERNEL };

describe('fresh-install.sh', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
    host.freshInstance();
  });
  afterEach(() => host.cleanup());

  it('installs, pins and asks for a reboot, then checks the kernel and the GPU after it', () => {
    const { runs, last, reboots } = host.runAsSsm('fresh-install.sh', GPU);

    expect(reboots).toBe(1);
    expect(runs[0].status).toBe(SSM_REBOOT);
    expect(runs[0].stderr).not.toContain('ERROR');
    expectCallsInOrder(runs[0].calls, [
      /^amazon-ssm-agent --version$/,
      /^snap refresh --hold=6h$/,
      /^systemctl stop apt-daily\.timer apt-daily-upgrade\.timer$/,
      /^cloud-init status --wait$/,
      /^dpkg --configure -a$/,
      /^apt-get -y -q .*-o DPkg::Lock::Timeout=\d+ .* update$/,
      /^apt-get .* dist-upgrade$/,
      /^apt-get .* install --no-install-recommends ca-certificates curl gnupg docker\.io pigz amazon-ecr-credential-helper$/,
      /^systemctl restart docker\.service$/,
      new RegExp(`^apt-cache show linux-modules-nvidia-580-server-${NEW_KERNEL}$`),
      new RegExp(
        `^apt-get .* install --no-install-recommends linux-modules-nvidia-580-server-${NEW_KERNEL} nvidia-headless-no-dkms-580-server nvidia-utils-580-server$`,
      ),
      /^dpkg-query -W /,
      new RegExp(`^modinfo -k ${NEW_KERNEL} -F version nvidia$`),
      /^curl .*https:\/\/nvidia\.github\.io\/libnvidia-container\/gpgkey$/,
      /^gpg --batch --show-keys --with-colons /,
      /^gpg --batch --yes --dearmor -o <root>\/usr\/share\/keyrings\/nvidia-container-toolkit-keyring\.gpg /,
      /^apt-get .* install --no-install-recommends nvidia-container-toolkit$/,
      /^nvidia-ctk runtime configure --runtime=docker --config=<root>\/etc\/docker\/daemon\.json$/,
      /^apt-mark hold /,
      /^systemctl enable comfyui\.service comfyui-health\.timer$/,
      /^sync$/,
    ]);
    expect(runs[0].calls.some((c) => c.startsWith('ubuntu-drivers'))).toBe(false);
    expect(runs[0].calls.some((c) => c.startsWith('nvidia-smi'))).toBe(false);

    expect(last.status).toBe(0);
    expect(last.stdout).toContain(`running kernel ${NEW_KERNEL}, as installed`);
    expectCallsInOrder(last.calls, [/^systemctl stop apt-daily\.timer apt-daily-upgrade\.timer$/, /^nvidia-smi -L$/]);
    expect(last.calls.some((c) => / dist-upgrade$| install /.test(c))).toBe(false);
  });

  it('holds the kernel, NVIDIA, Docker, containerd and runc, and keeps unattended-upgrades off them', () => {
    const { runs } = host.runAsSsm('fresh-install.sh', GPU);

    const hold =
      runs[0].calls
        .find((c) => c.startsWith('apt-mark hold '))
        ?.split(' ')
        .slice(2) ?? [];
    expect(hold).toEqual(
      expect.arrayContaining([
        'linux-aws',
        'linux-image-6.8.0-1015-aws',
        'docker.io',
        'nvidia-container-toolkit',
        `linux-modules-nvidia-580-server-${NEW_KERNEL}`,
        'nvidia-utils-580-server',
      ]),
    );
    expect(hold).not.toContain('bash');
    const blacklist = host.read('etc/apt/apt.conf.d/51comfyui-ami-pinned');
    for (const pattern of ['^nvidia-', '^libnvidia-', '^linux-', '^docker.io', '^containerd', '^runc']) {
      expect(blacklist).toContain(`"${pattern}";`);
    }
    expect(blacklist).toMatch(/^Unattended-Upgrade::Package-Blacklist \{$/m);
  });

  it('fails when apt-get exits 0 without installing the kernel module package (as ubuntu-drivers does)', () => {
    const { last, reboots } = host.runAsSsm('fresh-install.sh', { ...GPU, STUB_APT_NOOP: 'linux-modules-nvidia' });

    expect(reboots).toBe(0);
    expect(last.status).not.toBe(0);
    expect(last.lastErrorLine).toBe(
      `ERROR [fresh-install]: not installed after apt-get install: linux-modules-nvidia-580-server-${NEW_KERNEL}`,
    );
  });

  it('builds the module with DKMS when the kernel has no prebuilt one, and checks it', () => {
    const { runs, last } = host.runAsSsm('fresh-install.sh', { ...GPU, STUB_APT_MISSING: 'linux-modules-nvidia' });

    expect(last.status).toBe(0);
    expect(runs[0].calls).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `install --no-install-recommends linux-headers-${NEW_KERNEL} nvidia-dkms-580-server nvidia-headless-no-dkms-580-server nvidia-utils-580-server$`,
          ),
        ),
      ]),
    );
  });

  it('fails when the module installed is of another branch (a transitional package)', () => {
    const { last } = host.runAsSsm('fresh-install.sh', { ...GPU, SSM_NvidiaDriverBranch: '570', STUB_DRIVER_VERSION: '580.95.05' });

    expect(last.status).not.toBe(0);
    expect(last.lastErrorLine).toMatch(/module for .* is version 580\.95\.05, not branch 570 .*set the driver branch to 580\)$/);
  });

  it('fails after the reboot when the GPU does not work (no GPU on the builder)', () => {
    const { last, reboots } = host.runAsSsm('fresh-install.sh', { ...GPU, STUB_GPU: undefined });

    expect(reboots).toBe(1);
    expect(last.status).not.toBe(0);
    expect(last.lastErrorLine).toMatch(
      /^ERROR \[fresh-install\]: nvidia-smi failed after the reboot .*the driver did not load, or the builder has no NVIDIA GPU$/,
    );
  });

  it('fails after the reboot when the builder did not boot the kernel the driver is for', () => {
    const first = host.run('fresh-install.sh', GPU);
    expect(first.status).toBe(SSM_REBOOT);
    // Rebooted without the new kernel becoming the default one.
    const second = host.run('fresh-install.sh', GPU);

    expect(second.status).not.toBe(0);
    expect(second.lastErrorLine).toBe(
      `ERROR [fresh-install]: the builder booted kernel ${BOOT_KERNEL}, not ${NEW_KERNEL} that the build installed for`,
    );
  });

  it('refuses a repository key with another fingerprint', () => {
    const { last } = host.runAsSsm('fresh-install.sh', { ...GPU, STUB_GPG_FPR: '0123456789ABCDEF0123456789ABCDEF01234567' });

    expect(last.status).not.toBe(0);
    expect(last.lastErrorLine).toMatch(
      /^ERROR \[fresh-install\]: the key at https:\/\/nvidia\.github\.io\/libnvidia-container\/gpgkey is not NVIDIA's repository key C95B321B61E88C1809C4F759DDCAE044F796ECB0 /,
    );
    expect(last.calls.some((c) => c.includes('--dearmor'))).toBe(false);
  });

  it('names the SSM agent version the documents need', () => {
    const result = host.run('fresh-install.sh', { ...GPU, STUB_SSM_AGENT_VERSION: '3.2.582.0' });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toBe(
      'ERROR [fresh-install]: SSM agent 3.2.582.0 is older than 3.3.2746.0, which the documents need (interpolationType ENV_VAR): use a base image with a newer agent',
    );
    expect(result.calls).toEqual(['amazon-ssm-agent --version']);
  });

  it('installs the unit, the HTTP health timer, the dev-char udev rule and Docker settings', () => {
    expect(host.runAsSsm('fresh-install.sh', GPU).last.status).toBe(0);

    const unit = host.read('etc/systemd/system/comfyui.service');
    expect(unit).toContain('EnvironmentFile=/etc/comfyui/image.env');
    expect(unit).toContain('ExecStart=/usr/local/sbin/comfyui-run');
    expect(unit).toContain('Restart=on-failure');
    expect(unit).toContain('WantedBy=multi-user.target');
    expect(host.read('etc/systemd/system/comfyui-health.service')).toContain('ExecStart=/usr/local/sbin/comfyui-health');
    expect(host.read('etc/systemd/system/comfyui-health.timer')).toContain('OnUnitActiveSec=1min');
    expect(statSync(host.path('usr/local/sbin/comfyui-run')).mode & 0o777).toBe(0o755);
    expect(statSync(host.path('usr/local/sbin/comfyui-health')).mode & 0o777).toBe(0o755);
    expect(statSync(host.path('etc/comfyui/comfyui.env')).mode & 0o777).toBe(0o600);
    expect(host.read('etc/udev/rules.d/71-nvidia-dev-char.rules')).toBe(
      'ACTION=="add", DEVPATH=="/bus/pci/drivers/nvidia", RUN+="/usr/bin/nvidia-ctk system create-dev-char-symlinks --create-all"\n',
    );
    expect(JSON.parse(host.read('etc/docker/daemon.json'))).toEqual({ 'max-concurrent-downloads': 8 });
    expect(host.read('etc/apt/sources.list.d/nvidia-container-toolkit.list')).toBe(
      'deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://nvidia.github.io/libnvidia-container/stable/deb/amd64 /\n',
    );
  });

  it('makes no NVIDIA call for a CPU-only environment, and still reboots into the new kernel', () => {
    const { runs, last, reboots } = host.runAsSsm('fresh-install.sh', { ...paramsEnv(undefined, 'false'), STUB_NEW_KERNEL: NEW_KERNEL });

    expect(reboots).toBe(1);
    expect(last.status).toBe(0);
    const all = runs.flatMap((r) => r.calls);
    expect(all.filter((c) => /nvidia|gpgkey|gpg /.test(c))).toEqual([]);
    expect(runs[0].stdout).toContain('CPU-only environment: no NVIDIA driver or container toolkit');
  });

  it('waits for the dpkg lock held by cloud-init or unattended-upgrades', () => {
    const result = host.run('fresh-install.sh', { ...GPU, STUB_FUSER: 'busy,busy,free' });

    expect(result.status).toBe(SSM_REBOOT);
    expect(result.stdout).toContain('waiting for the dpkg/apt lock');
  });

  it('fails with a clear message when the dpkg lock is never released', () => {
    const result = host.run('fresh-install.sh', { ...GPU, STUB_FUSER: 'busy', COMFYUI_APT_LOCK_TIMEOUT: '3' });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toBe('ERROR [fresh-install]: the dpkg lock is still held after 3s');
    expect(result.calls.some((c) => c.startsWith('apt-get'))).toBe(false);
  });

  it('retries a transient mirror error, refreshing the package lists', () => {
    const result = host.run('fresh-install.sh', { ...GPU, STUB_FAIL_ONCE: 'apt-get:docker.io' });

    expect(result.status).toBe(SSM_REBOOT);
    expectCallsInOrder(result.calls, [/^apt-get .* install .*docker\.io/, /^apt-get .* update$/, /^apt-get .* install .*docker\.io/]);
  });

  it('gives up on apt after five attempts with a short error line', () => {
    const result = host.run('fresh-install.sh', { ...GPU, STUB_FAIL: 'apt-get:docker.io' });

    expect(result.status).not.toBe(0);
    expect(result.calls.filter((c) => / install .*docker\.io/.test(c))).toHaveLength(5);
    expect(result.lastErrorLine).toMatch(/^ERROR \[fresh-install\]: apt-get install .*docker\.io.* failed after 5 attempts$/);
  });

  it('falls back to refresh.hold when snapd has no --hold', () => {
    const result = host.run('fresh-install.sh', { ...GPU, STUB_FAIL: 'snap:--hold' });

    expect(result.status).toBe(SSM_REBOOT);
    expect(result.calls.some((c) => /^snap set system refresh\.hold=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(c))).toBe(true);
  });
});
