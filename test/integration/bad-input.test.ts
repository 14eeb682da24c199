import '../../scripts/lib/polyfills';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { readableCause } from '../../functions/build-status/build-status';
import { defaultClients, resetDefaultClients } from '../../functions/shared/clients';
import { RequestInvalid } from '../../functions/shared/errors';
import type { BuildSummary } from '../../scripts/commands/run';
import { useEndpoint } from '../../scripts/lib/moto';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { type AccountState, readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig } from '../support/builds';
import { FAST_REGION, type FaultProxy, startFaultProxy } from '../support/fault-proxy';
import { type Moto, startMoto } from '../support/moto';

/**
 * The hostile input corpus (test/fixtures/bad-input/*.json) against the real state machine and
 * handlers: every input is refused, by the CLI's up-front check and by the state machine itself
 * at "Normalize the request", with a message naming the field, and nothing is created.
 */

interface Fixture {
  description: string;
  input: unknown;
  /** A substring of the error message. */
  expect: string;
  /** The field the error names (RequestInvalid's `field`), which its message starts with. */
  field: string;
  /** Set while the product still accepts the input: the test is then expected to fail (test.failing). */
  knownBug?: string;
  /**
   * For an input the state machine cannot even record: Step Functions fails a `null` input at the
   * first path ("Unable to apply Path transformation to null or empty input"), before any Task,
   * with this error. The CLI's up-front check must still name the field.
   */
  stateMachineError?: string;
}

const FIXTURE_DIR = join(__dirname, '..', 'fixtures', 'bad-input');
const FILES = readdirSync(FIXTURE_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const FIXTURES: [string, Fixture][] = FILES.map((file) => [
  file.replace(/\.json$/, ''),
  JSON.parse(readFileSync(join(FIXTURE_DIR, file), 'utf8')) as Fixture,
]);

const config = demoConfig();
const NORMALIZE = 'Normalize the request';
/** Calls that change nothing; any other action reaching AWS during a refused request is a failure. */
const READ_ONLY = /^(Describe|Get|List|Scan|Query|BatchGet)/;

/** Everything a request could create, account-wide, not only what the pipeline tags. */
interface AccountFacts {
  account: AccountState;
  instances: string[];
  images: string[];
  snapshots: string[];
  locks: number;
}

let moto: Moto;
let proxy: FaultProxy;
let baselineSnapshots: Set<string>;
let baseline: AccountFacts;
let serial = 0;

async function facts(): Promise<AccountFacts> {
  const { ec2, dynamodb } = defaultClients();
  const reservations = (await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [];
  const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
  const locks = (await dynamodb.send(new ScanCommand({ TableName: config.lock.table }))).Count ?? 0;
  return {
    // '/': every parameter in the account, not only the pipeline's prefix.
    account: await readAccount(baselineSnapshots, '/'),
    instances: reservations
      .flatMap((r) => r.Instances ?? [])
      .map((i) => `${i.InstanceId} ${i.State?.Name}`)
      .sort(),
    images: images.map((i) => i.ImageId ?? '').sort(),
    snapshots: [...(await snapshotIds())].sort(),
    locks,
  };
}

/** A seeded account with the dev image pushed; the baseline every refused request must leave as it is. */
async function prepare(): Promise<void> {
  await moto.reset();
  resetDefaultClients();
  await seedAccount(config);
  baselineSnapshots = await snapshotIds();
  await pushImage('comfyui', 'dev-latest', 'a good image');
  baseline = await facts();
}

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  moto = await startMoto();
  // The proxy injects nothing here: it records which AWS actions each refused request reached.
  proxy = await startFaultProxy(moto.endpoint);
  useEndpoint(proxy.endpoint, FAST_REGION);
  await prepare();
}, 60000);

afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});

test('the corpus has at least 40 well-formed fixtures', () => {
  expect(FIXTURES.length).toBeGreaterThanOrEqual(40);
  for (const [name, fixture] of FIXTURES) {
    expect({
      name,
      description: typeof fixture.description,
      expect: typeof fixture.expect,
      field: typeof fixture.field,
      hasInput: 'input' in fixture,
    }).toEqual({
      name,
      description: 'string',
      expect: 'string',
      field: 'string',
      hasInput: true,
    });
    expect(fixture.expect.length).toBeGreaterThan(0);
  }
});

