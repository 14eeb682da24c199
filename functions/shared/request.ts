// zod/mini, not classic zod: its functions tree-shake, so a Lambda bundle carries the 17-20 KiB
// of zod these schemas use rather than all 440 KiB (API, JSON Schema, every locale), which made
// normalizeRequest and startBuild load in 3x a bare handler's time. It loads no locale: see
// validation.ts for zod's own wording.
import * as z from 'zod/mini';
import type { PipelineConfig } from './config';
import { ENVIRONMENT_NAME, environmentConfig, environmentsForTag, REPOSITORY_NAME, repositoryFor, tagMatchesAny } from './config-values';
import { type InvalidField, RequestInvalid, receivedText } from './errors';
import { allowedImageForm } from './image-belongs';
import { isPlainObject } from './json';
import { AMI_ID, AMI_ID_FORM, DIGEST } from './patterns';
import type { RequestSource } from './state';
import { zodIssues } from './validation';

export { DIGEST } from './patterns';
// Docker's tag grammar: no shell metacharacters, no spaces, at most 128 characters.
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const ECR_REGISTRY = /^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/;
const BRANCH = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/;
const COMMIT_SHA = /^[0-9a-f]{7,40}$/;
export const MAX_INPUT_BYTES = 8192;

/** The value `make` returns, made on the first call. */
function once<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
}

// The schemas are made on first use, so a function that imports only this module's patterns
// (prepare-rollback, through rollback-request.ts) leaves zod out of its bundle.
const manualSchema = /* @__PURE__ */ once(() =>
  z.strictObject({
    environment: z.string().check(z.regex(ENVIRONMENT_NAME, 'lowercase letters, digits and -, starting with a letter (at most 32)')),
    image: z.optional(z.string().check(z.maxLength(300, 'at most 300 characters'))),
    branch: z.optional(
      z.string().check(
        z.regex(BRANCH, 'a git branch name (letters, digits, . _ / -)'),
        z.refine(
          (b) => !b.includes('..') && !b.endsWith('/') && !b.endsWith('.lock'),
          'a git branch name without .., a trailing / or .lock',
        ),
      ),
    ),
    commit_sha: z.optional(z.string().check(z.regex(COMMIT_SHA, '7 to 40 lowercase hex characters'))),
    source: z.optional(z.enum(['console', 'api', 'cli'])),
  }),
);

export type ManualInput = z.infer<ReturnType<typeof manualSchema>>;

const ecrEventSchema = /* @__PURE__ */ once(() =>
  z.object({
    source: z.literal('aws.ecr'),
    'detail-type': z.literal('ECR Image Action'),
    time: z.optional(z.string()),
    detail: z.object({
      'action-type': z.literal('PUSH', 'PUSH (other ECR actions start no build)'),
      result: z.literal('SUCCESS', 'SUCCESS (failed pushes start no build)'),
      'repository-name': z.string().check(z.regex(REPOSITORY_NAME, 'an ECR repository name')),
      'image-digest': z.string().check(z.regex(DIGEST, 'sha256: followed by 64 lowercase hex characters')),
      'image-tag': z
        .string({ error: 'a tag: untagged pushes (such as per-platform manifests) start no build' })
        .check(z.regex(TAG, 'a Docker tag (letters, digits, . _ -; at most 128)')),
    }),
  }),
);

/** A request that passed validation but whose tag is not yet resolved to a digest. */
export interface ParsedRequest {
  environment: string;
  repository: string;
  /** Present when the caller named the registry; it must be the repository's own. */
  registry: string | null;
  tag: string | null;
  digest: string | null;
  branch: string;
  commitSha: string;
  source: RequestSource;
  requestedAt: string | null;
  /** Set for a rollback request (see the rollback part at the end of this file). */
  rollbackTo?: string;
}

export const UNKNOWN = 'unknown';

function invalid(issues: InvalidField | InvalidField[]): never {
  throw new RequestInvalid(issues);
}

const REPORT_INPUT = { reportInput: true } as const;
const INPUT_FORM = 'a JSON object: an ECR push event or {"environment": ..., "image"?: ..., "branch"?: ..., "commit_sha"?: ...}';

function environmentNames(config: PipelineConfig): string {
  return `one of the configured environments (${Object.keys(config.environments).join(', ')})`;
}

/** An EventBridge event rather than a console or API body. */
export function isEcrEvent(input: Record<string, unknown>): boolean {
  return 'detail-type' in input || input.source === 'aws.ecr' || 'detail' in input;
}

