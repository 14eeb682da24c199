import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '../shared/metrics';
import type { BuildEventDetail } from './build-event';

const RESULT_METRIC = {
  succeeded: METRIC.buildSucceeded,
  failed: METRIC.buildFailed,
  superseded: METRIC.buildSuperseded,
} as const;

/**
 * One build's metrics, by environment: its result as a count (what the failed-build alarm sums),
 * its duration and retries, Builds by mode and result, and each step's duration and retries by
 * step. Ids and the error travel as metadata (searchable in Logs Insights, not metrics).
 */
export function recordBuildMetrics(metrics: Metrics, detail: BuildEventDetail, eventDelivered: boolean): void {
  const environment = detail.environment;
  metrics.addDimension('environment', environment);
  metrics.addMetric(RESULT_METRIC[detail.result], MetricUnit.Count, 1);
  if (detail.result !== 'superseded') metrics.addMetric(METRIC.buildDuration, MetricUnit.Seconds, detail.duration_seconds);
  if (detail.steps) {
    metrics.addMetric(
      METRIC.buildRetries,
      MetricUnit.Count,
      detail.steps.reduce((sum, s) => sum + s.retries, 0),
    );
  }
  if (!eventDelivered) metrics.addMetric(METRIC.buildEventNotDelivered, MetricUnit.Count, 1);
  metrics.addMetadata('execution_id', detail.execution_id);
  metrics.addMetadata('build_id', detail.build_id);
  metrics.addMetadata('result', detail.result);
  metrics.addMetadata('mode', detail.mode ?? 'none');
  if (detail.error) metrics.addMetadata('error', detail.error.error);
  metrics.publishStoredMetrics();

  // A single metric is written at once, with its own dimensions.
  const byMode = metrics.singleMetric();
  byMode.addDimension('environment', environment);
  byMode.addDimension('mode', detail.mode ?? 'none');
  byMode.addDimension('result', detail.result);
  byMode.addMetric(METRIC.builds, MetricUnit.Count, 1);

  for (const step of detail.steps ?? []) {
    for (const [name, unit, value] of [
      [METRIC.stepDuration, MetricUnit.Seconds, step.duration_seconds],
      [METRIC.stepRetries, MetricUnit.Count, step.retries],
    ] as const) {
      const one = metrics.singleMetric();
      one.addDimension('environment', environment);
      one.addDimension('step', step.state);
      one.addMetric(name, unit, value);
    }
  }
}
