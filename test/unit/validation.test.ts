import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
// Classic zod, as config.ts loads it: it installs zod's English locale for every schema.
import { z } from 'zod';
import { config as zodConfig } from 'zod/v4/core';
import { type InvalidField, RequestInvalid } from '../../functions/shared/errors';
import { parseRequest } from '../../functions/shared/request';
import { zodIssues } from '../../functions/shared/validation';
import { pushEventSchema } from '../../functions/start-build/push';
import { demoConfig, pushEvent } from '../support/builds';

const config = demoConfig();
const NOW = new Date('2026-11-27T12:00:00Z');
const DIGEST = `sha256:${'0f'.repeat(32)}`;
const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures', 'bad-input');

/** The bad-input corpus: a few of its inputs only ECR or the history can refuse (none here, alike). */
const CORPUS: [string, unknown][] = readdirSync(FIXTURE_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f, (JSON.parse(readFileSync(path.join(FIXTURE_DIR, f), 'utf8')) as { input: unknown }).input]);

/** The schemas' literals, enums and wrong types, each way in. */
const SCHEMA_CASES: [string, unknown][] = [
  ['every manual field of the wrong type', { environment: 5, image: 6, branch: 7, commit_sha: 8, source: 9 }],
  ['an unknown source', { environment: 'dev', source: 'web' }],
  ['a rollback with an unknown source', { action: 'rollback', environment: 'dev', rollback_to: 'ami-0123456789abcdef0', source: 'web' }],
  ['an ECR event of the wrong source', { ...pushEvent('comfyui', 'dev-latest', DIGEST), source: 'aws.s3' }],
  [
    'every ECR field of the wrong type',
    {
      source: 1,
      'detail-type': 2,
      time: 3,
      detail: { 'action-type': 1, result: 2, 'repository-name': 3, 'image-digest': 4, 'image-tag': 5 },
    },
  ],
];

const PUSH_ENVELOPES: [string, unknown][] = [
  ['an empty object', {}],
  ['every field of the wrong type', { version: 1, id: 2, source: 3, 'detail-type': 4, time: 5, detail: 6 }],
  ['wrong values', { id: 'a b', source: 'aws.s3', 'detail-type': 'x', detail: [] }],
];

function requestIssues(input: unknown): readonly InvalidField[] {
  try {
    parseRequest(input, config, NOW);
  } catch (error) {
    if (error instanceof RequestInvalid) return error.issues;
    throw error;
  }
  return [];
}

function envelopeIssues(event: unknown): readonly InvalidField[] {
  const result = pushEventSchema.safeParse(event, { reportInput: true });
  return result.success ? [] : zodIssues(result.error, 'event');
}

/** The issues of every input as the Lambda bundles see them: zod/mini with no locale loaded. */
function withoutLocale<T>(fn: () => T): T {
  const english = zodConfig().localeError;
  zodConfig({ localeError: undefined });
  try {
    return fn();
  } finally {
    zodConfig({ localeError: english });
  }
}

describe('request validation reads the same in the Lambda bundles (zod/mini, no locale) as with zod English locale', () => {
  beforeAll(() => {
    z.config(z.locales.en());
  });

  it.each(CORPUS)('bad-input corpus: %s', (_name, input) => {
    expect(withoutLocale(() => requestIssues(input))).toEqual(requestIssues(input));
  });

  it.each(SCHEMA_CASES)('%s', (_name, input) => {
    const english = requestIssues(input);
    expect(english.length).toBeGreaterThan(0);
    expect(withoutLocale(() => requestIssues(input))).toEqual(english);
  });

  it.each(PUSH_ENVELOPES)('push envelope: %s', (_name, event) => {
    const english = envelopeIssues(event);
    expect(english.length).toBeGreaterThan(0);
    expect(withoutLocale(() => envelopeIssues(event))).toEqual(english);
  });

  it("no refusal quotes zod's own wording instead of the allowed form", () => {
    const all = [
      ...[...CORPUS, ...SCHEMA_CASES].flatMap(([, input]) => requestIssues(input)),
      ...PUSH_ENVELOPES.flatMap(([, event]) => envelopeIssues(event)),
    ];
    expect(all.filter((issue) => /^Invalid /.test(issue.allowed))).toEqual([]);
  });

  it('names the values of a literal or an enum', () => {
    expect(requestIssues({ environment: 'dev', source: 'web' })).toEqual([
      { field: 'input.source', allowed: 'one of "console", "api", "cli"', received: 'web' },
    ]);
    expect(withoutLocale(() => requestIssues({ ...pushEvent('comfyui', 'dev-latest', DIGEST), source: 'aws.s3' }))).toEqual([
      { field: 'input.source', allowed: '"aws.ecr"', received: 'aws.s3' },
    ]);
  });
});
