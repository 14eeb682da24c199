// zod/mini, as the request schemas (functions/shared/request.ts says why).
import * as z from 'zod/mini';
import { RequestInvalid } from '../shared/errors';
import { zodIssues } from '../shared/validation';
import { type StartDeps, type StartedBuild, startBuild } from './start-build';

/**
 * The EventBridge envelope of an ECR push, as the stack's rule delivers it. The event id is
 * required: redeliveries of one event carry the same id and so start one build. The detail is
 * checked against the config by the request parser, as it is at "Normalize the request".
 */
export const pushEventSchema = z.object({
  version: z.optional(z.string()),
  id: z.string().check(z.regex(/^[A-Za-z0-9-]{1,128}$/, 'the EventBridge event id (letters, digits and -)')),
  source: z.literal('aws.ecr', 'aws.ecr (the rule matches only ECR events)'),
  'detail-type': z.literal('ECR Image Action', 'ECR Image Action'),
  time: z.optional(z.string()),
  detail: z.record(z.string(), z.unknown(), 'the ECR push detail object'),
});

/** An EventBridge event (by its envelope), as opposed to an HTTP API request. */
export function isEventBridgeEvent(event: unknown): boolean {
  return event !== null && typeof event === 'object' && !Array.isArray(event) && 'detail-type' in event && 'source' in event;
}

/** The entry of the ECR push rule: starts the build, or throws a named error so Lambda's asynchronous retries see it. */
export async function startFromPush(event: unknown, deps: StartDeps): Promise<StartedBuild> {
  const envelope = pushEventSchema.safeParse(event, { reportInput: true });
  if (!envelope.success) throw new RequestInvalid(zodIssues(envelope.error, 'event'));
  return startBuild(event, deps);
}
