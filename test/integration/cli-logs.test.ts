/**
 * `comfyui-ami logs`: the execution history merged by time with the step functions' lines for
 * the build and its Run Command output. CloudWatch Logs is the moto server (FilterLogEvents as
 * moto models it); moto's GetExecutionHistory returns a canned history whatever ran, so the
 * history is aws-sdk-client-mock's.
 */
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  FilterLogEventsCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { CONFIG_ENV_VAR, resetConfigCache } from '../../functions/shared/config';
import { logger, stepHandler } from '../../functions/shared/handler';
import type { BuildState } from '../../functions/shared/state';
import { main as logs } from '../../scripts/commands/logs';
import { loadCliConfig } from '../../scripts/lib/stack';
import { demoConfig } from '../support/builds';
import { runCli } from '../support/cli';
import { type Moto, startMoto } from '../support/moto';

const NAME = 'dev-build-7';
const ARN = `arn:aws:states:us-east-1:123456789012:execution:comfyui-ami-dev-bake-ami:${NAME}`;
const LAUNCH_FN = 'comfyui-ami-dev-launchBuilder';
const T0 = Date.parse('2026-11-28T01:00:00.000Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);
const commandLogGroup = loadCliConfig(undefined).commandLogGroup;
let moto: Moto;
const sfn = mockClient(SFNClient);

async function put(logGroupName: string, logStreamName: string, events: [number, string][]): Promise<void> {
  const client = new CloudWatchLogsClient({});
  await client.send(new CreateLogGroupCommand({ logGroupName })).catch(() => undefined);
  await client.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
  await client.send(
    new PutLogEventsCommand({
      logGroupName,
      logStreamName,
      logEvents: events.map(([s, message]) => ({ timestamp: at(s).getTime(), message })),
    }),
  );
}

const HISTORY: HistoryEvent[] = [
  { id: 1, type: 'ExecutionStarted', timestamp: at(0) },
  { id: 2, type: 'TaskStateEntered', timestamp: at(1), stateEnteredEventDetails: { name: 'Launch the builder instance' } },
  {
    id: 3,
    type: 'LambdaFunctionScheduled',
    timestamp: at(1),
    lambdaFunctionScheduledEventDetails: { resource: `arn:aws:lambda:us-east-1:123456789012:function:${LAUNCH_FN}` },
  },
  { id: 4, type: 'TaskStateExited', timestamp: at(3), stateExitedEventDetails: { name: 'Launch the builder instance', output: '{}' } },
  { id: 5, type: 'TaskStateEntered', timestamp: at(4), stateEnteredEventDetails: { name: 'Send the update command' } },
  {
    id: 6,
    type: 'TaskStateExited',
    timestamp: at(5),
    stateExitedEventDetails: {
      name: 'Send the update command',
      output: JSON.stringify({ update: { commandId: 'cmd-1', instanceId: 'i-0abc' } }),
    },
  },
  {
    id: 7,
    type: 'LambdaFunctionFailed',
    timestamp: at(9),
    lambdaFunctionFailedEventDetails: { error: 'UpdateCommandFailed', cause: JSON.stringify({ errorMessage: 'update failed: exit 1' }) },
  },
  {
    id: 8,
    type: 'ExecutionFailed',
    timestamp: at(12),
    executionFailedEventDetails: { error: 'UpdateCommandFailed', cause: 'update failed' },
  },
];

beforeAll(async () => {
  moto = await startMoto();
  await put(`/aws/lambda/${LAUNCH_FN}`, '2026/11/28/[$LATEST]abc', [
    [2, JSON.stringify({ level: 'INFO', message: 'builder launched', execution: NAME, instanceId: 'i-0abc' })],
    [2.5, JSON.stringify({ level: 'INFO', message: 'builder launched', execution: 'dev-build-8' })],
  ]);
  await put(commandLogGroup, 'cmd-1/i-0abc/aws-runShellScript/stdout', [
    [6, 'pulling the image'],
    [8, 'docker: no space left on device'],
  ]);
});
afterAll(async () => moto?.stop());
beforeEach(() => {
  sfn.reset();
  sfn.on(GetExecutionHistoryCommand).resolves({ events: HISTORY });
});

const run = (argv: string[]) => runCli(logs, argv);

describe('comfyui-ami logs', () => {
  it("merges the history, the build's function lines (not another build's) and its command output by time", async () => {
    const result = await run([ARN, '--json']);

    expect(result.code).toBe(0);
    const lines = JSON.parse(result.out) as { time: string; source: string; text: string }[];
    expect(lines.map((l) => [l.time.slice(17, 23), l.source, l.text.slice(0, 80)])).toEqual([
      ['00.000', 'execution', 'ExecutionStarted'],
      ['01.000', 'execution', 'entered Launch the builder instance'],
      ['02.000', LAUNCH_FN, expect.stringContaining('"message":"builder launched"')],
      ['03.000', 'execution', 'exited Launch the builder instance'],
      ['04.000', 'execution', 'entered Send the update command'],
      ['05.000', 'execution', 'exited Send the update command'],
      ['06.000', 'command i-0abc/aws-runShellScript/stdout', 'pulling the image'],
      ['08.000', 'command i-0abc/aws-runShellScript/stdout', 'docker: no space left on device'],
      ['09.000', 'execution', 'LambdaFunctionFailed: UpdateCommandFailed: update failed: exit 1'],
      ['12.000', 'execution', 'ExecutionFailed: UpdateCommandFailed: update failed'],
    ]);
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0].args[0].input).toMatchObject({ executionArn: ARN, includeExecutionData: true });
  });

  it('prints one line per event as text, and exits 2 on a bad command line', async () => {
    const text = await run([ARN]);
    expect(text.out.split('\n')[2]).toMatch(new RegExp(`^2026-11-28T01:00:02.000Z  ${LAUNCH_FN}\\s+\\{`));
    const none = await run([]);
    expect([none.code, none.err]).toEqual([2, expect.stringContaining('<execution-name|execution-arn> is required')]);
  });

  it('asks CloudWatch for the lines naming the execution, and for the streams of each command', async () => {
    const filter = jest.spyOn(CloudWatchLogsClient.prototype, 'send');
    await run([ARN]);
    const inputs = filter.mock.calls
      .map(([command]) => command)
      .filter((c) => c instanceof FilterLogEventsCommand)
      .map((c) => c.input);
    filter.mockRestore();
    expect(inputs).toEqual([
      expect.objectContaining({ logGroupName: `/aws/lambda/${LAUNCH_FN}`, filterPattern: `"${NAME}"` }),
      expect.objectContaining({ logGroupName: commandLogGroup, logStreamNamePrefix: 'cmd-1/' }),
    ]);
  });
});

describe('step logs name their build', () => {
  it('adds the execution name and build id to every line of a step invocation, and removes them after', async () => {
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    process.env[CONFIG_ENV_VAR] = JSON.stringify(demoConfig());
    resetConfigCache();
    const level = logger.getLevelName();
    logger.setLogLevel('INFO');
    try {
      const handler = stepHandler(
        async (_state: BuildState, ctx) => {
          ctx.logger.info('inside');
          return 1;
        },
        () => ({}),
      );
      await handler({ execution: { name: NAME, id: ARN, startTime: '', buildId: 'b-1' } } as BuildState, {} as never);
      logger.info('outside');
    } finally {
      logger.setLogLevel(level);
      write.mockRestore();
      delete process.env[CONFIG_ENV_VAR];
      resetConfigCache();
    }
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.find((l) => l.message === 'inside')).toMatchObject({ execution: NAME, build_id: 'b-1' });
    expect(parsed.find((l) => l.message === 'outside')).not.toHaveProperty('execution');
  });
});
