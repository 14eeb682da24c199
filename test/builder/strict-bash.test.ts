import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCRIPTS_DIR } from './harness';

// shellcheck runs in `npm run lint` (scripts/lint.ts), with the settings of .shellcheckrc.
const scripts = readdirSync(SCRIPTS_DIR).filter((name) => name.endsWith('.sh'));

describe('builder scripts', () => {
  it.each(scripts)('%s is strict bash', (name) => {
    const text = readFileSync(join(SCRIPTS_DIR, name), 'utf8');

    expect(text.startsWith('#!/bin/bash\n')).toBe(true);
    if (name !== 'lib.sh') expect(text).toMatch(/^set -euo pipefail$/m);
  });
});
