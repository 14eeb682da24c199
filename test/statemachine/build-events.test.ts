/**
 * Every end of a build is announced on EventBridge: the real ASL, run in-process against the
 * moto server, with a rule matching the stack's pattern (source comfyui.ami, the three detail
 * types) that delivers to a CloudWatch Logs group, from which the test reads the events back.
 */
import { CloudWatchLogsClient, CreateLogGroupCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { BUILD_EVENT_SOURCE, type BuildEventDetail, DETAIL_TYPES } from '../../functions/announce-result/build-event';
import { readLastResult } from '../../functions/shared/last-result';
import { pushImage } from '../../scripts/lib/seed';
import { readAccount } from '../support/account';
import { buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';
import { accountWithOneBuild, config, failing, named } from '../support/step-failures';

const LOG_GROUP = '/test/build-events';
let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

interface DeliveredEvent {
  source: string;
  'detail-type': string;
  detail: BuildEventDetail;
}

/** The stack's rule pattern (build-event-resources.cjs; stack.test.ts checks they agree), delivering to a log group. */
async function listenForBuildEvents(): Promise<void> {
  const logs = new CloudWatchLogsClient({});
  const events = new EventBridgeClient({});
  await logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));
  await events.send(
    new PutRuleCommand({
      Name: 'build-events',
      EventPattern: JSON.stringify({ source: [BUILD_EVENT_SOURCE], 'detail-type': Object.values(DETAIL_TYPES) }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: 'build-events',
      Targets: [{ Id: 'log', Arn: `arn:aws:logs:us-east-1:123456789012:log-group:${LOG_GROUP}` }],
    }),
  );
}

async function deliveredEvents(): Promise<DeliveredEvent[]> {
  const out = await new CloudWatchLogsClient({}).send(new FilterLogEventsCommand({ logGroupName: LOG_GROUP }));
  return (out.events ?? []).map((e) => JSON.parse(e.message ?? '{}') as DeliveredEvent);
}

describe('build events', () => {
  it('announces a published build with its AMI, the previous one, the image and who asked', async () => {
    const { before, baseline, input } = await accountWithOneBuild(moto);
    await listenForBuildEvents();
    const result = await buildWith(input, config, 'dev-announced', {});
    expect(result.status).toBe('SUCCEEDED');
    const events = await deliveredEvents();
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event.source).toBe('comfyui.ami');
    expect(event['detail-type']).toBe('AMI Build Succeeded');
    const previous = before.parameters['/comfyui/ami/dev/latest'];
    expect(event.detail).toMatchObject({
      result: 'succeeded',
      environment: 'dev',
      ami_id: result.output?.amiId,
      previous_ami_id: previous,
      tag: 'dev-latest',
      mode: 'incremental',
      execution_name: 'dev-announced',
      execution_id: 'local:dev-announced',
      error: null,
      superseded_by: null,
      // A local run has no execution history to read step durations from.
      steps: null,
    });
    expect(event.detail.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(event.detail.image_uri).toContain(event.detail.digest);
    expect(event.detail.requested_by).toEqual(expect.any(String));
    expect(event.detail.build_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event.detail.duration_seconds).toBeGreaterThanOrEqual(0);
    expect(await readLastResult(new DynamoDBClient({}), config.lock.table, 'dev')).toMatchObject({
      result: 'succeeded',
      execution_name: 'dev-announced',
      ami_id: result.output?.amiId,
      error: null,
    });
    expect((await readAccount(baseline)).amis.dev).toEqual([result.output?.amiId]);
  });

  it('announces a failed build after its roll back, with the error and a short cause', async () => {
    const { before, baseline, input } = await accountWithOneBuild(moto);
    await listenForBuildEvents();
    const broken = await failing('Create the AMI', 'after', named('AmiCreationFailed', 'injected: the image failed'));
    const result = await buildWith(input, config, 'dev-broken', { 'Create the AMI': broken });
    expect(result).toMatchObject({ status: 'FAILED', error: 'AmiCreationFailed' });
    const events = await deliveredEvents();
    expect(events.map((e) => e['detail-type'])).toEqual(['AMI Build Failed']);
    expect(events[0].detail).toMatchObject({
      result: 'failed',
      environment: 'dev',
      ami_id: null,
      previous_ami_id: before.parameters['/comfyui/ami/dev/latest'],
      mode: 'incremental',
      error: { error: 'AmiCreationFailed', cause: 'injected: the image failed' },
    });
    // Announced after the roll back: the account is as it was.
    expect(await readAccount(baseline)).toEqual(before);
    expect(await readLastResult(new DynamoDBClient({}), config.lock.table, 'dev')).toMatchObject({
      result: 'failed',
      error: 'AmiCreationFailed: injected: the image failed',
    });
  });

  it('announces a request a newer one superseded, naming the newer one', async () => {
    const { before, baseline, input } = await accountWithOneBuild(moto);
    await listenForBuildEvents();
    // A newer request already seen for dev (one minute ahead, within lock.maxEventSkewMinutes).
    const newerKey = `${new Date(Date.now() + 60_000).toISOString()}|dev-newer`;
    await new DynamoDBClient({}).send(
      new PutItemCommand({
        TableName: config.lock.table,
        Item: { environment: { S: 'dev' }, newest: { S: 'dev-newer' }, newest_key: { S: newerKey } },
      }),
    );
    const result = await buildWith(input, config, 'dev-older', {});
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ status: 'SUPERSEDED', supersededBy: 'dev-newer' });
    const events = await deliveredEvents();
    expect(events.map((e) => e['detail-type'])).toEqual(['AMI Build Superseded']);
    expect(events[0].detail).toMatchObject({
      result: 'superseded',
      environment: 'dev',
      ami_id: null,
      mode: null,
      superseded_by: 'dev-newer',
    });
    expect(await readAccount(baseline)).toEqual(before);
  });

  it('still publishes a build whose event EventBridge refuses, and still fails a failed one with its own error', async () => {
    const { baseline, input } = await accountWithOneBuild(moto);
    // A bus that does not exist: PutEvents fails for real, the step logs it and carries on.
    const noBus = demoConfig({ buildEvents: { eventBusName: 'no-such-bus' } });
    const published = await buildWith(input, noBus, 'dev-unheard', {});
    expect(published.status).toBe('SUCCEEDED');
    expect((await readAccount(baseline)).amis.dev).toEqual([published.output?.amiId]);
    // The step itself went on past the refused event: it recorded the result.
    expect(await readLastResult(new DynamoDBClient({}), config.lock.table, 'dev')).toMatchObject({ execution_name: 'dev-unheard' });

    // The announce Lambda itself crashing: the ASL's Catch lets the build end as it would have.
    const third = await pushImage('comfyui', 'dev-latest', 'three');
    const crash = async () => {
      throw named('AwsAccessDenied', 'injected: events:PutEvents denied');
    };
    const crashed = await buildWith(pushEvent('comfyui', 'dev-latest', third), config, 'dev-crashed-announce', {
      'Announce the success': crash,
    });
    expect(crashed.status).toBe('SUCCEEDED');
    const fourth = await pushImage('comfyui', 'dev-latest', 'four');
    const broken = await failing('Create the AMI', 'after', named('AmiCreationFailed', 'injected'));
    const failed = await buildWith(pushEvent('comfyui', 'dev-latest', fourth), config, 'dev-failed-crashed', {
      'Create the AMI': broken,
      'Announce the failure': crash,
    });
    expect(failed).toMatchObject({ status: 'FAILED', error: 'AmiCreationFailed' });
    expect((await readAccount(baseline)).amis.dev).toEqual([crashed.output?.amiId]);
  });
});
