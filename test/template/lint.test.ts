import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packagedTemplate, ROOT, TEMPLATE_FILE } from './support/template';

// asl-validator ships no types.
const aslValidator = require('asl-validator') as (definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }) => {
  isValid: boolean;
  errors: { 'Error code': string; Message: string }[];
};

const CFN_LINT_HINT = 'cfn-lint is needed to lint the generated template: pip install cfn-lint';

function findCfnLint(): string | undefined {
  const probe = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (probe.status === 0) return 'cfn-lint';
  const shim = '/root/.pyenv/shims/cfn-lint';
  return existsSync(shim) ? shim : undefined;
}

describe('validators', () => {
  const aslText = readFileSync(path.join(ROOT, 'statemachine', 'bake-ami.asl.json'), 'utf8');

  it('asl-validator accepts the ASL file as it is', () => {
    // checkArn stays on: the ${...} placeholder form is then the one Resource form that matches.
    const result = aslValidator(JSON.parse(aslText), { checkPaths: true, checkArn: true });
    expect(result.errors.map((e) => e.Message)).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('asl-validator accepts the definition with its placeholders substituted by function ARNs', () => {
    const substituted = aslText.replace(/\$\{([A-Za-z0-9]+)\}/g, (_m, name: string) => `arn:aws:lambda:us-east-1:123456789012:function:comfyui-ami-test-${name}`);
    const result = aslValidator(JSON.parse(substituted), { checkPaths: true, checkArn: true });
    expect(result.errors.map((e) => e.Message)).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('cfn-lint finds no error in the generated template (warnings allowed)', () => {
    packagedTemplate();
    const cfnLint = findCfnLint();
    if (!cfnLint) throw new Error(CFN_LINT_HINT);
    const run = spawnSync(cfnLint, ['--format', 'parseable', TEMPLATE_FILE], { encoding: 'utf8', timeout: 120_000 });
    if (run.error) throw new Error(`${CFN_LINT_HINT} (${run.error.message})`);
    const findings = run.stdout.split('\n').filter(Boolean);
    const errors = findings.filter((line) => /:E\d{4}:/.test(line));
    expect(errors).toEqual([]);
    // Exit bits: 2 errors, 4 warnings, 8 informational; 1 is a crash of cfn-lint itself.
    expect([run.status! & 3, run.stderr]).toEqual([0, expect.any(String)]);
  });
});
