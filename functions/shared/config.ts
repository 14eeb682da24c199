import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigInvalid } from './errors';
import { describeZodError } from './validation';

export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
// ECR repository names: lowercase path segments separated by '/'.
export const REPOSITORY_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
// A tag pattern is a Docker tag in which '*' stands for any run of characters.
const TAG_PATTERN = /^[A-Za-z0-9_*][A-Za-z0-9._*-]{0,127}$/;
const AMI_ID = /^ami-[0-9a-f]{8,17}$/;
// An IAM principal ARN in which '*' matches any characters, e.g. arn:aws:iam::*:role/release-*.
export const CALLER_PATTERN =
  /^arn:(?:aws|aws-cn|aws-us-gov|\*):(?:iam|sts|\*):[A-Za-z0-9*-]*:(?:[0-9]{12}|\*)?:[A-Za-z0-9+=,.@_/*-]{1,512}$/;

const MAX_AGE_DAYS = z.number().int().min(1).max(365);

/**
 * Where each build's end is announced (source comfyui.ami), and who hears of it: the stack
 * subscribes a topic given by ARN and/or makes one with e-mail subscriptions.
 */
const buildEventsSchema = z
  .object({
    eventBusName: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,256}$/, 'an EventBridge event bus name (not an ARN), such as default')
      .default('default'),
  })
  .strict()
  .prefault({});

const notificationsSchema = z
  .object({
    topicArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/,
        'an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:builds',
      )
      .optional(),
    emails: z.array(z.email('an e-mail address')).min(1).max(20).optional(),
  })
  .strict()
  .refine((n) => n.topicArn !== undefined || n.emails !== undefined, 'a topicArn or a list of emails');

/**
 * Verify before publish: a test instance boots the new AMI and a health check must pass before
 * `latest` moves. timeoutSeconds bounds how long ComfyUI may take to answer HTTP 200 after boot.
 */
const verifySchema = z
  .object({
    enabled: z.boolean().default(true),
    timeoutSeconds: z.number().int().min(60).max(3600).default(600),
  })
  .strict()
  .prefault({});

const environmentSchema = z
  .object({
    repository: z.string().regex(REPOSITORY_NAME, 'an ECR repository name').optional(),
    tags: z.array(z.string().regex(TAG_PATTERN, 'a Docker tag where * matches any characters')).min(1),
    defaultTag: z
      .string()
      .regex(TAG_PATTERN)
      .refine((t) => !t.includes('*'), 'a plain tag, no *'),
    gpu: z.boolean().default(true),
    instanceType: z
      .string()
      .regex(/^[a-z0-9-]+\.[a-z0-9]+$/, 'an EC2 instance type such as g5.xlarge')
      .optional(),
    containerPort: z.number().int().min(1).max(65535).default(8188),
    verify: verifySchema,
    // IAM principals POST /builds accepts for this environment; absent = any caller the API's IAM lets in.
    callers: z
      .array(z.string().regex(CALLER_PATTERN, 'an IAM principal ARN where * matches any characters, such as arn:aws:iam::*:role/release-*'))
      .min(1)
      .optional(),
    // The environment whose published digests this one may also build (promotion), e.g. prod <- staging.
    promoteFrom: z.string().regex(ENVIRONMENT_NAME, 'an environment name').optional(),
    // How many previous pipeline AMIs stay registered besides the one `latest` names: what a rollback can re-point to.
    retainPrevious: z.number().int().min(0).max(20).default(0),
    // Days after which `latest` counts as stale (the age alarm); absent = the global maxAgeDays.
    maxAgeDays: MAX_AGE_DAYS.optional(),
  })
  .strict();

// Who may own a base image, besides this account: an account id, or `amazon` for Amazon's own images.
const IMAGE_OWNER = z.string().regex(/^(\d{12}|amazon)$/, 'a 12-digit AWS account id or "amazon"');

