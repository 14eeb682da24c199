import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCRIPTS_DIR } from './harness';

const SHELLCHECK = '/usr/bin/shellcheck';
const scripts = readdirSync(SCRIPTS_DIR).filter((name) => name.endsWith('.sh'));

describe('builder scripts', () => {
  it('pass shellcheck', () => {
    if (!existsSync(SHELLCHECK)) {
      throw new Error(`${SHELLCHECK} is missing: apt-get install shellcheck`);
    }
    const stub = join(__dirname, 'stub.sh');
    const result = spawnSync(SHELLCHECK, ['--external-sources', '--source-path=SCRIPTDIR', '--format=gcc', ...scripts.map((s) => join(SCRIPTS_DIR, s)), stub], {
      encoding: 'utf8',
    });

    expect(result.error).toBeUndefined();
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(scripts)('%s is strict bash', (name) => {
    const text = readFileSync(join(SCRIPTS_DIR, name), 'utf8');

    expect(text.startsWith('#!/bin/bash\n')).toBe(true);
    if (name !== 'lib.sh') expect(text).toMatch(/^set -euo pipefail$/m);
  });
});
