/** "Check the update" says what the builder's pull fetched, read from the command's output. */
import 'aws-sdk-client-mock-jest';
import { CloudWatchLogsClient, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { checkUpdateCommand } from '../../functions/check-update-command/check-update-command';
import { parsePullReport } from '../../functions/check-update-command/pull-report';
import { stateAfterImage, stepContext } from '../support/context';

const ssm = mockClient(SSMClient);
const logs = mockClient(CloudWatchLogsClient);
const LINE = 'comfyui-ami-pull: pulled_bytes=300000 pulled_layers=1 present_layers=2';

beforeEach(() => {
  ssm.reset();
  logs.reset();
});

describe('parsePullReport', () => {
  it.each([
    [`x\n${LINE}\ny`, { pulledBytes: 300000, pulledLayers: 1, presentLayers: 2 }],
    ['comfyui-ami-pull: pulled_bytes=unknown pulled_layers=3 present_layers=0', { pulledBytes: null, pulledLayers: 3, presentLayers: 0 }],
    ['no report here', undefined],
    ['say comfyui-ami-pull: pulled_bytes=1 pulled_layers=1 present_layers=0', undefined],
  ])('reads %j', (text, expected) => {
    expect(parsePullReport(text)).toEqual(expected);
  });
});

describe('a successful update command', () => {
  it('reports the pulled bytes from the command output', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: `pulling\n${LINE}\nupdate done\n` });

    const result = await checkUpdateCommand(stateAfterImage(), stepContext());

    expect(result).toEqual({ done: true, attempt: 1, status: 'Success', pulledBytes: 300000, pulledLayers: 1, presentLayers: 2 });
    expect(logs).not.toHaveReceivedCommand(FilterLogEventsCommand);
  });

  it("reads it from the log group when the output's first 24,000 characters do not hold it (a fresh install)", async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: 'apt output\n'.repeat(2000) });
    logs.on(FilterLogEventsCommand).resolves({ events: [{ message: `2026-11-27T12:00:00 [update] pulled and verified\n${LINE}\n` }] });

    const result = await checkUpdateCommand(stateAfterImage(), stepContext());

    expect(result).toMatchObject({ done: true, pulledBytes: 300000 });
    expect(logs).toHaveReceivedCommandWith(FilterLogEventsCommand, {
      logGroupName: '/comfyui-ami/builder',
      logStreamNamePrefix: 'cmd-1/i-0123456789abcdef0/',
      filterPattern: '"comfyui-ami-pull"',
    });
  });

  it('still succeeds, without a report, when the log group cannot be read', async () => {
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'Success', StandardOutputContent: '' });
    logs.on(FilterLogEventsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    expect(await checkUpdateCommand(stateAfterImage(), stepContext())).toEqual({ done: true, attempt: 1, status: 'Success' });
  });
});