/** The CLI's path: runLocalBuild refuses up front (parseRequest), or, for what only ECR can tell, the run fails at Normalize. */
async function refusedByCli(fixture: Fixture, executionName: string): Promise<string[]> {
  let summary: BuildSummary;
  try {
    summary = await build(fixture.input, config, executionName);
  } catch (error) {
    if (!(error instanceof RequestInvalid)) return [`runLocalBuild threw ${(error as Error).name}: ${(error as Error).message}`];
    const problems: string[] = [];
    if (!error.message.includes(fixture.expect)) problems.push(`runLocalBuild's message does not say ${fixture.expect}: ${error.message}`);
    if (error.field !== fixture.field) problems.push(`runLocalBuild's error names ${error.field}, not ${fixture.field}`);
    if (error.allowed.length === 0) problems.push(`runLocalBuild's error for ${error.field} gives no allowed form`);
    return problems;
  }
  const problems: string[] = [];
  if (summary.status !== 'FAILED' || summary.error !== 'RequestInvalid')
    problems.push(`runLocalBuild ran the build: ${summary.status} ${summary.error ?? ''} ${summary.cause ?? ''}`);
  else problems.push(...causeProblems('runLocalBuild', summary.cause, fixture));
  return problems;
}

/** A failure's cause, as Step Functions records it: its message starts with the field, then the allowed form. */
function causeProblems(who: string, cause: string | null, fixture: Fixture): string[] {
  const message = readableCause(cause ?? undefined) ?? '';
  const problems: string[] = [];
  if (!message.includes(fixture.expect)) problems.push(`${who}'s cause does not say ${fixture.expect}: ${message}`);
  if (!new RegExp(`^${fixture.field.replace(/[.]/g, '\\.')}(:| is required)`).test(message))
    problems.push(`${who}'s cause does not start with ${fixture.field}: ${message}`);
  if (!/must be /.test(message)) problems.push(`${who}'s cause gives no allowed form: ${message}`);
  return problems;
}

/** Straight into the ASL: the state machine itself must refuse it at its first Task. */
async function refusedByStateMachine(fixture: Fixture, executionName: string): Promise<string[]> {
  const result = await buildWith(fixture.input, config, executionName, {});
  const problems: string[] = [];
  if (fixture.stateMachineError) {
    if (result.status !== 'FAILED' || result.error !== fixture.stateMachineError)
      problems.push(`the state machine ended ${result.status} ${result.error ?? ''}: ${result.cause ?? ''}`);
    if (result.steps.length > 0) problems.push(`steps ran: ${result.steps.map((s) => s.name).join(', ')}`);
    return problems;
  }
  if (result.status !== 'FAILED' || result.error !== 'RequestInvalid')
    problems.push(`the state machine ended ${result.status} ${result.error ?? ''}: ${result.cause ?? ''}`);
  if (result.failedState !== NORMALIZE) problems.push(`it failed at ${result.failedState ?? 'no state'}, not at ${NORMALIZE}`);
  problems.push(...causeProblems('the state machine', result.cause, fixture));
  const ran = result.steps.map((s) => s.name).filter((name) => name !== NORMALIZE);
  if (ran.length > 0) problems.push(`steps after ${NORMALIZE} ran: ${ran.join(', ')}`);
  return problems;
}

describe('every hostile input is refused at "Normalize the request", naming the field, creating nothing', () => {
  const cases = FIXTURES.map(([name, fixture]) => [`${name}: ${fixture.description}`, name, fixture] as const);
  const run = async (_title: string, name: string, fixture: Fixture) => {
    serial += 1;
    proxy.resetCounts();
    const problems = [...(await refusedByCli(fixture, `bad-cli-${serial}`)), ...(await refusedByStateMachine(fixture, `bad-sm-${serial}`))];
    const writes = Object.keys(proxy.counts()).filter((key) => !READ_ONLY.test(key.slice(key.indexOf(':') + 1)));
    if (writes.length > 0) problems.push(`AWS calls that change things were made: ${writes.join(', ')}`);
    let changed = true;
    try {
      const after = await facts();
      const keys = (Object.keys(baseline) as (keyof AccountFacts)[]).filter(
        (key) => JSON.stringify(after[key]) !== JSON.stringify(baseline[key]),
      );
      changed = keys.length > 0;
      if (changed)
        problems.push(
          `the account changed (${keys.join(', ')}): ${JSON.stringify(Object.fromEntries(keys.map((k) => [k, after[k]]))).slice(0, 600)}`,
        );
    } catch (error) {
      problems.push(`reading the account back failed: ${(error as Error).message}`);
    }
    // The next fixture must start from the baseline again.
    if (changed) await prepare();
    expect({ name, problems }).toEqual({ name, problems: [] });
  };
  const good = cases.filter(([, , fixture]) => !fixture.knownBug);
  const bugs = cases.filter(([, , fixture]) => fixture.knownBug);
  test.each(good)('%s', run);
  // Inputs the product still accepts (see each fixture's knownBug): kept failing on purpose, so
  // the fix shows up as this test "unexpectedly passing"; then drop knownBug from the fixture.
  if (bugs.length > 0) test.failing.each(bugs)('KNOWN BUG %s', run);
});
