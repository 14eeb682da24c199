import { parseConfig } from '../../functions/shared/config';
import { awsCallsOfFunction, packagedTemplate, readRepoJson, type Template } from './support/template';

/**
 * What config/pipeline.json decides in the stack, shown on a package made from another config:
 * its own security groups and subnet, no public IP, a base image of a named owner, a
 * customer-managed EBS key, and prod with its own instance type and subnet lists and a Spot builder.
 */
const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const GROUPS = ['sg-0123456789abcdef0', 'sg-0fedcba9876543210'];
const SUBNET = 'subnet-0123456789abcdef0';
// prod's own ordered subnets and instance types, and a Spot builder (GPU capacity).
const PROD_SUBNET = 'subnet-0000000000000000c';
const OWNER = '111122223333';

interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The properties of an AWS::IAM::Policy. */
type PolicyProperties = {
  Roles: unknown[];
  PolicyDocument: { Statement: Statement[] };
};

const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function statementsOf(template: Template, roleId: string): Statement[] {
  const inline = list(template.Resources[roleId].Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[]);
  const attached = Object.values(template.Resources)
    .filter(
      (r) =>
        r.Type === 'AWS::IAM::Policy' &&
        list(r.Properties.Roles as unknown[]).some((ref) => JSON.stringify(ref) === JSON.stringify({ Ref: roleId })),
    )
    .map((r) => r.Properties as { PolicyDocument: { Statement: Statement[] } });
  return [...inline, ...attached].flatMap((p) => p.PolicyDocument.Statement);
}

