import '../../scripts/lib/polyfills';
import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeRepositoriesCommand } from '@aws-sdk/client-ecr';
import { GetParameterCommand, ListCommandsCommand } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { commandComment } from '../../functions/send-update-command/send-update-command';
import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import { removeImage } from '../../functions/shared/ec2';
import { classifyError } from '../../functions/shared/errors';
import { type LambdaHandler, loadStepHandler } from '../../scripts/lib/handlers';
import { isTokenWait, loadDefinition, placeholderOf, type RunResult } from '../../scripts/lib/local-runner';
import { useEndpoint } from '../../scripts/lib/moto';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { type AccountState, readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import {
  acceptErrorsFromOtherContexts,
  FAST_REGION,
  FAULT_KINDS,
  type FaultProxy,
  type FaultRule,
  removeSdkBackoff,
  startFaultProxy,
} from '../support/fault-proxy';
import { type Moto, startMoto } from '../support/moto';

/**
 * Fault injection against the real state machine and handlers, through a proxy in front of moto.
 * Every step x every kind of AWS fault, transient (the state machine's Retry must absorb it) and
 * permanent (the build must fail and leave the account as it was), then a few scenarios the
 * matrix cannot express. test/README.md ("Hostile input and fault injection") explains the choices.
 */

const config = demoConfig();
const ENV = 'dev';
const REPOSITORY = 'comfyui';
const TAG = 'dev-latest';
const PREFIX = `${config.parameterPrefix}/${ENV}`;
const LATEST = `${PREFIX}/latest`;
const METADATA = `${PREFIX}/metadata`;
const history = (amiId: string) => `${PREFIX}/history/${amiId}`;
const ROLL_BACK = 'Roll back the build';

/** What the SDK makes of one call: 1 attempt + 2 retries, its default (kept; only its sleeps go). */
const SDK_ATTEMPTS = 3;
/** More faults than the SDK's attempts: the state machine's Retry sees the error exactly once. */
const TRANSIENT_TIMES = SDK_ATTEMPTS + 1;
/** Invocations of a Task whose every run fails with a retried error: 1 + the ASL's MaxAttempts. */
const STEP_ATTEMPTS = 7;
/**
 * Terminated builders pile up in moto and every DescribeInstances filters through all of them: a
 * fresh account (about 1 s) every so many scenarios keeps the later ones as fast as the first.
 */
const FRESH_ACCOUNT_EVERY = 24;

type MatrixFault = (typeof FAULT_KINDS)[number];
const ERROR_OF: Record<MatrixFault, string> = {
  throttle: 'AwsThrottled',
  'server-error': 'AwsUnavailable',
  // The SDK names a reset connection TimeoutError, which the ASL retries as it is.
  reset: 'TimeoutError',
  'access-denied': 'AwsAccessDenied',
};

interface Target {
  state: string;
  rule: Omit<FaultRule, 'fault' | 'times'>;
  /** The call, for the test's name. */
  call: string;
  /** The outcome of a fault the state machine does not absorb (access denied, or permanent). */
  onFailure: 'rejected' | 'rolled-back' | 'published-then-failed' | 'succeeded-lock-kept';
}

/**
 * One AWS action per step, chosen so that the first faulted call is made by that step: an action
 * an earlier step also calls is skipped past with `after`.
 */
const TARGETS: Target[] = [
  { state: 'Normalize the request', rule: { service: 'ecr', action: 'DescribeImages' }, call: 'ECR DescribeImages', onFailure: 'rejected' },
  {
    state: 'Acquire the environment lock',
    rule: { service: 'dynamodb', action: 'UpdateItem' },
    call: 'DynamoDB UpdateItem',
    onFailure: 'rolled-back',
  },
  {
    state: 'Resolve the base AMI',
    rule: { service: 'ssm', action: 'GetParameters' },
    call: 'SSM GetParameters of latest and metadata',
    onFailure: 'rolled-back',
  },
  {
    state: 'Launch the builder instance',
    rule: { service: 'ec2', action: 'RunInstances' },
    call: 'EC2 RunInstances',
    onFailure: 'rolled-back',
  },
  { state: 'Send the update command', rule: { service: 'ssm', action: 'SendCommand' }, call: 'SSM SendCommand', onFailure: 'rolled-back' },
  {
    state: 'Check the update',
    rule: { service: 'ssm', action: 'GetCommandInvocation' },
    call: 'SSM GetCommandInvocation',
    onFailure: 'rolled-back',
  },
  { state: 'Stop the builder', rule: { service: 'ec2', action: 'StopInstances' }, call: 'EC2 StopInstances', onFailure: 'rolled-back' },
  { state: 'Create the AMI', rule: { service: 'ec2', action: 'CreateImage' }, call: 'EC2 CreateImage', onFailure: 'rolled-back' },
  {
    state: 'Check the AMI',
    rule: { service: 'ec2', action: 'ModifyImageAttribute' },
    call: 'EC2 ModifyImageAttribute (IMDSv2 only)',
    onFailure: 'rolled-back',
  },
  // The builder's launch is the first RunInstances; the test instance's is the second.
  {
    state: 'Launch the test instance',
    rule: { service: 'ec2', action: 'RunInstances', after: 1 },
    call: 'EC2 RunInstances of the test instance',
    onFailure: 'rolled-back',
  },
  {
    state: 'Send the health check',
    rule: { service: 'ssm', action: 'SendCommand', after: 1 },
    call: 'SSM SendCommand of the health check',
    onFailure: 'rolled-back',
  },
  // moto reports the update done at its first check: one GetCommandInvocation before this step's.
  {
    state: 'Check the health check',
    rule: { service: 'ssm', action: 'GetCommandInvocation', after: 1 },
    call: 'SSM GetCommandInvocation of the health check',
    onFailure: 'rolled-back',
  },
  // history/{ami} and metadata are written, the write of latest fails: the roll back has parameters to undo.
  {
    state: 'Publish the AMI',
    rule: { service: 'ssm', action: 'PutParameter', after: 2 },
    call: 'SSM PutParameter of latest',
    onFailure: 'rolled-back',
  },
  // Fails after latest names the new AMI: the roll back keeps it; the previous AMI stays until the next build's clean up.
  {
    state: 'Clean up',
    rule: { service: 'ec2', action: 'DeregisterImage' },
    call: 'EC2 DeregisterImage of the previous AMI',
    onFailure: 'published-then-failed',
  },
  // Clean up's last call, the release: its failure is absorbed on purpose (the build is done, the
  // lock is stale). The second UpdateItem of the environment's lock item: the acquire's, then this
  // one (the cancel and last-result records live under other keys).
  {
    state: 'Clean up',
    rule: { service: 'dynamodb', action: 'UpdateItem', after: 1, bodyIncludes: '"environment":{"S":"dev"}' },
    call: 'DynamoDB UpdateItem',
    onFailure: 'succeeded-lock-kept',
  },
];

type Persistence = 'transient' | 'permanent';

interface Scenario {
  target: Target;
  fault: MatrixFault;
  persistence: Persistence;
}

const MATRIX: [string, Scenario][] = TARGETS.flatMap((target) =>
  (['transient', 'permanent'] as const).flatMap((persistence) =>
    FAULT_KINDS.map((fault): [string, Scenario] => [
      `${target.state}: ${persistence} ${fault} on ${target.call}`,
      { target, fault, persistence },
    ]),
  ),
);

/** What the account must look like after a scenario. */
interface Expectation {
  status: 'SUCCEEDED' | 'FAILED';
  error?: string;
  /** latest, metadata and history/{new} name the new AMI. */
  published: boolean;
  /** The previous AMI is still registered next to a published new one. */
  previousKept?: boolean;
  /** The execution still holds the environment lock. */
  lockHeld?: boolean;
}

interface Run {
  name: string;
  result: RunResult;
  digest: string;
  previousAmiId: string;
  after: AccountState;
  lockHolder: string | null;
  faulted: Record<string, number>;
}

let moto: Moto;
let proxy: FaultProxy;
let realRollBack: LambdaHandler;
let baseline: Set<string>;
/** The account before the next build: one AMI for dev, published, and nothing else. */
let before: AccountState;
let serial = 0;
let startOvers = 0;
let scenariosOnThisAccount = 0;
const outcomes: { title: string; passed: boolean; leaked: boolean }[] = [];
const started = Date.now();

/**
 * The real roll back, after clearing every fault (and arming `then`, if given): a permanent fault
 * on an action the roll back also needs would make cleaning up impossible by definition, so a
 * "permanent" fault here lasts until the roll back starts.
 */
function clearingRollBack(then: FaultRule[] = []): LambdaHandler {
  let armed = false;
  return async (event, context) => {
    if (!armed) {
      // Only on the roll back's first run: its retries must meet what is left of `then`.
      armed = true;
      proxy.clear();
      for (const rule of then) proxy.addRule(rule);
    }
    return realRollBack(event, context);
  };
}

/** The real handler of `state`, which adds `rules` when it first runs: a fault aimed at one step, whatever the earlier ones called. */
async function armedAt(state: string, rules: FaultRule[]): Promise<LambdaHandler> {
  const placeholder = placeholderOf(loadDefinition().States[state]);
  if (!placeholder) throw new Error(`${state} is not a Task of the state machine`);
  const real = await loadStepHandler(placeholder);
  let armed = false;
  return async (event, context) => {
    if (!armed) {
      armed = true;
      for (const rule of rules) proxy.addRule(rule);
    }
    return real(event, context);
  };
}

function freshClients(): void {
  resetDefaultClients();
  removeSdkBackoff(defaultClients(), SDK_ATTEMPTS);
}

async function lockHolder(): Promise<string | null> {
  const out = await defaultClients().dynamodb.send(
    new GetItemCommand({ TableName: config.lock.table, Key: { environment: { S: ENV } }, ConsistentRead: true }),
  );
  return out.Item?.holder?.S ?? null;
}

/** What a later build does in AWS to the lock of an ended execution (DescribeExecution says it ended); local execution ids are no ARNs. */
async function releaseStaleLock(): Promise<void> {
  await defaultClients().dynamodb.send(
    new UpdateItemCommand({
      TableName: config.lock.table,
      Key: { environment: { S: ENV } },
      UpdateExpression: 'REMOVE holder, holder_id, holder_key, expires_at',
    }),
  );
}

/** An empty account, seeded, and a first successful build of dev: where every scenario starts. */
async function startOver(): Promise<void> {
  startOvers += 1;
  scenariosOnThisAccount = 0;
  await moto.reset();
  freshClients();
  await seedAccount(config);
  baseline = await snapshotIds();
  const digest = await pushImage(REPOSITORY, TAG, `first image ${serial}`);
  const first = await build(pushEvent(REPOSITORY, TAG, digest), config, `dev-first-${serial}`);
  if (first.status !== 'SUCCEEDED') throw new Error(`the first build failed: ${first.error}: ${first.cause}`);
  freshClients();
  before = await readAccount(baseline);
  if (before.amis[ENV]?.length !== 1 || before.parameters[LATEST] !== first.amiId)
    throw new Error(`the first build left ${JSON.stringify(before)}`);
}

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  acceptErrorsFromOtherContexts();
  moto = await startMoto();
  proxy = await startFaultProxy(moto.endpoint);
  useEndpoint(proxy.endpoint, FAST_REGION);
  realRollBack = await loadStepHandler('RollBackFunctionArn');
  await startOver();
}, 60000);

