import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { recordLastResult } from '../shared/last-result';
import { type AnnounceInput, BUILD_EVENT_SOURCE, type BuildEventDetail, buildEventDetail, DETAIL_TYPES } from './build-event';
import { recordBuildMetrics } from './build-metrics';
import { readExecutionHistory, type StepTiming, stepTimings } from './step-timings';

export interface AnnounceDeps {
  events: EventBridgeClient;
  sfn: SFNClient;
  dynamodb: DynamoDBClient;
  /** The lock table, which also keeps each environment's last result (shared/last-result.ts). */
  lockTable: string;
  metrics: Metrics;
  logger: Logger;
  eventBusName: string;
  now?: () => Date;
}

export interface Announced {
  detailType: string;
  delivered: boolean;
  eventId: string | null;
}

/** A deployed execution's id is its ARN; a local run (scripts/lib/local-runner.ts) has no history to read. */
const isExecutionArn = (id: string) => /^arn:aws[a-z-]*:states:/.test(id);

async function timingsOf(id: string, deps: AnnounceDeps): Promise<StepTiming[] | null> {
  if (!isExecutionArn(id)) return null;
  try {
    return stepTimings(await readExecutionHistory(deps.sfn, id));
  } catch (error) {
    deps.logger.warn('step durations unknown: the execution history could not be read', { error: error as Error });
    return null;
  }
}

/** PutEvents answers 200 with FailedEntryCount for an entry it refused: that is a failure too. */
async function putBuildEvent(detailType: string, detail: BuildEventDetail, deps: AnnounceDeps): Promise<string> {
  const out = await deps.events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: BUILD_EVENT_SOURCE,
          DetailType: detailType,
          Detail: JSON.stringify(detail),
          EventBusName: deps.eventBusName,
        },
      ],
    }),
  );
  const entry = out.Entries?.[0];
  if ((out.FailedEntryCount ?? 0) > 0 || !entry?.EventId) {
    throw new Error(`PutEvents refused the event: ${entry?.ErrorCode ?? 'no entry'} ${entry?.ErrorMessage ?? ''}`.trim());
  }
  return entry.EventId;
}

/**
 * The build's end, told once: an EventBridge event (source comfyui.ami), the environment's last
 * result (for status --env) and the build's metrics. Never fails the build: an event EventBridge would not take (after the SDK's own retries) is logged
 * and counted as BuildEventNotDelivered, and the metrics are written either way. Throwing here
 * instead would have the ASL retry the whole step and count the build twice.
 */
export async function announceResult(input: AnnounceInput, deps: AnnounceDeps): Promise<Announced> {
  const detail = buildEventDetail(input, (deps.now ?? (() => new Date()))(), await timingsOf(input.state.execution.id, deps));
  const detailType = DETAIL_TYPES[input.result];
  let eventId: string | null = null;
  try {
    eventId = await putBuildEvent(detailType, detail, deps);
    deps.logger.info('build event put', { detailType, eventId, environment: detail.environment, eventBusName: deps.eventBusName });
  } catch (error) {
    deps.logger.error('build event not delivered; the build ends as it would have', {
      detailType,
      environment: detail.environment,
      eventBusName: deps.eventBusName,
      error: error as Error,
    });
  }
  try {
    await recordLastResult(deps.dynamodb, deps.lockTable, detail.environment, {
      result: detail.result,
      execution_name: detail.execution_name,
      execution_id: detail.execution_id,
      finished_at: detail.finished_at,
      ami_id: detail.ami_id,
      error: detail.error ? `${detail.error.error}: ${detail.error.cause}` : null,
    });
  } catch (error) {
    deps.logger.error('last result not recorded; status --env shows the one before', {
      environment: detail.environment,
      error: error as Error,
    });
  }
  recordBuildMetrics(deps.metrics, detail, eventId !== null);
  return { detailType, delivered: eventId !== null, eventId };
}
