'use strict';
/**
 * The one bridge from config/pipeline.json to serverless.yml. The file is validated with the
 * same zod schema the Lambdas use (a bad config fails `sls package`, naming the field), and the
 * values serverless.yml needs are derived here: the JSON every function receives, the ECR push
 * pattern, and the ARNs the IAM statements are scoped to.
 */
const path = require('node:path');
const tsx = require('tsx/cjs/api');

const ROOT = path.resolve(__dirname, '../..');
// The override is for tests of this helper only: builder/documents.cjs always reads config/pipeline.json.
const CONFIG_FILE = process.env.COMFYUI_AMI_TEST_CONFIG_FILE
  ? path.resolve(process.env.COMFYUI_AMI_TEST_CONFIG_FILE)
  : path.join(ROOT, 'config', 'pipeline.json');

const { readConfigFile, baseImageOwners, environmentInstanceTypes, environmentSpot, environmentSubnetIds } = tsx.require(
  path.join(ROOT, 'functions', 'shared', 'config.ts'),
  __filename,
);
const { MANAGED_BY, TAG } = tsx.require(path.join(ROOT, 'functions', 'shared', 'tags.ts'), __filename);

const { buildEventResources } = require('./build-event-resources.cjs');

/** Parsed and defaulted; throws ConfigInvalid naming the field when the file is wrong. */
const config = readConfigFile(CONFIG_FILE);
// The longest lock wait must end before the state machine's own timeout (read from the ASL).
const { lockWaitProblem } = tsx.require(path.join(ROOT, 'scripts', 'lib', 'lock-budget.ts'), __filename);
const lockProblem = lockWaitProblem(config);
if (lockProblem) throw new Error(`${CONFIG_FILE}: ${lockProblem}`);

