import type { RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { PipelineConfig } from './config';

/**
 * What the builder and the test instance share in their RunInstances request: the configured
 * network with a public IP only when asked, the builder profile, IMDSv2 only, and no parking on
 * shutdown. The launch roles' IAM conditions (serverless.yml) require exactly this shape.
 */
export function launchPlacement(
  config: PipelineConfig,
): Pick<RunInstancesCommandInput, 'IamInstanceProfile' | 'NetworkInterfaces' | 'MetadataOptions' | 'InstanceInitiatedShutdownBehavior'> {
  const securityGroupIds = config.builder.securityGroupIds.length > 0 ? config.builder.securityGroupIds : undefined;
  return {
    IamInstanceProfile: { Name: config.builder.instanceProfile },
    // One interface stated in full: a public IP only when the config asks, whatever the subnet's default.
    NetworkInterfaces: [
      {
        DeviceIndex: 0,
        SubnetId: config.builder.subnetId,
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
