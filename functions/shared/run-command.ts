import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { type BuildIdentity, ownInstance } from './build-identity';
import type { StepContext } from './handler';

/** Instance states no command can run in. */
const GONE = new Set(['shutting-down', 'terminated', 'stopping', 'stopped', 'missing']);
/** Statuses of a command that was sent and has not ended badly: it is still this build's command. */
const ENDED_BADLY = new Set(['Cancelled', 'Failed', 'TimedOut']);
/** Invocation statuses that are worth another check. */
export const STILL_RUNNING = new Set(['Pending', 'InProgress', 'Delayed']);

const TAIL_CHARS = 2000;

export interface CommandToSend {
  instanceId: string;
  documentName: string;
  /** Marks the command as this build's: a retried step finds it rather than sending it again. */
  comment: string;
  parameters: Record<string, string[]>;
  /** Names the command in the log ("update command", "health check"). */
  what: string;
  /** Names the instance in errors ("builder", "test instance"). */
  instanceLabel: string;
}

/** The step's own named errors for an instance that cannot take the command. */
export interface CommandRefusals {
  /** Stopped, terminated or missing: `state` and EC2's reason, when it gave one. */
  gone: (state: string, reason: string | undefined) => Error;
  /** Pending, or its SSM agent has not registered yet: the state machine retries it. */
  notReady: (message: string) => Error;
}

export interface SentCommand {
  commandId: string;
  documentName: string;
}

/**
 * Sends a Run Command document to an instance of this build, once. Only an instance tagged
 * with the build's identity is sent anything, whatever the state names. SSM cannot deduplicate
 * SendCommand, so the command goes through the client without SDK retries, and a retried step
 * first looks for the command it already sent. The values travel as typed document parameters,
 * never as shell text.
 */
export async function sendCommandOnce(
  { config, clients, logger }: StepContext<'ec2' | 'ssm' | 'ssmOnce'>,
  identity: BuildIdentity,
  command: CommandToSend,
  refusals: CommandRefusals,
): Promise<SentCommand> {
  const { instanceId, documentName, comment, what, instanceLabel } = command;
  const instance = await ownInstance(clients.ec2, identity, instanceId);
  const instanceState = instance?.State?.Name ?? 'missing';
  if (GONE.has(instanceState)) throw refusals.gone(instanceState, instance?.StateReason?.Message);
  if (instanceState === 'pending') throw refusals.notReady(`${instanceLabel} ${instanceId} is still pending`);

  const sent = await clients.ssm.send(new ListCommandsCommand({ InstanceId: instanceId }));
  const previous = (sent.Commands ?? []).find(
    (c) => c.Comment === comment && c.DocumentName === documentName && !ENDED_BADLY.has(c.Status ?? ''),
  );
  if (previous?.CommandId) {
    logger.info(`${what} already sent`, { commandId: previous.CommandId });
    return { commandId: previous.CommandId, documentName };
  }

  try {
    const out = await clients.ssmOnce.send(
      new SendCommandCommand({
        InstanceIds: [instanceId],
        DocumentName: documentName,
        Comment: comment,
        Parameters: command.parameters,
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: config.commandLogGroup },
      }),
    );
    const commandId = out.Command?.CommandId;
    if (!commandId) throw new Error('SendCommand returned no command id');
    logger.info(`${what} sent`, { commandId, documentName, instanceId });
    return { commandId, documentName };
  } catch (error) {
    // Until the agent on a new instance registers, SSM does not know the instance.
    if ((error as Error).name === 'InvalidInstanceId')
      throw refusals.notReady(`SSM agent on ${instanceLabel} ${instanceId} has not registered yet`);
    throw error;
  }
}

export interface Invocation {
  status: string;
  stdout: string;
  stderr: string;
}

/** One read of a command's invocation; right after SendCommand it may not exist yet, which reads as Pending. */
export async function readInvocation(
  { clients }: Pick<StepContext<'ssm'>, 'clients'>,
  commandId: string,
  instanceId: string,
): Promise<Invocation> {
  try {
    const out = await clients.ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }));
    return { status: out.Status ?? 'Pending', stdout: out.StandardOutputContent ?? '', stderr: out.StandardErrorContent ?? '' };
  } catch (error) {
    if ((error as Error).name !== 'InvocationDoesNotExist') throw error;
    return { status: 'Pending', stdout: '', stderr: '' };
  }
}

/** The end of a command's output, where the scripts print the reason they stopped. */
export function tail(text: string | undefined, chars = TAIL_CHARS): string {
  const trimmed = (text ?? '').trimEnd();
  return trimmed.length > chars ? `…${trimmed.slice(-chars)}` : trimmed;
}
