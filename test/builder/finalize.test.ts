import { readdirSync, statSync } from 'node:fs';
import { createHost, expectCallsInOrder, GOOD_URI, type Host } from './harness';

describe('finalize.sh', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
    host.write('etc/machine-id', '0123456789abcdef0123456789abcdef\n');
    host.write('var/lib/dbus/machine-id', '0123456789abcdef0123456789abcdef\n');
    host.write('etc/ssh/ssh_host_ed25519_key', 'private');
    host.write('etc/ssh/ssh_host_ed25519_key.pub', 'public');
    host.write('etc/ssh/sshd_config', 'PasswordAuthentication no\n');
    host.write('root/.bash_history', 'ls\n');
    host.write('home/ubuntu/.bash_history', 'ls\n');
    host.write('home/ubuntu/.ssh/authorized_keys', 'ssh-ed25519 AAAA builder\n');
    host.write('root/.ecr/cache.json', '{"token":"secret"}');
    host.write('root/.docker/config.json', '{"credHelpers":{}}');
    host.write('var/log/syslog', 'builder log\n');
    host.write('var/log/syslog.1', 'old\n');
    host.write('var/log/apt/history.log.1.gz', 'old');
    host.write('var/log/cloud-init.log', 'cloud-init\n');
    host.write('etc/comfyui/image.env', `COMFYUI_IMAGE=${GOOD_URI}\n`);
  });
  afterEach(() => host.cleanup());

  it('stops ComfyUI and Docker, cleans cloud-init and syncs, in that order, and keeps the snap hold', () => {
    const result = host.run('finalize.sh');

    expect(result.status).toBe(0);
    expectCallsInOrder(result.calls, [
      /^systemctl stop comfyui\.service comfyui-health\.timer$/,
      /^docker rm --force comfyui comfyui-ami-smoke$/,
      /^systemctl stop docker\.service docker\.socket$/,
      /^apt-get .* clean$/,
      /^cloud-init clean --logs --machine-id$/,
      /^journalctl --vacuum-time=1s$/,
      /^systemctl start comfyui-ami-seal\.service$/,
      /^sync$/,
    ]);
    expect(result.calls[result.calls.length - 1]).toBe('sync');
    // A refresh now would restart the SSM agent before the image is taken.
    expect(result.calls.filter((c) => c.startsWith('snap '))).toEqual([]);
  });

  it('removes the SSM agent state and output of other commands before the stop, keeping only its own', () => {
    const ssm = 'var/lib/amazon/ssm/i-0123456789abcdef0/document';
    host.write(`${ssm}/orchestration/11111111-1111-1111-1111-111111111111/FreshInstall/stdout`, 'earlier build output');
    host.write(`${ssm}/orchestration/22222222-2222-2222-2222-222222222222/Update/_script.sh`, 'this command');
    host.write(`${ssm}/state/completed/11111111-1111-1111-1111-111111111111`, '{}');
    host.write(`${ssm}/state/current/22222222-2222-2222-2222-222222222222`, '{}');
    host.write('var/log/amazon/ssm/amazon-ssm-agent.log', 'agent log\n');
    host.write('var/log/amazon/ssm/amazon-ssm-agent.log.1', 'old agent log\n');
    host.write('var/lib/docker/engine-id', '0f1e2d3c\n');
    host.write('var/lib/systemd/random-seed', 'seed');
    host.write('var/lib/comfyui-ami/target-kernel', '6.8.0-1020-aws\n');

    const result = host.runIn(`${ssm}/orchestration/22222222-2222-2222-2222-222222222222/Update`, 'finalize.sh');

    expect(result.status).toBe(0);
    expect(readdirSync(host.path(`${ssm}/orchestration`))).toEqual(['22222222-2222-2222-2222-222222222222']);
    expect(readdirSync(host.path(`${ssm}/state/completed`))).toEqual([]);
    expect(readdirSync(host.path(`${ssm}/state/current`))).toEqual(['22222222-2222-2222-2222-222222222222']);
    expect(host.read('var/log/amazon/ssm/amazon-ssm-agent.log')).toBe('');
    expect(host.exists('var/log/amazon/ssm/amazon-ssm-agent.log.1')).toBe(false);
    expect(host.exists('var/lib/docker/engine-id')).toBe(false);
    expect(host.exists('var/lib/systemd/random-seed')).toBe(false);
    expect(host.exists('var/lib/comfyui-ami')).toBe(false);
  });

  it('leaves nothing instance-specific behind', () => {
    expect(host.run('finalize.sh').status).toBe(0);

    expect(host.read('etc/machine-id')).toBe('');
    expect(host.exists('var/lib/dbus/machine-id')).toBe(false);
    expect(readdirSync(host.path('etc/ssh'))).toEqual(['sshd_config']);
    expect(host.exists('root/.bash_history')).toBe(false);
    expect(host.exists('home/ubuntu/.bash_history')).toBe(false);
    expect(host.exists('home/ubuntu/.ssh/authorized_keys')).toBe(false);
    expect(host.exists('root/.ecr')).toBe(false);
    expect(host.read('var/log/syslog')).toBe('');
    expect(host.exists('var/log/syslog.1')).toBe(false);
    expect(host.exists('var/log/apt/history.log.1.gz')).toBe(false);
    // The host configuration stays.
    expect(host.read('etc/comfyui/image.env')).toBe(`COMFYUI_IMAGE=${GOOD_URI}\n`);
    expect(host.exists('root/.docker/config.json')).toBe(true);
  });

  it('installs the unit that removes the SSM agent state at shutdown, after the agent stops', () => {
    expect(host.run('finalize.sh').status).toBe(0);

    const unit = host.read('etc/systemd/system/comfyui-ami-seal.service');
    expect(unit).toContain('Before=snap.amazon-ssm-agent.amazon-ssm-agent.service amazon-ssm-agent.service');
    expect(unit).toContain('ExecStop=/usr/local/sbin/comfyui-ami-seal');
    expect(unit).toContain('RemainAfterExit=yes');
    expect(unit).not.toContain('[Install]');
    expect(statSync(host.path('usr/local/sbin/comfyui-ami-seal')).mode & 0o777).toBe(0o755);
  });

  it('removes cloud-init state itself when cloud-init clean fails', () => {
    host.write('var/lib/cloud/instances/i-0123/obj.pkl', 'x');
    host.write('var/lib/cloud/seed/nocloud/user-data', 'x');

    const result = host.run('finalize.sh', { STUB_FAIL: 'cloud-init:clean' });

    expect(result.status).toBe(0);
    expect(result.calls).toEqual(expect.arrayContaining(['cloud-init clean --logs --machine-id', 'cloud-init clean --logs']));
    expect(readdirSync(host.path('var/lib/cloud'))).toEqual(['seed']);
    expect(host.exists('var/log/cloud-init.log')).toBe(false);
  });

  it('is safe to run twice', () => {
    expect(host.run('finalize.sh').status).toBe(0);
    expect(host.run('finalize.sh').status).toBe(0);
    expect(host.read('etc/machine-id')).toBe('');
  });
});

