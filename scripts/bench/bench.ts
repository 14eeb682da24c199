/**
 * npm run bench [-- --check] [--runs N] [--sdk-choice]
 *
 * Packages the stack (`sls package`), loads every function's bundle in fresh node processes
 * beside a bare handler, runs a fresh and an incremental build against the moto server counting
 * AWS API calls, state transitions and Lambda invocations, models the bake time on AWS, and
 * prints one table. With --check it exits 1 when a budget of bench/budgets.json is exceeded.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadDefinition } from '../lib/local-runner';
import { scratchDir } from '../lib/scratch-dir';
import { ASSUMPTIONS, modelBake, type PollSettings } from './bake-model';
import { budgetProblems, confirmLoadMisses, parseBudgets } from './budgets';
import { measureBuildCounts } from './build-counts';
import { bareHandler, measureLoadRatios } from './load-time';
import { packageFunctions } from './packaged';
import { benchTable } from './report';
import { sdkChoice } from './sdk-choice';

const ROOT = path.resolve(__dirname, '..', '..');
export const BUDGETS_FILE = path.join(ROOT, 'bench', 'budgets.json');
/** Loads of a function measured again because the first measurement put it over its budget. */
const CONFIRM_RUNS = 15;

const USAGE = `Usage: npm run bench [-- --check] [--runs <n>] [--sdk-choice]
  --check       exit 1 when a budget of bench/budgets.json is exceeded
  --runs        loads per bundle, of which the median counts (default 5)
  --sdk-choice  instead: each function built with the SDK bundled and with it external, both loaded`;

function pollSettings(): PollSettings {
  const states = loadDefinition().States as Record<string, { Retry?: Record<string, unknown>[] }>;
  const agent = states['Send the update command']?.Retry?.find((r) => (r.ErrorEquals as string[]).includes('AgentNotRegistered'));
  if (!agent) throw new Error('the ASL has no AgentNotRegistered retry on "Send the update command"');
  return {
    agentRetry: {
      intervalSeconds: agent.IntervalSeconds as number,
      backoffRate: agent.BackoffRate as number,
      maxDelaySeconds: agent.MaxDelaySeconds as number,
      maxAttempts: agent.MaxAttempts as number,
    },
  };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      check: { type: 'boolean' },
      runs: { type: 'string' },
      'sdk-choice': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const runs = Number(values.runs ?? 5);
  if (!Number.isInteger(runs) || runs < 1 || runs > 50) {
    console.error(`npm run bench: --runs must be a whole number from 1 to 50\n${USAGE}`);
    return 2;
  }
  if (values['sdk-choice']) {
    console.log(sdkChoice(runs));
    return 0;
  }
  const budgets = parseBudgets(JSON.parse(readFileSync(BUDGETS_FILE, 'utf8')), BUDGETS_FILE);
  const dir = scratchDir('comfyui-ami-bench');
  console.error('bench: sls package ...');
  const functions = packageFunctions(path.join(dir, 'package'));
  console.error(`bench: loading ${functions.length} bundles, ${runs} times each, each load after one of a bare handler ...`);
  const bareTarget = bareHandler(dir);
  const { baseline: bare, loads } = measureLoadRatios(bareTarget, functions, runs);
  const confirmed = confirmLoadMisses(
    budgets,
    functions.map((fn, i) => ({ name: fn.name, bundleKiB: fn.zipBytes / 1024, loadRatio: loads[i].ratio, peakMiB: loads[i].peakMiB })),
    (names) => {
      console.error(`bench: ${names.join(', ')} over the load budget; measuring again, ${CONFIRM_RUNS} times each ...`);
      const again = measureLoadRatios(
        bareTarget,
        functions.filter((fn) => names.includes(fn.name)),
        CONFIRM_RUNS,
      );
      return new Map(again.loads.map((l) => [l.name, l.ratio]));
    },
  );
  console.error('bench: a fresh and an incremental build against moto ...');
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const builds = await measureBuildCounts();
  const figures = {
    bare,
    runs,
    functions: confirmed.functions,
    remeasured: { names: confirmed.remeasured, runs: CONFIRM_RUNS },
    builds,
    model: modelBake(ASSUMPTIONS, pollSettings()),
  };
  console.log(benchTable(figures, budgets));
  const problems = budgetProblems(budgets, figures.functions, builds);
  if (problems.length > 0) {
    console.log(`\n${problems.length} budget(s) exceeded (bench/budgets.json):\n${problems.map((p) => `  ${p}`).join('\n')}`);
    if (values.check) return 1;
  } else console.log('\nEvery budget of bench/budgets.json holds.');
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(`npm run bench failed: ${(error as Error).message}`);
      process.exitCode = 1;
    },
  );
}
