import type { Logger } from '@aws-lambda-powertools/logger';
import { type EC2Client, RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { PipelineConfig } from './config';
import { environmentInstanceTypes, environmentSpot, environmentSubnetIds } from './config-values';
import { NoCapacity } from './errors';

/**
 * What the builder and the test instance share in their RunInstances request: the configured
 * network with a public IP only when asked, the builder profile, IMDSv2 only, and no parking on
 * shutdown. The launch roles' IAM conditions (serverless.yml) require exactly this shape.
 */
export function launchPlacement(
  config: PipelineConfig,
  subnetId: string | undefined,
): Pick<RunInstancesCommandInput, 'IamInstanceProfile' | 'NetworkInterfaces' | 'MetadataOptions' | 'InstanceInitiatedShutdownBehavior'> {
  const securityGroupIds = config.builder.securityGroupIds.length > 0 ? config.builder.securityGroupIds : undefined;
  return {
    IamInstanceProfile: { Name: config.builder.instanceProfile },
    // One interface stated in full: a public IP only when the config asks, whatever the subnet's default.
    NetworkInterfaces: [
      {
        DeviceIndex: 0,
        SubnetId: subnetId,
        Groups: securityGroupIds,
        AssociatePublicIpAddress: config.builder.associatePublicIpAddress,
        DeleteOnTermination: true,
      },
    ],
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 1 },
    // An instance that shuts itself down is gone, not parked: nothing keeps billing.
    InstanceInitiatedShutdownBehavior: 'terminate',
  };
}

/** One way to launch: an instance type in a subnet (undefined: the default VPC's), On-Demand or Spot. */
export interface LaunchChoice {
  instanceType: string;
  subnetId?: string;
  market: 'spot' | 'on-demand';
}

/**
 * The environment's launches in the order tried: each instance type in every subnet before the
 * next type (the type is the stronger preference), all with Spot first when the builder asks for
 * it, then all On-Demand. The test instance passes `allowSpot: false`.
 */
export function launchChoices(config: PipelineConfig, environment: string, { allowSpot }: { allowSpot: boolean }): LaunchChoice[] {
  const subnets: (string | undefined)[] = environmentSubnetIds(config, environment);
  const pairs = environmentInstanceTypes(config, environment).flatMap((instanceType) =>
    (subnets.length > 0 ? subnets : [undefined]).map((subnetId) => ({ instanceType, subnetId })),
  );
  const markets: LaunchChoice['market'][] = allowSpot && environmentSpot(config, environment) ? ['spot', 'on-demand'] : ['on-demand'];
  return markets.flatMap((market) => pairs.map((pair) => ({ ...pair, market })));
}

/** EC2's answers that say this type, zone or market cannot launch now, where the next choice may. */
export const CAPACITY_ERRORS: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'Unsupported',
  // Spot only: no Spot capacity, a price below the Spot price, the Spot quota.
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'UnfulfillableCapacity',
]);

export function describeChoice(choice: LaunchChoice): string {
  return `${choice.instanceType} in ${choice.subnetId ?? 'the default subnet'}${choice.market === 'spot' ? ' (Spot)' : ''}`;
}

export interface Launched {
  instanceId: string;
  choice: LaunchChoice;
}

/**
 * Tries each choice in order until EC2 launches one. A capacity or limit answer moves on to the
 * next choice; any other error ends the step as it is (throttling and 5xx are retried by the state
 * machine, which starts the order again). When every choice was refused: NoCapacity naming each.
 */
export async function launchFirstAvailable(
  ec2: EC2Client,
  choices: readonly LaunchChoice[],
  request: (choice: LaunchChoice) => RunInstancesCommandInput,
  { logger, what }: { logger: Logger; what: string },
): Promise<Launched> {
  logger.info(`${what}: launch order`, { order: choices.map(describeChoice) });
  const refused: string[] = [];
  for (const choice of choices) {
    try {
      const out = await ec2.send(new RunInstancesCommand(request(choice)));
      const instance = out.Instances?.[0];
      if (!instance?.InstanceId) throw new Error('RunInstances returned no instance');
      // In the default VPC EC2 picks the subnet: record the one it picked.
      return { instanceId: instance.InstanceId, choice: { ...choice, subnetId: choice.subnetId ?? instance.SubnetId } };
    } catch (error) {
      const { name, message } = error as Error;
      if (!CAPACITY_ERRORS.has(name)) throw error;
      logger.warn(`${what}: ${describeChoice(choice)} refused, trying the next choice`, { error: name, message });
      refused.push(`${describeChoice(choice)}: ${name}: ${message}`);
    }
  }
  const attempts = refused.length === 1 ? '1 launch attempt' : `${refused.length} launch attempts`;
  throw new NoCapacity(`no capacity for the ${what} after ${attempts}: ${refused.join('; ')}`);
}

/** Spot for a builder: a one-time request, terminated (not stopped) when EC2 reclaims it. */
export function marketOptions(choice: LaunchChoice): Pick<RunInstancesCommandInput, 'InstanceMarketOptions'> {
  return choice.market === 'spot'
    ? {
        InstanceMarketOptions: {
          MarketType: 'spot',
          SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
        },
      }
    : {};
}
