'use strict';
/**
 * The stack's side of build events and metrics (issue 12): with config.notifications, a rule on
 * the build events' bus that sends every build's end to the configured topic and/or a topic the
 * stack makes for the listed e-mails; for every environment, an alarm on a failed build and one
 * on a `latest` older than its maxAgeDays (the measure-ami-age function's LatestAgeDays). The
 * alarms notify the same topics.
 */
const path = require('node:path');
const tsx = require('tsx/cjs/api');

const ROOT = path.resolve(__dirname, '../..');
const { BUILD_EVENT_SOURCE, DETAIL_TYPES } = tsx.require(path.join(ROOT, 'functions', 'announce-result', 'build-event.ts'), __filename);
const { METRIC, METRICS_NAMESPACE, METRICS_SERVICE } = tsx.require(path.join(ROOT, 'functions', 'shared', 'metrics.ts'), __filename);
const { maxAgeDays } = tsx.require(path.join(ROOT, 'functions', 'shared', 'config.ts'), __filename);

const sub = (text) => ({ 'Fn::Sub': text });

/** Every build's end: what a rule for launch templates or instance refreshes starts from too. */
function buildEventPattern() {
  return { source: [BUILD_EVENT_SOURCE], 'detail-type': Object.values(DETAIL_TYPES) };
}

/** `qa-east` -> `QaEast`; environment names are lowercase, so only a digit after '-' can collide. */
function logicalPart(environment) {
  return environment
    .split('-')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

function topicTargets(config) {
  const n = config.notifications;
  if (!n) return [];
  return [...(n.topicArn ? [n.topicArn] : []), ...(n.emails ? [{ Ref: 'BuildEventsTopic' }] : [])];
}

function notificationResources(config) {
  const n = config.notifications;
  if (!n) return {};
  const resources = {};
  if (n.emails) {
    resources.BuildEventsTopic = {
      Type: 'AWS::SNS::Topic',
      Properties: {
        DisplayName: 'ComfyUI AMI builds',
        // Each address receives a confirmation e-mail first: nothing arrives until it is confirmed.
        Subscription: n.emails.map((email) => ({ Protocol: 'email', Endpoint: email })),
      },
    };
    resources.BuildEventsTopicPolicy = {
      Type: 'AWS::SNS::TopicPolicy',
      Properties: {
        Topics: [{ Ref: 'BuildEventsTopic' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'TheBuildEventsRuleOnly',
              Effect: 'Allow',
              Principal: { Service: 'events.amazonaws.com' },
              Action: 'sns:Publish',
              Resource: { Ref: 'BuildEventsTopic' },
              Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': ['BuildEventsRule', 'Arn'] } } },
            },
            {
              Sid: 'TheStackAlarmsOnly',
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: 'sns:Publish',
              Resource: { Ref: 'BuildEventsTopic' },
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
          ],
        },
      },
    };
  }
  resources.BuildEventsRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      Description: 'Every ComfyUI AMI build end (succeeded, failed, superseded) to the configured notifications',
      EventBusName: config.buildEvents.eventBusName,
      EventPattern: buildEventPattern(),
      State: 'ENABLED',
      Targets: topicTargets(config).map((arn, i) => ({ Id: `notification-${i + 1}`, Arn: arn })),
    },
  };
  return resources;
}

function alarmResources(config) {
  const actions = topicTargets(config);
  const resources = {};
  for (const environment of Object.keys(config.environments).sort()) {
    const id = logicalPart(environment);
    const dimensions = [
      { Name: 'service', Value: METRICS_SERVICE },
      { Name: 'environment', Value: environment },
    ];
    const failedId = `BuildFailedAlarm${id}`;
    const ageId = `LatestAgeAlarm${id}`;
    if (resources[failedId])
      throw new Error(`environments ${environment}: its alarms' logical id ${failedId} is taken by another environment`);
    resources[failedId] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: sub(`\${AWS::StackName}-${environment}-build-failed`),
        AlarmDescription: `A build of ${environment} failed (rolled back; latest unchanged). comfyui-ami status --env shows its error.`,
        Namespace: METRICS_NAMESPACE,
        MetricName: METRIC.buildFailed,
        Dimensions: dimensions,
        Statistic: 'Sum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        // No build, no failure.
        TreatMissingData: 'notBreaching',
        AlarmActions: actions,
      },
    };
    const days = maxAgeDays(config, environment);
    resources[ageId] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmName: sub(`\${AWS::StackName}-${environment}-latest-older-than-${days}-days`),
        AlarmDescription: `${environment}'s latest AMI is older than ${days} days, it has none, or the hourly age measure stopped.`,
        Namespace: METRICS_NAMESPACE,
        MetricName: METRIC.latestAgeDays,
        Dimensions: dimensions,
        Statistic: 'Maximum',
        // measure-ami-age runs hourly: three hours in a row over the age (or without a value) alarm.
        Period: 3600,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        Threshold: days,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: actions,
      },
    };
  }
  return resources;
}

function buildEventResources(config) {
  return { ...notificationResources(config), ...alarmResources(config) };
}

module.exports = { buildEventResources, buildEventPattern };