const baseImageSchema = z.union([
  z.object({ parameter: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, 'an SSM parameter path'), owner: IMAGE_OWNER.optional() }).strict(),
  z.object({ amiId: z.string().regex(AMI_ID, 'an AMI id such as ami-0123456789abcdef0'), owner: IMAGE_OWNER.optional() }).strict(),
]);

export const configSchema = z
  .object({
    parameterPrefix: z
      .string()
      .regex(/^\/[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/, 'an SSM path such as /comfyui/ami')
      .refine((p) => !p.startsWith('/aws/') && !p.startsWith('/ssm/'), 'a path outside /aws/ and /ssm/')
      .default('/comfyui/ami'),
    amiNamePrefix: z
      .string()
      .regex(/^[A-Za-z0-9()[\]./@_'-]{3,60}$/, 'AMI name characters, 3-60 long')
      .default('comfyui-multitenant'),
    repositories: z.array(z.string().regex(REPOSITORY_NAME, 'an ECR repository name')).min(1),
    baseImage: baseImageSchema.default({
      parameter: '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id',
    }),
    builder: z
      .object({
        instanceType: z
          .string()
          .regex(/^[a-z0-9-]+\.[a-z0-9]+$/, 'an EC2 instance type such as g5.xlarge')
          .default('g4dn.xlarge'),
        subnetId: z
          .string()
          .regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id such as subnet-0123456789abcdef0')
          .optional(),
        securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id')).default([]),
        // Off unless asked for: with it, the builder reaches SSM and ECR without a NAT (a public subnet).
        associatePublicIpAddress: z.boolean().default(false),
        // A customer-managed KMS key for the builder's volume, so for the AMI's snapshots too.
        ebsKmsKeyArn: z
          .string()
          .regex(
            /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/,
            'a KMS key ARN such as arn:aws:kms:us-east-1:123456789012:key/<uuid>',
          )
          .optional(),
        instanceProfile: z
          .string()
          .regex(/^[\w+=,.@-]{1,128}$/, 'an IAM instance profile name')
          .default('comfyui-ami-builder'),
        rootVolumeGiB: z.number().int().min(8).max(16384).default(100),
        // gp3 above its 125 MiB/s and 3,000 IOPS baseline, so a multi-GB image pull is not
        // capped by the disk: about $0.04 each per 2-hour build in us-east-1 (builder/README.md).
        rootVolumeThroughput: z.number().int().min(125).max(1000).default(500),
        rootVolumeIops: z.number().int().min(3000).max(16000).default(6000),
        // Longer than the state machine's 16-hour timeout: a builder of a live execution is never swept.
        maxAgeMinutes: z
          .number()
          .int()
          .min(250)
          .max(24 * 60 * 7)
          .default(990),
        // NVIDIA server driver branch of fresh builds (the fresh document's default).
        nvidiaDriverBranch: z
          .string()
          .regex(/^[0-9]{3,4}$/, 'an NVIDIA driver branch such as 580')
          .default('580'),
      })
      .strict()
      .refine((b) => b.rootVolumeThroughput * 4 <= b.rootVolumeIops, {
        message: 'gp3 allows at most 0.25 MiB/s of throughput per provisioned IOPS (rootVolumeThroughput x 4 <= rootVolumeIops)',
        path: ['rootVolumeThroughput'],
      })
      .prefault({}),
    documents: z
      .object({
        fresh: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{3,128}$/, 'an SSM document name')
          .default('ComfyUIAmi-FreshInstall'),
        incremental: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{3,128}$/, 'an SSM document name')
          .default('ComfyUIAmi-Update'),
        healthCheck: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{3,128}$/, 'an SSM document name')
          .default('ComfyUIAmi-HealthCheck'),
      })
      .strict()
      .prefault({}),
    commandLogGroup: z
      .string()
      .regex(/^[\w\-/.#]{1,512}$/, 'a CloudWatch Logs group name')
      .default('/comfyui-ami/builder'),
    // Checks before giving up; the state machine waits 15 s between stop checks, 30 s between
    // command checks and 60 s between AMI checks. Defaults: 15 min to stop, 160 min for the
    // command (above the document's own 150-minute timeout, itself above a 95-minute fresh
    // build), 6 hours for the AMI (a first snapshot of a volume can take hours).
    polling: z
      .object({
        stopMaxAttempts: z.number().int().min(1).max(500).default(60),
        commandMaxAttempts: z.number().int().min(1).max(500).default(320),
        imageMaxAttempts: z.number().int().min(1).max(500).default(360),
      })
      .strict()
      .prefault({}),
    historyLimit: z.number().int().min(1).max(1000).default(100),
    api: z
      .object({
        // Stage-wide request rate (per second) and burst of the HTTP API.
        throttlingRateLimit: z.number().min(1).max(10000).default(5),
        throttlingBurstLimit: z.number().int().min(1).max(5000).default(10),
      })
      .strict()
      .prefault({}),
    lock: z
      .object({
        table: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name')
          .default('comfyui-ami-locks'),
        // Longer than the state machine's own 16-hour timeout: a live holder is never taken over.
        leaseMinutes: z
          .number()
          .int()
          .min(5)
          .max(24 * 60)
          .default(990),
        // Checks of the lock, one per "Wait for the environment" (60 s): the longest wait must end
        // before the execution's own timeout (scripts/lib/lock-budget.ts checks it against the ASL).
        maxWaitAttempts: z.number().int().min(1).max(1000).default(120),
        // How far an ECR event's time may lie from the execution's start (request.ts eventTime).
        maxEventSkewMinutes: z.number().int().min(1).max(60).default(5),
        maxEventAgeMinutes: z
          .number()
          .int()
          .min(1)
          .max(24 * 60)
          .default(360),
      })
      .strict()
      .prefault({}),
    buildEvents: buildEventsSchema,
    notifications: notificationsSchema.optional(),
    // Days after which an environment's `latest` counts as stale: the age alarm's threshold.
    maxAgeDays: MAX_AGE_DAYS.default(30),
    environments: z
      .record(z.string().regex(ENVIRONMENT_NAME, 'lowercase letters, digits and -, starting with a letter'), environmentSchema)
      .refine((envs) => Object.keys(envs).length > 0, 'at least one environment'),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const [name, env] of Object.entries(config.environments)) {
      const repository = env.repository ?? config.repositories[0];
      if (!config.repositories.includes(repository)) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'repository'],
          message: `one of the configured repositories (${config.repositories.join(', ')})`,
        });
      }
      if (!tagMatchesAny(env.defaultTag, env.tags)) {
        ctx.addIssue({ code: 'custom', path: ['environments', name, 'defaultTag'], message: "a tag matched by the environment's tags" });
      }
      if (env.retainPrevious >= config.historyLimit) {
        // A retained AMI without its history entry could not be rolled back to.
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, 'retainPrevious'],
          message: `less than historyLimit (${config.historyLimit})`,
        });
      }
      if (env.promoteFrom !== undefined) {
        const from = Object.hasOwn(config.environments, env.promoteFrom) ? config.environments[env.promoteFrom] : undefined;
        if (!from || env.promoteFrom === name || (from.repository ?? config.repositories[0]) !== repository) {
          ctx.addIssue({
            code: 'custom',
            path: ['environments', name, 'promoteFrom'],
            message: 'another configured environment that builds from the same repository',
          });
        }
      }
    }
  });

