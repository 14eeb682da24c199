import type { BuildCounts } from './build-counts';

/** bench/budgets.json: ceilings a later change may not exceed (the counts: today's, to be tightened). */
export interface Budgets {
  /** Load time of every function's bundle as a multiple of a bare handler's, same run. */
  loadRatio: number;
  /**
   * Functions allowed a higher ratio than `loadRatio`, each with its reason: known misses of the
   * budget, listed so the bench still fails when they grow or when any other function misses it.
   */
  loadRatioExceptions: Record<string, { loadRatio: number; reason: string }>;
  /** Peak resident memory of the process that loads a function's bundle. */
  peakMiB: number;
  builds: Record<BuildCounts['build'], Omit<BuildCounts, 'build' | 'mode'>>;
}

export interface FunctionFigures {
  name: string;
  bundleKiB: number;
  loadRatio: number;
  peakMiB: number;
}

const COUNTS = ['apiCalls', 'pollCalls', 'stateTransitions', 'lambdaInvocations'] as const;

/** Every budget exceeded, one line each; empty when all hold. */
export function budgetProblems(budgets: Budgets, functions: readonly FunctionFigures[], builds: readonly BuildCounts[]): string[] {
  const problems: string[] = [];
  for (const f of functions) {
    const ratio = budgets.loadRatioExceptions[f.name]?.loadRatio ?? budgets.loadRatio;
    if (!(f.loadRatio <= ratio))
      problems.push(`${f.name}: loads in ${f.loadRatio.toFixed(2)}x a bare handler's time, over the budget of ${ratio}x`);
    if (!(f.peakMiB <= budgets.peakMiB))
      problems.push(`${f.name}: peaks at ${f.peakMiB.toFixed(1)} MiB while loading, over the budget of ${budgets.peakMiB} MiB`);
  }
  for (const b of builds) {
    const ceiling = budgets.builds[b.build];
    if (!ceiling) {
      problems.push(`${b.build} build: no budget in bench/budgets.json`);
      continue;
    }
    for (const key of COUNTS) {
      if (!(b[key] <= ceiling[key])) problems.push(`${b.build} build: ${key} ${b[key]}, over the budget of ${ceiling[key]}`);
    }
  }
  return problems;
}

/** The functions whose load ratio is over their budget. */
export function loadMisses(budgets: Budgets, functions: readonly FunctionFigures[]): string[] {
  return functions
    .filter((f) => !(f.loadRatio <= (budgets.loadRatioExceptions[f.name]?.loadRatio ?? budgets.loadRatio)))
    .map((f) => f.name);
}

/**
 * A load over its budget is measured again, longer, before it counts: one slow moment of a shared
 * machine must not fail CI, and a function that really is slow is slow again. The figures that
 * count are the second measurement's.
 */
export function confirmLoadMisses(
  budgets: Budgets,
  functions: readonly FunctionFigures[],
  remeasure: (names: string[]) => Map<string, number>,
): { functions: FunctionFigures[]; remeasured: string[] } {
  const misses = loadMisses(budgets, functions);
  if (misses.length === 0) return { functions: [...functions], remeasured: [] };
  const again = remeasure(misses);
  return {
    functions: functions.map((f) => (again.has(f.name) ? { ...f, loadRatio: again.get(f.name) as number } : f)),
    remeasured: misses,
  };
}

/** Reads and checks the shape of the budgets file, naming what is wrong. */
export function parseBudgets(raw: unknown, source: string): Budgets {
  const fail = (what: string): never => {
    throw new Error(`${source}: ${what}`);
  };
  const positive = (value: unknown, path: string): number =>
    typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fail(`${path} must be a positive number`);
  if (typeof raw !== 'object' || raw === null) fail('must be a JSON object');
  const r = raw as Record<string, unknown>;
  const builds = (typeof r.builds === 'object' && r.builds !== null ? r.builds : fail('builds must be an object')) as Record<
    string,
    unknown
  >;
  const countsOf = (build: 'fresh' | 'incremental') => {
    const b = (
      typeof builds[build] === 'object' && builds[build] !== null ? builds[build] : fail(`builds.${build} must be an object`)
    ) as Record<string, unknown>;
    return Object.fromEntries(COUNTS.map((k) => [k, positive(b[k], `builds.${build}.${k}`)])) as Budgets['builds']['fresh'];
  };
  const exceptions = (r.loadRatioExceptions ?? {}) as Record<string, Record<string, unknown>>;
  if (typeof exceptions !== 'object' || exceptions === null) fail('loadRatioExceptions must be an object');
  const loadRatioExceptions = Object.fromEntries(
    Object.entries(exceptions).map(([name, e]) => [
      name,
      {
        loadRatio: positive(e?.loadRatio, `loadRatioExceptions.${name}.loadRatio`),
        reason: typeof e?.reason === 'string' && e.reason !== '' ? e.reason : fail(`loadRatioExceptions.${name}.reason must say why`),
      },
    ]),
  );
  return {
    loadRatio: positive(r.loadRatio, 'loadRatio'),
    loadRatioExceptions,
    peakMiB: positive(r.peakMiB, 'peakMiB'),
    builds: { fresh: countsOf('fresh'), incremental: countsOf('incremental') },
  };
}
