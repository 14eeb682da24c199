import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import { throwIfCancelled } from '../shared/cancellation';
import type { Clients } from '../shared/clients';
import { describeInstance } from '../shared/ec2';
import { RequestInvalid, receivedText } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { isWaitKind, registerWait, type WaitKind } from '../shared/wait-registry';
import { wakeExecution } from '../shared/wake';

/** The Payload of a "Wait for ..." Task (lambda:invoke.waitForTaskToken). */
export interface AwaitInput {
  kind: WaitKind;
  resourceId: string;
  /** The command's instance (kind command); for kind instance, resourceId is the instance. */
  instanceId?: string;
  executionId: string;
  taskToken: string;
}

export interface AwaitResult {
  resourceId: string;
  /** The status when it has already settled (the execution was woken at once), else null. */
  settled: string | null;
}

const RUNNING_COMMAND = new Set(['Pending', 'InProgress', 'Delayed']);
/** Instance states on the way to stopped: the builder's stop has not ended. */
const STOPPING = new Set(['pending', 'running', 'stopping']);

/**
 * Registers the Task's token for the resource, then looks at the resource once: an event sent
 * between the previous check and the registration found no token, so a resource that has
 * already settled wakes the execution here. A cancelled build does not pause for the update, the
 * AMI or the health check: it fails with BuildCancelled before registering, so a cancel ends a
 * long wait at its next fallback at most.
 */
export async function awaitEvent(input: AwaitInput, ctx: StepContext<'dynamodb' | 'ec2' | 'sfn' | 'ssm'>): Promise<AwaitResult> {
  const { config, clients } = ctx;
  const wait = parseInput(input);
  // The builder's stop lasts a minute or two and Create the AMI reads the cancel after it: a read here would repeat that one.
  if (wait.kind !== 'instance') await throwIfCancelled({ name: executionNameOf(wait.executionId), id: wait.executionId }, ctx);
  await registerWait(clients.dynamodb, config, wait);
  const settled = await settledStatus(clients, wait);
  if (settled !== null) await wakeExecution(clients.sfn, wait.taskToken, { resourceId: wait.resourceId, status: settled, via: 'check' });
  return { resourceId: wait.resourceId, settled };
}

/** The resource's status once it has left its working state; null while it works. */
export async function settledStatus(
  clients: Pick<Clients, 'ec2' | 'ssm'>,
  wait: Pick<AwaitInput, 'kind' | 'resourceId' | 'instanceId'>,
): Promise<string | null> {
  if (wait.kind === 'image') {
    const out = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [wait.resourceId] }));
    const state = out.Images?.[0]?.State ?? 'missing';
    return state === 'pending' ? null : state;
  }
  if (wait.kind === 'instance') {
    // A vanished instance has settled too: "Stop the builder", woken, reads it and names the loss.
    const state = (await describeInstance(clients.ec2, wait.resourceId))?.State?.Name ?? 'missing';
    return STOPPING.has(state) ? null : state;
  }
  try {
    const out = await clients.ssm.send(new GetCommandInvocationCommand({ CommandId: wait.resourceId, InstanceId: wait.instanceId }));
    const status = out.Status ?? 'Pending';
    return RUNNING_COMMAND.has(status) ? null : status;
  } catch (error) {
    // Right after SendCommand the invocation may not exist yet: still working.
    if ((error as Error).name === 'InvocationDoesNotExist') return null;
    throw error;
  }
}

/** `arn:aws:states:…:execution:<machine>:<name>` (or `local:<name>`) -> `<name>`: names hold no ':'. */
export function executionNameOf(executionId: string): string {
  return executionId.slice(executionId.lastIndexOf(':') + 1);
}

const text = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function parseInput(input: AwaitInput): AwaitInput {
  const need = (ok: boolean, field: string, allowed: string, value: unknown) => {
    if (!ok) throw new RequestInvalid({ field: `await.${field}`, allowed, received: receivedText(value) });
  };
  need(isWaitKind(input?.kind), 'kind', '"image", "command" or "instance"', input?.kind);
  need(text(input.resourceId), 'resourceId', 'a non-empty string', input.resourceId);
  if (input.kind === 'command') need(text(input.instanceId), 'instanceId', 'the id of the instance running the command', input.instanceId);
  need(text(input.taskToken), 'taskToken', 'the Task token ($$.Task.Token)', input.taskToken);
  need(text(input.executionId), 'executionId', 'a non-empty string', input.executionId);
  return input;
}
