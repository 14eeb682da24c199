// Runs the builder scripts under bash with every host command replaced by a stub that logs
// its arguments. PATH holds only the stubs and an allowlist of harmless real tools, so a
// command without a stub fails loudly instead of touching this machine.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..', '..');
export const SCRIPTS_DIR = join(REPO_ROOT, 'builder', 'scripts');

export const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
export const OLD_DIGEST = `sha256:${'f'.repeat(64)}`;
export const REGISTRY = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
export const GOOD_URI = `${REGISTRY}/comfyui@${DIGEST}`;
export const OLD_URI = `${REGISTRY}/comfyui@${OLD_DIGEST}`;

/** Values that must never get past the document pattern nor the scripts' own check. */
export const HOSTILE_URIS: Record<string, string> = {
  'command after a semicolon': `${GOOD_URI};rm -rf /`,
  'command substitution': `${REGISTRY}/comfyui@sha256:$(id)`,
  backticks: `${REGISTRY}/comfyui\`id\`@${DIGEST}`,
  spaces: `${REGISTRY}/comfyui @${DIGEST}`,
  'a newline': `${GOOD_URI}\nid`,
  'a trailing newline': `${GOOD_URI}\n`,
  'another registry': `docker.io/library/comfyui@${DIGEST}`,
  'a lookalike registry host': `123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/comfyui@${DIGEST}`,
  'a tag instead of a digest': `${REGISTRY}/comfyui:latest`,
  'a tag and a digest': `${REGISTRY}/comfyui:latest@${DIGEST}`,
  'uppercase hex': `${REGISTRY}/comfyui@sha256:${'ABCDEF0123456789'.repeat(4)}`,
  'a short digest': `${REGISTRY}/comfyui@sha256:${'a'.repeat(63)}`,
  'another repository': `${REGISTRY}/other@${DIGEST}`,
  'a repository prefix': `${REGISTRY}/comfyui-evil@${DIGEST}`,
  'an empty value': '',
};

// Real tools the scripts may use; everything else must be a stub.
const REAL_TOOLS = [
  'bash',
  'cat',
  'chmod',
  'date',
  'dirname',
  'find',
  'grep',
  'ln',
  'mkdir',
  'mktemp',
  'mv',
  'rm',
  'sleep',
  'sort',
  'timeout',
  'truncate',
];

// Each is a link to stub.sh, which logs the call and answers from STUB_* variables.
export const STUBBED = [
  'amazon-ssm-agent',
  'apt-cache',
  'apt-get',
  'apt-mark',
  'cloud-init',
  'curl',
  'docker',
  'docker-credential-ecr-login',
  'dpkg',
  'dpkg-query',
  'fuser',
  'gpg',
  'journalctl',
  'modinfo',
  'nvidia-ctk',
  'nvidia-smi',
  'snap',
  'sync',
  'systemctl',
  'uname',
];

/** The kernel a fresh builder boots with (stub uname -r). */
export const BOOT_KERNEL = '6.8.0-1015-aws';
/** The SSM agent's "reboot, then run the document again" exit status. */
export const SSM_REBOOT = 194;

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Stub calls in order, e.g. "docker pull --quiet <uri>". */
  calls: string[];
  /** The last non-empty line of stderr: what the pipeline shows as the failure cause. */
  lastErrorLine: string;
}

export interface Host {
  root: string;
  path(hostPath: string): string;
  write(hostPath: string, content: string, mode?: number): void;
  read(hostPath: string): string;
  exists(hostPath: string): boolean;
  run(script: string, env?: Record<string, string | undefined>): RunResult;
  runText(text: string, env?: Record<string, string | undefined>): RunResult;
  /** Runs a script with a working directory on the host (as the SSM agent does). */
  runIn(dir: string, script: string, env?: Record<string, string | undefined>): RunResult;
  /**
   * Runs like the SSM agent: on exit 194 it "reboots" (the newest kernel in /boot becomes the
   * running one; the NVIDIA driver loads if a module for it is installed; the udev rule, if
   * present, creates the /dev/char links) and runs the same script again, at most 3 times.
   */
  runAsSsm(script: string | { text: string }, env?: Record<string, string | undefined>): SsmRun;
  /** As on a fresh instance: no driver loaded until a reboot. */
  freshInstance(): void;
  cleanup(): void;
}

export interface SsmRun {
  /** Each run of the script, in order; all but the last ended with 194. */
  runs: RunResult[];
  last: RunResult;
  reboots: number;
}

export interface HostOptions {
  /** Stubs left out, as if the command were not installed. */
  without?: string[];
}

export function paramsEnv(imageUri: string = GOOD_URI, gpu = 'true', port = '8188'): Record<string, string> {
  return { SSM_ImageUri: imageUri, SSM_Gpu: gpu, SSM_ContainerPort: port };
}

