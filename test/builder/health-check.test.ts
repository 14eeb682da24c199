import { buildDocuments } from '../../builder/documents.cjs';
import { createHost, expectCallsInOrder, GOOD_URI, HOSTILE_URIS, type Host, OLD_URI, paramsEnv } from './harness';

// What the booted AMI answers when all is well: the container runs the pushed image, whose
// local id is the stub's default image id.
const RUNNING = `running sha256:current ${GOOD_URI}`;
const document = buildDocuments({ repositories: ['comfyui'] }).healthCheck;
const PATTERN = document.parameters.ImageUri.allowedPattern as string;

function env(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...paramsEnv(),
    SSM_TimeoutSeconds: '4',
    COMFYUI_IMAGE_URI_PATTERN: PATTERN,
    COMFYUI_HEALTH_INTERVAL: '0',
    STUB_GPU: '1',
    STUB_DOCKER_STATES: RUNNING,
    ...overrides,
  };
}

describe('health-check.sh on a test instance booted from the new AMI', () => {
  let host: Host;
  beforeEach(() => {
    host = createHost();
  });
  afterEach(() => host.cleanup());

  it('passes when docker is active, the container runs the pushed digest, the GPU works and ComfyUI answers 200', () => {
    const result = host.run('health-check.sh', env());

    expect(result.status).toBe(0);
    expectCallsInOrder(result.calls, [
      /^systemctl is-active --quiet docker$/,
      new RegExp(`^docker image inspect --format \\S+ ${GOOD_URI.replace(/[.]/g, '\\.')}$`),
      /^docker inspect --format .* comfyui$/,
      /^nvidia-smi -L$/,
      /^curl .* http:\/\/127\.0\.0\.1:8188\/system_stats$/,
    ]);
    expect(result.stdout).toContain('health check passed: ComfyUI answered HTTP 200');
  });

  it('waits for the container and for ComfyUI while they start after boot', () => {
    const result = host.run(
      'health-check.sh',
      env({ STUB_DOCKER_STATES: `missing,created sha256:current ${GOOD_URI},${RUNNING}`, STUB_HTTP: '000,502,200' }),
    );

    expect(result.status).toBe(0);
    expect(result.calls.filter((c) => c.startsWith('curl '))).toHaveLength(3);
  });

  it("checks the HTTP answer on the environment's port", () => {
    const result = host.run('health-check.sh', env({ SSM_ContainerPort: '9000' }));

    expect(result.status).toBe(0);
    expect(result.calls).toContainEqual(expect.stringMatching(/^curl .* http:\/\/127\.0\.0\.1:9000\/system_stats$/));
  });

  it('needs no GPU in a CPU-only environment', () => {
    const result = host.run('health-check.sh', env({ SSM_Gpu: 'false', STUB_GPU: undefined }));

    expect(result.status).toBe(0);
    expect(result.calls.some((c) => c.startsWith('nvidia-smi'))).toBe(false);
  });

  it.each([
    ['docker is not active', { STUB_FAIL: 'systemctl:is-active' }, /^ERROR \[health-check\]: docker is not active after 4s$/],
    [
      'the container never runs',
      { STUB_DOCKER_STATES: `exited sha256:current ${GOOD_URI}` },
      /^ERROR \[health-check\]: container comfyui is exited, not running, 4s after the check started$/,
    ],
    ['the image is not on the AMI', { STUB_DOCKER_NO_IMAGE: '1' }, /^ERROR \[health-check\]: image .* is not on this AMI$/],
    [
      'the container runs another image (a stale digest)',
      { STUB_DOCKER_STATES: `running sha256:old ${OLD_URI}` },
      /^ERROR \[health-check\]: container comfyui runs .*comfyui@sha256:f{64}.* not the pushed .*comfyui@sha256:0123/,
    ],
    [
      'the reference is right but the image id is not',
      { STUB_DOCKER_STATES: `running sha256:other ${GOOD_URI}` },
      /^ERROR \[health-check\]: container comfyui runs .*\(sha256:other\), not the pushed .*\(sha256:current\)$/,
    ],
    [
      'the environment wants a GPU and nvidia-smi fails',
      { STUB_GPU: undefined },
      /^ERROR \[health-check\]: nvidia-smi failed: no usable GPU/,
    ],
    [
      'ComfyUI never answers',
      { STUB_HTTP: '000' },
      /^ERROR \[health-check\]: ComfyUI did not answer on http:\/\/127\.0\.0\.1:8188\/system_stats within 4s$/,
    ],
    [
      'ComfyUI answers HTTP 500',
      { STUB_HTTP: '500' },
      /^ERROR \[health-check\]: ComfyUI answered HTTP 500, not 200, on http:\/\/127\.0\.0\.1:8188\/system_stats within 4s$/,
    ],
    [
      'the container stops before ComfyUI answers',
      { STUB_DOCKER_STATES: `${RUNNING},exited sha256:current ${GOOD_URI}`, STUB_HTTP: '000' },
      /^ERROR \[health-check\]: container comfyui stopped \(exited\) before ComfyUI answered on port 8188$/,
    ],
  ])('fails when %s, saying so on the last line', (_, overrides, message) => {
    const result = host.run('health-check.sh', env(overrides));

    expect(result.status).not.toBe(0);
    expect(result.lastErrorLine).toMatch(message);
  });

  it('gives up within the timeout (counted in check intervals)', () => {
    const result = host.run('health-check.sh', env({ STUB_HTTP: '000', SSM_TimeoutSeconds: '3', COMFYUI_HEALTH_INTERVAL: '0' }));

    expect(result.status).not.toBe(0);
    expect(result.calls.filter((c) => c.startsWith('curl ')).length).toBe(4);
  });

  it.each(Object.entries(HOSTILE_URIS))('refuses an ImageUri with %s before running any command', (_, uri) => {
    const result = host.run('health-check.sh', env({ SSM_ImageUri: uri }));

    expect(result.status).toBe(1);
    expect(result.calls).toEqual([]);
  });

  it.each([['0'], ['10000'], ['60; id'], ['$(id)'], ['']])('refuses TimeoutSeconds %j before running any command', (value) => {
    const result = host.run('health-check.sh', env({ SSM_TimeoutSeconds: value }));

    expect(result.status).toBe(1);
    expect(result.calls).toEqual([]);
    expect(result.lastErrorLine).toMatch(/TimeoutSeconds .* must be a number from 1 to 9999/);
  });
});