const sub = (text) => ({ 'Fn::Sub': text });
const ARN = 'arn:${AWS::Partition}';
const withoutSlash = (p) => p.replace(/^\//, '');

const repositoryOf = (env) => env.repository ?? config.repositories[0];

/** One entry per repository: the tag patterns of the environments that build from it. */
function tagMatchers(patterns) {
  return [...new Set(patterns)].sort().map((p) => (p.includes('*') ? { wildcard: p } : p));
}

function ecrPushPattern() {
  const byRepository = new Map();
  for (const env of Object.values(config.environments)) {
    const repo = repositoryOf(env);
    byRepository.set(repo, [...(byRepository.get(repo) ?? []), ...env.tags]);
  }
  const branches = [...byRepository.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([repo, tags]) => ({ 'repository-name': [repo], 'image-tag': tagMatchers(tags) }));
  const common = { 'action-type': ['PUSH'], result: ['SUCCESS'] };
  return {
    source: ['aws.ecr'],
    'detail-type': ['ECR Image Action'],
    detail: branches.length === 1 ? { ...common, ...branches[0] } : { ...common, $or: branches },
  };
}

function baseImageParameterArns() {
  const parameter = config.baseImage.parameter;
  if (!parameter) return [];
  // Public parameters (/aws/service/...) live in no account: their ARN has an empty account field.
  return parameter.startsWith('/aws/')
    ? [sub(`${ARN}:ssm:\${AWS::Region}::parameter/${withoutSlash(parameter)}`)]
    : [sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(parameter)}`)];
}

const environmentNames = Object.keys(config.environments);
/** Every instance type a build may launch: each environment's list (or the builder default's). */
const instanceTypes = [...new Set(environmentNames.flatMap((env) => environmentInstanceTypes(config, env)))].sort();
/**
 * Every subnet a build may launch in: each environment's list (or the builder default's). An
 * environment without one launches in the default VPC's default subnet, which no ARN can name in
 * advance: then any subnet.
 */
const subnetLists = environmentNames.map((env) => environmentSubnetIds(config, env));
const subnetIds = subnetLists.some((list) => list.length === 0) ? ['*'] : [...new Set(subnetLists.flat())].sort();
/** Whether any environment's builder may start on Spot. */
const spotBuilders = environmentNames.some((env) => environmentSpot(config, env));

const ec2Arn = (resource) => sub(`${ARN}:ec2:\${AWS::Region}:\${AWS::AccountId}:${resource}`);

/**
 * With a customer-managed EBS key: what EC2 needs of the key on behalf of the two roles that make
 * encrypted volumes and snapshots (RunInstances, CreateImage), only through EC2, and grants only
 * for AWS resources. Deleting a snapshot uses no key operation. Without a key: nothing.
 */
function ebsKeyResources() {
  const key = config.builder.ebsKmsKeyArn;
  if (!key) return {};
  const viaEc2 = { 'kms:ViaService': sub('ec2.${AWS::Region}.amazonaws.com') };
  return {
    EbsKeyUsePolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'use-the-ebs-key-through-ec2',
        Roles: [{ Ref: 'LaunchBuilderIamRoleLambdaExecution' }, { Ref: 'CreateImageIamRoleLambdaExecution' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            {
              Sid: 'EncryptVolumesAndSnapshotsThroughEc2',
              Effect: 'Allow',
              Action: ['kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
              Resource: key,
              Condition: { StringEquals: viaEc2 },
            },
            {
              Sid: 'GrantOnlyForEbs',
              Effect: 'Allow',
              Action: ['kms:CreateGrant'],
              Resource: key,
              Condition: { StringEquals: viaEc2, Bool: { 'kms:GrantIsForAWSResource': 'true' } },
            },
          ],
        },
      },
    },
  };
}

/**
 * With Spot builders only: a Spot RunInstances also acts on a spot-instances-request, which only
 * the builder's launch role may make (the test instance is always On-Demand). Without: no grant,
 * so no Spot launch.
 */
function spotLaunchResources() {
  if (!spotBuilders) return {};
  return {
    SpotBuilderLaunchPolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        PolicyName: 'launch-spot-builders',
        Roles: [{ Ref: 'LaunchBuilderIamRoleLambdaExecution' }],
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Sid: 'RequestSpotBuilders', Effect: 'Allow', Action: ['ec2:RunInstances'], Resource: ec2Arn('spot-instances-request/*') },
          ],
        },
      },
    },
  };
}

module.exports = {
  config,
  /**
   * The PIPELINE_CONFIG of every function: the config as validated here, defaults filled in,
   * which the functions trust without loading the schema (functions/shared/config-env.ts).
   */
  json: JSON.stringify(config),
  managedByTagKey: TAG.managedBy,
  managedByTagValue: MANAGED_BY,
  resourceTagCondition: { StringEquals: { [`aws:ResourceTag/${TAG.managedBy}`]: MANAGED_BY } },
  requestTagCondition: { StringEquals: { [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY } },
  ecrPushPattern: ecrPushPattern(),
  repositoryArns: config.repositories.map((r) => sub(`${ARN}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${r}`)),
  parameterArns: [sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/*`)],
  parameterPrefix: config.parameterPrefix,
  /** The prefix itself (GetParametersByPath on it) and everything under it: what a consumer reads. */
  consumerParameterArns: [
    sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}`),
    sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/*`),
  ],
  // GetParametersByPath is authorized on the path: each environment's history/ (only an environment's own images reach it).
  historyPathArns: [sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/*/history`)],
  // The start function's requester records share the lock table, under keys no environment can have.
  requestRecordCondition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['request:*'] } },
  // Waits for an event (task tokens) share it the same way (functions/shared/wait-registry.ts).
  waitRecordCondition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['wait:*'] } },
  // The announce step's last-result records (functions/shared/last-result.ts), likewise apart.
  resultRecordCondition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['result:*'] } },
  // So do the cancel records (functions/shared/cancellation.ts), which every step before publish reads.
  cancelRecordCondition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['cancel:*'] } },
  parameterReadArns: [
    sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/*`),
    ...baseImageParameterArns(),
  ],
  documentArns: [config.documents.fresh, config.documents.incremental].map((d) =>
    sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${d}`),
  ),
  healthCheckDocumentArn: sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${config.documents.healthCheck}`),
  documents: config.documents,
  instanceProfile: config.builder.instanceProfile,
  commandLogGroup: config.commandLogGroup,
  lockTable: config.lock.table,
  // RunInstances conditions (launch step)
  instanceTypes,
  subnetArns: subnetIds.map((id) => ec2Arn(`subnet/${id}`)),
  // The pipeline's own AMIs (incremental builds) and the base image's publisher.
  imageOwners: [{ Ref: 'AWS::AccountId' }, ...baseImageOwners(config)],
  // RunInstances and CreateImage conditions: the managed-by request tag plus what each resource must be.
  instanceLaunchCondition: {
    StringEquals: {
      [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY,
      'ec2:InstanceType': instanceTypes,
      'ec2:MetadataHttpTokens': 'required',
      'ec2:InstanceProfile': { 'Fn::GetAtt': ['BuilderInstanceProfile', 'Arn'] },
    },
  },
  volumeLaunchCondition: { StringEquals: { [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY }, Bool: { 'ec2:Encrypted': 'true' } },
  tagAtRunInstancesCondition: { StringEquals: { 'ec2:CreateAction': 'RunInstances', [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY } },
  tagAtCreateImageCondition: { StringEquals: { 'ec2:CreateAction': 'CreateImage', [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY } },
  publicIpCondition: { Bool: { 'ec2:AssociatePublicIpAddress': String(config.builder.associatePublicIpAddress) } },
  /** Comma-joined: the stack makes a security group only when this is empty. */
  securityGroupIdsText: config.builder.securityGroupIds.join(','),
  configuredSecurityGroupArns: config.builder.securityGroupIds.map((id) => ec2Arn(`security-group/${id}`)),
  configuredResources: { ...ebsKeyResources(), ...spotLaunchResources() },
  api: config.api,
  // Build events and metrics (scripts/serverless/build-event-resources.cjs).
  eventBusArn: sub(`${ARN}:events:\${AWS::Region}:\${AWS::AccountId}:event-bus/${config.buildEvents.eventBusName}`),
  latestParameterArns: Object.keys(config.environments)
    .sort()
    .map((env) => sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/${env}/latest`)),
  buildEventResources: buildEventResources(config),
  commandLogGroupArn: sub(`${ARN}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${config.commandLogGroup}:*`),
};