afterAll(async () => {
  const passed = outcomes.filter((o) => o.passed).length;
  const leaked = outcomes.filter((o) => o.leaked).length;
  const failed = outcomes.filter((o) => !o.passed).map((o) => `  not passed${o.leaked ? ', leaked' : ''}: ${o.title}`);
  console.log(
    [
      `faults: ${outcomes.length} scenarios, ${passed} passed, ${leaked} leaked`,
      ...failed,
      `(${((Date.now() - started) / 1000).toFixed(1)} s, ${startOvers} fresh accounts)`,
    ].join('\n'),
  );
  await proxy?.stop();
  await moto?.stop();
});

/** Pushes a new image and runs the next build with `rules` in force; a roll back clears them first. */
async function faultyBuild(rules: FaultRule[], handlers: Record<string, LambdaHandler> = {}): Promise<Run> {
  serial += 1;
  const name = `dev-fault-${serial}`;
  const previousAmiId = before.parameters[LATEST];
  const digest = await pushImage(REPOSITORY, TAG, `image ${serial}`);
  freshClients();
  proxy.resetCounts();
  for (const rule of rules) proxy.addRule(rule);
  let result: RunResult;
  try {
    result = await buildWith(pushEvent(REPOSITORY, TAG, digest), config, name, { [ROLL_BACK]: clearingRollBack(), ...handlers });
  } finally {
    proxy.clear();
  }
  const faulted = Object.fromEntries(Object.entries(proxy.counts()).map(([k, v]) => [k, v.faulted]));
  const after = await readAccount(baseline);
  return { name, result, digest, previousAmiId, after, lockHolder: await lockHolder(), faulted };
}

