import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pythonTools } from '../../scripts/lib/python-tools';
import { packagedTemplate, ROOT, TEMPLATE_FILE } from './support/template';

// asl-validator ships no types.
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => {
  isValid: boolean;
  errors: { 'Error code': string; Message: string }[];
};

/** cfn-lint from the python that has requirements-dev.txt (the machine's, or .venv/dev). */
function cfnLintPath(): string {
  return path.join(pythonTools().scriptsDir, 'cfn-lint');
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
    const substituted = aslText.replace(
      /\$\{([A-Za-z0-9]+)\}/g,
      (_m, name: string) => `arn:aws:lambda:us-east-1:123456789012:function:comfyui-ami-test-${name}`,
    );
    const result = aslValidator(JSON.parse(substituted), { checkPaths: true, checkArn: true });
    expect(result.errors.map((e) => e.Message)).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('cfn-lint finds no error in the generated template (warnings allowed)', () => {
    packagedTemplate();
    const cfnLint = cfnLintPath();
    const run = spawnSync(cfnLint, ['--format', 'parseable', TEMPLATE_FILE], { encoding: 'utf8', timeout: 120_000 });
    if (run.error) throw new Error(`cannot run ${cfnLint}: ${run.error.message}`);
    const findings = run.stdout.split('\n').filter(Boolean);
    const errors = findings.filter((line) => /:E\d{4}:/.test(line));
    expect(errors).toEqual([]);
    // Exit bits: 2 errors, 4 warnings, 8 informational; 1 is a crash of cfn-lint itself.
    expect([run.status! & 3, run.stderr]).toEqual([0, expect.any(String)]);
  });
});
