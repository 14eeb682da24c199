import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ASSUMPTIONS, minutes, modelBake, retriedUntil } from '../../scripts/bench/bake-model';
import { type Budgets, budgetProblems, confirmLoadMisses, type FunctionFigures, parseBudgets } from '../../scripts/bench/budgets';
import type { BuildCounts } from '../../scripts/bench/build-counts';
import { apiActionOf } from '../../scripts/bench/counting-proxy';
import { type LoadTarget, measureLoadRatios, median } from '../../scripts/bench/load-time';
import { type AslLike, isPoll } from '../../scripts/bench/polls';
import { benchTable } from '../../scripts/bench/report';
import { formatTable } from '../../scripts/bench/table';
import { loadDefinition } from '../../scripts/lib/local-runner';

const BUDGETS: Budgets = {
  loadRatio: 2.5,
  loadRatioExceptions: { startBuild: { loadRatio: 3.5, reason: 'zod at the edge' } },
  peakMiB: 70,
  builds: {
    fresh: { apiCalls: 60, pollCalls: 10, stateTransitions: 30, lambdaInvocations: 18 },
    incremental: { apiCalls: 50, pollCalls: 10, stateTransitions: 30, lambdaInvocations: 18 },
  },
};
const FUNCTION: FunctionFigures = { name: 'acquireLock', bundleKiB: 120, loadRatio: 1.8, peakMiB: 55 };
const FRESH: BuildCounts = { build: 'fresh', mode: 'fresh', apiCalls: 60, pollCalls: 10, stateTransitions: 30, lambdaInvocations: 18 };
const INCREMENTAL: BuildCounts = { ...FRESH, build: 'incremental', mode: 'incremental', apiCalls: 50 };

describe('budgetProblems', () => {
  it('finds none when every figure is at or under its budget', () => {
    expect(budgetProblems(BUDGETS, [FUNCTION, { ...FUNCTION, loadRatio: 2.5, peakMiB: 70 }], [FRESH, INCREMENTAL])).toEqual([]);
  });

  it('names a function that loads too slowly or peaks too high', () => {
    const problems = budgetProblems(
      BUDGETS,
      [
        { ...FUNCTION, loadRatio: 2.51 },
        { ...FUNCTION, name: 'cleanUp', peakMiB: 71 },
      ],
      [],
    );
    expect(problems).toEqual([
      "acquireLock: loads in 2.51x a bare handler's time, over the budget of 2.5x",
      'cleanUp: peaks at 71.0 MiB while loading, over the budget of 70 MiB',
    ]);
  });

  it('names every per-build count above its ceiling', () => {
    const problems = budgetProblems(BUDGETS, [], [{ ...FRESH, apiCalls: 61, lambdaInvocations: 19 }, INCREMENTAL]);
    expect(problems).toEqual([
      'fresh build: apiCalls 61, over the budget of 60',
      'fresh build: lambdaInvocations 19, over the budget of 18',
    ]);
  });

  it('holds a listed function to its own ratio, and every other to the shared one', () => {
    const problems = budgetProblems(
      BUDGETS,
      [
        { ...FUNCTION, name: 'startBuild', loadRatio: 3.4 },
        { ...FUNCTION, name: 'normalizeRequest', loadRatio: 3.4 },
      ],
      [],
    );
    expect(problems).toEqual(["normalizeRequest: loads in 3.40x a bare handler's time, over the budget of 2.5x"]);
    expect(budgetProblems(BUDGETS, [{ ...FUNCTION, name: 'startBuild', loadRatio: 3.6 }], [])).toEqual([
      "startBuild: loads in 3.60x a bare handler's time, over the budget of 3.5x",
    ]);
  });

  it('counts a figure that is not a number as over budget', () => {
    expect(budgetProblems(BUDGETS, [{ ...FUNCTION, loadRatio: Number.NaN }], [])).toHaveLength(1);
  });
});

