import { environmentsForTag, parseConfig } from '../../functions/shared/config';
import { classifyError } from '../../functions/shared/errors';
import { parseImageReference, parseRequest } from '../../functions/shared/request';
import { demoConfig, pushEvent } from '../support/builds';

const config = demoConfig();
const DIGEST = `sha256:${'0f'.repeat(32)}`;

describe('parseRequest', () => {
  it('maps an ECR push to the environment whose tag pattern matches', () => {
    expect(parseRequest(pushEvent('comfyui', 'dev-latest', DIGEST), config)).toMatchObject({
      environment: 'dev',
      repository: 'comfyui',
      tag: 'dev-latest',
      digest: DIGEST,
      source: 'ecr-push',
    });
  });

  describe('the ECR event time, which orders requests in the lock', () => {
    const at = (time: unknown) => ({ ...pushEvent('comfyui', 'dev-latest', DIGEST), time });
    const start = new Date('2026-11-27T12:00:00Z');

    it('accepts a time within minutes of the start and normalizes it to UTC', () => {
      expect(parseRequest(at('2026-11-27T13:02:00+01:00'), config, start).requestedAt).toBe('2026-11-27T12:02:00.000Z');
      expect(parseRequest(at('2026-11-27T11:00:00Z'), config, start).requestedAt).toBe('2026-11-27T11:00:00.000Z');
    });

    it.each([
      ['2026-11-27T12:06:00Z', '6 minutes ahead'],
      ['2999-01-01T00:00:00Z', 'ahead'],
      ['2026-11-27T05:59:00Z', '361 minutes behind'],
      ['2026-11-27', 'must be an ISO-8601 timestamp'],
      ['2026-13-45T99:00:00Z', 'must be an ISO-8601 timestamp'],
      ['27/Nov/2026:12:00:00 +0000', 'must be an ISO-8601 timestamp'],
    ])('refuses %s naming input.time and the allowed form', (time, message) => {
      expect(() => parseRequest(at(time), config, start)).toThrow(
        expect.objectContaining({
          name: 'RequestInvalid',
          message: expect.stringMatching(
            /^input\.time: must be an ISO-8601 timestamp such as .* at most 5 minutes ahead of and 360 minutes behind/,
          ),
        }),
      );
      expect(() => parseRequest(at(time), config, start)).toThrow(expect.objectContaining({ message: expect.stringContaining(message) }));
      expect(() => parseRequest(at(time), config, start)).toThrow(
        expect.objectContaining({
          field: 'input.time',
          allowed: expect.stringMatching(/^an ISO-8601 timestamp/),
          received: expect.stringContaining(time),
        }),
      );
    });

    it('takes the window from lock.maxEventSkewMinutes and lock.maxEventAgeMinutes', () => {
      const wide = demoConfig({ lock: { ...config.lock, maxEventSkewMinutes: 10, maxEventAgeMinutes: 30 } });
      expect(parseRequest(at('2026-11-27T12:09:00Z'), wide, start).requestedAt).toBe('2026-11-27T12:09:00.000Z');
      expect(() => parseRequest(at('2026-11-27T11:29:00Z'), wide, start)).toThrow(/input\.time/);
    });
  });

  it('accepts a console body with only the environment and uses its default tag', () => {
    expect(parseRequest({ environment: 'prod' }, config)).toMatchObject({
      environment: 'prod',
      tag: 'prod-latest',
      digest: null,
      branch: 'unknown',
      commitSha: 'unknown',
      source: 'console',
    });
  });

  it('accepts a fully qualified digest reference', () => {
    const image = `123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui@${DIGEST}`;
    expect(parseRequest({ environment: 'dev', image, source: 'api' }, config)).toMatchObject({
      registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com',
      digest: DIGEST,
      tag: null,
      source: 'api',
    });
  });

  it.each([
    [{ environment: 'qa' }, 'input.environment: must be one of the configured environments'],
    [{ environment: 'dev', image: 'other:dev-latest' }, 'input.image: must be an image of repository "comfyui"'],
    [{ environment: 'dev', image: 'comfyui:dev latest' }, 'input.image: the tag must be'],
    [{ environment: 'dev', extra: 1 }, 'unknown field(s) "extra"'],
    [{ environment: '../prod' }, 'input.environment'],
    [pushEvent('comfyui', 'feature-x', DIGEST), 'input.detail.image-tag: "feature-x" matches no environment'],
  ])('refuses %j naming the field', (input, message) => {
    expect(() => parseRequest(input, config)).toThrow(
      expect.objectContaining({ name: 'RequestInvalid', message: expect.stringContaining(message) }),
    );
  });
});

describe('parseImageReference', () => {
  it('splits registry, repository and tag', () => {
    expect(parseImageReference('123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/comfyui:v1.2')).toEqual({
      registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      repository: 'team/comfyui',
      tag: 'v1.2',
      digest: null,
    });
  });

  it('refuses a registry that is not ECR', () => {
    expect(() => parseImageReference('docker.io/library/comfyui:latest')).toThrow(/not an ECR registry/);
  });
});

describe('configuration', () => {
  it('names the bad field and the allowed form', () => {
    expect(() =>
      parseConfig({ repositories: ['comfyui'], environments: { Dev: { tags: ['x'], defaultTag: 'x' } } }, 'config.json'),
    ).toThrow(expect.objectContaining({ name: 'ConfigInvalid', message: expect.stringContaining('config.environments.Dev') }));
    expect(() =>
      parseConfig({ repositories: ['comfyui'], parameterPrefix: '/aws/x', environments: { dev: { tags: ['x'], defaultTag: 'x' } } }, 'c'),
    ).toThrow(/config.parameterPrefix/);
    expect(() => parseConfig({ repositories: ['comfyui'], environments: { dev: { tags: ['dev-*'], defaultTag: 'prod' } } }, 'c')).toThrow(
      /config.environments.dev.defaultTag/,
    );
  });

  it('matches tag patterns with * only', () => {
    expect(environmentsForTag(config, 'comfyui', 'dev-abc')).toEqual(['dev']);
    expect(environmentsForTag(config, 'comfyui', 'prod-latest')).toEqual(['prod']);
    expect(environmentsForTag(config, 'comfyui', 'prod-latestX')).toEqual([]);
  });
});

describe('classifyError', () => {
  const sdk = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
    Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });
  it.each([
    [sdk('ThrottlingException', 400), 'AwsThrottled'],
    [sdk('RequestLimitExceeded', 503, 'server'), 'AwsThrottled'],
    [sdk('InternalError', 500, 'server'), 'AwsUnavailable'],
    [sdk('UnauthorizedOperation', 403), 'AwsAccessDenied'],
    [Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'AwsUnavailable'],
    [sdk('InvalidParameterValue', 400), 'InvalidParameterValue'],
  ])('names %s as %s', (error, name) => {
    expect(classifyError(error).name).toBe(name);
  });
});