export function createHost(options: HostOptions = {}): Host {
  const base = mkdtempSync(join(tmpdir(), 'comfyui-ami-'));
  const root = join(base, 'root');
  const bin = join(base, 'bin');
  const tools = join(base, 'tools');
  const state = join(base, 'state');
  const log = join(base, 'calls.log');
  const scratch = join(base, 'tmp');
  for (const dir of [root, bin, tools, state, scratch]) mkdirSync(dir, { recursive: true });
  mkdirSync(join(root, 'boot'), { recursive: true });
  writeFileSync(join(root, 'boot', `vmlinuz-${BOOT_KERNEL}`), '');

  const stub = join(base, 'stub');
  copyFileSync(join(__dirname, 'stub.sh'), stub);
  chmodSync(stub, 0o755);
  for (const name of STUBBED) {
    if (!options.without?.includes(name)) symlinkSync(stub, join(bin, name));
  }
  for (const tool of REAL_TOOLS) {
    const real = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (!real) throw new Error(`the builder tests need ${tool} installed`);
    symlinkSync(real, join(tools, tool));
  }
  // tr is used by the stub only.
  symlinkSync(['/usr/bin/tr', '/bin/tr'].find((p) => existsSync(p)) ?? '/usr/bin/tr', join(tools, 'tr'));

  const hostPath = (p: string) => join(root, p);

  const exec = (args: string[], env: Record<string, string | undefined>, cwd?: string): RunResult => {
    writeFileSync(log, '');
    const result = spawnSync(join(tools, 'bash'), args, {
      env: {
        PATH: `${bin}:${tools}`,
        HOME: '/root',
        LANG: 'C.UTF-8',
        COMFYUI_ROOT: root,
        COMFYUI_RETRY_DELAY: '0',
        COMFYUI_APT_LOCK_INTERVAL: '0',
        COMFYUI_SMOKE_INTERVAL: '0',
        COMFYUI_SMOKE_MIN_UPTIME: '3',
        COMFYUI_SMOKE_TIMEOUT: '20',
        STUB_LOG: log,
        STUB_STATE: state,
        // mktemp's files (one a failing script leaves) go with the sandbox, not into the machine's /tmp.
        TMPDIR: scratch,
        ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)),
      } as NodeJS.ProcessEnv,
      encoding: 'utf8',
      timeout: 30_000,
      ...(cwd === undefined ? {} : { cwd }),
    });
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const errorLines = result.stderr.split('\n').filter((l) => l.trim() !== '');
    return {
      status: result.status,
      stdout: result.stdout,
      stderr: result.stderr,
      calls: calls.map((c) => c.split(root).join('<root>')),
      lastErrorLine: errorLines[errorLines.length - 1] ?? '',
    };
  };

  const reboot = () => {
    const kernels = readdirSync(join(root, 'boot'))
      .filter((f) => f.startsWith('vmlinuz-'))
      .map((f) => f.slice('vmlinuz-'.length))
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const kernel = kernels[kernels.length - 1];
    writeFileSync(join(state, 'kernel'), `${kernel}\n`);
    const installedFile = join(state, 'installed');
    const installed = existsSync(installedFile) ? readFileSync(installedFile, 'utf8').split('\n') : [];
    const hasModule =
      installed.some((p) => /^linux-modules-nvidia-\d+-server-/.test(p) && p.endsWith(`-${kernel}`)) ||
      (installed.some((p) => /^nvidia-dkms-\d+-server$/.test(p)) && installed.includes(`linux-headers-${kernel}`));
    if (existsSync(join(state, 'driver-state'))) writeFileSync(join(state, 'driver-state'), hasModule ? 'loaded' : 'none');
    if (existsSync(join(root, 'etc/udev/rules.d/71-nvidia-dev-char.rules'))) writeFileSync(join(state, 'dev-char'), '');
    rmSync(join(state, 'reloaded'), { force: true });
  };

  return {
    root,
    path: hostPath,
    write(p, content, mode = 0o644) {
      mkdirSync(dirname(hostPath(p)), { recursive: true });
      writeFileSync(hostPath(p), content, { mode });
    },
    read: (p) => readFileSync(hostPath(p), 'utf8'),
    exists: (p) => existsSync(hostPath(p)),
    run: (script, env = {}) => exec([join(SCRIPTS_DIR, script)], env),
    runIn(dir, script, env = {}) {
      mkdirSync(hostPath(dir), { recursive: true });
      return exec([join(SCRIPTS_DIR, script)], env, hostPath(dir));
    },
    runText(text, env = {}) {
      const file = join(base, 'document.sh');
      writeFileSync(file, text);
      return exec([file], env);
    },
    runAsSsm(script, env = {}) {
      const runs: RunResult[] = [];
      let reboots = 0;
      const path = typeof script === 'string' ? join(SCRIPTS_DIR, script) : join(base, 'document.sh');
      if (typeof script !== 'string') writeFileSync(path, script.text);
      for (;;) {
        const result = exec([path], env);
        runs.push(result);
        if (result.status !== SSM_REBOOT || runs.length >= 3) return { runs, last: result, reboots };
        reboot();
        reboots += 1;
      }
    },
    freshInstance: () => writeFileSync(join(state, 'driver-state'), 'none'),
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** Asserts that each pattern matches a call, in this order (other calls may come between). */
export function expectCallsInOrder(calls: string[], patterns: RegExp[]): void {
  let from = 0;
  for (const pattern of patterns) {
    const index = calls.findIndex((call, i) => i >= from && pattern.test(call));
    if (index < 0) {
      throw new Error(`no call matching ${pattern} after call #${from}; calls were:\n${calls.map((c, i) => `${i}: ${c}`).join('\n')}`);
    }
    from = index + 1;
  }
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
