import { stepHandler } from '../shared/handler';
import { newMetrics } from '../shared/metrics';
import { dynamodbClient } from '../shared/sdk/dynamodb';
import { eventsClient } from '../shared/sdk/events';
import { sfnClient } from '../shared/sdk/sfn';
import { announceResult } from './announce-result';
import type { AnnounceInput } from './build-event';

export const handler = stepHandler(
  (input: AnnounceInput, ctx) =>
    announceResult(input, {
      events: ctx.clients.events,
      sfn: ctx.clients.sfn,
      dynamodb: ctx.clients.dynamodb,
      lockTable: ctx.config.lock.table,
      metrics: newMetrics(),
      logger: ctx.logger,
      eventBusName: ctx.config.buildEvents.eventBusName,
    }),
  () => ({ events: eventsClient(), sfn: sfnClient(), dynamodb: dynamodbClient() }),
);
