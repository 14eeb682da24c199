import { buildDocuments } from '../../builder/documents.cjs';
import { createHost, GOOD_URI, HOSTILE_URIS, type Host, paramsEnv } from './harness';

// The scripts get the pattern from the document, as they do on the builder.
const PATTERN = buildDocuments({ repositories: ['comfyui', 'team/comfy.ui'] }).fresh.parameters.ImageUri.allowedPattern as string;
const SCRIPTS = ['fresh-install.sh', 'update.sh', 'smoke-check.sh'];

describe('parameter validation in the scripts', () => {
  let host: Host;
  beforeAll(() => {
    host = createHost();
  });
  afterAll(() => host.cleanup());

  const run = (script: string, env: Record<string, string | undefined>) => host.run(script, { COMFYUI_IMAGE_URI_PATTERN: PATTERN, ...env });

  describe.each(SCRIPTS)('%s', (script) => {
    it.each(Object.entries(HOSTILE_URIS))('refuses an ImageUri with %s before running any command', (_, uri) => {
      const result = run(script, paramsEnv(uri));

      expect(result.status).toBe(1);
      expect(result.calls).toEqual([]);
      expect(result.lastErrorLine).toMatch(
        /^ERROR \[[a-z-]+\]: ImageUri .* is not <account>\.dkr\.ecr\.<region>\.amazonaws\.com\/<allowed repository>@sha256:<64 hex>$/,
      );
      expect(host.exists('etc/comfyui/image.env')).toBe(false);
    });

    it.each([
      ['Gpu', { SSM_Gpu: 'true; id' }, /Gpu .* must be true or false/],
      ['ContainerPort 0', { SSM_ContainerPort: '0' }, /ContainerPort .* must be a number from 1 to 65535/],
      ['ContainerPort 65536', { SSM_ContainerPort: '65536' }, /ContainerPort/],
      ['ContainerPort with shell text', { SSM_ContainerPort: '8188$(id)' }, /ContainerPort/],
    ])('refuses a hostile %s before running any command', (_, override, message) => {
      const result = run(script, { ...paramsEnv(), ...override });

      expect(result.status).toBe(1);
      expect(result.calls).toEqual([]);
      expect(result.lastErrorLine).toMatch(message);
    });

    it('explains a missing SSM_ImageUri (an agent too old for ENV_VAR interpolation)', () => {
      const result = run(script, { ...paramsEnv(), SSM_ImageUri: undefined });

      expect(result.status).toBe(1);
      expect(result.calls).toEqual([]);
      expect(result.lastErrorLine).toContain('SSM_ImageUri is not set: the document needs SSM Agent 3.3.2746.0 or later');
    });
  });

  it('prints a hostile value quoted, so it cannot forge log lines', () => {
    const result = run('update.sh', paramsEnv(`${GOOD_URI}\nERROR [update]: all good`));

    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(result.lastErrorLine).toContain("$'");
  });

  it('refuses a hostile NvidiaDriverBranch before running any command', () => {
    const result = run('fresh-install.sh', { ...paramsEnv(), SSM_NvidiaDriverBranch: '570; id' });

    expect(result.status).toBe(1);
    expect(result.calls).toEqual([]);
    expect(result.lastErrorLine).toMatch(/NvidiaDriverBranch .* must be a driver branch/);
  });

  it('accepts an image from any configured repository', () => {
    const result = run('smoke-check.sh', { ...paramsEnv(GOOD_URI.replace('/comfyui@', '/team/comfy.ui@')), STUB_GPU: '1' });

    expect(result.status).toBe(0);
  });
});
