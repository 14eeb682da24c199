/**
 * The announce step's parts: step durations and retries from an execution history shaped as
 * GetExecutionHistory returns it, the event's detail, and the metrics as the EMF lines Lambda's
 * log group turns into CloudWatch metrics (captured from stdout).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetExecutionHistoryCommand, type HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import { GetParametersCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { announceResult } from '../../functions/announce-result/announce-result';
import { buildEventDetail, shortCause } from '../../functions/announce-result/build-event';
import { stepTimings } from '../../functions/announce-result/step-timings';
import { measureAmiAge } from '../../functions/measure-ami-age/measure-ami-age';
import { newMetrics } from '../../functions/shared/metrics';
import type { BuildState } from '../../functions/shared/state';
import { stepContext } from '../support/context';

const ARN = 'arn:aws:states:us-east-1:123456789012:execution:comfyui-ami-dev-bake-ami:dev-42';
const at = (seconds: number) => new Date(Date.UTC(2026, 10, 28, 1, 0, seconds));

function event(type: string, seconds: number, name?: string): HistoryEvent {
  return {
    type,
    timestamp: at(seconds),
    id: 0,
    ...(type.endsWith('StateEntered') && { stateEnteredEventDetails: { name } }),
    ...(type.endsWith('StateExited') && { stateExitedEventDetails: { name } }),
  } as HistoryEvent;
}

/** Launch once with one retry, two checks of the update (a Wait between them), then the announce step still running. */
const HISTORY: HistoryEvent[] = [
  event('ExecutionStarted', 0),
  event('PassStateEntered', 0, 'Record the execution'),
  event('PassStateExited', 0, 'Record the execution'),
  event('TaskStateEntered', 1, 'Launch the builder instance'),
  event('LambdaFunctionScheduled', 1),
  event('LambdaFunctionFailed', 2),
  event('LambdaFunctionScheduled', 4),
  event('LambdaFunctionSucceeded', 5),
  event('TaskStateExited', 6, 'Launch the builder instance'),
  event('TaskStateEntered', 10, 'Check the update'),
  event('LambdaFunctionScheduled', 10),
  event('TaskStateExited', 12, 'Check the update'),
  event('WaitStateEntered', 12, 'Wait for the update'),
  event('WaitStateExited', 42, 'Wait for the update'),
  event('TaskStateEntered', 42, 'Check the update'),
  event('LambdaFunctionScheduled', 42),
  event('TaskStateExited', 45, 'Check the update'),
  event('TaskStateEntered', 50, 'Announce the success'),
  event('LambdaFunctionScheduled', 50),
];

function state(overrides: Partial<BuildState> = {}): BuildState {
  return {
    execution: { name: 'dev-42', id: ARN, startTime: at(0).toISOString(), buildId: '9d1c7e4a-2b3f-4c5d-8e6f-7a8b9c0d1e2f' },
    request: {
      environment: 'dev',
      repository: 'comfyui',
      imageUri: `123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui@sha256:${'ab'.repeat(32)}`,
      digest: `sha256:${'ab'.repeat(32)}`,
      tag: 'dev-latest',
      branch: 'main',
      commitSha: 'abc1234',
      source: 'api',
      requestedAt: at(0).toISOString(),
      requestedBy: 'arn:aws:sts::123456789012:assumed-role/release/ci',
    },
    base: {
      mode: 'incremental',
      baseAmiId: 'ami-0aaaaaaaaaaaaaaa1',
      previousAmiId: 'ami-0aaaaaaaaaaaaaaa1',
      buildNumber: 42,
      amiName: 'x',
    },
    ...overrides,
  };
}

