import { DescribeInstanceTypesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { environmentConfig, environmentInstanceTypes, type PipelineConfig } from '../../functions/shared/config';
import { readableServiceError } from './aws-target';

/**
 * EC2 limits running On-Demand instances by vCPUs per instance family group, per region; a new
 * account often has 0 for the GPU groups, and then every launch fails with
 * VcpuLimitExceeded after the build has started. Codes from the Service Quotas console (ec2).
 */
export const GPU_QUOTAS = [
  { family: /^(g\d|vt\d)/, code: 'L-DB2E81BA', name: 'Running On-Demand G and VT instances' },
  { family: /^p\d/, code: 'L-417A185B', name: 'Running On-Demand P instances' },
] as const;

export type QuotaVerdict =
  /** Enough vCPUs for one instance of the type (or no GPU quota applies). */
  | { status: 'ok'; message: string }
  /** Below the type's vCPUs: nothing may start (exit 2). */
  | { status: 'short'; message: string }
  /** The quota could not be read (an emulator, no permission): say so and go on. */
  | { status: 'unknown'; message: string };

export interface QuotaClients {
  quotas: ServiceQuotasClient;
  ec2: EC2Client;
}

export function defaultQuotaClients(): QuotaClients {
  return { quotas: new ServiceQuotasClient({}), ec2: new EC2Client({}) };
}

function reason(error: unknown): string {
  const e = readableServiceError(error) as Error;
  return `${e.name}: ${e.message}`.slice(0, 300);
}

/**
 * The quota of the instance type an environment builds on (builder and test instance run one
 * after the other: the builder is stopped before the test instance starts), compared with that
 * type's vCPUs. Usage by other workloads is not counted: the check catches the 0 of a new account.
 */
export async function checkGpuQuota(config: PipelineConfig, environment: string, clients: QuotaClients): Promise<QuotaVerdict> {
  const env = environmentConfig(config, environment);
  // The first type the launch tries; a quota for the listed fallbacks is not checked.
  const instanceType = environmentInstanceTypes(config, environment)[0];
  const quota = GPU_QUOTAS.find((q) => q.family.test(instanceType));
  if (!env?.gpu || !quota) return { status: 'ok', message: `${instanceType}: no GPU instance quota to check` };
  const region = (await clients.quotas.config.region()) ?? 'this region';

  let value: number | undefined;
  try {
    const out = await clients.quotas.send(new GetServiceQuotaCommand({ ServiceCode: 'ec2', QuotaCode: quota.code }));
    value = out.Quota?.Value;
  } catch (error) {
    return {
      status: 'unknown',
      message: `could not read the quota "${quota.name}" (ec2 ${quota.code}) in ${region}, so the build starts without that check: ${reason(error)}`,
    };
  }
  if (value === undefined)
    return { status: 'unknown', message: `the quota "${quota.name}" (ec2 ${quota.code}) in ${region} has no value; not checked` };

  let vcpus = 1;
  try {
    const types = await clients.ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as never] }));
    vcpus = types.InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus ?? 1;
  } catch {
    // Unknown vCPUs: still refuse a quota of 0, which no instance fits.
  }
  if (value >= vcpus)
    return {
      status: 'ok',
      message: `"${quota.name}" (ec2 ${quota.code}) is ${value} vCPUs in ${region}; a ${instanceType} needs ${vcpus}`,
    };
  return {
    status: 'short',
    message:
      `the quota "${quota.name}" (ec2 ${quota.code}) is ${value} vCPUs in ${region}, and a ${instanceType} needs ${vcpus}: ` +
      `the build of ${environment} could not launch its builder, so nothing was started. Request an increase ` +
      `(approval can take a day or more): aws service-quotas request-service-quota-increase --service-code ec2 ` +
      `--quota-code ${quota.code} --desired-value ${Math.max(vcpus, 8)} --region ${region} ` +
      `(or the Service Quotas console: AWS services, Amazon Elastic Compute Cloud (Amazon EC2), "${quota.name}")`,
  };
}

/** Prints the verdict for `start` and `run`: the reason when the quota is short (they exit 2), else null (go on). */
export async function quotaPreflight(
  config: PipelineConfig,
  environment: string,
  clients: QuotaClients = defaultQuotaClients(),
): Promise<string | null> {
  const verdict = await checkGpuQuota(config, environment, clients);
  if (verdict.status === 'short') {
    console.error(`error: ${verdict.message}`);
    return verdict.message;
  }
  if (verdict.status === 'unknown') console.error(`warning: ${verdict.message}`);
  return null;
}