describe('a config with its own network, base image owner and EBS key (sls package --stage test)', () => {
  let template: Template;
  const sub = (resource: string) => ({ 'Fn::Sub': `arn:\${AWS::Partition}:ec2:\${AWS::Region}:\${AWS::AccountId}:${resource}` });

  beforeAll(() => {
    const config = readRepoJson<Record<string, Record<string, unknown>>>('config/pipeline.json');
    const environments = config.environments as Record<string, Record<string, unknown>>;
    const { instanceType: _one, ...prod } = environments.prod;
    template = packagedTemplate({
      name: 'own-network-and-key',
      config: {
        ...config,
        baseImage: { amiId: 'ami-0123456789abcdef0', owner: OWNER },
        builder: { ...config.builder, subnetId: SUBNET, securityGroupIds: GROUPS, associatePublicIpAddress: false, ebsKmsKeyArn: KEY },
        environments: {
          ...environments,
          prod: { ...prod, instanceTypes: ['g6.xlarge', 'g5.2xlarge'], subnetIds: [PROD_SUBNET, SUBNET], spot: true },
        },
      },
    });
  });

  it('hands that config to the functions, the launch step without a stack security group', () => {
    const variables = (template.Resources.LaunchBuilderLambdaFunction.Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    const config = parseConfig(JSON.parse(variables.PIPELINE_CONFIG as string), 'PIPELINE_CONFIG');
    expect(config.builder).toMatchObject({
      subnetId: SUBNET,
      securityGroupIds: GROUPS,
      associatePublicIpAddress: false,
      ebsKmsKeyArn: KEY,
    });
    expect(variables.BUILDER_SECURITY_GROUP_ID).toEqual({
      'Fn::If': ['CreateBuilderSecurityGroup', { Ref: 'BuilderSecurityGroup' }, { Ref: 'AWS::NoValue' }],
    });
  });

  it('makes no security group and no VPC rule: the configured groups are the only ones the launch may use', () => {
    const group = template.Resources.BuilderSecurityGroup;
    expect(group.Condition).toBe('CreateBuilderSecurityGroup');
    expect(template.Conditions?.CreateBuilderSecurityGroup).toEqual({ 'Fn::Equals': [GROUPS.join(','), ''] });
    expect(template.Rules?.BuilderVpcForTheSecurityGroup.RuleCondition).toEqual({ 'Fn::Equals': [GROUPS.join(','), ''] });
    const runInGroups = statementsOf(template, 'LaunchBuilderIamRoleLambdaExecution').find(
      (s) => s.Sid === 'RunWithConfiguredSecurityGroups',
    )!;
    expect(runInGroups.Resource).toEqual({
      'Fn::If': [
        'CreateBuilderSecurityGroup',
        [{ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${BuilderSecurityGroup.GroupId}' }],
        GROUPS.map((g) => sub(`security-group/${g}`)),
      ],
    });
  });

  it("launches only in the configured subnets, without a public IP, from this account's or the named owner's images", () => {
    const launch = statementsOf(template, 'LaunchBuilderIamRoleLambdaExecution');
    // The builder default's subnet (dev, staging) and prod's own list: exactly those.
    expect(launch.find((s) => s.Sid === 'RunInConfiguredSubnets')!.Resource).toEqual([
      sub(`subnet/${PROD_SUBNET}`),
      sub(`subnet/${SUBNET}`),
    ]);
    expect(launch.find((s) => s.Sid === 'PublicIpOnlyAsConfigured')!.Condition).toEqual({
      Bool: { 'ec2:AssociatePublicIpAddress': 'false' },
    });
    expect(launch.find((s) => s.Sid === 'RunFromOwnOrBaseOwnerImages')!.Condition).toEqual({
      StringEquals: { 'ec2:Owner': [{ Ref: 'AWS::AccountId' }, OWNER] },
    });
  });

  it.each(['LaunchBuilderIamRoleLambdaExecution', 'LaunchTestInstanceIamRoleLambdaExecution'])(
    '%s runs exactly the instance types of the builder default and of prod, in the same subnets',
    (roleId) => {
      const launch = statementsOf(template, roleId);
      expect(launch.find((s) => s.Sid === 'RunOnlyConfiguredTaggedIMDSv2Builders')!.Condition?.StringEquals['ec2:InstanceType']).toEqual([
        'g4dn.xlarge',
        'g5.2xlarge',
        'g6.xlarge',
      ]);
      expect(launch.find((s) => s.Sid === 'RunInConfiguredSubnets')!.Resource).toEqual([
        sub(`subnet/${PROD_SUBNET}`),
        sub(`subnet/${SUBNET}`),
      ]);
    },
  );

  it("lets only the builder's launch make a Spot request, because prod asks for a Spot builder", () => {
    const spot = Object.entries(template.Resources).filter(([, r]) => JSON.stringify(r).includes('spot-instances-request'));
    expect(spot.map(([id]) => id)).toEqual(['SpotBuilderLaunchPolicy']);
    const policy = spot[0][1].Properties as PolicyProperties;
    expect(policy.Roles).toEqual([{ Ref: 'LaunchBuilderIamRoleLambdaExecution' }]);
    // One grant: RunInstances on a Spot request, nothing else.
    expect(policy.PolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Allow', Action: ['ec2:RunInstances'], Resource: sub('spot-instances-request/*') }),
    ]);
  });

  it('lets exactly the launch and create-image roles use the key, only through EC2, grants only for AWS resources', () => {
    const policies = Object.entries(template.Resources).filter(
      ([, r]) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r).includes('kms:'),
    );
    expect(policies.map(([id]) => id)).toEqual(['EbsKeyUsePolicy']);
    const policy = policies[0][1].Properties as PolicyProperties;
    expect(policy.Roles).toEqual([{ Ref: 'LaunchBuilderIamRoleLambdaExecution' }, { Ref: 'CreateImageIamRoleLambdaExecution' }]);
    const viaEc2 = { 'kms:ViaService': { 'Fn::Sub': 'ec2.${AWS::Region}.amazonaws.com' } };
    const [use, grant] = policy.PolicyDocument.Statement;
    expect(list(use.Action).sort()).toEqual([
      'kms:Decrypt',
      'kms:DescribeKey',
      'kms:GenerateDataKeyWithoutPlaintext',
      'kms:ReEncryptFrom',
      'kms:ReEncryptTo',
    ]);
    expect(use.Resource).toBe(KEY);
    expect(use.Condition).toEqual({ StringEquals: viaEc2 });
    expect(list(grant.Action)).toEqual(['kms:CreateGrant']);
    expect(grant.Resource).toBe(KEY);
    expect(grant.Condition).toEqual({ StringEquals: viaEc2, Bool: { 'kms:GrantIsForAWSResource': 'true' } });
    // No other role may use any key, snapshot deletion included (it needs no key operation).
    const kmsRoles = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::IAM::Role')
      .filter(([id]) => statementsOf(template, id).some((s) => list(s.Action).some((a) => a.startsWith('kms:'))))
      .map(([id]) => id);
    expect(kmsRoles.sort()).toEqual(['CreateImageIamRoleLambdaExecution', 'LaunchBuilderIamRoleLambdaExecution']);
  });

  it('only gives the key to roles whose bundle makes the calls that use it', () => {
    // The default package's bundles are the same code: the calls that authorize key use. Made
    // here too, so this file does not depend on another having packaged it first.
    packagedTemplate();
    expect(awsCallsOfFunction('launchBuilder')).toContain('ec2:RunInstances');
    expect(awsCallsOfFunction('createImage')).toContain('ec2:CreateImage');
  }, 600_000);
});
