import { identityOf, ownInstance } from '../shared/build-identity';
import { BuilderLost, UpdateCommandFailed, UpdateTimedOut } from '../shared/errors';
import type { StepContext } from '../shared/handler';
import { readInvocation, STILL_RUNNING, tail } from '../shared/run-command';
import { type BuildState, need, type UpdateStatus } from '../shared/state';
import { commandOutputTail } from './command-output';
import { type PullReport, parsePullReport, pullReportFromLogs } from './pull-report';

/** One check of the update command; the state machine's Choice loops on `done`. */
export async function checkUpdateCommand(state: BuildState, ctx: StepContext<'ec2' | 'ssm' | 'logs'>): Promise<UpdateStatus> {
  const { instanceId } = need(state, 'builder');
  const { commandId, documentName } = need(state, 'update');
  const attempt = (state.updateStatus?.attempt ?? 0) + 1;

  const { status, stdout, stderr } = await readInvocation(ctx, commandId, instanceId);
  if (status === 'Success') {
    const pull = parsePullReport(stdout) ?? (await logPullReport(ctx, commandId, instanceId));
    if (pull) ctx.logger.info('image pulled', { ...pull });
    return { done: true, attempt, status, ...pull };
  }
  if (!STILL_RUNNING.has(status)) {
    const output = tail(await logTail(ctx, commandId, instanceId)) || tail(stderr) || tail(stdout) || '(no output)';
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

/** The end of the output from the log group; the invocation's own (truncated) output when unreadable. */
async function logTail(
  { config, clients, logger }: StepContext<'logs'>,
  commandId: string,
  instanceId: string,
): Promise<string | undefined> {
  try {
    return await commandOutputTail(clients.logs, config.commandLogGroup, commandId, instanceId);
  } catch (error) {
    logger.warn('cannot read the command output from CloudWatch Logs', { commandId, error: (error as Error).name });
    return undefined;
  }
}

/** The pull report from the log group; undefined (and a warning) when it cannot be read: it only informs. */
async function logPullReport(
  { config, clients, logger }: StepContext<'logs'>,
  commandId: string,
  instanceId: string,
): Promise<PullReport | undefined> {
  try {
    return await pullReportFromLogs(clients.logs, config.commandLogGroup, commandId, instanceId);
  } catch (error) {
    logger.warn('cannot read the pull report from CloudWatch Logs', { commandId, error: (error as Error).name });
    return undefined;
  }
}
