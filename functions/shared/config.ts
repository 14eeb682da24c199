import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { loadConfigWith } from './config-env';
import {
  ENVIRONMENT_NAME,
  environmentInstanceTypes,
  environmentSubnetIds,
  REPOSITORY_NAME,
  tagMatchesAny,
  VERIFY_DEFAULTS,
} from './config-values';
import { ConfigInvalid } from './errors';
import { AMI_ID, AMI_ID_FORM } from './patterns';
import { zodIssues } from './validation';

// The schema-free parts, for the CLI and tests that import them from here; the Lambdas import
// config-values.ts and config-env.ts directly, so their bundles hold no zod.
export { CONFIG_ENV_VAR, resetConfigCache } from './config-env';
export {
  baseImageOwners,
  builderInstanceTypes,
  builderSubnetIds,
  builderVolumeInitializationRate,
  CANONICAL_ACCOUNT,
  DEFAULT_INSTANCE_TYPE,
  ENVIRONMENT_NAME,
  EVENT_WAIT_FALLBACK_SECONDS,
  environmentConfig,
  environmentInstanceTypes,
  environmentSpot,
  environmentSubnetIds,
  environmentsForTag,
  fastSnapshotRestoreZones,
  healthCheckMaxAttempts,
  maxAgeDays,
  REPOSITORY_NAME,
  repositoryFor,
  tagMatches,
  tagMatchesAny,
  verifyConfig,
} from './config-values';

// A tag pattern is a Docker tag in which '*' stands for any run of characters.
const TAG_PATTERN = /^[A-Za-z0-9_*][A-Za-z0-9._*-]{0,127}$/;
const INSTANCE_TYPE = z.string().regex(/^[a-z0-9-]+\.[a-z0-9]+$/, 'an EC2 instance type such as g5.xlarge');
const SUBNET_ID = z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id such as subnet-0123456789abcdef0');
/**
 * Launches one step may try in its Lambda (each a fast RunInstances refusal): instance types x
 * subnets, twice with Spot. Bounded so the step ends well inside its 50-second Task timeout.
 */
export const MAX_LAUNCH_PAIRS = 12;
// Ordered, most wanted first: GPU capacity is often short in one zone or for one type.
const INSTANCE_TYPES = z.array(INSTANCE_TYPE).min(1).max(4);
const SUBNET_IDS = z.array(SUBNET_ID).min(1).max(6);
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
    enabled: z.boolean().default(VERIFY_DEFAULTS.enabled),
    timeoutSeconds: z.number().int().min(60).max(3600).default(VERIFY_DEFAULTS.timeoutSeconds),
  })
  .strict()
  .prefault({});

// EBS Provisioned Rate for Volume Initialization: 100-300 MiB/s, 0 = EBS's default (unpriced) rate.
const volumeInitializationRate = z
  .number()
  .int()
  .refine((rate) => rate === 0 || (rate >= 100 && rate <= 300), '0 (off) or a rate in MiB/s from 100 to 300');

// Availability zone names such as us-east-1a; Local Zones (us-west-2-lax-1a) have no fast snapshot restore.
const AVAILABILITY_ZONE = /^[a-z]{2}(-[a-z]+){1,2}-\d[a-z]$/;

/** Fast snapshot restore on the published AMI's snapshots, in these zones (billed per snapshot and zone hour). */
const fastSnapshotRestoreSchema = z
  .object({
    availabilityZones: z
      .array(z.string().regex(AVAILABILITY_ZONE, 'an availability zone name such as us-east-1a'))
      .min(1)
      .max(10)
      .refine((zones) => new Set(zones).size === zones.length, 'each zone once'),
  })
  .strict();

const environmentSchema = z
  .object({
    repository: z.string().regex(REPOSITORY_NAME, 'an ECR repository name').optional(),
    tags: z.array(z.string().regex(TAG_PATTERN, 'a Docker tag where * matches any characters')).min(1),
    defaultTag: z
      .string()
      .regex(TAG_PATTERN)
      .refine((t) => !t.includes('*'), 'a plain tag, no *'),
    gpu: z.boolean().default(true),
    // The builder's and the test instance's type; a single value is a list of one.
    instanceType: INSTANCE_TYPE.optional(),
    instanceTypes: INSTANCE_TYPES.optional(),
    // Subnets (one per availability zone, in order) of this environment's builder and test instance.
    subnetIds: SUBNET_IDS.optional(),
    // Spot for this environment's builder (the test instance is always On-Demand); default builder.spot.
    spot: z.boolean().optional(),
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
    // The builder's root volume initialization rate for this environment; absent = builder.volumeInitializationRate.
    volumeInitializationRate: volumeInitializationRate.optional(),
    fastSnapshotRestore: fastSnapshotRestoreSchema.optional(),
    // Days after which `latest` counts as stale (the age alarm); absent = the global maxAgeDays.
    maxAgeDays: MAX_AGE_DAYS.optional(),
  })
  .strict();