describe('the health-check document', () => {
  it('passes every parameter as an environment variable, each held to a pattern or a list', () => {
    expect(Object.keys(document.parameters).sort()).toEqual(['ContainerPort', 'Gpu', 'ImageUri', 'TimeoutSeconds']);
    for (const parameter of Object.values(document.parameters)) {
      expect(parameter.interpolationType).toBe('ENV_VAR');
      expect(parameter.allowedPattern !== undefined || parameter.allowedValues !== undefined).toBe(true);
    }
    const timeout = new RegExp(document.parameters.TimeoutSeconds.allowedPattern as string);
    for (const good of ['60', '600', '3600']) expect([good, timeout.test(good)]).toEqual([good, true]);
    for (const bad of ['0', '060', '10000', '60 ', '6o']) expect([bad, timeout.test(bad)]).toEqual([bad, false]);
    expect(document.mainSteps[0]).toMatchObject({ action: 'aws:runShellScript', name: 'HealthCheck' });
    expect(JSON.stringify(document)).not.toContain('{{');
  });

  it('runs the check as SSM would, from the document text', () => {
    const host = createHost();
    try {
      const text = `${document.mainSteps[0].inputs.runCommand.join('\n')}\n`;
      const result = host.runText(text, env({ COMFYUI_IMAGE_URI_PATTERN: undefined }));
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('health check passed');

      const unhealthy = host.runText(text, env({ COMFYUI_IMAGE_URI_PATTERN: undefined, STUB_HTTP: '500' }));
      expect(unhealthy.status).not.toBe(0);
      expect(unhealthy.lastErrorLine).toContain('answered HTTP 500');
    } finally {
      host.cleanup();
    }
  });
});