describe('parseBudgets', () => {
  it('reads bench/budgets.json', () => {
    const file = path.join(__dirname, '..', '..', 'bench', 'budgets.json');
    const budgets = parseBudgets(JSON.parse(readFileSync(file, 'utf8')), file);
    expect(budgets.loadRatio).toBe(2.5);
    // No function is excused: startBuild's exception went when rollback and promote moved out of it.
    expect(budgets.loadRatioExceptions).toEqual({});
    expect(budgets.peakMiB).toBe(70);
  });

  it('names the field that is missing or not a positive number', () => {
    expect(() => parseBudgets({ ...BUDGETS, peakMiB: '70' }, 'b.json')).toThrow('b.json: peakMiB must be a positive number');
    expect(() => parseBudgets({ ...BUDGETS, loadRatioExceptions: { startBuild: { loadRatio: 3 } } }, 'b.json')).toThrow(
      'b.json: loadRatioExceptions.startBuild.reason must say why',
    );
    expect(() => parseBudgets({ ...BUDGETS, builds: { fresh: BUDGETS.builds.fresh } }, 'b.json')).toThrow(
      'b.json: builds.incremental must be an object',
    );
  });
});

describe('formatTable', () => {
  it('aligns columns, numbers to the right, with a rule under the header', () => {
    expect(
      formatTable(
        ['name', 'n'],
        [
          ['a', '1.5x'],
          ['long name', '12.0x'],
        ],
        'note',
      ),
    ).toBe(['name           n', '---------  -----', 'a           1.5x', 'long name  12.0x', 'note'].join('\n'));
  });
});

describe('benchTable', () => {
  it('prints a row per function, per build and per modelled step, with the budgets', () => {
    const table = benchTable(
      {
        bare: { medianMs: 120, peakMiB: 39 },
        runs: 5,
        functions: [FUNCTION],
        builds: [FRESH, INCREMENTAL],
        model: [{ step: 'Stop the builder (event)', fresh: 61, incremental: 61 }],
      },
      BUDGETS,
    );
    expect(table).toContain('acquireLock');
    expect(table).toContain('120 KiB zip, loads in 1.80x bare, 55 MiB peak');
    expect(table).toContain('60 API calls + 10 polls, 30 transitions, 18 invocations');
    expect(table).toContain('fresh 1m 01s, incremental 1m 01s');
    expect(table).toContain('(120 ms, 39 MiB)');
  });

  it("shows a listed function's own budget, and names the functions measured again", () => {
    const table = benchTable(
      {
        bare: { medianMs: 120, peakMiB: 39 },
        runs: 5,
        functions: [FUNCTION, { ...FUNCTION, name: 'startBuild', loadRatio: 3.1 }],
        remeasured: { names: ['startBuild'], runs: 15 },
        builds: [],
        model: [],
      },
      BUDGETS,
    );
    expect(table).toMatch(/acquireLock .* ≤ 2\.5x, ≤ 70 MiB/);
    expect(table).toMatch(/startBuild .* ≤ 3\.5x, ≤ 70 MiB/);
    expect(table).toContain('Measured again (15 pairs) after a first measurement over budget: startBuild.');
  });
});

describe('isPoll', () => {
  const asl = loadDefinition() as unknown as AslLike;

  it('counts a check reached through its Wait, and the wait for an event with the check it wakes, as polls', () => {
    expect(isPoll(asl, 'Check the update', 'Wait for the update')).toBe(true);
    expect(isPoll(asl, 'Wait for the update', 'Check the update')).toBe(true);
    expect(isPoll(asl, 'Wait for the AMI', 'Check the AMI')).toBe(true);
    expect(isPoll(asl, 'Check the health check', 'Check the health check')).toBe(true);
    expect(isPoll(asl, 'Stop the builder', 'Wait for the builder to stop')).toBe(true);
    expect(isPoll(asl, 'Wait for the health check', 'Check the health check')).toBe(true);
  });

  it('does not count the first, working call of a looping step', () => {
    expect(isPoll(asl, 'Send the update command', 'Check the update')).toBe(false);
    expect(isPoll(asl, 'Create the AMI', 'Check the AMI')).toBe(false);
    expect(isPoll(asl, 'Send the health check', 'Check the health check')).toBe(false);
    // The wait for the stop answered "stopped": the AMI is made without another look.
    expect(isPoll(asl, 'Wait for the builder to stop', 'Create the AMI')).toBe(false);
    expect(isPoll(asl, 'Check the update', 'Stop the builder')).toBe(false);
    expect(isPoll(asl, 'Stop the builder', 'Stop the builder')).toBe(true);
    expect(isPoll(asl, 'Normalize the request', 'Acquire the environment lock')).toBe(false);
    expect(isPoll(asl, 'Acquire the environment lock', 'Acquire the environment lock')).toBe(true);
    expect(isPoll(asl, null, 'Normalize the request')).toBe(false);
  });
});

