import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

export interface DirLockOptions {
  /** A lock older than this was left by a killed process and is taken over. */
  staleMs: number;
  /** How often to look again while another process holds it. */
  pollMs: number;
  /** How long to wait at most; without it, until the holder ends or the lock goes stale. */
  timeoutMs?: number;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Runs `fn` while this process holds `lock`, a directory: mkdir is atomic, so one process at a
 * time (jest workers, concurrent runs, a demo and a test) builds what `fn` builds.
 */
export function withDirLock<T>(lock: string, options: DirLockOptions, fn: () => T): T {
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + (options.timeoutMs ?? Number.POSITIVE_INFINITY);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > options.staleMs) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`another process holds ${lock}; remove it if none is running`);
      sleepSync(options.pollMs);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