describe('seal.sh (at shutdown)', () => {
  it('removes the SSM agent registration, state and logs, and then itself', () => {
    const host = createHost();
    try {
      host.write('var/lib/amazon/ssm/registration', '{"ManagedInstanceID":"mi-0123"}');
      host.write('var/lib/amazon/ssm/Vault/Store/RegistrationKey', 'secret');
      host.write('var/lib/amazon/ssm/i-0123456789abcdef0/document/state', 'x');
      host.write('var/log/amazon/ssm/amazon-ssm-agent.log', 'x');
      host.write('var/log/journal/0123/system.journal', 'x');
      host.write('etc/machine-id', 'abc\n');
      host.write('etc/systemd/system/comfyui-ami-seal.service', '[Unit]\n');
      host.write('usr/local/sbin/comfyui-ami-seal', '#!/bin/bash\n', 0o755);

      const result = host.run('seal.sh');

      expect(result.status).toBe(0);
      expect(readdirSync(host.path('var/lib/amazon/ssm'))).toEqual([]);
      expect(readdirSync(host.path('var/log/amazon/ssm'))).toEqual([]);
      expect(readdirSync(host.path('var/log/journal'))).toEqual([]);
      expect(host.read('etc/machine-id')).toBe('');
      expect(host.exists('etc/systemd/system/comfyui-ami-seal.service')).toBe(false);
      expect(host.exists('usr/local/sbin/comfyui-ami-seal')).toBe(false);
      expect(result.calls).toEqual(['sync']);
    } finally {
      host.cleanup();
    }
  });
});

