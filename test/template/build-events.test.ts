/**
 * The stack's side of build events and metrics: the announce step's grants, the notification
 * rule and topic (with config.notifications), and each environment's alarms on the metric names
 * and dimensions the functions write (functions/shared/metrics.ts).
 */
import { BUILD_EVENT_SOURCE, DETAIL_TYPES } from '../../functions/announce-result/build-event';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../../functions/shared/metrics';
import { type CfnResource, packagedTemplate, readRepoJson, type Template } from './support/template';

const TOPIC = 'arn:aws:sns:us-east-1:123456789012:platform-builds';
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
const ofType = (template: Template, type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);

interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}
const statements = (template: Template, role: string) =>
  (template.Resources[role].Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
    (p) => p.PolicyDocument.Statement,
  );

function alarm(template: Template, id: string): Record<string, unknown> {
  const resource: CfnResource | undefined = template.Resources[id];
  expect(resource?.Type).toBe('AWS::CloudWatch::Alarm');
  return resource.Properties;
}

describe('build events and alarms in the default stack (sls package --stage test)', () => {
  let template: Template;
  beforeAll(() => {
    template = packagedTemplate();
  });

  it('lets the announce step put events on the default bus only, read its own executions, and write only result: records', () => {
    const granted = statements(template, 'AnnounceResultIamRoleLambdaExecution').filter(
      (s) => !list(s.Action).every((a) => a.startsWith('logs:')),
    );
    const put = granted.find((s) => list(s.Action).includes('events:PutEvents'));
    expect(put?.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default' });
    const history = granted.find((s) => list(s.Action).includes('states:GetExecutionHistory'));
    expect(JSON.stringify(history?.Resource)).toContain(':execution:comfyui-ami-test-bake-ami:*');
    const record = granted.find((s) => list(s.Action).includes('dynamodb:UpdateItem'));
    expect(record?.Condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['result:*'] } });
  });

  it('lets the age measure read only the latest parameter of each environment', () => {
    const granted = statements(template, 'MeasureAmiAgeIamRoleLambdaExecution').filter((s) => list(s.Action).includes('ssm:GetParameters'));
    const config = readRepoJson<{ environments: Record<string, unknown> }>('config/pipeline.json');
    expect(list(granted[0].Resource).map((r) => (r as { 'Fn::Sub': string })['Fn::Sub'])).toEqual(
      Object.keys(config.environments)
        .sort()
        .map((env) => `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/comfyui/ami/${env}/latest`),
    );
  });

  it('invokes the announce step from the state machine on every terminal path', () => {
    const machine = ofType(template, 'AWS::StepFunctions::StateMachine')[0][1];
    const definition = JSON.parse(machine.Properties.DefinitionString as string) as { States: Record<string, { Resource?: string }> };
    const announcing = Object.entries(definition.States).filter(([, s]) => s.Resource === '${AnnounceResultFunctionArn}');
    expect(announcing.map(([name]) => name).sort()).toEqual([
      'Announce the failure',
      'Announce the success',
      'Announce the superseded request',
    ]);
    expect((machine.Properties.DefinitionSubstitutions as Record<string, unknown>).AnnounceResultFunctionArn).toEqual({
      'Fn::GetAtt': ['AnnounceResultLambdaFunction', 'Arn'],
    });
  });

  it('makes no rule or topic without config.notifications, and two alarms per environment', () => {
    expect(ofType(template, 'AWS::Events::Rule').filter(([id]) => id === 'BuildEventsRule')).toEqual([]);
    expect(ofType(template, 'AWS::SNS::Topic')).toEqual([]);
    const config = readRepoJson<{ environments: Record<string, unknown> }>('config/pipeline.json');
    expect(ofType(template, 'AWS::CloudWatch::Alarm')).toHaveLength(2 * Object.keys(config.environments).length);
    expect(alarm(template, 'BuildFailedAlarmDev')).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC.buildFailed,
      Dimensions: [
        { Name: 'service', Value: METRICS_SERVICE },
        { Name: 'environment', Value: 'dev' },
      ],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [],
    });
    expect(alarm(template, 'LatestAgeAlarmProd')).toMatchObject({
      MetricName: METRIC.latestAgeDays,
      Dimensions: [
        { Name: 'service', Value: METRICS_SERVICE },
        { Name: 'environment', Value: 'prod' },
      ],
      Statistic: 'Maximum',
      Threshold: 30,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
    });
  });

  it('measures the age hourly, the period of the age alarms', () => {
    const schedule = template.Resources.MeasureAmiAgeEventsRuleSchedule1;
    expect(schedule.Properties.ScheduleExpression).toBe('rate(1 hour)');
    expect(alarm(template, 'LatestAgeAlarmDev').Period).toBe(3600);
  });
});

describe('a config with notifications, its own bus and a shorter age for prod (sls package --stage test)', () => {
  let template: Template;
  beforeAll(() => {
    const config = readRepoJson<Record<string, Record<string, Record<string, unknown>>>>('config/pipeline.json');
    template = packagedTemplate({
      name: 'build-notifications',
      config: {
        ...config,
        buildEvents: { eventBusName: 'platform' },
        notifications: { topicArn: TOPIC, emails: ['ops@example.com', 'ml@example.com'] },
        environments: { ...config.environments, prod: { ...config.environments.prod, maxAgeDays: 7 } },
      },
    });
  });

  it('sends every build end from its bus to the configured topic and to a topic with the e-mail subscriptions', () => {
    const rule = template.Resources.BuildEventsRule.Properties;
    expect(rule.EventBusName).toBe('platform');
    expect(rule.EventPattern).toEqual({ source: [BUILD_EVENT_SOURCE], 'detail-type': Object.values(DETAIL_TYPES) });
    expect((rule.Targets as { Arn: unknown }[]).map((t) => t.Arn)).toEqual([TOPIC, { Ref: 'BuildEventsTopic' }]);
    expect(template.Resources.BuildEventsTopic.Properties.Subscription).toEqual([
      { Protocol: 'email', Endpoint: 'ops@example.com' },
      { Protocol: 'email', Endpoint: 'ml@example.com' },
    ]);
    const policy = template.Resources.BuildEventsTopicPolicy.Properties.PolicyDocument as { Statement: Record<string, unknown>[] };
    expect(policy.Statement[0]).toMatchObject({
      Principal: { Service: 'events.amazonaws.com' },
      Action: 'sns:Publish',
      Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['BuildEventsRule', 'Arn'] } } },
    });
  });

  it("puts events on that bus only, and alarms to the same topics at each environment's age", () => {
    const put = statements(template, 'AnnounceResultIamRoleLambdaExecution').find((s) => list(s.Action).includes('events:PutEvents'));
    expect(put?.Resource).toEqual({ 'Fn::Sub': 'arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/platform' });
    expect(alarm(template, 'LatestAgeAlarmProd')).toMatchObject({ Threshold: 7, AlarmActions: [TOPIC, { Ref: 'BuildEventsTopic' }] });
    expect(alarm(template, 'LatestAgeAlarmDev').Threshold).toBe(30);
    expect(alarm(template, 'BuildFailedAlarmStaging').AlarmActions).toEqual([TOPIC, { Ref: 'BuildEventsTopic' }]);
  });
});
