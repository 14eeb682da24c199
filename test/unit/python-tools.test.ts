import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import AdmZip from 'adm-zip';
import { DEV_TOOLS, PythonToolsError, pythonTools } from '../../scripts/lib/python-tools';

// The machine's python3 builds the venvs; no package index is needed: pip reads a local wheel directory.
const BASE_PYTHON = 'python3';
const STANDIN = 'comfyui-ami-standin';
const PIP_KEYS = ['PIP_NO_INDEX', 'PIP_FIND_LINKS', 'PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'PIP_RETRIES', 'PIP_TIMEOUT', 'PYTHON'];

let dir: string;
let wheels: string;
const saved: Record<string, string | undefined> = {};

/** A minimal pure-Python wheel, as pip would find it in a package index. */
function writeWheel(version: string): void {
  const module = STANDIN.replace(/-/g, '_');
  const info = `${module}-${version}.dist-info`;
  const files: Record<string, string> = {
    [`${module}/__init__.py`]: `VERSION = '${version}'\n`,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${STANDIN}\nVersion: ${version}\n`,
    [`${info}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: python-tools.test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  files[`${info}/RECORD`] = `${[...Object.keys(files), `${info}/RECORD`].map((name) => `${name},,`).join('\n')}\n`;
  const zip = new AdmZip();
  for (const [name, text] of Object.entries(files)) zip.addFile(name, Buffer.from(text));
  zip.writeZip(path.join(wheels, `${module}-${version}-py3-none-any.whl`));
}

function requirements(lines: string): string {
  const file = path.join(dir, 'requirements.txt');
  writeFileSync(file, lines);
  return file;
}

function importedVersion(python: string): string {
  return spawnSync(python, ['-c', 'import comfyui_ami_standin as m; print(m.VERSION)'], { encoding: 'utf8' }).stdout.trim();
}

beforeAll(() => {
  for (const key of PIP_KEYS) saved[key] = process.env[key];
});

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'python-tools-'));
  wheels = path.join(dir, 'wheels');
  mkdirSync(wheels);
  for (const key of PIP_KEYS) delete process.env[key];
  process.env.PIP_NO_INDEX = '1';
  process.env.PIP_FIND_LINKS = wheels;
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const key of PIP_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe('pythonTools', () => {
  it('uses a python that already has every pin of requirements-dev.txt, and creates no venv', () => {
    // Prepare: the jest globalSetup found (or made) the python with the pins.
    const python = saved.PYTHON ?? BASE_PYTHON;
    const venvDir = path.join(dir, 'venv');
    const log = jest.fn();

    // Act
    const tools = pythonTools({ requirements: DEV_TOOLS.requirements, venvDir, python, log });

    // Assess
    expect(tools).toMatchObject({ python, source: 'system' });
    expect(existsSync(path.join(tools.scriptsDir, 'cfn-lint'))).toBe(true);
    expect(existsSync(venvDir)).toBe(false);
    expect(log).not.toHaveBeenCalled();
  });

  it('installs the pins into a venv when the python lacks one, reuses it, and re-creates it when the file changes', () => {
    // Prepare
    writeWheel('1.0.0');
    writeWheel('1.0.1');
    const venvDir = path.join(dir, 'venv');
    const log = jest.fn();
    const file = requirements(`# stand-in\n${STANDIN}==1.0.0\n`);

    // Act
    const first = pythonTools({ requirements: file, venvDir, python: BASE_PYTHON, log });
    const again = pythonTools({ requirements: file, venvDir, python: BASE_PYTHON, log });
    requirements(`${STANDIN}==1.0.1\n`);
    const changed = pythonTools({ requirements: file, venvDir, python: BASE_PYTHON, log });

    // Assess
    expect(first).toEqual({ python: path.join(venvDir, 'bin', 'python'), scriptsDir: path.join(venvDir, 'bin'), source: 'venv' });
    expect(again).toEqual(first);
    expect(changed).toEqual(first);
    expect(importedVersion(changed.python)).toBe('1.0.1');
    expect(log).toHaveBeenCalledTimes(2);
    expect(log.mock.calls[0][0]).toMatch(new RegExp(`lacks ${STANDIN}==1\\.0\\.0; installing .*requirements\\.txt into .*venv`));
    expect(log.mock.calls[1][0]).toMatch(new RegExp(`lacks ${STANDIN}==1\\.0\\.1;`));
  }, 180_000);

  it('stops naming the missing package and the command to run when no index has it, leaving no venv', () => {
    // Prepare: a package index that cannot be reached (nothing listens on port 9), no wheel directory;
    // one retry, so pip says why it found nothing.
    delete process.env.PIP_NO_INDEX;
    delete process.env.PIP_FIND_LINKS;
    process.env.PIP_INDEX_URL = 'http://127.0.0.1:9/simple';
    process.env.PIP_RETRIES = '1';
    const venvDir = path.join(dir, 'venv');
    const file = requirements(`${STANDIN}==1.0.0\n`);

    // Act
    let error: unknown;
    try {
      pythonTools({ requirements: file, venvDir, python: BASE_PYTHON, log: () => undefined });
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(PythonToolsError);
    const message = (error as Error).message;
    expect(message).toContain(`pip found no ${STANDIN}==1.0.0 (no package index can be reached)`);
    expect(message).toContain(`${BASE_PYTHON} -m pip install -r ${file}`);
    expect(existsSync(venvDir)).toBe(false);
  }, 120_000);
});
