import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One module to load in a fresh node process, with the environment its Lambda would give it. */
export interface LoadTarget {
  name: string;
  /** Absolute path of the module to require. */
  file: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadFigures {
  name: string;
  /** Median wall time of `node -e "require(file)"`, spawn to exit. */
  medianMs: number;
  /** Median peak resident set size of that process. */
  peakMiB: number;
}

const PROBE = 'require(process.argv[1]); process.stdout.write(String(process.resourceUsage().maxRSS));';

function loadOnce(target: LoadTarget): { ms: number; peakKiB: number } {
  const started = process.hrtime.bigint();
  const run = spawnSync(process.execPath, ['-e', PROBE, target.file], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...target.env },
  });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`loading ${target.file} failed (exit ${run.status}):\n${run.stderr}`);
  return { ms, peakKiB: Number(run.stdout) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Whole-process load figures, median of `runs`. The targets take turns in every round, so a
 * change of the machine's load during the run weighs on all of them alike: ratios between
 * targets of one call are what to compare.
 */
export function measureLoads(targets: readonly LoadTarget[], runs: number): LoadFigures[] {
  const times = targets.map(() => [] as number[]);
  const peaks = targets.map(() => [] as number[]);
  for (const target of targets) loadOnce(target); // warm the file cache: cold disk reads are not load time
  for (let round = 0; round < runs; round++) {
    targets.forEach((target, i) => {
      const once = loadOnce(target);
      times[i].push(once.ms);
      peaks[i].push(once.peakKiB / 1024);
    });
  }
  return targets.map((t, i) => ({ name: t.name, medianMs: median(times[i]), peakMiB: median(peaks[i]) }));
}

/** The baseline every ratio is taken against: a handler that requires nothing. */
export function bareHandler(dir: string): LoadTarget {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'bare-handler.js');
  writeFileSync(file, "'use strict';\nexports.handler = async () => ({ ok: true });\n");
  return { name: 'bare handler', file };
}
