import type { Image, ImageState } from '@aws-sdk/client-ec2';
import { outdatedImages } from '../../functions/clean-up/clean-up';
import { parseConfig } from '../../functions/shared/config';
import { parseRequest } from '../../functions/shared/request';
import { MANAGED_BY, TAG } from '../../functions/shared/tags';
import { defaultRollbackTarget, type HistoryRow } from '../../functions/start-environment-action/history';
import { demoConfig } from '../support/builds';

const config = demoConfig();

function image(id: string, created: string, extra: { env?: string; managed?: boolean; state?: string; number?: number } = {}): Image {
  const tags: { Key: string; Value: string }[] = [
    { Key: TAG.environment, Value: extra.env ?? 'dev' },
    { Key: TAG.buildNumber, Value: String(extra.number ?? 0) },
  ];
  if (extra.managed !== false) tags.push({ Key: TAG.managedBy, Value: MANAGED_BY });
  return { ImageId: id, CreationDate: created, State: (extra.state ?? 'available') as ImageState, Tags: tags };
}

describe('outdatedImages (what clean-up removes)', () => {
  const images = [
    image('ami-00000001', '2026-11-01T00:00:00.000Z', { number: 1 }),
    image('ami-00000002', '2026-11-02T00:00:00.000Z', { number: 2 }),
    image('ami-00000003', '2026-11-03T00:00:00.000Z', { number: 3 }),
    image('ami-00000004', '2026-11-04T00:00:00.000Z', { number: 4 }),
  ];

  it.each([
    [0, ['ami-00000003', 'ami-00000002', 'ami-00000001']],
    [1, ['ami-00000002', 'ami-00000001']],
    [2, ['ami-00000001']],
    [3, []],
    [10, []],
  ])('with retainPrevious %i keeps the newest others and returns the rest', (retainPrevious, expected) => {
    expect(outdatedImages(images, { environment: 'dev', latest: 'ami-00000004', retainPrevious })).toEqual(expected);
  });

  it('never returns the AMI latest names, even when it is the oldest (after a rollback)', () => {
    expect(outdatedImages(images, { environment: 'dev', latest: 'ami-00000001', retainPrevious: 0 })).toEqual([
      'ami-00000004',
      'ami-00000003',
      'ami-00000002',
    ]);
    expect(outdatedImages(images, { environment: 'dev', latest: 'ami-00000001', retainPrevious: 1 })).toEqual([
      'ami-00000003',
      'ami-00000002',
    ]);
  });

  it('breaks creation-date ties by build number, so the newer build stays', () => {
    const same = [
      image('ami-0000000a', '2026-11-01T00:00:00.000Z', { number: 7 }),
      image('ami-0000000b', '2026-11-01T00:00:00.000Z', { number: 8 }),
    ];
    expect(
      outdatedImages([...same, image('ami-0000000c', '2026-11-02T00:00:00.000Z', { number: 9 })], {
        environment: 'dev',
        latest: 'ami-0000000c',
        retainPrevious: 1,
      }),
    ).toEqual(['ami-0000000a']);
  });

  it("ignores what is not this pipeline's AMI of this environment, or already deregistered", () => {
    const others = [
      image('ami-0000000d', '2026-10-01T00:00:00.000Z', { env: 'prod' }),
      image('ami-0000000e', '2026-10-01T00:00:00.000Z', { managed: false }),
      image('ami-0000000f', '2026-10-01T00:00:00.000Z', { state: 'deregistered' }),
    ];
    expect(outdatedImages([...images, ...others], { environment: 'dev', latest: 'ami-00000004', retainPrevious: 0 })).toEqual([
      'ami-00000003',
      'ami-00000002',
      'ami-00000001',
    ]);
  });
});

