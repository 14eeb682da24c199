import { readFileSync } from 'node:fs';
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