function sorted(record: Record<string, string>): string {
  return JSON.stringify(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

function diff(expected: Record<string, string>, actual: Record<string, string>): string {
  const show = (v: string | undefined) => (v === undefined ? '(absent)' : v.slice(0, 50));
  return [...new Set([...Object.keys(expected), ...Object.keys(actual)])]
    .sort()
    .filter((k) => expected[k] !== actual[k])
    .map((k) => `${k}: ${show(expected[k])} -> ${show(actual[k])}`)
    .join('; ');
}

/** The run's outcome against the expectation. */
function problemsOf(run: Run, expected: Expectation): string[] {
  const { result } = run;
  const problems: string[] = [];
  if (result.status !== expected.status)
    problems.push(`ended ${result.status} (${result.error}: ${result.cause}) at ${result.failedState}, expected ${expected.status}`);
  if (expected.error && result.error !== expected.error)
    problems.push(`error ${result.error} (${result.cause}), expected ${expected.error}`);
  return problems;
}

/** The account's invariants after the run; each broken one is a leak. */
function leaksOf(run: Run, expected: Expectation): string[] {
  const { after, previousAmiId } = run;
  const leaks: string[] = [];
  if (after.liveBuilders.length > 0) leaks.push(`builders left: ${after.liveBuilders.join(', ')}`);
  if (after.orphanSnapshots.length > 0) leaks.push(`orphan snapshots: ${after.orphanSnapshots.join(', ')}`);
  if (Object.keys(after.amis).some((e) => e !== ENV)) leaks.push(`AMIs of other environments: ${JSON.stringify(after.amis)}`);
  if ((run.lockHolder !== null) !== Boolean(expected.lockHeld)) leaks.push(`lock holder is ${run.lockHolder ?? 'nobody'}`);
  const amis = [...(after.amis[ENV] ?? [])].sort();
  if (!expected.published) {
    if (JSON.stringify(amis) !== JSON.stringify([...(before.amis[ENV] ?? [])].sort()))
      leaks.push(`dev AMIs are [${amis}], before the build [${before.amis[ENV]}]`);
    if (sorted(after.parameters) !== sorted(before.parameters))
      leaks.push(`parameters changed: ${diff(before.parameters, after.parameters)}`);
    return leaks;
  }
  const newAmi = after.parameters[LATEST];
  if (!newAmi || newAmi === previousAmiId) return [...leaks, `latest names ${newAmi ?? 'nothing'}, not a new AMI`];
  const expectedAmis = (expected.previousKept ? [previousAmiId, newAmi] : [newAmi]).sort();
  if (JSON.stringify(amis) !== JSON.stringify(expectedAmis)) leaks.push(`dev AMIs are [${amis}], expected [${expectedAmis}]`);
  const metadata = JSON.parse(after.parameters[METADATA] ?? '{}') as Record<string, string>;
  if (metadata.ami_id !== newAmi || metadata.docker_digest !== run.digest || metadata.workflow_run_id !== run.name) {
    leaks.push(`metadata describes ${metadata.ami_id} of ${metadata.workflow_run_id}`);
  }
  const expectedParameters = {
    ...before.parameters,
    [LATEST]: newAmi,
    [METADATA]: after.parameters[METADATA],
    [history(newAmi)]: after.parameters[METADATA],
  };
  if (sorted(after.parameters) !== sorted(expectedParameters)) leaks.push(`parameters: ${diff(expectedParameters, after.parameters)}`);
  return leaks;
}

function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `redrive-${serial}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'redrive',
    getRemainingTimeInMillis: () => 120000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function attemptsOf(result: RunResult, state: string): number {
  return result.steps.find((s) => s.name === state)?.attempts ?? 0;
}

/**
 * Records the scenario, then makes the account the next one's starting point: what the product
 * knowingly leaves (a kept previous AMI, a stale lock) is removed here as the next build would
 * remove it, so every scenario starts from one AMI; anything else that leaked means a fresh account.
 */
async function settle(title: string, run: Run, expected: Expectation, problems: string[], leaks: string[]): Promise<void> {
  outcomes.push({ title, passed: problems.length === 0 && leaks.length === 0, leaked: leaks.length > 0 });
  scenariosOnThisAccount += 1;
  if (leaks.length > 0 || scenariosOnThisAccount >= FRESH_ACCOUNT_EVERY) {
    await startOver();
    return;
  }
  if (expected.lockHeld) await releaseStaleLock();
  if (expected.previousKept) await removeImage(defaultClients().ec2, run.previousAmiId);
  before = expected.previousKept ? await readAccount(baseline) : run.after;
}

function expectationFor({ target, fault, persistence }: Scenario): Expectation {
  const absorbed = persistence === 'transient' && fault !== 'access-denied';
  if (absorbed) return { status: 'SUCCEEDED', published: true };
  const error = ERROR_OF[fault];
  switch (target.onFailure) {
    case 'rejected':
    case 'rolled-back':
      return { status: 'FAILED', error, published: false };
    case 'published-then-failed':
      return { status: 'FAILED', error, published: true, previousKept: true };
    case 'succeeded-lock-kept':
      return { status: 'SUCCEEDED', published: true, lockHeld: true };
  }
}

describe('the fault proxy speaks each protocol', () => {
  // One SDK attempt, so the error the proxy wrote is the error the caller gets.
  const calls: { service: string; action: string; call: () => Promise<unknown> }[] = [
    { service: 'ec2', action: 'DescribeInstances', call: () => defaultClients().ec2.send(new DescribeInstancesCommand({})) },
    { service: 'ssm', action: 'GetParameter', call: () => defaultClients().ssm.send(new GetParameterCommand({ Name: LATEST })) },
    { service: 'ecr', action: 'DescribeRepositories', call: () => defaultClients().ecr.send(new DescribeRepositoriesCommand({})) },
    { service: 'dynamodb', action: 'GetItem', call: () => lockHolder() },
  ];
  const expected: Record<MatrixFault, (service: string) => string[]> = {
    throttle: (service) => [service === 'ec2' ? 'RequestLimitExceeded' : 'ThrottlingException', 'AwsThrottled'],
    'server-error': (service) => [service === 'ec2' ? 'InternalError' : 'ServiceUnavailable', 'AwsUnavailable'],
    reset: () => ['TimeoutError', 'TimeoutError'],
    'access-denied': (service) => [service === 'ec2' ? 'UnauthorizedOperation' : 'AccessDeniedException', 'AwsAccessDenied'],
  };
  test.each(calls.flatMap((c) => FAULT_KINDS.map((fault) => [`${c.service} ${c.action}: ${fault}`, c, fault] as const)))(
    '%s',
    async (_title, c, fault) => {
      resetDefaultClients();
      removeSdkBackoff(defaultClients(), 1);
      proxy.resetCounts();
      proxy.addRule({ service: c.service, action: c.action, fault, times: 1 });
      let caught: unknown = null;
      try {
        await c.call();
      } catch (error) {
        caught = error;
      } finally {
        proxy.clear();
      }
      // The SDK's error name, and the name the step wrapper hands the state machine.
      expect([(caught as Error | null)?.name, classifyError(caught).name]).toEqual(expected[fault](c.service));
      expect(proxy.counts()[`${c.service}:${c.action}`]).toMatchObject({ requests: 1, faulted: 1 });
      await expect(c.call()).resolves.toBeDefined();
    },
  );
});

describe('fault matrix: every step x every fault, transient and permanent', () => {
  test('covers every Task of the state machine (the two failure-path Tasks are below the matrix)', () => {
    const tasks = Object.entries(loadDefinition().States)
      // The waits for an event are never entered when moto settles at once (event-waits.test.ts).
      .filter(([, state]) => state.Type === 'Task' && !isTokenWait(state))
      .map(([name]) => name)
      // A build never enters Prepare the rollback; test/statemachine/way-back.test.ts faults it.
      .filter((name) => ![ROLL_BACK, 'Release the lock after failure', 'Prepare the rollback'].includes(name))
      // The announce step swallows a refused event by design (one run, counted as
      // BuildEventNotDelivered): test/statemachine/build-events.test.ts and unit/build-announcement.test.ts.
      .filter((name) => !name.startsWith('Announce the '));
    expect([...new Set(TARGETS.map((t) => t.state))].sort()).toEqual(tasks.sort());
  });

  test.each(MATRIX)('%s', async (title, scenario) => {
    const { target, fault, persistence } = scenario;
    const expected = expectationFor(scenario);
    const run = await faultyBuild([{ ...target.rule, fault, times: persistence === 'transient' ? TRANSIENT_TIMES : 'always' }]);
    const key = `${target.rule.service}:${target.rule.action}`;
    const faulted = run.faulted[key] ?? 0;
    const attempts = attemptsOf(run.result, target.state);

    const problems = problemsOf(run, expected);
    // How far the fault went: the SDK's own attempts, then the state machine's Retry, or neither.
    if (fault === 'access-denied') {
      if (faulted !== 1 || attempts !== 1) problems.push(`access denied was retried: ${faulted} faults, ${attempts} runs of the step`);
    } else if (persistence === 'transient') {
      if (faulted !== TRANSIENT_TIMES) problems.push(`${faulted} faults given, expected all ${TRANSIENT_TIMES}`);
      if (attempts < 2) problems.push(`${target.state} was not retried by the state machine`);
    } else {
      // SendCommand is sent once per step attempt: SSM cannot deduplicate an SDK resend.
      const sdkAttempts = key === 'ssm:SendCommand' ? 1 : SDK_ATTEMPTS;
      if (faulted !== STEP_ATTEMPTS * sdkAttempts) problems.push(`${faulted} faults given, expected ${STEP_ATTEMPTS * sdkAttempts}`);
      if (attempts !== STEP_ATTEMPTS) problems.push(`${target.state} ran ${attempts} times, expected ${STEP_ATTEMPTS}`);
    }
    const rolledBack = attemptsOf(run.result, ROLL_BACK) > 0;
    const shouldRollBack = expected.status === 'FAILED' && target.onFailure !== 'rejected';
    if (rolledBack !== shouldRollBack) problems.push(`the roll back ${rolledBack ? 'ran' : 'did not run'}`);

    const leaks = leaksOf(run, expected);
    await settle(title, run, expected, problems, leaks);
    expect({ problems, leaks }).toEqual({ problems: [], leaks: [] });
  });
});

describe('beyond the matrix', () => {
  async function check(title: string, run: Run, expected: Expectation, extra: string[] = []): Promise<void> {
    const problems = [...problemsOf(run, expected), ...extra];
    const leaks = leaksOf(run, expected);
    await settle(title, run, expected, problems, leaks);
    expect({ problems, leaks }).toEqual({ problems: [], leaks: [] });
  }

  /** The lost answer's call was made again (by the SDK or the step): the scenario tested what it says. */
  function sentAgain(key: string): string[] {
    const count = proxy.counts()[key];
    return count && count.requests > count.faulted ? [] : [`${key} was not sent again after its lost answer: ${JSON.stringify(count)}`];
  }

  test('the roll back itself is throttled (transient): its own Retry absorbs it', async () => {
    const title = 'roll back throttled on DeregisterImage after Check the AMI was denied';
    const run = await faultyBuild([{ service: 'ec2', action: 'ModifyImageAttribute', fault: 'access-denied', times: 'always' }], {
      [ROLL_BACK]: clearingRollBack([{ service: 'ec2', action: 'DeregisterImage', fault: 'throttle', times: TRANSIENT_TIMES }]),
    });
    const extra = attemptsOf(run.result, ROLL_BACK) < 2 ? ['the roll back was not retried'] : [];
    await check(title, run, { status: 'FAILED', error: 'AwsAccessDenied', published: false }, extra);
  });

  test('the roll back itself fails for good: the execution fails, and a redrive of the roll back and the release cleans up', async () => {
    const title = 'roll back denied, then redriven';
    const run = await faultyBuild([{ service: 'ec2', action: 'ModifyImageAttribute', fault: 'access-denied', times: 'always' }], {
      [ROLL_BACK]: clearingRollBack([{ service: 'ec2', action: 'DeregisterImage', fault: 'access-denied', times: 'always' }]),
    });
    const extra: string[] = [];
    if (run.result.failedState !== ROLL_BACK) extra.push(`failed at ${run.result.failedState}, expected the roll back`);
    if (!run.after.amis[ENV]?.some((id) => id !== run.previousAmiId)) extra.push('the unpublished AMI was already gone: the fault missed');
    // A redrive runs the failed state again with the input it had, then goes on.
    const rollBackInput = run.result.lastInputs[ROLL_BACK];
    await realRollBack(rollBackInput, lambdaContext('RollBackFunction'));
    const release = await loadStepHandler('ReleaseLockFunctionArn');
    await release(rollBackInput, lambdaContext('ReleaseLockFunction'));
    // The roll back did what it could, then failed naming what is left.
    if (!/^roll back left: remove AMI ami-\w+ and its snapshots \(AwsAccessDenied: /.test(run.result.cause ?? ''))
      extra.push(`cause does not name what is left: ${run.result.cause}`);
    const redriven = { ...run, after: await readAccount(baseline), lockHolder: await lockHolder() };
    await check(title, redriven, { status: 'FAILED', error: 'RollbackIncomplete', published: false }, extra);
  });

  test('the release after a failure fails for good: the build still fails with its own error, the lock is left stale', async () => {
    const run = await faultyBuild([{ service: 'ec2', action: 'ModifyImageAttribute', fault: 'access-denied', times: 'always' }], {
      [ROLL_BACK]: clearingRollBack([{ service: 'dynamodb', action: 'UpdateItem', fault: 'server-error', times: 'always' }]),
    });
    const extra =
      attemptsOf(run.result, 'Release the lock after failure') === STEP_ATTEMPTS
        ? []
        : ['the release after failure was not retried to the end'];
    await check(
      'release after failure unavailable',
      run,
      { status: 'FAILED', error: 'AwsAccessDenied', published: false, lockHeld: true },
      extra,
    );
  });

  test('Publish wrote latest, then its read-back fails for good: the roll back puts latest, metadata and history back', async () => {
    // Armed when Publish starts: its first attempt writes without reading first (no earlier
    // attempt marked the publish), so the first GetParameter is the read-back after the writes.
    const run = await faultyBuild([], {
      'Publish the AMI': await armedAt('Publish the AMI', [
        { service: 'ssm', action: 'GetParameter', fault: 'server-error', times: 'always' },
      ]),
    });
    // The first faulted GetParameter is Publish's read-back, which follows its three writes.
    const extra = (run.faulted['ssm:GetParameter'] ?? 0) > 0 ? [] : ['the read-back was never faulted'];
    await check('latest written, read-back unavailable', run, { status: 'FAILED', error: 'AwsUnavailable', published: false }, extra);
  });

  test('a lost RunInstances answer: the SDK launches again, every builder of the execution is terminated', async () => {
    // Real EC2 returns the same instance for the same ClientToken; moto launches a second one.
    const run = await faultyBuild([{ service: 'ec2', action: 'RunInstances', fault: 'lost-response', times: 1 }]);
    await check('lost RunInstances answer', run, { status: 'SUCCEEDED', published: true }, sentAgain('ec2:RunInstances'));
  });

  test('a lost DynamoDB answer when taking the lock: the retried conditional write still takes it', async () => {
    const run = await faultyBuild([{ service: 'dynamodb', action: 'UpdateItem', fault: 'lost-response', times: 1 }]);
    await check('lost lock UpdateItem answer', run, { status: 'SUCCEEDED', published: true }, sentAgain('dynamodb:UpdateItem'));
  });

  test('a lost PutParameter answer while publishing: the rewrite is harmless', async () => {
    const run = await faultyBuild([{ service: 'ssm', action: 'PutParameter', fault: 'lost-response', times: TRANSIENT_TIMES, after: 2 }]);
    await check('lost PutParameter answers', run, { status: 'SUCCEEDED', published: true }, sentAgain('ssm:PutParameter'));
  });

  test('a lost DeregisterImage answer in clean up: the image is gone when asked again', async () => {
    const run = await faultyBuild([{ service: 'ec2', action: 'DeregisterImage', fault: 'lost-response', times: 1 }]);
    await check('lost DeregisterImage answer', run, { status: 'SUCCEEDED', published: true }, sentAgain('ec2:DeregisterImage'));
  });

  // SendCommand goes through a client without SDK retries: only the step's retry resends, and it looks first.
  test('a lost SendCommand answer still runs the update once on the builder', async () => {
    const run = await faultyBuild([{ service: 'ssm', action: 'SendCommand', fault: 'lost-response', times: 1 }]);
    const commands = (await defaultClients().ssm.send(new ListCommandsCommand({}))).Commands ?? [];
    const mine = commands.filter((c) => c.Comment === commandComment(run.name));
    const extra = mine.length === 1 ? [] : [`${mine.length} update commands were sent to the builder, expected 1`];
    await check('lost SendCommand answer', run, { status: 'SUCCEEDED', published: true }, extra);
  });

  test('a previous AMI left by a clean up that failed after publishing goes at the next build', async () => {
    // Clean up fails for good after latest names the new AMI; the next build succeeds.
    const stranded = before.parameters[LATEST];
    const failed = await faultyBuild([{ service: 'ec2', action: 'DeregisterImage', fault: 'access-denied', times: 'always' }]);
    const extra =
      failed.result.status === 'FAILED' && failed.after.amis[ENV]?.includes(stranded)
        ? []
        : ['the failed clean up did not leave the previous AMI'];
    before = failed.after;
    const next = await faultyBuild([]);
    if (next.after.amis[ENV]?.includes(stranded))
      extra.push(`${stranded}, the AMI before the failed clean up, is still registered after the next successful build`);
    await check('stranded previous AMI removed by the next build', next, { status: 'SUCCEEDED', published: true }, extra);
  });
});
