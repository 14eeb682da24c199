import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand } from '@aws-sdk/client-ssm';
import type { Clients } from '../shared/clients';
import { RequestInvalid } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { registerWait, type WaitKind } from '../shared/wait-registry';
import { wakeExecution } from '../shared/wake';

/** The Payload of a "Wait for ..." Task (lambda:invoke.waitForTaskToken). */
export interface AwaitInput {
  kind: WaitKind;
  resourceId: string;
  /** The command's instance (kind command). */
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

/**
 * Registers the Task's token for the resource, then looks at the resource once: an event sent
 * between the previous check and the registration found no token, so a resource that has
 * already settled wakes the execution here.
 */
export async function awaitEvent(input: AwaitInput, { config, clients }: StepContext): Promise<AwaitResult> {
  const wait = parseInput(input);
  await registerWait(clients.dynamodb, config, wait);
  const settled = await settledStatus(clients, wait);
  if (settled !== null) await wakeExecution(clients.sfn, wait.taskToken, { resourceId: wait.resourceId, status: settled, via: 'check' });
  return { resourceId: wait.resourceId, settled };
}

/** The resource's status once it has left its working state; null while it works. */
export async function settledStatus(
  clients: Clients,
  wait: Pick<AwaitInput, 'kind' | 'resourceId' | 'instanceId'>,
): Promise<string | null> {
  if (wait.kind === 'image') {
    const out = await clients.ec2.send(new DescribeImagesCommand({ ImageIds: [wait.resourceId] }));
    const state = out.Images?.[0]?.State ?? 'missing';
    return state === 'pending' ? null : state;
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

const text = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

function parseInput(input: AwaitInput): AwaitInput {
  if (input?.kind !== 'image' && input?.kind !== 'command') throw new RequestInvalid('await: kind must be "image" or "command"');
  if (!text(input.resourceId)) throw new RequestInvalid('await: resourceId must be a non-empty string');
  if (input.kind === 'command' && !text(input.instanceId)) throw new RequestInvalid('await: instanceId must name the command instance');
  if (!text(input.taskToken)) throw new RequestInvalid('await: taskToken must be the Task token ($$.Task.Token)');
  if (!text(input.executionId)) throw new RequestInvalid('await: executionId must be a non-empty string');
  return input;
}
