import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { withDirLock } from '../../scripts/lib/dir-lock';

let dir: string;
let lock: string;
const quick = { staleMs: 60_000, pollMs: 10 };

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dir-lock-'));
  lock = path.join(dir, 'nested', 'work.lock');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('withDirLock', () => {
  it('holds the lock while fn runs and releases it after, returning what fn returns', () => {
    const held = withDirLock(lock, quick, () => existsSync(lock));

    expect(held).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });

  it('releases the lock when fn throws', () => {
    expect(() =>
      withDirLock(lock, quick, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over a lock older than staleMs, as a killed process leaves it', () => {
    mkdirSync(lock, { recursive: true });
    const old = new Date(Date.now() - 120_000);
    utimesSync(lock, old, old);

    expect(withDirLock(lock, quick, () => 'ran')).toBe('ran');
  });

  it('gives up after timeoutMs on a fresh lock another process holds, naming it', () => {
    mkdirSync(lock, { recursive: true });

    expect(() => withDirLock(lock, { ...quick, timeoutMs: 50 }, () => 'ran')).toThrow(`another process holds ${lock}`);
    expect(existsSync(lock)).toBe(true);
  });
});
