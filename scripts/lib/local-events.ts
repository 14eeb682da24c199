import { randomUUID } from 'node:crypto';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { AMI_STATE_CHANGE, COMMAND_INVOCATION_STATUS_CHANGE, INSTANCE_STATE_CHANGE } from '../../functions/receive-event/receive-event';
import type { WaitKind } from '../../functions/shared/wait-registry';

/**
 * A local stand-in for the EventBridge events the pipeline waits for (moto emits none): it
 * watches one resource in the emulator and sends the event AWS documents for each change of its
 * state, in AWS's shape, to the receiver. Like AWS it sends whether or not a wait is registered.
 */
export interface WatchedResource {
  kind: WaitKind;
  /** The AMI, the command or the instance. */
  resourceId: string;
  instanceId?: string;
  /** The command's document (the pipeline's rule matches on it). */
  documentName?: string;
}

export type EventSink = (event: Record<string, unknown>) => Promise<void>;

const REGION = () => process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
const ACCOUNT = '000000000000';

export function stateChangeEvent(resource: WatchedResource, status: string): Record<string, unknown> {
  const common = { version: '0', id: randomUUID(), account: ACCOUNT, time: new Date().toISOString(), region: REGION() };
  if (resource.kind === 'image') {
    return {
      ...common,
      'detail-type': AMI_STATE_CHANGE,
      source: 'aws.ec2',
      resources: [`arn:aws:ec2:${REGION()}::image/${resource.resourceId}`],
      detail: { RequestId: randomUUID(), ImageId: resource.resourceId, State: status, ErrorMessage: '' },
    };
  }
  if (resource.kind === 'instance') {
    return {
      ...common,
      'detail-type': INSTANCE_STATE_CHANGE,
      source: 'aws.ec2',
      resources: [`arn:aws:ec2:${REGION()}:${ACCOUNT}:instance/${resource.resourceId}`],
      detail: { 'instance-id': resource.resourceId, state: status },
    };
  }
  return {
    ...common,
    'detail-type': COMMAND_INVOCATION_STATUS_CHANGE,
    source: 'aws.ssm',
    resources: [`arn:aws:ec2:${REGION()}:${ACCOUNT}:instance/${resource.instanceId}`],
    detail: {
      'command-id': resource.resourceId,
      'document-name': resource.documentName ?? '',
      'instance-id': resource.instanceId,
      'requested-date-time': common.time,
      status,
    },
  };
}

/**
 * EC2 sends AMI events for these states only; the pipeline's rules take command statuses but the
 * running ones, and instance states stopped and terminated.
 */
const AMI_EVENT_STATES = new Set(['available', 'failed', 'deregistered', 'disabled']);
const RUNNING_COMMAND = new Set(['Pending', 'InProgress', 'Delayed']);
const INSTANCE_RULE_STATES = new Set(['stopped', 'terminated']);

export function deliveredByTheRule(resource: WatchedResource, status: string): boolean {
  if (resource.kind === 'image') return AMI_EVENT_STATES.has(status);
  if (resource.kind === 'instance') return INSTANCE_RULE_STATES.has(status);
  return !RUNNING_COMMAND.has(status);
}

export class LocalEventSource {
  private readonly ec2 = new EC2Client({});
  private readonly ssm = new SSMClient({});

  constructor(
    private readonly sink: EventSink,
    private readonly pollMs = 100,
  ) {}

  /** Watches until the returned function is called; each new state is sent once. */
  watch(resource: WatchedResource): () => void {
    let stopped = false;
    let last: string | null = null;
    const loop = async () => {
      while (!stopped) {
        const status = await this.read(resource).catch(() => null);
        if (status !== null && status.value !== last && !stopped) {
          last = status.value;
          if (deliveredByTheRule(resource, status.value))
            await this.sink(stateChangeEvent({ ...resource, documentName: status.documentName }, status.value)).catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, this.pollMs));
      }
    };
    void loop();
    return () => {
      stopped = true;
    };
  }

  private async read(resource: WatchedResource): Promise<{ value: string; documentName?: string } | null> {
    if (resource.kind === 'image') {
      const out = await this.ec2.send(new DescribeImagesCommand({ ImageIds: [resource.resourceId] }));
      const state = out.Images?.[0]?.State;
      return state ? { value: state } : null;
    }
    if (resource.kind === 'instance') {
      const out = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [resource.resourceId] }));
      const state = out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      return state ? { value: state } : null;
    }
    const out = await this.ssm.send(new GetCommandInvocationCommand({ CommandId: resource.resourceId, InstanceId: resource.instanceId }));
    return out.Status ? { value: out.Status, documentName: out.DocumentName } : null;
  }
}