describe('comfyui-run.sh (the unit ExecStart)', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
  });
  afterEach(() => host.cleanup());

  const settings = {
    COMFYUI_IMAGE: GOOD_URI,
    COMFYUI_PORT: '8188',
    COMFYUI_GPU: 'true',
    COMFYUI_VOLUMES: '/var/lib/comfyui:/data /srv/models:/models:ro',
  };

  it('runs the pinned image with the port, GPUs, volumes and environment file', () => {
    host.write('etc/comfyui/comfyui.env', 'A=1\n');

    const result = host.run('comfyui-run.sh', { ...settings, STUB_GPU: '1', COMFYUI_ENV_FILE: host.path('etc/comfyui/comfyui.env') });

    expect(result.status).toBe(0);
    expect(result.calls).toEqual([
      `docker run --rm --name comfyui --log-driver local --publish 8188:8188 --gpus all --volume /var/lib/comfyui:/data --volume /srv/models:/models:ro --env-file <root>/etc/comfyui/comfyui.env ${GOOD_URI}`,
    ]);
  });

  it('runs without GPUs for a CPU-only environment', () => {
    const result = host.run('comfyui-run.sh', { ...settings, COMFYUI_GPU: 'false', COMFYUI_VOLUMES: '' });

    expect(result.calls).toEqual([`docker run --rm --name comfyui --log-driver local --publish 8188:8188 ${GOOD_URI}`]);
  });

  it.each([
    ['an image without a digest', { COMFYUI_IMAGE: 'comfyui:latest' }],
    ['an image with shell text', { COMFYUI_IMAGE: `${GOOD_URI};id` }],
    ['a port out of range', { COMFYUI_PORT: '70000' }],
    ['a bad GPU flag', { COMFYUI_GPU: 'yes' }],
    ['a relative volume', { COMFYUI_VOLUMES: 'models:/models' }],
    ['a missing environment file', { COMFYUI_ENV_FILE: '/nonexistent/comfyui.env' }],
  ])('refuses %s', (_, override) => {
    const result = host.run('comfyui-run.sh', { ...settings, ...override });

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toMatch(/^comfyui-run: /);
    expect(result.calls).toEqual([]);
  });
});

describe('comfyui-health.sh (the health timer)', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
  });
  afterEach(() => host.cleanup());

  const env = (extra: Record<string, string> = {}) => ({
    COMFYUI_PORT: '8188',
    COMFYUI_HEALTH_GRACE: '0',
    COMFYUI_HEALTH_FAILURES: '2',
    COMFYUI_HEALTH_STATE_DIR: host.path('run/comfyui-health'),
    ...extra,
  });

  it('restarts comfyui.service after consecutive checks without HTTP 200, not before', () => {
    const first = host.run('comfyui-health.sh', env({ STUB_HTTP: '000' }));
    expect(first.status).toBe(0);
    expect(first.calls).not.toContain('systemctl restart comfyui.service');
    expect(first.calls).toContain(
      'curl --silent --output /dev/null --max-time 10 --write-out %{http_code} http://127.0.0.1:8188/system_stats',
    );

    const second = host.run('comfyui-health.sh', env({ STUB_HTTP: '000' }));
    expect(second.calls[second.calls.length - 1]).toBe('systemctl restart comfyui.service');
    expect(second.stdout).toContain('restarting comfyui.service');
  });

  it('resets the count on HTTP 200', () => {
    host.run('comfyui-health.sh', env({ STUB_HTTP: '000' }));
    host.run('comfyui-health.sh', env({ STUB_HTTP: '200' }));
    const third = host.run('comfyui-health.sh', env({ STUB_HTTP: '000' }));

    expect(third.calls).not.toContain('systemctl restart comfyui.service');
  });

  it('does not check or restart during the start-up grace period', () => {
    const result = host.run('comfyui-health.sh', env({ STUB_HTTP: '000', COMFYUI_HEALTH_GRACE: '999999999' }));

    expect(result.status).toBe(0);
    expect(result.calls.some((c) => c.startsWith('curl'))).toBe(false);
  });
});
