import { Metrics } from '@aws-lambda-powertools/metrics';

/**
 * CloudWatch metrics in embedded metric format (one JSON line on stdout, which Lambda's log
 * group turns into metrics). The stack's alarms name these exactly: change them together.
 */
export const METRICS_NAMESPACE = 'ComfyUIAmi';
/** Powertools adds it as a dimension to every metric; the alarms must name it too. */
export const METRICS_SERVICE = 'comfyui-ami';

export const METRIC = {
  buildSucceeded: 'BuildSucceeded',
  buildFailed: 'BuildFailed',
  buildSuperseded: 'BuildSuperseded',
  buildDuration: 'BuildDuration',
  buildRetries: 'BuildRetries',
  builds: 'Builds',
  stepDuration: 'StepDuration',
  stepRetries: 'StepRetries',
  buildEventNotDelivered: 'BuildEventNotDelivered',
  latestAgeDays: 'LatestAgeDays',
} as const;

/** A fresh instance per invocation, so POWERTOOLS_METRICS_DISABLED is read when it runs. */
export function newMetrics(): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: METRICS_SERVICE });
}