export type PipelineConfig = z.infer<typeof configSchema>;
export type EnvironmentConfig = PipelineConfig['environments'][string];
export type VerifyConfig = EnvironmentConfig['verify'];

/** Days after which the environment's `latest` is stale (its own maxAgeDays, else the global one). */
export function maxAgeDays(config: PipelineConfig, environment: string): number {
  return environmentConfig(config, environment)?.maxAgeDays ?? config.maxAgeDays;
}

/** Seconds between two checks of the health check: the Wait of "Wait for the health check". */
export const HEALTH_CHECK_POLL_SECONDS = 20;
/** Beyond the check's own timeout: the command's delivery and the instance's boot. */
const HEALTH_CHECK_GRACE_SECONDS = 300;

/** The environment's verification settings; defaults for an environment the config does not know. */
export function verifyConfig(config: PipelineConfig, environment: string): VerifyConfig {
  return environmentConfig(config, environment)?.verify ?? verifySchema.parse(undefined);
}

/** How many checks "Check the health check" makes before the check counts as timed out. */
export function healthCheckMaxAttempts(verify: VerifyConfig): number {
  return Math.ceil((verify.timeoutSeconds + HEALTH_CHECK_GRACE_SECONDS) / HEALTH_CHECK_POLL_SECONDS);
}

