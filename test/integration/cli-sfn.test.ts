import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateRepositoryCommand, ECRClient } from '@aws-sdk/client-ecr';
import {
  CreateStateMachineCommand,
  ExecutionNotRedrivable,
  GetExecutionHistoryCommand,
  type HistoryEvent,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { main as redrive } from '../../scripts/commands/redrive';
import { main as start } from '../../scripts/commands/start';
import { main as status } from '../../scripts/commands/status';
import { main as watch } from '../../scripts/commands/watch';
import { pushImage } from '../../scripts/lib/seed';
import { STATE_MACHINE_ARN_ENV } from '../../scripts/lib/stack';
import { type CliResult, deployedDefinition, runCli } from '../support/cli';
import { type Moto, startMoto } from '../support/moto';

const ROOT = path.resolve(__dirname, '../..');
/** The output of a roll back that undid a builder and an unpublished AMI. */
const ROLLED_BACK = {
  terminated: ['i-0123'],
  removedImages: [{ amiId: 'ami-0aaaaaaaaaaaaaaaa', deregistered: true, deletedSnapshots: ['snap-0aaaaaaaaaaaaaaaa'], keptSnapshots: [] }],
  keptImages: [],
  parameters: [],
  ignored: [],
};
const STATE_MACHINE_NAME = 'comfyui-ami-test-bake-ami';
const ENV_KEYS = [STATE_MACHINE_ARN_ENV, 'PIPELINE_CONFIG'];

// A developer's own settings must not leak into the commands under test.
const saved: Record<string, string | undefined> = {};
beforeAll(() => {
  for (const key of ENV_KEYS) saved[key] = process.env[key];
  for (const key of ENV_KEYS) delete process.env[key];
});
afterAll(() => {
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe('the CLI against a Step Functions API (moto server)', () => {
  let moto: Moto;
  let stateMachineArn: string;
  let digest: string;
  let firstName = '';
  let stagingName = '';

  beforeAll(async () => {
    moto = await startMoto();
    await new ECRClient({}).send(new CreateRepositoryCommand({ repositoryName: 'comfyui' }));
    digest = await pushImage('comfyui', 'dev-latest', 'image one');
    const created = await new SFNClient({}).send(
      new CreateStateMachineCommand({
        name: STATE_MACHINE_NAME,
        definition: deployedDefinition(),
        roleArn: 'arn:aws:iam::123456789012:role/comfyui-ami-test-states',
      }),
    );
    stateMachineArn = created.stateMachineArn!;
  });

  afterAll(async () => moto?.stop());

  const executions = async () => (await new SFNClient({}).send(new ListExecutionsCommand({ stateMachineArn }))).executions ?? [];

  it('start resolves the tag, starts the execution named after (environment, digest, request) and prints its ARN', async () => {
    const result = await runCli(start, ['--env', 'dev', '--state-machine-arn', stateMachineArn]);
    expect(result.code).toBe(0);
    const name = result.out.slice(result.out.lastIndexOf(':') + 1);
    expect(name).toMatch(new RegExp(`^dev-${digest.slice(7, 31)}-[0-9a-f]{12}$`));
    firstName = name;
    expect(result.out).toBe(`arn:aws:states:us-east-1:123456789012:execution:${STATE_MACHINE_NAME}:${name}`);
    expect(result.err).toContain(`comfyui-ami watch ${result.out}`);
    const listed = await executions();
    expect(listed.map((e) => [e.name, e.status])).toEqual([[name, 'RUNNING']]);
  });

  it('status finds the build by name and prints its status and environment', async () => {
    const name = firstName;
    const text = await runCli(status, [name, '--state-machine-arn', stateMachineArn]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^build\s+dev-/m);
    expect(text.out).toMatch(/^status\s+RUNNING$/m);
    expect(text.out).toMatch(/^environment\s+dev$/m);

    const json = await runCli(status, [name, '--json', '--state-machine-arn', stateMachineArn]);
    expect(JSON.parse(json.out)).toMatchObject({ executionName: name, status: 'RUNNING', environment: 'dev' });
  });

  it('start refuses an image of another environment with exit 2 naming --image, and starts nothing', async () => {
    const before = await executions();
    const byTag = await runCli(start, ['--env', 'prod', '--image', 'comfyui:dev-latest', '--state-machine-arn', stateMachineArn]);
    expect([byTag.code, byTag.err]).toEqual([2, expect.stringContaining('--image: the tag "dev-latest" is not a tag of environment prod')]);
    // Only ECR and prod's history can tell about a digest: still refused before StartExecution.
    const byDigest = await runCli(start, ['--env', 'prod', '--image', `comfyui@${digest}`, '--state-machine-arn', stateMachineArn]);
    expect([byDigest.code, byDigest.err]).toEqual([
      2,
      expect.stringContaining(`--image: comfyui@${digest} is not an image of environment prod`),
    ]);
    expect(await executions()).toEqual(before);
  });

  it('start builds the same image again on a second request, under a name of its own (a re-push is a normal build)', async () => {
    const again = await runCli(start, [
      '--env',
      'dev',
      '--branch',
      'main',
      '--commit-sha',
      'abc1234',
      '--state-machine-arn',
      stateMachineArn,
    ]);
    expect(again.code).toBe(0);
    expect(again.err).toMatch(/^started /m);
    expect(again.out).not.toContain(firstName);
    expect(await executions()).toHaveLength(2);
  });

  it('start starts one build for the same ECR event delivered twice', async () => {
    const event = path.join(ROOT, 'events', 'ecr-push-dev.json');
    const copy = path.join(tmpdir(), `ecr-push-${process.pid}.json`);
    const text = JSON.parse(readFileSync(event, 'utf8')) as { time: string; detail: Record<string, string> };
    text.detail['image-digest'] = digest;
    text.time = new Date().toISOString();
    writeFileSync(copy, JSON.stringify(text));
    const before = (await executions()).length;
    let first: CliResult;
    let second: CliResult;
    try {
      first = await runCli(start, ['--input', copy, '--state-machine-arn', stateMachineArn]);
      second = await runCli(start, ['--input', copy, '--state-machine-arn', stateMachineArn]);
    } finally {
      rmSync(copy, { force: true });
    }
    expect([first.code, second.code]).toEqual([0, 0]);
    // Same name and input as a running execution: Step Functions (and moto) answers with that one.
    expect(second.out).toBe(first.out);
    expect(await executions()).toHaveLength(before + 1);
  });

  it('start finds the state machine from the environment variable or the stack outputs', async () => {
    const second = await pushImage('comfyui', 'staging-latest', 'image two');
    process.env[STATE_MACHINE_ARN_ENV] = stateMachineArn;
    try {
      const viaEnv = await runCli(start, ['--env', 'staging']);
      expect(viaEnv.code).toBe(0);
      expect(viaEnv.out).toMatch(new RegExp(`:staging-${second.slice(7, 31)}-[0-9a-f]{12}$`));
      stagingName = viaEnv.out.slice(viaEnv.out.lastIndexOf(':') + 1);
    } finally {
      delete process.env[STATE_MACHINE_ARN_ENV];
    }

    await new CloudFormationClient({}).send(
      new CreateStackCommand({
        StackName: 'comfyui-ami-test',
        TemplateBody: JSON.stringify({
          Resources: { Handle: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
          Outputs: { StateMachineArn: { Value: stateMachineArn } },
        }),
      }),
    );
    const viaStack = await runCli(status, [stagingName, '--stack', 'comfyui-ami-test']);
    expect(viaStack.code).toBe(0);
    expect(viaStack.out).toMatch(/^environment\s+staging$/m);
  });

  it('start refuses a bad request naming the flag, with exit 2, and starts nothing', async () => {
    const before = (await executions()).length;
    const unknownEnv = await runCli(start, ['--env', 'qa', '--state-machine-arn', stateMachineArn]);
    expect(unknownEnv.code).toBe(2);
    expect(unknownEnv.err).toMatch(/^error: --env: must be one of the configured environments/);
    expect(unknownEnv.err).toContain('usage: comfyui-ami start');
    const badImage = await runCli(start, ['--env', 'dev', '--image', 'comfyui:$(reboot)', '--state-machine-arn', stateMachineArn]);
    expect([badImage.code, badImage.err]).toEqual([2, expect.stringMatching(/^error: --image: /)]);
    const unknownFlag = await runCli(start, ['--env', 'dev', '--tag', 'x']);
    expect([unknownFlag.code, unknownFlag.err]).toEqual([2, expect.stringContaining("'--tag'")]);
    const mixed = await runCli(start, ['--env', 'dev', '--input', 'events/console-dev.json']);
    expect([mixed.code, mixed.err]).toEqual([2, expect.stringContaining('--input cannot be combined with --env')]);
    const noMachine = await runCli(start, ['--env', 'dev']);
    expect([noMachine.code, noMachine.err]).toEqual([2, expect.stringContaining('--state-machine-arn or --stack is required')]);
    const badMachine = await runCli(start, ['--env', 'dev', '--state-machine-arn', 'arn:aws:lambda:x']);
    expect([badMachine.code, badMachine.err]).toEqual([2, expect.stringContaining('--state-machine-arn: ')]);
    expect(await executions()).toHaveLength(before);
  });

  it('start fails with exit 1 when the image is not in ECR, and starts nothing', async () => {
    const before = (await executions()).length;
    const missing = await runCli(start, ['--env', 'dev', '--image', 'comfyui:dev-404', '--state-machine-arn', stateMachineArn]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: ImageNotFound: comfyui:dev-404 does not exist in ECR/m);
    expect(missing.err).toContain('next: ');
    expect(await executions()).toHaveLength(before);
  });

  it('status reports an aborted build, and exits 1 naming an unknown one', async () => {
    const arn = (await executions()).find((e) => e.name === firstName)!.executionArn!;
    await new SFNClient({}).send(new StopExecutionCommand({ executionArn: arn }));
    const aborted = await runCli(status, [arn]);
    expect(aborted.code).toBe(0);
    expect(aborted.out).toMatch(/^status\s+ABORTED$/m);
    expect(aborted.err).toContain(`comfyui-ami redrive ${arn}`);

    const unknown = await runCli(status, ['dev-0000', '--state-machine-arn', stateMachineArn]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^error: BuildNotFound: /);
  });

  it('watch follows the history until the end (moto serves a canned successful one)', async () => {
    const arn = (await executions())[0].executionArn!;
    const result = await runCli(watch, [arn, '--interval', '0']);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/done\s+A State/);
    expect(result.out.split('\n').at(-1)).toBe('SUCCEEDED');
  });
});

describe('watch and redrive (Step Functions mocked)', () => {
  const ARN = `arn:aws:states:us-east-1:123456789012:execution:${STATE_MACHINE_NAME}:dev-abc`;
  const at = (second: number) => new Date(Date.UTC(2025, 10, 27, 14, 0, second));
  let sfn: AwsClientStub<SFNClient>;

  beforeAll(() => {
    process.env.AWS_REGION = 'us-east-1';
    sfn = mockClient(SFNClient);
  });
  afterAll(() => sfn.restore());
  beforeEach(() => sfn.reset());

  /** Serves the history as it grows: poll n sees the first counts[n] events, newest first. */
  function historyGrowing(events: HistoryEvent[], counts: number[]): void {
    let poll = 0;
    sfn.on(GetExecutionHistoryCommand).callsFake(() => {
      const visible = events.slice(0, counts[Math.min(poll, counts.length - 1)]);
      poll += 1;
      return { events: [...visible].reverse() };
    });
  }

  const entered = (id: number, name: string, type = 'TaskStateEntered'): HistoryEvent =>
    ({ id, type, timestamp: at(id), stateEnteredEventDetails: { name } }) as HistoryEvent;
  const exited = (id: number, name: string, type = 'TaskStateExited'): HistoryEvent =>
    ({ id, type, timestamp: at(id), stateExitedEventDetails: { name } }) as HistoryEvent;

  it('prints one line per completed step, then the AMI, and exits 0', async () => {
    historyGrowing(
      [
        { id: 1, type: 'ExecutionStarted', timestamp: at(1) } as HistoryEvent,
        entered(2, 'Record the execution', 'PassStateEntered'),
        exited(3, 'Record the execution', 'PassStateExited'),
        entered(4, 'Normalize the request'),
        exited(5, 'Normalize the request'),
        entered(6, 'Wait for the update', 'WaitStateEntered'),
        exited(7, 'Wait for the update', 'WaitStateExited'),
        entered(8, 'Publish the AMI'),
        exited(9, 'Publish the AMI'),
        {
          id: 10,
          type: 'ExecutionSucceeded',
          timestamp: at(10),
          executionSucceededEventDetails: { output: JSON.stringify({ amiId: 'ami-0123456789abcdef0', environment: 'dev' }) },
        } as HistoryEvent,
      ],
      [3, 5, 5, 10],
    );
    const result = await runCli(watch, [ARN, '--interval', '0']);
    expect(result.code).toBe(0);
    expect(result.out.split('\n')).toEqual([
      '14:00:03  done    Record the execution',
      '14:00:05  done    Normalize the request',
      '14:00:09  done    Publish the AMI',
      'SUCCEEDED  AMI ami-0123456789abcdef0 (dev)',
    ]);
  });

  it('prints the failure, its cause and the commands to see more, and exits 1', async () => {
    const cause = JSON.stringify({
      errorType: 'BuilderLost',
      errorMessage: 'builder i-0123 is terminated; the update cannot run',
      trace: ['at x'],
    });
    historyGrowing(
      [
        entered(1, 'Send the update command'),
        {
          id: 2,
          type: 'LambdaFunctionFailed',
          timestamp: at(2),
          lambdaFunctionFailedEventDetails: { error: 'BuilderLost', cause },
        } as HistoryEvent,
        exited(3, 'Send the update command'),
        entered(4, 'Roll back the build'),
        {
          ...exited(5, 'Roll back the build'),
          stateExitedEventDetails: { name: 'Roll back the build', output: JSON.stringify({ rollback: ROLLED_BACK }) },
        } as HistoryEvent,
        entered(6, 'Build failed', 'FailStateEntered'),
        { id: 7, type: 'ExecutionFailed', timestamp: at(7), executionFailedEventDetails: { error: 'BuilderLost', cause } } as HistoryEvent,
      ],
      [7],
    );
    const result = await runCli(watch, [ARN, '--interval', '0']);
    expect(result.code).toBe(1);
    const lines = result.out.split('\n');
    expect(lines).toContain('14:00:02  failed  Send the update command: BuilderLost builder i-0123 is terminated; the update cannot run');
    // Caught and rolled back: the step is not "done".
    expect(lines).not.toContain('14:00:03  done    Send the update command');
    expect(lines).toContain('14:00:05  done    Roll back the build');
    expect(lines).toContain('FAILED  BuilderLost: builder i-0123 is terminated; the update cannot run');
    expect(lines).toContain('roll back: terminated i-0123');
    expect(lines).toContain('roll back: deregistered ami-0aaaaaaaaaaaaaaaa, snapshots snap-0aaaaaaaaaaaaaaaa deleted');
    expect(lines).toContain('roll back: parameters untouched');
    expect(lines).toContain(`more:   aws stepfunctions get-execution-history --execution-arn ${ARN}`);
    // Rolled back: a redrive would only reach "Build failed" again.
    expect(lines).toContain(
      'no redrive: the build was rolled back, so a redrive would only fail again: start a new build once the cause is fixed',
    );
    expect(result.out).not.toContain('comfyui-ami redrive');
  });

  it('shows a retried step as retried, then done, never as failed', async () => {
    const cause = JSON.stringify({ errorType: 'AwsThrottled', errorMessage: 'Rate exceeded', trace: [] });
    historyGrowing(
      [
        entered(1, 'Create the AMI'),
        { id: 2, type: 'LambdaFunctionScheduled', timestamp: at(2) } as HistoryEvent,
        {
          id: 3,
          type: 'LambdaFunctionFailed',
          timestamp: at(3),
          lambdaFunctionFailedEventDetails: { error: 'AwsThrottled', cause },
        } as HistoryEvent,
        { id: 4, type: 'LambdaFunctionScheduled', timestamp: at(4) } as HistoryEvent,
        { id: 5, type: 'LambdaFunctionSucceeded', timestamp: at(5) } as HistoryEvent,
        exited(6, 'Create the AMI'),
        {
          id: 7,
          type: 'ExecutionSucceeded',
          timestamp: at(7),
          executionSucceededEventDetails: { output: '{"amiId":"ami-0abcdef0123456789"}' },
        } as HistoryEvent,
      ],
      [3, 7],
    );
    const result = await runCli(watch, [ARN, '--interval', '0']);
    expect(result.code).toBe(0);
    expect(result.out.split('\n')).toEqual([
      '14:00:03  retry   Create the AMI: AwsThrottled Rate exceeded',
      '14:00:06  done    Create the AMI',
      'SUCCEEDED  AMI ami-0abcdef0123456789',
    ]);
  });

  it('offers a redrive for a build that stopped before its roll back finished, saying why', async () => {
    const cause = JSON.stringify({ errorType: 'AwsUnavailable', errorMessage: 'EC2 answered 503', trace: [] });
    historyGrowing(
      [
        entered(1, 'Roll back the build'),
        {
          id: 2,
          type: 'LambdaFunctionFailed',
          timestamp: at(2),
          lambdaFunctionFailedEventDetails: { error: 'AwsUnavailable', cause },
        } as HistoryEvent,
        {
          id: 3,
          type: 'ExecutionFailed',
          timestamp: at(3),
          executionFailedEventDetails: { error: 'AwsUnavailable', cause },
        } as HistoryEvent,
      ],
      [3],
    );
    const result = await runCli(watch, [ARN, '--interval', '0']);
    expect(result.code).toBe(1);
    expect(result.out).toContain('14:00:02  failed  Roll back the build: AwsUnavailable EC2 answered 503');
    expect(result.out).toContain(`resume: comfyui-ami redrive ${ARN} ("Roll back the build" did not finish: a redrive re-runs it)`);
  });

  it('keeps watching a redriven execution past its earlier failure', async () => {
    historyGrowing(
      [
        {
          id: 1,
          type: 'ExecutionFailed',
          timestamp: at(1),
          executionFailedEventDetails: { error: 'AwsUnavailable', cause: 'x' },
        } as HistoryEvent,
        { id: 2, type: 'ExecutionRedriven', timestamp: at(2), executionRedrivenEventDetails: { redriveCount: 1 } } as HistoryEvent,
        entered(3, 'Create the AMI'),
        exited(4, 'Create the AMI'),
        {
          id: 5,
          type: 'ExecutionSucceeded',
          timestamp: at(5),
          executionSucceededEventDetails: { output: '{"amiId":"ami-0abcdef0123456789"}' },
        } as HistoryEvent,
      ],
      [2, 5],
    );
    const result = await runCli(watch, [ARN, '--interval', '0']);
    expect(result.code).toBe(0);
    expect(result.out).toContain('redriven (attempt 2)');
    expect(result.out.split('\n').at(-1)).toBe('SUCCEEDED  AMI ami-0abcdef0123456789');
  });

  it('reports a superseded build as such, and exits 0', async () => {
    const output = JSON.stringify({ status: 'SUPERSEDED', environment: 'dev', supersededBy: 'dev-newer' });
    historyGrowing(
      [{ id: 1, type: 'ExecutionSucceeded', timestamp: at(1), executionSucceededEventDetails: { output } } as HistoryEvent],
      [1],
    );
    const result = await runCli(watch, [ARN, '--interval', '0']);
    expect(result.code).toBe(0);
    expect(result.out).toBe('SUPERSEDED  nothing baked: a newer image of dev is built by dev-newer');
  });

  it('refuses bad arguments with exit 2 naming the flag', async () => {
    expect(await runCli(watch, [])).toMatchObject({ code: 2, err: expect.stringContaining('<execution-name|execution-arn> is required') });
    expect(await runCli(watch, [ARN, 'extra'])).toMatchObject({ code: 2, err: expect.stringContaining('unexpected argument(s): extra') });
    expect(await runCli(watch, [ARN, '--interval', 'soon'])).toMatchObject({ code: 2, err: expect.stringContaining('--interval: ') });
    expect(await runCli(watch, ['dev-abc'])).toMatchObject({
      code: 2,
      err: expect.stringContaining('--state-machine-arn or --stack is required'),
    });
    expect(await runCli(redrive, [ARN, '--force'])).toMatchObject({ code: 2, err: expect.stringContaining("'--force'") });
    expect(
      await runCli(status, [
        'not a name',
        '--state-machine-arn',
        `arn:aws:states:us-east-1:123456789012:stateMachine:${STATE_MACHINE_NAME}`,
      ]),
    ).toMatchObject({
      code: 2,
      err: expect.stringContaining('<execution-name|execution-arn>: must be an execution ARN or name'),
    });
    expect(sfn.calls()).toHaveLength(0);
  });

  it('redrive resumes a failed build by name and prints how to follow it', async () => {
    sfn.on(RedriveExecutionCommand).resolves({ redriveDate: at(30) });
    const result = await runCli(redrive, [
      'dev-abc',
      '--state-machine-arn',
      `arn:aws:states:us-east-1:123456789012:stateMachine:${STATE_MACHINE_NAME}`,
    ]);
    expect(result).toEqual({ code: 0, out: ARN, err: `redriven at 2025-11-27T14:00:30.000Z; follow it: comfyui-ami watch ${ARN}` });
    expect(sfn.commandCalls(RedriveExecutionCommand)[0].args[0].input).toEqual({ executionArn: ARN });
  });

  it('redrive explains a build that cannot be redriven, and exits 1', async () => {
    sfn.on(RedriveExecutionCommand).rejects(new ExecutionNotRedrivable({ message: 'Execution is SUCCEEDED', $metadata: {} }));
    const result = await runCli(redrive, [ARN]);
    expect(result.code).toBe(1);
    expect(result.err).toContain('error: ExecutionNotRedrivable: Execution is SUCCEEDED');
    expect(result.err).toContain(`next: comfyui-ami status ${ARN}`);
  });
});
