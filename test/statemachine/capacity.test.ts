/**
 * GPU capacity with the real ASL run in-process against the moto server: EC2's capacity answers
 * (which moto never gives) are injected into the real launch steps' clients for the first subnet
 * of the list; every other call reaches moto. The build goes on in the next subnet, or fails
 * with NoCapacity naming each pair and rolls back, and nothing is left behind either way.
 */
import {
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  EC2Client,
  type Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { launchBuilder } from '../../functions/launch-builder/launch-builder';
import { launchTestInstance } from '../../functions/launch-test-instance/launch-test-instance';
import { type Clients, defaultClients } from '../../functions/shared/clients';
import type { PipelineConfig } from '../../functions/shared/config';
import { logger, type Step, stepHandler } from '../../functions/shared/handler';
import type { BuildState } from '../../functions/shared/state';
import { TAG } from '../../functions/shared/tags';
import type { LambdaHandler } from '../../scripts/lib/handlers';
import { pushImage, seedAccount } from '../../scripts/lib/seed';
import { readAccount, snapshotIds } from '../support/account';
import { build, buildWith, demoConfig, pushEvent } from '../support/builds';
import { type Moto, startMoto } from '../support/moto';

let moto: Moto;

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  logger.setLogLevel('SILENT');
  moto = await startMoto();
});
afterAll(async () => moto?.stop());

function named(name: string, message: string): Error {
  return Object.assign(new Error(message), { name });
}

/** A real EC2 client whose RunInstances in the refused subnets gets AWS's capacity answer; the rest goes to moto. */
function refusingSubnets(refused: readonly string[], sent: RunInstancesCommandInput[]): EC2Client {
  const client = new EC2Client({});
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'RunInstancesCommand') return next(args);
      const input = args.input as RunInstancesCommandInput;
      sent.push(input);
      const subnet = input.NetworkInterfaces?.[0]?.SubnetId ?? '';
      if (refused.includes(subnet)) {
        throw named(
          'InsufficientInstanceCapacity',
          `We currently do not have sufficient ${input.InstanceType} capacity in the Availability Zone you requested.`,
        );
      }
      return next(args);
    },
    { step: 'initialize', name: 'refuse-capacity' },
  );
  return client;
}

function withEc2(step: Step<BuildState, unknown>, ec2: EC2Client): LambdaHandler {
  const handler = stepHandler(
    (state: BuildState, ctx) => step(state, { ...ctx, clients: { ...ctx.clients, ec2 } as Clients }),
    defaultClients,
  );
  return (event, context) => handler(event as BuildState, context);
}

async function instancesOf(executionName: string): Promise<Instance[]> {
  const out = await new EC2Client({}).send(
    new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.execution}`, Values: [executionName] }] }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** moto's default subnets in two availability zones, in order. */
async function twoSubnets(): Promise<[string, string]> {
  const subnets =
    (await new EC2Client({}).send(new DescribeSubnetsCommand({ Filters: [{ Name: 'default-for-az', Values: ['true'] }] }))).Subnets ?? [];
  const byZone = [...subnets].sort((a, b) => (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? ''));
  expect(byZone.length).toBeGreaterThanOrEqual(2);
  expect(byZone[0].AvailabilityZone).not.toBe(byZone[1].AvailabilityZone);
  return [byZone[0].SubnetId ?? '', byZone[1].SubnetId ?? ''];
}

function configWithSubnets(subnetIds: string[]): PipelineConfig {
  const base = demoConfig();
  return demoConfig({ environments: { ...base.environments, dev: { ...base.environments.dev, subnetIds } } });
}

/**
 * A seeded account with one published dev AMI and a newer image pushed; dev lists moto's default
 * subnets of two zones (read after the reset, which makes them anew).
 */
async function accountWithOneBuild() {
  await moto.reset();
  const [zoneA, zoneB] = await twoSubnets();
  const config = configWithSubnets([zoneA, zoneB]);
  await seedAccount(config);
  const baseline = await snapshotIds();
  const first = await pushImage('comfyui', 'dev-latest', 'one');
  expect((await build(pushEvent('comfyui', 'dev-latest', first), config, 'dev-first')).status).toBe('SUCCEEDED');
  const second = await pushImage('comfyui', 'dev-latest', 'two');
  return { zoneA, zoneB, config, baseline, before: await readAccount(baseline), input: pushEvent('comfyui', 'dev-latest', second) };
}

describe('GPU capacity short in one zone', () => {
  it('launches the builder and the test instance in the next subnet, publishes, and leaves nothing running', async () => {
    const { zoneA, zoneB, config, baseline, input } = await accountWithOneBuild();
    const sent: RunInstancesCommandInput[] = [];
    const ec2 = refusingSubnets([zoneA], sent);

    const result = await buildWith(input, config, 'dev-capacity', {
      'Launch the builder instance': withEc2(launchBuilder, ec2),
      'Launch the test instance': withEc2(launchTestInstance, ec2),
    });

    expect(result).toMatchObject({ status: 'SUCCEEDED', error: null });
    // Each launch step ran once: the fall-through happens inside it, not through the state machine's retries.
    for (const state of ['Launch the builder instance', 'Launch the test instance']) {
      expect(result.steps.filter((s) => s.name === state).map((s) => s.attempts)).toEqual([1]);
    }
    expect(sent.map((i) => [i.ImageId === sent[0].ImageId ? 'builder' : 'verifier', i.NetworkInterfaces?.[0]?.SubnetId])).toEqual([
      ['builder', zoneA],
      ['builder', zoneB],
      ['verifier', zoneA],
      ['verifier', zoneB],
    ]);
    const instances = await instancesOf('dev-capacity');
    const role = (i: Instance) => i.Tags?.find((t) => t.Key === TAG.role)?.Value;
    expect(instances.map((i) => [role(i), i.SubnetId, i.State?.Name]).sort()).toEqual([
      ['builder', zoneB, 'terminated'],
      ['verifier', zoneB, 'terminated'],
    ]);
    const after = await readAccount(baseline);
    expect(after.parameters['/comfyui/ami/dev/latest']).toBe(result.output?.amiId);
    expect(after.amis).toEqual({ dev: [result.output?.amiId] });
    expect(after.liveBuilders).toEqual([]);
    expect(after.orphanSnapshots).toEqual([]);
  }, 180_000);

  it('fails with NoCapacity naming each pair when no subnet has capacity, and rolls back to the previous AMI', async () => {
    const { zoneA, zoneB, config, baseline, before, input } = await accountWithOneBuild();
    const ec2 = refusingSubnets([zoneA, zoneB], []);

    const result = await buildWith(input, config, 'dev-no-capacity', { 'Launch the builder instance': withEc2(launchBuilder, ec2) });

    expect(result).toMatchObject({ status: 'FAILED', error: 'NoCapacity', failedState: 'Launch the builder instance' });
    expect(result.cause).toBe(
      'no capacity for the builder after 2 launch attempts: ' +
        `g4dn.xlarge in ${zoneA}: InsufficientInstanceCapacity: We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested.; ` +
        `g4dn.xlarge in ${zoneB}: InsufficientInstanceCapacity: We currently do not have sufficient g4dn.xlarge capacity in the Availability Zone you requested.`,
    );
    expect(result.steps.map((s) => s.name)).toContain('Roll back the build');
    expect(await instancesOf('dev-no-capacity')).toEqual([]);
    const after = await readAccount(baseline);
    expect(after.amis).toEqual(before.amis);
    expect(after.parameters).toEqual(before.parameters);
    expect(after.liveBuilders).toEqual([]);
  }, 180_000);
});
