/**
 * What the steps read from the validated config: lookups, patterns and defaults, without the
 * zod schema (functions/shared/config.ts), which stays out of the Lambdas' bundles.
 */
import type { EnvironmentConfig, PipelineConfig, VerifyConfig } from './config';
import { escapeRegExp } from './patterns';

export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/;
// ECR repository names: lowercase path segments separated by '/'.
export const REPOSITORY_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

/** The default builder type when the config names none. */
export const DEFAULT_INSTANCE_TYPE = 'g4dn.xlarge';

/** An environment's `verify` when it sets none; the schema's defaults are these. */
export const VERIFY_DEFAULTS: { enabled: boolean; timeoutSeconds: number } = { enabled: true, timeoutSeconds: 600 };

/**
 * The pause of every wait for an event ("Wait for the ..." Tasks, TimeoutSeconds): when no event
 * (and no look of the wait itself) ends it sooner, the check after it runs this long after the last.
 */
export const EVENT_WAIT_FALLBACK_SECONDS = 300;
/** Beyond the check's own timeout: the command's delivery and the instance's boot. */
const HEALTH_CHECK_GRACE_SECONDS = 300;

/** The environment's verification settings; defaults for an environment the config does not know. */
export function verifyConfig(config: PipelineConfig, environment: string): VerifyConfig {
  return environmentConfig(config, environment)?.verify ?? { ...VERIFY_DEFAULTS };
}

/**
 * How many checks "Check the health check" makes before the check counts as timed out: the first
 * right after sending, then one per event or per fallback pause, so the last comes after the
 * check's own timeout and the grace even when every event is lost.
 */
export function healthCheckMaxAttempts(verify: VerifyConfig): number {
  return Math.ceil((verify.timeoutSeconds + HEALTH_CHECK_GRACE_SECONDS) / EVENT_WAIT_FALLBACK_SECONDS) + 1;
}

export function tagMatches(tag: string, pattern: string): boolean {
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return regex.test(tag);
}

export function tagMatchesAny(tag: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => tagMatches(tag, p));
}

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

/** The builder default's ordered instance types: `builder.instanceTypes`, or its one `instanceType`. */
export function builderInstanceTypes(config: PipelineConfig): string[] {
  const { instanceType, instanceTypes } = config.builder;
  return instanceTypes ?? [instanceType ?? DEFAULT_INSTANCE_TYPE];
}

/** The builder default's ordered subnets; empty: the default VPC's default subnet, chosen by EC2. */
export function builderSubnetIds(config: PipelineConfig): string[] {
  const { subnetId, subnetIds } = config.builder;
  return subnetIds ?? (subnetId ? [subnetId] : []);
}

/** The environment's ordered instance types, else the builder default's. */
export function environmentInstanceTypes(config: PipelineConfig, environment: string): string[] {
  const env = environmentConfig(config, environment);
  return env?.instanceTypes ?? (env?.instanceType ? [env.instanceType] : builderInstanceTypes(config));
}

/** The environment's ordered subnets, else the builder default's. */
export function environmentSubnetIds(config: PipelineConfig, environment: string): string[] {
  return environmentConfig(config, environment)?.subnetIds ?? builderSubnetIds(config);
}

/** Whether the environment's builder starts on Spot. */
export function environmentSpot(config: PipelineConfig, environment: string): boolean {
  return environmentConfig(config, environment)?.spot ?? config.builder.spot;
}

/** The builder's root volume initialization rate in MiB/s for a build of the environment; undefined when off. */
export function builderVolumeInitializationRate(config: PipelineConfig, environment: string): number | undefined {
  const rate = environmentConfig(config, environment)?.volumeInitializationRate ?? config.builder.volumeInitializationRate;
  return rate > 0 ? rate : undefined;
}

/** The zones whose fast snapshot restore the environment's published AMI gets; empty when off. */
export function fastSnapshotRestoreZones(config: PipelineConfig, environment: string): string[] {
  return environmentConfig(config, environment)?.fastSnapshotRestore?.availabilityZones ?? [];
}

/** Days after which the environment's `latest` is stale (its own maxAgeDays, else the global one). */
export function maxAgeDays(config: PipelineConfig, environment: string): number {
  return environmentConfig(config, environment)?.maxAgeDays ?? config.maxAgeDays;
}