/**
 * Validates any of the three ways in against the configuration, with no AWS call, and says
 * which field is wrong and what it must look like. `now` is what an ECR event's time is checked
 * against (the execution's start in the state machine); null skips that check (reading an old
 * execution's input back).
 */
export function parseRequest(input: unknown, config: PipelineConfig, now: Date | null = new Date()): ParsedRequest {
  if (!isPlainObject(input)) {
    invalid({ field: 'input', allowed: INPUT_FORM, received: receivedText(input) });
  }
  const size = Buffer.byteLength(JSON.stringify(input), 'utf8');
  if (size > MAX_INPUT_BYTES) invalid({ field: 'input', allowed: `at most ${MAX_INPUT_BYTES} bytes of JSON`, received: `${size} bytes` });
  const record = input as Record<string, unknown>;
  if (isRollbackInput(record)) return parsedRollback(parseRollbackInput(record, config));
  return isEcrEvent(record) ? parseEcrEvent(record, config, now) : parseManual(record, config);
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * The lock orders requests by this time, so it must be one the pipeline can trust: a valid
 * ISO-8601 timestamp, at most lock.maxEventSkewMinutes ahead of now (a time far ahead would
 * supersede every later build) and at most lock.maxEventAgeMinutes behind (EventBridge and
 * Lambda retry a delivery for that long). Normalized to UTC milliseconds so keys sort as times.
 */
export function eventTime(time: string | undefined, config: PipelineConfig, now: Date | null): string | null {
  if (time === undefined) return null;
  const { maxEventSkewMinutes: ahead, maxEventAgeMinutes: behind } = config.lock;
  const form = `an ISO-8601 timestamp such as 2026-11-27T12:00:00Z, at most ${ahead} minutes ahead of and ${behind} minutes behind the time the build starts`;
  const at = ISO_TIMESTAMP.test(time) ? Date.parse(time) : Number.NaN;
  if (!Number.isFinite(at)) invalid({ field: 'input.time', allowed: form, received: receivedText(time) });
  if (now) {
    const minutes = (at - now.getTime()) / 60000;
    if (minutes > ahead || minutes < -behind) {
      invalid({
        field: 'input.time',
        allowed: form,
        received: `${receivedText(time)} (${Math.round(Math.abs(minutes))} minutes ${minutes > 0 ? 'ahead' : 'behind'})`,
      });
    }
  }
  return new Date(at).toISOString();
}

function parseEcrEvent(input: Record<string, unknown>, config: PipelineConfig, now: Date | null): ParsedRequest {
  const result = ecrEventSchema().safeParse(input, REPORT_INPUT);
  if (!result.success) invalid(zodIssues(result.error, 'input'));
  const detail = result.data.detail;
  const repository = detail['repository-name'];
  const tag = detail['image-tag'];
  if (!config.repositories.includes(repository)) {
    invalid({
      field: 'input.detail.repository-name',
      allowed: `one of the configured repositories (${config.repositories.join(', ')})`,
      received: receivedText(repository),
    });
  }
  const environments = environmentsForTag(config, repository, tag);
  const tagForm = "a tag matching exactly one environment's tags in the config";
  if (environments.length === 0)
    invalid({ field: 'input.detail.image-tag', problem: `"${tag}" matches no environment's tags`, allowed: tagForm, received: tag });
  if (environments.length > 1)
    invalid({
      field: 'input.detail.image-tag',
      problem: `"${tag}" matches several environments (${environments.join(', ')}): make their tag patterns disjoint`,
      allowed: tagForm,
      received: tag,
    });
  const requestedAt = eventTime(result.data.time, config, now);
  return {
    environment: environments[0],
    repository,
    registry: null,
    tag,
    digest: detail['image-digest'],
    branch: UNKNOWN,
    commitSha: UNKNOWN,
    source: 'ecr-push',
    requestedAt,
  };
}

function parseManual(input: Record<string, unknown>, config: PipelineConfig): ParsedRequest {
  const result = manualSchema().safeParse(input, REPORT_INPUT);
  if (!result.success) invalid(zodIssues(result.error, 'input'));
  const body = result.data;
  const env = environmentConfig(config, body.environment);
  if (!env) invalid({ field: 'input.environment', allowed: environmentNames(config), received: body.environment });
  const expectedRepository = repositoryFor(config, body.environment);
  const image = body.image
    ? parseImageReference(body.image)
    : { registry: null, repository: expectedRepository, tag: env.defaultTag, digest: null };
  if (image.repository !== expectedRepository) {
    invalid({
      field: 'input.image',
      allowed: `an image of repository "${expectedRepository}" (environment ${body.environment})`,
      received: receivedText(body.image),
    });
  }
  // A tag of another environment never reaches this one (a digest is checked against ECR and the history).
  if (image.tag !== null && !tagMatchesAny(image.tag, env.tags)) {
    invalid({
      field: 'input.image',
      problem: `the tag "${image.tag}" is not a tag of environment ${body.environment}`,
      allowed: allowedImageForm(config, body.environment),
      received: receivedText(body.image),
    });
  }
  return {
    environment: body.environment,
    repository: image.repository,
    registry: image.registry,
    tag: image.tag,
    digest: image.digest,
    branch: body.branch ?? UNKNOWN,
    commitSha: body.commit_sha ?? UNKNOWN,
    source: body.source ?? 'console',
    requestedAt: null,
  };
}

const IMAGE_FORM = '<repository>:<tag> or <repository>@sha256:<64 hex>, optionally prefixed by <account>.dkr.ecr.<region>.amazonaws.com/';

function imageIssue(image: string, problem: string): InvalidField {
  return { field: 'input.image', problem, allowed: IMAGE_FORM, received: receivedText(image) };
}

/** `repo:tag`, `repo@sha256:...`, each optionally behind an ECR registry host. */
export function parseImageReference(image: string): {
  registry: string | null;
  repository: string;
  tag: string | null;
  digest: string | null;
} {
  let rest = image;
  let registry: string | null = null;
  const slash = rest.indexOf('/');
  if (slash > 0 && rest.slice(0, slash).includes('.')) {
    registry = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
    if (!ECR_REGISTRY.test(registry)) invalid(imageIssue(image, `the registry "${receivedText(registry)}" is not an ECR registry`));
  }
  let repository: string;
  let tag: string | null = null;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    repository = rest.slice(0, at);
    digest = rest.slice(at + 1);
    if (!DIGEST.test(digest)) invalid(imageIssue(image, 'the digest must be sha256: followed by 64 lowercase hex characters'));
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon < 0) invalid(imageIssue(image, 'names neither a tag nor a digest'));
    repository = rest.slice(0, colon);
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) invalid(imageIssue(image, 'the tag must be letters, digits, . _ - (at most 128, no spaces or shell characters)'));
  }
  if (!REPOSITORY_NAME.test(repository)) invalid(imageIssue(image, `"${receivedText(repository)}" is not an ECR repository name`));
  return { registry, repository, tag, digest };
}

