/**
 * The failure reason of a failed update command comes from the end of its output in the
 * command's log group: GetCommandInvocation keeps only the first 8,000 characters of stderr.
 */
import 'aws-sdk-client-mock-jest';
import {
  CloudWatchLogsClient,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkUpdateCommand } from '../../functions/check-update-command/check-update-command';
import { stateAfterImage, stepContext } from '../support/context';

const ssm = mockClient(SSMClient);
const logs = mockClient(CloudWatchLogsClient);

beforeEach(() => {
  ssm.reset();
  logs.reset();
});

const state = stateAfterImage();
const commandId = state.update!.commandId;
const instanceId = state.builder!.instanceId;
// What GetCommandInvocation returns for a failed fresh build: apt output up to 8,000 characters.
const TRUNCATED_STDERR = 'W: apt noise\n'.repeat(800).slice(0, 8000);

async function failure(): Promise<Error> {
  return checkUpdateCommand(state, stepContext()).then(
    () => {
      throw new Error('expected a failure');
    },
    (error: Error) => error,
  );
}

describe('the failure reason of a failed update command', () => {
  it('is the end of stderr from the command log group, not the truncated invocation output', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StandardErrorContent: TRUNCATED_STDERR });
    logs.on(DescribeLogStreamsCommand).resolves({
      logStreams: [
        { logStreamName: `${commandId}/${instanceId}/FreshInstall/stdout` },
        { logStreamName: `${commandId}/${instanceId}/FreshInstall/stderr` },
      ],
    });
    logs.on(GetLogEventsCommand).resolves({
      events: [
        { message: 'W: apt noise\n' },
        { message: 'ERROR [fresh-install]: not installed after apt-get install: linux-modules-nvidia-580-server-6.8.0-1020-aws\n' },
      ],
    });

    const error = await failure();

    expect(error.name).toBe('UpdateCommandFailed');
    expect(error.message).toMatch(
      /ERROR \[fresh-install\]: not installed after apt-get install: linux-modules-nvidia-580-server-6\.8\.0-1020-aws$/,
    );
    expect(logs).toHaveReceivedCommandWith(DescribeLogStreamsCommand, {
      logGroupName: '/comfyui-ami/builder',
      logStreamNamePrefix: `${commandId}/${instanceId}/`,
    });
    expect(logs).toHaveReceivedCommandWith(GetLogEventsCommand, {
      logGroupName: '/comfyui-ami/builder',
      logStreamName: `${commandId}/${instanceId}/FreshInstall/stderr`,
      startFromHead: false,
    });
  });

  it('falls back to stdout when the command wrote nothing to stderr', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'TimedOut', StandardOutputContent: 'start' });
    logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [{ logStreamName: `${commandId}/${instanceId}/Update/stdout` }] });
    logs.on(GetLogEventsCommand).resolves({ events: [{ message: 'waiting up to 900s for HTTP 200' }] });

    expect((await failure()).message).toMatch(/waiting up to 900s for HTTP 200$/);
  });

  it('falls back to the invocation output when the log group cannot be read', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StandardErrorContent: 'ERROR [update]: docker pull failed' });
    logs.on(DescribeLogStreamsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    expect((await failure()).message).toMatch(/ERROR \[update\]: docker pull failed$/);
  });

  it('falls back to the invocation output when the agent has not uploaded any output', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Failed', StandardErrorContent: 'ERROR [update]: docker pull failed' });
    logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [] });

    expect((await failure()).message).toMatch(/ERROR \[update\]: docker pull failed$/);
    expect(logs).not.toHaveReceivedCommand(GetLogEventsCommand);
  });

  it("does not read the output's end while the command runs or after it succeeded (a success reads only its pull report)", async () => {
    ssm.on(GetCommandInvocationCommand).resolvesOnce({ Status: 'InProgress' }).resolves({ Status: 'Success' });
    logs.on(FilterLogEventsCommand).resolves({ events: [] });

    await expect(checkUpdateCommand(state, stepContext())).resolves.toMatchObject({ done: false });
    expect(logs).not.toHaveReceivedCommand(FilterLogEventsCommand);
    await expect(checkUpdateCommand(state, stepContext())).resolves.toMatchObject({ done: true });
    expect(logs).not.toHaveReceivedCommand(DescribeLogStreamsCommand);
    expect(logs).not.toHaveReceivedCommand(GetLogEventsCommand);
  });
});