export function tagMatches(tag: string, pattern: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return regex.test(tag);
}

export function tagMatchesAny(tag: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => tagMatches(tag, p));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Environments whose tag patterns match a pushed tag in a repository. */
/** Canonical publishes the Ubuntu images the default base image parameter names. */
export const CANONICAL_ACCOUNT = '099720109477';

/**
 * Owners whose images the builder may start from, besides this account (whose own AMIs the
 * incremental builds start from): the configured one, else the publisher of a known public
 * base image parameter.
 */
export function baseImageOwners(config: PipelineConfig): string[] {
  const base = config.baseImage;
  if (base.owner) return [base.owner];
  if ('parameter' in base && base.parameter.startsWith('/aws/service/canonical/')) return [CANONICAL_ACCOUNT];
  if ('parameter' in base && base.parameter.startsWith('/aws/service/ami-amazon-linux-latest/')) return ['amazon'];
  return [];
}

export function environmentsForTag(config: PipelineConfig, repository: string, tag: string): string[] {
  return Object.entries(config.environments)
    .filter(([, env]) => (env.repository ?? config.repositories[0]) === repository && tagMatchesAny(tag, env.tags))
    .map(([name]) => name);
}

/** The environment's settings; own keys only, so "constructor" or "__proto__" is no environment. */
export function environmentConfig(config: PipelineConfig, environment: string): EnvironmentConfig | undefined {
  return Object.hasOwn(config.environments, environment) ? config.environments[environment] : undefined;
}

export function repositoryFor(config: PipelineConfig, environment: string): string {
  const env = environmentConfig(config, environment);
  return env?.repository ?? config.repositories[0];
}

export function parseConfig(raw: unknown, source: string): PipelineConfig {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigInvalid(`${source}: ${describeZodError(result.error, 'config')}`);
  return result.data;
}

export function readConfigFile(path: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigInvalid(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalid(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(raw, path);
}

export const CONFIG_ENV_VAR = 'PIPELINE_CONFIG';

let cached: PipelineConfig | undefined;

/**
 * The Lambdas receive the config file's content as one JSON environment variable (set by
 * serverless.yml from config/pipeline.json); the CLI sets the same variable from --config.
 */
export function loadConfig(): PipelineConfig {
  if (cached) return cached;
  const text = process.env[CONFIG_ENV_VAR];
  if (!text) throw new ConfigInvalid(`${CONFIG_ENV_VAR} is not set: it must hold the pipeline config as JSON`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalid(`${CONFIG_ENV_VAR} is not valid JSON: ${(error as Error).message}`);
  }
  const config = parseConfig(raw, CONFIG_ENV_VAR);
  // The stack's own builder security group, used when the config names none.
  const stackGroup = process.env.BUILDER_SECURITY_GROUP_ID;
  if (config.builder.securityGroupIds.length === 0 && stackGroup) config.builder.securityGroupIds = [stackGroup];
  cached = config;
  return cached;
}

/** For the CLI and tests, which load a different config in one process. */
export function resetConfigCache(): void {
  cached = undefined;
}
