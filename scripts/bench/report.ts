/** The one table `npm run bench` prints, from the figures of one run. */
import { type ModelledStep, minutes } from './bake-model';
import type { Budgets, FunctionFigures } from './budgets';
import type { BuildCounts } from './build-counts';
import { formatTable } from './table';

export interface BenchFigures {
  bare: { medianMs: number; peakMiB: number };
  runs: number;
  functions: FunctionFigures[];
  /** Functions whose first measurement was over budget, with the loads of the second, which counts. */
  remeasured?: { names: string[]; runs: number };
  builds: BuildCounts[];
  model: ModelledStep[];
}

export function benchTable(f: BenchFigures, budgets: Budgets): string {
  const rows: string[][] = [];
  for (const fn of f.functions) {
    rows.push([
      'bundle',
      fn.name,
      `${fn.bundleKiB.toFixed(0)} KiB zip, loads in ${fn.loadRatio.toFixed(2)}x bare, ${fn.peakMiB.toFixed(0)} MiB peak`,
      `≤ ${budgets.loadRatioExceptions[fn.name]?.loadRatio ?? budgets.loadRatio}x, ≤ ${budgets.peakMiB} MiB`,
    ]);
  }
  for (const b of f.builds) {
    const c = budgets.builds[b.build];
    rows.push([
      'build (moto)',
      `${b.build}${b.mode ? ` (${b.mode})` : ''}`,
      `${b.apiCalls} API calls + ${b.pollCalls} polls, ${b.stateTransitions} transitions, ${b.lambdaInvocations} invocations`,
      c ? `≤ ${c.apiCalls} + ${c.pollCalls}, ${c.stateTransitions}, ${c.lambdaInvocations}` : 'none',
    ]);
  }
  for (const m of f.model) rows.push(['modelled on AWS', m.step, `fresh ${minutes(m.fresh)}, incremental ${minutes(m.incremental)}`, '-']);
  const total = (k: 'fresh' | 'incremental') => f.model.reduce((sum, m) => sum + m[k], 0);
  rows.push(['modelled on AWS', 'whole bake', `fresh ${minutes(total('fresh'))}, incremental ${minutes(total('incremental'))}`, '-']);
  const again = f.remeasured?.names.length
    ? ` Measured again (${f.remeasured.runs} pairs) after a first measurement over budget: ${f.remeasured.names.join(', ')}.`
    : '';
  return formatTable(
    ['part', 'item', 'figures', 'budget'],
    rows,
    `Loads: whole process (node -e "require(bundle)"), median of ${f.runs} ratios, each load to a bare handler's loaded just before it ` +
      `(${f.bare.medianMs.toFixed(0)} ms, ${f.bare.peakMiB.toFixed(0)} MiB).${again} Polls: calls of Task invocations reached through a Wait state. ` +
      'Modelled: not measured; assumptions in scripts/bench/bake-model.ts.',
  );
}
