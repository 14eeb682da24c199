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

export interface LoadSample {
  ms: number;
  peakKiB: number;
}

function loadOnce(target: LoadTarget): LoadSample {
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

export interface LoadRatioFigures extends LoadFigures {
  /** Median of the ratios of each load to the baseline's load just before it. */
  ratio: number;
}

/**
 * Each target's load time as a multiple of the baseline's, from pairs: every load of a target
 * follows a load of the baseline, and the median of the pairs' ratios is the figure. A shared
 * machine's speed changes within seconds; a pair sees the same machine, a median of each side
 * taken apart may not.
 */
export function measureLoadRatios(
  baseline: LoadTarget,
  targets: readonly LoadTarget[],
  runs: number,
  load: (target: LoadTarget) => LoadSample = loadOnce,
): { baseline: LoadFigures; loads: LoadRatioFigures[] } {
  const base = { times: [] as number[], peaks: [] as number[] };
  const each = targets.map(() => ({ times: [] as number[], peaks: [] as number[], ratios: [] as number[] }));
  for (const target of [baseline, ...targets]) load(target); // warm the file cache: cold disk reads are not load time
  for (let round = 0; round < runs; round++) {
    targets.forEach((target, i) => {
      const before = load(baseline);
      const once = load(target);
      base.times.push(before.ms);
      base.peaks.push(before.peakKiB / 1024);
      each[i].times.push(once.ms);
      each[i].peaks.push(once.peakKiB / 1024);
      each[i].ratios.push(once.ms / before.ms);
    });
  }
  return {
    baseline: { name: baseline.name, medianMs: median(base.times), peakMiB: median(base.peaks) },
    loads: targets.map((t, i) => ({
      name: t.name,
      medianMs: median(each[i].times),
      peakMiB: median(each[i].peaks),
      ratio: median(each[i].ratios),
    })),
  };
}

/** The baseline every ratio is taken against: a handler that requires nothing. */
export function bareHandler(dir: string): LoadTarget {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'bare-handler.js');
  writeFileSync(file, "'use strict';\nexports.handler = async () => ({ ok: true });\n");
  return { name: 'bare handler', file };
}