/** Every EMF document written to stdout while `fn` runs. */
async function emf(fn: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  const before = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  try {
    await fn();
  } finally {
    spy.mockRestore();
    process.env.POWERTOOLS_METRICS_DISABLED = before;
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const metricNames = (doc: Record<string, unknown>) =>
  (doc._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }).CloudWatchMetrics[0].Metrics.map((m) => m.Name);
const dimensionSets = (doc: Record<string, unknown>) =>
  (doc._aws as { CloudWatchMetrics: { Dimensions: string[][]; Namespace: string }[] }).CloudWatchMetrics[0];

describe('step timings', () => {
  it('sums each Task state over its entries, counts retries, and ignores the state still running', () => {
    expect(stepTimings(HISTORY)).toEqual([
      { state: 'Launch the builder instance', duration_seconds: 5, entries: 1, retries: 1 },
      { state: 'Check the update', duration_seconds: 5, entries: 2, retries: 0 },
    ]);
  });
});

describe('the build event detail', () => {
  it('keeps the message of a Lambda cause and shortens a long one', () => {
    expect(shortCause(JSON.stringify({ errorType: 'X', errorMessage: 'the image failed', trace: ['a', 'b'] }))).toBe('the image failed');
    expect(shortCause('x'.repeat(2000))).toHaveLength(500);
    expect(shortCause(undefined)).toBe('');
  });

  it('names no AMI for a failed build and carries its error', () => {
    const detail = buildEventDetail(
      { result: 'failed', state: state({ error: { Error: 'VerificationFailed', Cause: '{"errorMessage":"HTTP 502"}' } }) },
      at(90),
      null,
    );
    expect(detail).toMatchObject({
      result: 'failed',
      ami_id: null,
      previous_ami_id: 'ami-0aaaaaaaaaaaaaaa1',
      duration_seconds: 90,
      error: { error: 'VerificationFailed', cause: 'HTTP 502' },
      requested_by: 'arn:aws:sts::123456789012:assumed-role/release/ci',
    });
  });
});

describe('announcing a build', () => {
  const events = mockClient(EventBridgeClient);
  const sfn = mockClient(SFNClient);
  const dynamodb = mockClient(DynamoDBClient);
  beforeEach(() => {
    events.reset();
    sfn.reset();
    dynamodb.reset();
    sfn.on(GetExecutionHistoryCommand).resolves({ events: HISTORY });
    dynamodb.on(UpdateItemCommand).resolves({});
  });
  const deps = () => ({
    events: new EventBridgeClient({ region: 'us-east-1' }),
    sfn: new SFNClient({ region: 'us-east-1' }),
    dynamodb: new DynamoDBClient({ region: 'us-east-1' }),
    lockTable: 'comfyui-ami-locks',
    metrics: newMetrics(),
    logger: new Logger({ logLevel: 'SILENT' }),
    eventBusName: 'builds',
    now: () => at(100),
  });
  const published = { amiId: 'ami-0bbbbbbbbbbbbbbb2', metadata: {} as never };

  it('puts one comfyui.ami event on the configured bus, with the steps read from the history', async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const out = await announceResult({ result: 'succeeded', state: state({ published }) }, deps());
    expect(out).toEqual({ detailType: 'AMI Build Succeeded', delivered: true, eventId: 'e-1' });
    const entry = events.commandCalls(PutEventsCommand)[0].args[0].input.Entries?.[0];
    expect(entry).toMatchObject({ Source: 'comfyui.ami', DetailType: 'AMI Build Succeeded', EventBusName: 'builds' });
    const detail = JSON.parse(entry?.Detail ?? '{}');
    expect(detail).toMatchObject({ ami_id: 'ami-0bbbbbbbbbbbbbbb2', mode: 'incremental', duration_seconds: 100 });
    expect(detail.steps).toEqual(stepTimings(HISTORY));
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0].args[0].input.executionArn).toBe(ARN);
  });

  it('writes the result, duration, retries and each step as EMF, by environment', async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const docs = await emf(() => announceResult({ result: 'succeeded', state: state({ published }) }, deps()));
    const main = docs.find((d) => metricNames(d).includes('BuildSucceeded'));
    expect(main).toMatchObject({
      environment: 'dev',
      service: 'comfyui-ami',
      BuildSucceeded: 1,
      BuildDuration: 100,
      BuildRetries: 1,
      mode: 'incremental',
    });
    expect(dimensionSets(main!)).toMatchObject({ Namespace: 'ComfyUIAmi', Dimensions: [['service', 'environment']] });
    expect(metricNames(main!)).not.toContain('BuildEventNotDelivered');
    const byMode = docs.find((d) => metricNames(d).includes('Builds'));
    expect(byMode).toMatchObject({ environment: 'dev', mode: 'incremental', result: 'succeeded', Builds: 1 });
    const launch = docs.filter((d) => d.step === 'Launch the builder instance');
    expect(launch.map((d) => [metricNames(d)[0], d[metricNames(d)[0]]])).toEqual([
      ['StepDuration', 5],
      ['StepRetries', 1],
    ]);
    expect(dimensionSets(launch[0]).Dimensions).toEqual([['service', 'environment', 'step']]);
  });

  it('never throws for an event EventBridge refused: it counts BuildEventNotDelivered, and BuildFailed', async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }] });
    let out: unknown;
    const docs = await emf(async () => {
      out = await announceResult({ result: 'failed', state: state({ error: { Error: 'AmiTimedOut', Cause: 'slow' } }) }, deps());
    });
    expect(out).toMatchObject({ delivered: false, eventId: null });
    expect(docs.find((d) => metricNames(d).includes('BuildFailed'))).toMatchObject({
      BuildFailed: 1,
      BuildEventNotDelivered: 1,
      error: 'AmiTimedOut',
    });
    expect(dynamodb.commandCalls(UpdateItemCommand)[0].args[0].input.Key).toEqual({ environment: { S: 'result:dev' } });
  });

  it('counts a superseded request without a build duration', async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-2' }] });
    const docs = await emf(() =>
      announceResult(
        { result: 'superseded', state: state({ base: undefined, lock: { status: 'superseded', attempt: 1, other: 'dev-43' } }) },
        deps(),
      ),
    );
    const main = docs.find((d) => metricNames(d).includes('BuildSuperseded'));
    expect(metricNames(main!)).not.toContain('BuildDuration');
    expect(JSON.parse(events.commandCalls(PutEventsCommand)[0].args[0].input.Entries?.[0].Detail ?? '{}')).toMatchObject({
      superseded_by: 'dev-43',
      mode: null,
    });
  });
});

