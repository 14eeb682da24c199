import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packagedTemplate, ROOT } from './support/template';

const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const deploy = readFileSync(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');

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
      DynamoDB: 'dynamodb',
      EC2: 'ec2',
      Events: 'events',
      IAM: 'iam',
      Lambda: 'lambda',
      Logs: 'logs',
      S3: 's3',
      SSM: 'ssm',
      StepFunctions: 'states',
    };

    const types = [...new Set(Object.values(packagedTemplate().Resources).map((r) => (r as { Type: string }).Type.split('::')[1]))];

    expect(types.filter((t) => !(t in SERVICE))).toEqual([]);
    expect(types.map((t) => SERVICE[t]).filter((s) => !services.has(s))).toEqual([]);
    expect(services).toContain('cloudformation');
  });
});
