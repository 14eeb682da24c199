import { type Instance, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { terminateInstances } from '../shared/ec2';
import type { StepContext } from '../shared/handler';
import { BUILDER_ROLE, MANAGED_BY, TAG, VERIFIER_ROLE } from '../shared/tags';

export interface SweepResult {
  checked: number;
  terminated: { instanceId: string; ageMinutes: number; execution: string }[];
}

/** Minutes since launch, from timestamps: days, not just the hour part, count. */
export function ageMinutes(instance: Instance, now: Date): number {
  const launched = instance.LaunchTime ? new Date(instance.LaunchTime).getTime() : now.getTime();
  return Math.floor((now.getTime() - launched) / 60000);
}

/**
 * Scheduled: terminates pipeline builders and test instances older than builder.maxAgeMinutes, whatever left them
 * (an aborted or timed-out execution, a roll-back that could not finish). The limit is above the
 * state machine's own timeout, so a builder of a live build is never touched.
 */
export async function sweepBuilders(
  _event: unknown,
  { config, clients, logger }: StepContext<'ec2'>,
  now = new Date(),
): Promise<SweepResult> {
  const builders: Instance[] = [];
  const pages = paginateDescribeInstances(
    { client: clients.ec2 },
    {
      Filters: [
        { Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] },
        // Test instances too: an execution stopped during verification leaves one.
        { Name: `tag:${TAG.role}`, Values: [BUILDER_ROLE, VERIFIER_ROLE] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
      ],
    },
  );
  for await (const page of pages) builders.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []));

  const expired = builders.filter((i) => i.InstanceId && ageMinutes(i, now) > config.builder.maxAgeMinutes);
  await terminateInstances(
    clients.ec2,
    expired.map((i) => i.InstanceId ?? ''),
  );
  const terminated = expired.map((i) => ({
    instanceId: i.InstanceId ?? '',
    ageMinutes: ageMinutes(i, now),
    execution: i.Tags?.find((t) => t.Key === TAG.execution)?.Value ?? 'unknown',
  }));
  if (terminated.length > 0) logger.warn('terminated abandoned builders', { terminated });
  return { checked: builders.length, terminated };
}
