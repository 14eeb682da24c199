import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { identityOf, ownInstance } from '../shared/build-identity';
import { BuilderLost, UpdateCommandFailed, UpdateTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { readInvocation, STILL_RUNNING, tail } from '../shared/run-command';
import { type BuildState, need, type UpdateStatus } from '../shared/state';
import { commandOutputTail } from './command-output';
import { parsePullReport, pullReportFromLogs } from './pull-report';

/** One check of the update command; the state machine's Choice loops on `done`. */
export async function checkUpdateCommand(state: BuildState, ctx: StepContext<'ec2' | 'ssm' | 'logs'>): Promise<UpdateStatus> {
  const { instanceId } = need(state, 'builder');
  const { commandId, documentName } = need(state, 'update');
  const attempt = (state.updateStatus?.attempt ?? 0) + 1;

  const { status, stdout, stderr } = await readInvocation(ctx, commandId, instanceId);
  if (status === 'Success') {
    const pull = parsePullReport(stdout) ?? (await fromCommandLogs(ctx, commandId, instanceId, 'the pull report', pullReportFromLogs));
    if (pull) ctx.logger.info('image pulled', { ...pull });
    return { done: true, attempt, status, ...pull };
  }
  if (!STILL_RUNNING.has(status)) {
    const logged = await fromCommandLogs(ctx, commandId, instanceId, 'the command output', commandOutputTail);
    const output = tail(logged) || tail(stderr) || tail(stdout) || '(no output)';
    throw new UpdateCommandFailed(`${documentName} ended ${status} on ${instanceId} (command ${commandId}); last output:\n${output}`);
  }
  await assertSpotBuilderAlive(state, ctx);
  if (attempt >= ctx.config.polling.commandMaxAttempts) {
    throw new UpdateTimedOut(`${documentName} still ${status} on ${instanceId} after ${attempt} checks (command ${commandId})`);
  }
  return { done: false, attempt, status };
}

/**
 * EC2 may reclaim a Spot builder at any time; its command then never reports an end. Checked
 * while the command runs, so a reclaimed builder rolls the build back at once, not after the
 * command's whole timeout.
 */
async function assertSpotBuilderAlive(state: BuildState, { clients }: StepContext<'ec2'>): Promise<void> {
  const builder = need(state, 'builder');
  if (builder.market !== 'spot') return;
  const instance = await ownInstance(clients.ec2, identityOf(state), builder.instanceId);
  const status = instance?.State?.Name ?? 'missing';
  if (status === 'pending' || status === 'running') return;
  const reason = instance?.StateReason?.Message ?? 'no reason given';
  throw new BuilderLost(
    `Spot builder ${builder.instanceId} is ${status} (${reason}): EC2 reclaimed it or it was ended; the build rolls back`,
  );
}

/**
 * What `read` finds in the command's log streams (config.commandLogGroup); undefined, and a
 * warning naming `what`, when they cannot be read: the invocation's own output stands in.
 */
async function fromCommandLogs<T>(
  { config, clients, logger }: StepContext<'logs'>,
  commandId: string,
  instanceId: string,
  what: string,
  read: (logs: CloudWatchLogsClient, logGroupName: string, commandId: string, instanceId: string) => Promise<T | undefined>,
): Promise<T | undefined> {
  try {
    return await read(clients.logs, config.commandLogGroup, commandId, instanceId);
  } catch (error) {
    logger.warn(`cannot read ${what} from CloudWatch Logs`, { commandId, error: (error as Error).name });
    return undefined;
  }
}
