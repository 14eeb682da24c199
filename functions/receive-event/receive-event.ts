import type { StepContext } from '../shared/handler';
import { findWait, forgetWait, type WaitKind } from '../shared/wait-registry';
import { wakeExecution } from '../shared/wake';

/** The EventBridge event fields this reads (AWS documents more). */
export interface StateChangeEvent {
  source?: string;
  'detail-type'?: string;
  detail?: Record<string, unknown>;
}

export const AMI_STATE_CHANGE = 'EC2 AMI State Change';
export const COMMAND_INVOCATION_STATUS_CHANGE = 'EC2 Command Invocation Status-change Notification';
export const INSTANCE_STATE_CHANGE = 'EC2 Instance State-change Notification';

export interface ReceiveResult {
  /** The execution woken, or null when no wait was registered for the event's resource. */
  resumed: string | null;
}

/** The resource an event is about, and its new status; null for any other event. */
export function eventResource(event: StateChangeEvent): { kind: WaitKind; resourceId: string; status: string } | null {
  const detail = event?.detail ?? {};
  const field = (name: string) => (typeof detail[name] === 'string' ? (detail[name] as string) : null);
  if (event?.source === 'aws.ec2' && event['detail-type'] === AMI_STATE_CHANGE) {
    const resourceId = field('ImageId');
    const status = field('State');
    return resourceId && status ? { kind: 'image', resourceId, status } : null;
  }
  if (event?.source === 'aws.ec2' && event['detail-type'] === INSTANCE_STATE_CHANGE) {
    const resourceId = field('instance-id');
    const status = field('state');
    return resourceId && status ? { kind: 'instance', resourceId, status } : null;
  }
  if (event?.source === 'aws.ssm' && event['detail-type'] === COMMAND_INVOCATION_STATUS_CHANGE) {
    const resourceId = field('command-id');
    const status = field('status');
    return resourceId && status ? { kind: 'command', resourceId, status } : null;
  }
  return null;
}

/**
 * Target of the EventBridge rules: wakes the execution that registered the event's resource.
 * The registry is the authority: an event for a resource no wait registered (another build's,
 * anyone's) resumes nothing, and the woken execution reads the resource itself before going on.
 */
export async function receiveEvent(
  event: StateChangeEvent,
  { config, clients, logger }: StepContext<'dynamodb' | 'sfn'>,
): Promise<ReceiveResult> {
  const seen = eventResource(event);
  if (!seen) {
    logger.info('not a state change this pipeline waits for', { detailType: event?.['detail-type'] });
    return { resumed: null };
  }
  const wait = await findWait(clients.dynamodb, config, seen.resourceId);
  if (!wait || wait.kind !== seen.kind) return { resumed: null };
  const woken = await wakeExecution(clients.sfn, wait.taskToken, { resourceId: seen.resourceId, status: seen.status, via: 'event' });
  await forgetWait(clients.dynamodb, config, seen.resourceId, wait.taskToken);
  return { resumed: woken ? wait.executionId : null };
}
