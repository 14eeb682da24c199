import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StepContext } from '../shared/handler';
import { type LatestAge, readLatestAges } from '../shared/latest-age';
import { METRIC } from '../shared/metrics';

/**
 * Scheduled: one LatestAgeDays metric per environment, which the stack's age alarm compares with
 * the environment's maxAgeDays. An environment without `latest` writes no value: its alarm
 * treats missing data as breaching, as it does when this function stops reporting.
 */
export async function measureAmiAge(
  { config, clients, logger }: StepContext<'ssm'>,
  metrics: Metrics,
  now = new Date(),
): Promise<LatestAge[]> {
  const ages = await readLatestAges(clients.ssm, config, now);
  for (const age of ages) {
    if (age.ageDays === null) {
      logger.warn('environment has no latest AMI', { environment: age.environment });
      continue;
    }
    const one = metrics.singleMetric();
    one.addDimension('environment', age.environment);
    one.addMetadata('ami_id', age.amiId ?? '');
    one.addMetadata('max_age_days', String(age.maxAgeDays));
    one.addMetric(METRIC.latestAgeDays, MetricUnit.NoUnit, age.ageDays);
  }
  return ages;
}