describe('measuring the age of latest', () => {
  const ssm = mockClient(SSMClient);
  afterEach(() => ssm.reset());

  it("writes each environment's LatestAgeDays from the parameter's LastModifiedDate, and nothing for one without latest", async () => {
    ssm.on(GetParametersCommand).resolves({
      Parameters: [
        { Name: '/comfyui/ami/dev/latest', Value: 'ami-0aaaaaaaaaaaaaaa1', LastModifiedDate: new Date(at(0).getTime() - 3 * 86_400_000) },
        { Name: '/comfyui/ami/prod/latest', Value: 'ami-0ccccccccccccccc3', LastModifiedDate: new Date(at(0).getTime() - 45 * 86_400_000) },
      ],
      InvalidParameters: ['/comfyui/ami/staging/latest'],
    });
    const ctx = stepContext();
    ctx.config.environments.staging = {
      ...ctx.config.environments.dev,
      tags: ['staging-latest'],
      defaultTag: 'staging-latest',
      maxAgeDays: 7,
    };
    ctx.clients.ssm = new SSMClient({ region: 'us-east-1' });
    let ages: unknown;
    const docs = await emf(async () => {
      ages = await measureAmiAge(ctx, newMetrics(), at(0));
    });
    expect(docs.map((d) => [d.environment, d.LatestAgeDays])).toEqual([
      ['dev', 3],
      ['prod', 45],
    ]);
    expect(dimensionSets(docs[0])).toMatchObject({ Namespace: 'ComfyUIAmi', Dimensions: [['service', 'environment']] });
    expect(ages).toEqual([
      expect.objectContaining({ environment: 'dev', maxAgeDays: 30 }),
      expect.objectContaining({ environment: 'prod', maxAgeDays: 30 }),
      expect.objectContaining({ environment: 'staging', amiId: null, ageDays: null, maxAgeDays: 7 }),
    ]);
  });
});
