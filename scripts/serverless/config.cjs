'use strict';
/**
 * The one bridge from config/pipeline.json to serverless.yml. The file is validated with the
 * same zod schema the Lambdas use (a bad config fails `sls package`, naming the field), and the
 * values serverless.yml needs are derived here: the JSON every function receives, the ECR push
 * pattern, and the ARNs the IAM statements are scoped to.
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');
const tsx = require('tsx/cjs/api');

const ROOT = path.resolve(__dirname, '../..');
// The override is for tests of this helper only: builder/documents.cjs always reads config/pipeline.json.
const CONFIG_FILE = process.env.COMFYUI_AMI_TEST_CONFIG_FILE
  ? path.resolve(process.env.COMFYUI_AMI_TEST_CONFIG_FILE)
  : path.join(ROOT, 'config', 'pipeline.json');

const { readConfigFile } = tsx.require(path.join(ROOT, 'functions', 'shared', 'config.ts'), __filename);
const { MANAGED_BY, TAG } = tsx.require(path.join(ROOT, 'functions', 'shared', 'tags.ts'), __filename);

const raw = JSON.parse(readFileSync(CONFIG_FILE, 'utf8'));
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

module.exports = {
  config,
  /** Compact JSON of the file as written: the PIPELINE_CONFIG of every function. */
  json: JSON.stringify(raw),
  managedByTagKey: TAG.managedBy,
  managedByTagValue: MANAGED_BY,
  resourceTagCondition: { StringEquals: { [`aws:ResourceTag/${TAG.managedBy}`]: MANAGED_BY } },
  requestTagCondition: { StringEquals: { [`aws:RequestTag/${TAG.managedBy}`]: MANAGED_BY } },
  ecrPushPattern: ecrPushPattern(),
  repositoryArns: config.repositories.map((r) => sub(`${ARN}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${r}`)),
  parameterArns: [sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/*`)],
  parameterReadArns: [
    sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter/${withoutSlash(config.parameterPrefix)}/*`),
    ...baseImageParameterArns(),
  ],
  documentArns: [config.documents.fresh, config.documents.incremental].map((d) =>
    sub(`${ARN}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${d}`),
  ),
  documents: config.documents,
  instanceProfile: config.builder.instanceProfile,
  commandLogGroup: config.commandLogGroup,
  lockTable: config.lock.table,
  commandLogGroupArn: sub(`${ARN}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${config.commandLogGroup}:*`),
};