// Who may own a base image, besides this account: an account id, or `amazon` for Amazon's own images.
const IMAGE_OWNER = z.string().regex(/^(\d{12}|amazon)$/, 'a 12-digit AWS account id or "amazon"');

const baseImageSchema = z.union([
  z.object({ parameter: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, 'an SSM parameter path'), owner: IMAGE_OWNER.optional() }).strict(),
  z.object({ amiId: z.string().regex(AMI_ID, AMI_ID_FORM), owner: IMAGE_OWNER.optional() }).strict(),
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
        // Either one type or an ordered list (default g4dn.xlarge); a single value is a list of one.
        instanceType: INSTANCE_TYPE.optional(),
        instanceTypes: INSTANCE_TYPES.optional(),
        // Either one subnet or an ordered list, ideally one per availability zone; none: the default VPC's.
        subnetId: SUBNET_ID.optional(),
        subnetIds: SUBNET_IDS.optional(),
        // One-time Spot builders, On-Demand when Spot has no capacity (launch-choices.ts).
        spot: z.boolean().default(false),
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
        // The root volume comes from a snapshot (the base AMI's) and reads its blocks lazily from
        // S3; a provisioned rate fetches them all at this speed, for a charge per GiB (builder/README.md).
        volumeInitializationRate: volumeInitializationRate.default(0),
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
    // Checks before giving up: the first right after the step's work, then one when an event
    // wakes the wait ("Wait for the builder to stop", "Wait for the update", "Wait for the AMI"),
    // else one per fallback timeout of that wait (300 s each). Defaults, with every event lost:
    // 15 min to stop, 160 min for the command (above the document's own 150-minute timeout,
    // itself above a 95-minute fresh build), 5 hours for the AMI (a first snapshot of a volume
    // can take hours).
    polling: z
      .object({
        stopMaxAttempts: z.number().int().min(1).max(500).default(4),
        commandMaxAttempts: z.number().int().min(1).max(500).default(32),
        imageMaxAttempts: z.number().int().min(1).max(500).default(60),
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
    const single = (path: (string | number)[], one: unknown, many: unknown, field: string) => {
      if (one !== undefined && many !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [...path, `${field}s`],
          message: `given without ${field}: set one ${field} or the list ${field}s, not both`,
        });
    };
    single(['builder'], config.builder.instanceType, config.builder.instanceTypes, 'instanceType');
    single(['builder'], config.builder.subnetId, config.builder.subnetIds, 'subnetId');
    for (const [name, env] of Object.entries(config.environments)) {
      single(['environments', name], env.instanceType, env.instanceTypes, 'instanceType');
      const pairs = environmentInstanceTypes(config, name).length * Math.max(1, environmentSubnetIds(config, name).length);
      if (pairs > MAX_LAUNCH_PAIRS) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', name, env.subnetIds ? 'subnetIds' : 'instanceTypes'],
          message: `at most ${MAX_LAUNCH_PAIRS} instance type and subnet pairs (instance types x subnets), not ${pairs}`,
        });
      }
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

export function parseConfig(raw: unknown, source: string): PipelineConfig {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigInvalid(zodIssues(result.error, 'config'), source);
  return result.data;
}

export function readConfigFile(path: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigInvalid({ field: path, problem: `cannot read it (${(error as Error).message})`, allowed: 'a readable file' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigInvalid({ field: path, problem: `not JSON (${(error as Error).message})`, allowed: 'the pipeline config as JSON' });
  }
  return parseConfig(raw, path);
}

/** The CLI's way: the same variable, validated (the Lambdas trust it: config-env.ts). */
export function loadConfig(): PipelineConfig {
  return loadConfigWith(parseConfig);
}
