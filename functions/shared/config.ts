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

const environmentSchema = z
  .object({
    repository: z.string().regex(REPOSITORY_NAME, 'an ECR repository name').optional(),
    tags: z.array(z.string().regex(TAG_PATTERN, 'a Docker tag where * matches any characters')).min(1),
    defaultTag: z.string().regex(TAG_PATTERN).refine((t) => !t.includes('*'), 'a plain tag, no *'),
    gpu: z.boolean().default(true),
    instanceType: z.string().regex(/^[a-z0-9-]+\.[a-z0-9]+$/, 'an EC2 instance type such as g5.xlarge').optional(),
    containerPort: z.number().int().min(1).max(65535).default(8188),
  })
  .strict();

const baseImageSchema = z.union([
  z.object({ parameter: z.string().regex(/^\/[A-Za-z0-9_.\-/]+$/, 'an SSM parameter path') }).strict(),
  z.object({ amiId: z.string().regex(AMI_ID, 'an AMI id such as ami-0123456789abcdef0') }).strict(),
]);

export const configSchema = z
  .object({
    parameterPrefix: z
      .string()
      .regex(/^\/[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/, 'an SSM path such as /comfyui/ami')
      .refine((p) => !p.startsWith('/aws/') && !p.startsWith('/ssm/'), 'a path outside /aws/ and /ssm/')
      .default('/comfyui/ami'),
    amiNamePrefix: z.string().regex(/^[A-Za-z0-9()[\]./@_'-]{3,60}$/, 'AMI name characters, 3-60 long').default('comfyui-multitenant'),
    repositories: z.array(z.string().regex(REPOSITORY_NAME, 'an ECR repository name')).min(1),
    baseImage: baseImageSchema.default({
      parameter: '/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id',
    }),
    builder: z
      .object({
        instanceType: z.string().regex(/^[a-z0-9-]+\.[a-z0-9]+$/, 'an EC2 instance type such as g5.xlarge').default('g4dn.xlarge'),
        subnetId: z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id such as subnet-0123456789abcdef0').optional(),
        securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id')).default([]),
        instanceProfile: z.string().regex(/^[\w+=,.@-]{1,128}$/, 'an IAM instance profile name').default('comfyui-ami-builder'),
        rootVolumeGiB: z.number().int().min(8).max(16384).default(100),
        // Longer than the state machine's 4-hour timeout: a builder of a live execution is never swept.
        maxAgeMinutes: z.number().int().min(250).max(24 * 60 * 7).default(300),
      })
      .strict()
      .prefault({}),
    documents: z
      .object({
        fresh: z.string().regex(/^[A-Za-z0-9_.-]{3,128}$/, 'an SSM document name').default('ComfyUIAmi-FreshInstall'),
        incremental: z.string().regex(/^[A-Za-z0-9_.-]{3,128}$/, 'an SSM document name').default('ComfyUIAmi-Update'),
      })
      .strict()
      .prefault({}),
    commandLogGroup: z.string().regex(/^[\w\-/.#]{1,512}$/, 'a CloudWatch Logs group name').default('/comfyui-ami/builder'),
    polling: z
      .object({
        stopMaxAttempts: z.number().int().min(1).max(500).default(60),
        commandMaxAttempts: z.number().int().min(1).max(500).default(180),
        imageMaxAttempts: z.number().int().min(1).max(500).default(180),
      })
      .strict()
      .prefault({}),
    historyLimit: z.number().int().min(1).max(1000).default(100),
    lock: z
      .object({
        table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name').default('comfyui-ami-locks'),
        // Longer than the state machine's own 4-hour timeout: a live holder is never taken over.
        leaseMinutes: z.number().int().min(5).max(24 * 60).default(270),
        // Checks of the lock, one per "Wait for the environment" (60 s): the longest wait must end
        // before the execution's own timeout (scripts/lib/lock-budget.ts checks it against the ASL).
        maxWaitAttempts: z.number().int().min(1).max(1000).default(120),
        // How far an ECR event's time may lie from the execution's start (request.ts eventTime).
        maxEventSkewMinutes: z.number().int().min(1).max(60).default(5),
        maxEventAgeMinutes: z.number().int().min(1).max(24 * 60).default(360),
      })
      .strict()
      .prefault({}),
    environments: z
      .record(z.string().regex(ENVIRONMENT_NAME, 'lowercase letters, digits and -, starting with a letter'), environmentSchema)
      .refine((envs) => Object.keys(envs).length > 0, 'at least one environment'),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const [name, env] of Object.entries(config.environments)) {
      const repository = env.repository ?? config.repositories[0];
      if (!config.repositories.includes(repository)) {
        ctx.addIssue({ code: 'custom', path: ['environments', name, 'repository'], message: `one of the configured repositories (${config.repositories.join(', ')})` });
      }
      if (!tagMatchesAny(env.defaultTag, env.tags)) {
        ctx.addIssue({ code: 'custom', path: ['environments', name, 'defaultTag'], message: 'a tag matched by the environment\'s tags' });
      }
    }
  });

export type PipelineConfig = z.infer<typeof configSchema>;
export type EnvironmentConfig = PipelineConfig['environments'][string];

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