// ---- Rollback requests: {"action": "rollback", "environment", "rollback_to"} ----

const rollbackSchema = /* @__PURE__ */ once(() =>
  z.strictObject({
    action: z.literal('rollback', 'rollback (the only action besides a build, which names no action)'),
    environment: z.string().check(z.regex(ENVIRONMENT_NAME, 'lowercase letters, digits and -, starting with a letter (at most 32)')),
    rollback_to: z.string().check(z.regex(AMI_ID, AMI_ID_FORM)),
    source: z.optional(z.enum(['console', 'api', 'cli'])),
  }),
);

export interface RollbackInput {
  environment: string;
  rollbackTo: string;
  source: RequestSource;
}

/** A console or CLI input asking to roll an environment back rather than to build. */
export function isRollbackInput(input: unknown): boolean {
  return isPlainObject(input) && (Object.hasOwn(input, 'action') || Object.hasOwn(input, 'rollback_to'));
}

export function parseRollbackInput(input: Record<string, unknown>, config: PipelineConfig): RollbackInput {
  const result = rollbackSchema().safeParse(input, REPORT_INPUT);
  if (!result.success) invalid(zodIssues(result.error, 'input'));
  const body = result.data;
  if (!environmentConfig(config, body.environment)) {
    invalid({ field: 'input.environment', allowed: environmentNames(config), received: body.environment });
  }
  return { environment: body.environment, rollbackTo: body.rollback_to, source: body.source ?? 'console' };
}

function parsedRollback(rollback: RollbackInput): ParsedRequest {
  // The digest is the one the target's history entry recorded: read at Normalize, not taken from input.
  return {
    environment: rollback.environment,
    repository: '',
    registry: null,
    tag: null,
    digest: null,
    branch: UNKNOWN,
    commitSha: UNKNOWN,
    source: rollback.source,
    requestedAt: null,
    rollbackTo: rollback.rollbackTo,
  };
}
