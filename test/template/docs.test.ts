import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../functions/shared/config';
import { RequestInvalid } from '../../functions/shared/errors';
import { errorResponse } from '../../functions/shared/http';
import { loadDefinition } from '../../scripts/lib/local-runner';
import { BUILD_FAILED_STATE, REJECTED_STATE, ROLL_BACK_STATE, redriveAdvice } from '../../scripts/lib/outcome';
import { packagedTemplate, ROOT } from './support/template';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const deploy = readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
const pipelineConfig = JSON.parse(readFileSync(path.join(ROOT, 'config', 'pipeline.json'), 'utf8')) as Record<string, unknown>;

/** The paragraphs (or table rows) of a Markdown text that mention `word`. */
function mentions(text: string, word: string): string[] {
  return text
    .split(/\n\s*\n|\n(?=\|)/)
    .filter((paragraph) => paragraph.includes(word))
    .map((paragraph) => paragraph.replace(/\s+/g, ' '));
}

describe('README', () => {
  it('names Node and python3 as the only prerequisites, then the commands, on its first screen', () => {
    const firstScreen = readme.split('\n').slice(0, 60).join('\n');

    expect(firstScreen).toMatch(/Prerequisites: Node\.js [^\n]* and python3\. Nothing else\./);
    for (const command of ['npm ci', 'npm run demo', 'npm test', 'npm run lint']) expect(firstScreen).toContain(`\n${command} `);
  });

  it('asks for no system or Python package install: the npm scripts set up what they need', () => {
    expect(readme).not.toMatch(/pip3? install|apt(-get)? install/);
  });

  it('never shows --env together with --input, which the CLI refuses', () => {
    const commandLines = readme
      .split('\n')
      .map((line) => line.replace(/\s#.*$/, ''))
      .filter((line) => /comfyui-ami (run|start)\b/.test(line));

    expect(commandLines.length).toBeGreaterThan(0);
    expect(commandLines.filter((line) => line.includes('--env') && line.includes('--input'))).toEqual([]);
  });
});

describe('docs/deploy.md', () => {
  it('lists the outputs the packaged stack has', () => {
    const paragraph = /^Outputs: (.*?)\n\n/ms.exec(deploy)?.[1] ?? '';
    const listed = [...new Set([...paragraph.matchAll(/`([A-Za-z<>]+)`/g)].map((m) => m[1]))];
    const perFunction = /^[A-Z][A-Za-z]*LambdaFunctionQualifiedArn$/;

    const outputs = Object.keys(packagedTemplate().Outputs);

    expect(listed).toContain('<Function>LambdaFunctionQualifiedArn');
    expect(outputs.filter((name) => !perFunction.test(name)).sort()).toEqual(listed.filter((name) => !name.startsWith('<')).sort());
  });
});

describe('claims checked against the code', () => {
  it('presents events/ecr-push-dev.json with its made-up digest wherever it is offered', () => {
    const offered = [...mentions(readme, 'ecr-push-dev.json'), ...mentions(deploy, 'ecr-push-dev.json')];

    expect(offered.length).toBeGreaterThan(0);
    expect(offered.filter((paragraph) => !/made up/.test(paragraph))).toEqual([]);
  });

  it('calls builderVpcId a stack parameter, which it is, and no config field, which it is not', () => {
    const template = readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8');

    expect(template).toMatch(/^ {4}builderVpcId: ""$/m);
    expect(() => parseConfig({ ...pipelineConfig, builderVpcId: 'vpc-0123456789abcdef0' }, 'test')).toThrow(
      expect.objectContaining({ name: 'ConfigInvalid', field: 'config' }),
    );
    const mentioned = mentions(deploy, 'builderVpcId');
    expect(mentioned.length).toBeGreaterThan(0);
    expect(mentioned.filter((paragraph) => !/stack parameter|--param/.test(paragraph))).toEqual([]);
  });

  it('says a rolled-back build is not worth a redrive, as the ASL and the CLI have it', () => {
    const states = loadDefinition().States;
    // Roll back -> release the lock -> announce the failure (which never fails the build) -> the
    // Fail state: a redrive would re-run only that Fail state.
    const release = states[String(states[ROLL_BACK_STATE].Next)];
    const announce = states[String(release.Next)];
    expect(announce).toMatchObject({ Type: 'Task', Catch: [{ ErrorEquals: ['States.ALL'], Next: BUILD_FAILED_STATE }] });
    expect(String(announce.Next)).toBe(BUILD_FAILED_STATE);
    expect(states[BUILD_FAILED_STATE]).toMatchObject({ Type: 'Fail' });
    expect(states[REJECTED_STATE]).toMatchObject({ Type: 'Fail' });

    expect(redriveAdvice({ status: 'FAILED', lastState: BUILD_FAILED_STATE, rollback: null }).offer).toBe(false);
    expect(redriveAdvice({ status: 'FAILED', lastState: REJECTED_STATE, rollback: null }).offer).toBe(false);
    expect(redriveAdvice({ status: 'FAILED', lastState: ROLL_BACK_STATE, rollback: null }).offer).toBe(true);
    expect(redriveAdvice({ status: 'ABORTED', lastState: 'Check the update', rollback: null }).offer).toBe(true);
    expect(deploy).toMatch(/failed and rolled back is finished: a redrive\s+would only re-run its final Fail state/);
  });

  it('documents the fields of a refused API request as the start function answers them', () => {
    const documented = /`400 (\{"error": "RequestInvalid".*?\})`/.exec(deploy)?.[1] ?? '{}';
    const answer = errorResponse(new RequestInvalid({ field: 'input.image', allowed: 'a tag of dev', received: 'x' }));

    expect(Object.keys(JSON.parse(answer.body ?? '{}')).sort()).toEqual(Object.keys(JSON.parse(documented)).sort());
    expect(JSON.parse(answer.body ?? '{}')).toMatchObject({ field: 'body.image', message: 'body.image: must be a tag of dev, got "x"' });
  });

  it('states one exit status for a bad config, a bad flag and a missing AWS target: 2', () => {
    expect(readme).toMatch(/every CLI command then exits 2/);
    expect(readme).toMatch(/2 bad input or\s+configuration, or no AWS region or credentials/);
    expect(deploy).toMatch(
      /Every command exits 2 on a bad flag, a refused request, a bad pipeline config\s+or a missing AWS region or credentials/,
    );
  });
});

describe('docs/operations.md', () => {
  const operations = readFileSync(path.join(ROOT, 'docs', 'operations.md'), 'utf8');

  it('uses only commands the CLI has', async () => {
    const { USAGE } = await import('../../scripts/cli');
    const commands = new Set([...USAGE.matchAll(/^ {2}([a-z]+)\s/gm)].map((m) => m[1]));
    const mentioned = [...new Set([...operations.matchAll(/comfyui-ami ([a-z]+)\b/g)].map((m) => m[1]))];

    expect(mentioned).toEqual(expect.arrayContaining(['logs', 'cancel', 'history', 'legacy', 'lock', 'start', 'run']));
    expect(mentioned.filter((c) => !commands.has(c))).toEqual([]);
  });

  it('names files that exist, the tag the pipeline puts on what it makes, and the quota codes the pre-flight reads', async () => {
    const { GPU_QUOTAS } = await import('../../scripts/lib/gpu-quota');
    const { MANAGED_BY, TAG } = await import('../../functions/shared/tags');
    const files = [...operations.matchAll(/`((?:docs|test|scripts|functions|config)\/[\w./-]+\.(?:ts|json|md))`/g)].map((m) => m[1]);

    expect(files.length).toBeGreaterThan(2);
    for (const file of files) expect([file, existsSync(path.join(ROOT, file))]).toEqual([file, true]);
    for (const filter of operations.match(/Name=tag:[^ ]+/g) ?? []) expect(filter).toBe(`Name=tag:${TAG.managedBy},Values=${MANAGED_BY}`);
    for (const quota of GPU_QUOTAS) expect(operations).toMatch(new RegExp(`\\| ${quota.name}\\s+\\| \`${quota.code}\` \\|`));
  });

  it('gives the deployer a statement for every kind of resource the packaged stack holds', () => {
    const policy = JSON.parse(readFileSync(path.join(ROOT, 'docs', 'deployer-policy.json'), 'utf8')) as {
      Statement: { Action: string[] }[];
    };
    const services = new Set(policy.Statement.flatMap((s) => s.Action.map((a) => a.split(':')[0])));
    const SERVICE: Record<string, string> = {
      ApiGatewayV2: 'apigateway',
      CloudWatch: 'cloudwatch',
      DynamoDB: 'dynamodb',
      EC2: 'ec2',
      Events: 'events',
      IAM: 'iam',
      Lambda: 'lambda',
      Logs: 'logs',
      S3: 's3',
      SNS: 'sns',
      SSM: 'ssm',
      StepFunctions: 'states',
    };

    const types = [...new Set(Object.values(packagedTemplate().Resources).map((r) => (r as { Type: string }).Type.split('::')[1]))];

    expect(types.filter((t) => !(t in SERVICE))).toEqual([]);
    expect(types.map((t) => SERVICE[t]).filter((s) => !services.has(s))).toEqual([]);
    expect(services).toContain('cloudformation');
  });
});