describe('config: retainPrevious and promoteFrom', () => {
  const raw = (prod: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    repositories: ['comfyui'],
    ...extra,
    environments: {
      staging: { tags: ['staging-*'], defaultTag: 'staging-latest' },
      prod: { tags: ['prod-latest'], defaultTag: 'prod-latest', ...prod },
    },
  });

  it('defaults to one AMI per environment and no promotion source', () => {
    expect(parseConfig(raw({}), 'test').environments.prod).toMatchObject({ retainPrevious: 0 });
    expect(parseConfig(raw({}), 'test').environments.prod.promoteFrom).toBeUndefined();
    expect(parseConfig(raw({ retainPrevious: 2, promoteFrom: 'staging' }), 'test').environments.prod).toMatchObject({
      retainPrevious: 2,
      promoteFrom: 'staging',
    });
  });

  it.each([
    [{ retainPrevious: -1 }, 'config.environments.prod.retainPrevious'],
    [{ retainPrevious: 1.5 }, 'config.environments.prod.retainPrevious'],
    [{ retainPrevious: '1' }, 'config.environments.prod.retainPrevious'],
    [
      { promoteFrom: 'qa' },
      'config.environments.prod.promoteFrom: must be another configured environment that builds from the same repository',
    ],
    [{ promoteFrom: 'prod' }, 'config.environments.prod.promoteFrom: must be another configured environment'],
    [{ promoteFrom: 'Staging' }, 'config.environments.prod.promoteFrom'],
  ])('refuses %j naming the field', (prod, message) => {
    expect(() => parseConfig(raw(prod), 'test')).toThrow(
      expect.objectContaining({ name: 'ConfigInvalid', message: expect.stringContaining(message) }),
    );
  });

  it('refuses retaining as many AMIs as history keeps entries (a retained AMI must stay rollback-able)', () => {
    expect(() => parseConfig(raw({ retainPrevious: 5 }, { historyLimit: 5 }), 'test')).toThrow(
      /config.environments.prod.retainPrevious: must be less than historyLimit \(5\)/,
    );
  });
});

describe('a rollback input', () => {
  it('parses {"action": "rollback", "environment", "rollback_to"}', () => {
    expect(parseRequest({ action: 'rollback', environment: 'dev', rollback_to: 'ami-0123456789abcdef0' }, config)).toMatchObject({
      environment: 'dev',
      rollbackTo: 'ami-0123456789abcdef0',
      source: 'console',
      digest: null,
    });
  });

  it.each([
    [{ action: 'rollback', environment: 'dev' }, 'input.rollback_to is required'],
    [{ action: 'rollback', environment: 'dev', rollback_to: 'ami-XYZ' }, 'input.rollback_to: must be an AMI id'],
    [{ action: 'rollback', environment: 'dev', rollback_to: 12 }, 'input.rollback_to'],
    [{ action: 'delete', environment: 'dev', rollback_to: 'ami-0123456789abcdef0' }, 'input.action'],
    [{ environment: 'dev', rollback_to: 'ami-0123456789abcdef0' }, 'input.action'],
    [
      { action: 'rollback', environment: 'qa', rollback_to: 'ami-0123456789abcdef0' },
      'input.environment: must be one of the configured environments',
    ],
    [
      { action: 'rollback', environment: 'dev', rollback_to: 'ami-0123456789abcdef0', image: 'comfyui:dev-latest' },
      'unknown field(s) "image"',
    ],
  ])('refuses %j naming the field', (input, message) => {
    expect(() => parseRequest(input, config)).toThrow(
      expect.objectContaining({ name: 'RequestInvalid', message: expect.stringContaining(message) }),
    );
  });
});

describe('defaultRollbackTarget', () => {
  const row = (amiId: string, date: string, available: boolean, latest = false): HistoryRow => ({
    amiId,
    digest: null,
    tag: null,
    date,
    mode: 'incremental',
    source: 'ecr-push',
    buildNumber: null,
    available,
    latest,
  });

  it('picks the newest retained build older than latest, else the newest older one', () => {
    const rows = [row('ami-3', '2026-11-03', true, true), row('ami-2', '2026-11-02', false), row('ami-1', '2026-11-01', true)];
    expect(defaultRollbackTarget(rows)?.amiId).toBe('ami-1');
    expect(defaultRollbackTarget([row('ami-3', '2026-11-03', true, true), row('ami-2', '2026-11-02', false)])?.amiId).toBe('ami-2');
    expect(defaultRollbackTarget([row('ami-3', '2026-11-03', true, true)])).toBeNull();
    // After a rollback to ami-1, newer builds are not "back".
    expect(defaultRollbackTarget([row('ami-3', '2026-11-03', true), row('ami-1', '2026-11-01', true, true)])).toBeNull();
  });
});