describe('apiActionOf', () => {
  const auth = (service: string) => ({
    authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=x`,
  });

  it('reads JSON targets, query actions and RPC paths', () => {
    expect(apiActionOf({ ...auth('ssm'), 'x-amz-target': 'AmazonSSM.GetParameter' }, '{}', '/')).toBe('ssm:GetParameter');
    expect(apiActionOf(auth('ec2'), 'Action=DescribeImages&Version=2016-11-15', '/')).toBe('ec2:DescribeImages');
    expect(apiActionOf(auth('monitoring'), '', '/service/GraniteServiceVersion20100801/operation/PutMetricData')).toBe(
      'monitoring:PutMetricData',
    );
  });
});

describe('the bake model', () => {
  it('sums the agent retry backoff until the agent is there', () => {
    const retry = { intervalSeconds: 15, backoffRate: 1.5, maxDelaySeconds: 60, maxAttempts: 12 };
    expect(retriedUntil(15, retry)).toBe(15);
    expect(retriedUntil(16, retry)).toBe(37.5);
    expect(retriedUntil(200, retry)).toBe(15 + 22.5 + 33.75 + 50.625 + 60 + 60);
  });

  it('models every step for both kinds of build, the fresh one longer', () => {
    const steps = modelBake(ASSUMPTIONS, {
      agentRetry: { intervalSeconds: 15, backoffRate: 1.5, maxDelaySeconds: 60, maxAttempts: 12 },
    });
    const total = (k: 'fresh' | 'incremental') => steps.reduce((s, m) => s + m[k], 0);
    expect(total('fresh')).toBeGreaterThan(total('incremental'));
    expect(steps.every((s) => s.fresh > 0 && s.incremental > 0)).toBe(true);
    expect(minutes(125)).toBe('2m 05s');
    expect(minutes(45)).toBe('45s');
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('measureLoadRatios', () => {
  const bare: LoadTarget = { name: 'bare', file: 'bare.js' };
  const fn: LoadTarget = { name: 'fn', file: 'fn.js' };

  it("takes each load against the bare handler's just before it: the machine's speed changing from pair to pair changes no ratio", () => {
    // Speed per pair (the warm-up's two loads first), and one burst that slows a single load.
    const speeds = [1, 1, 1, 4, 2, 1];
    let loads = 0;
    const load = (target: LoadTarget) => {
      const slowdown = speeds[Math.floor(loads / 2)] * (loads === 9 ? 3 : 1);
      loads += 1;
      return { ms: (target.name === 'bare' ? 100 : 200) * slowdown, peakKiB: 51_200 };
    };

    const { baseline, loads: figures } = measureLoadRatios(bare, [fn], 5, load);

    expect(loads).toBe(2 + 5 * 2);
    expect(figures[0]).toMatchObject({ name: 'fn', ratio: 2, peakMiB: 50 });
    expect(baseline).toMatchObject({ name: 'bare', medianMs: 100 });
  });
});

describe('confirmLoadMisses', () => {
  it('measures again only the functions over their budget, and the second figure counts', () => {
    const asked: string[][] = [];
    const { functions, remeasured } = confirmLoadMisses(
      BUDGETS,
      [
        { ...FUNCTION, name: 'acquireLock', loadRatio: 2.6 },
        { ...FUNCTION, name: 'cleanUp', loadRatio: 2.7 },
        { ...FUNCTION, name: 'publishAmi', loadRatio: 2.1 },
      ],
      (names) => {
        asked.push(names);
        return new Map([
          ['acquireLock', 2.2],
          ['cleanUp', 2.9],
        ]);
      },
    );

    expect(asked).toEqual([['acquireLock', 'cleanUp']]);
    expect(remeasured).toEqual(['acquireLock', 'cleanUp']);
    expect(functions.map((f) => f.loadRatio)).toEqual([2.2, 2.9, 2.1]);
    expect(budgetProblems(BUDGETS, functions, [])).toEqual(["cleanUp: loads in 2.90x a bare handler's time, over the budget of 2.5x"]);
  });

  it('measures nothing again when every function is within its budget', () => {
    const remeasure = jest.fn(() => new Map<string, number>());
    expect(confirmLoadMisses(BUDGETS, [FUNCTION], remeasure)).toEqual({ functions: [FUNCTION], remeasured: [] });
    expect(remeasure).not.toHaveBeenCalled();
  });
});
