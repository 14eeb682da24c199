import 'aws-sdk-client-mock-jest';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { findLegacyImages, isLegacyImage } from '../../functions/shared/legacy';
import { demoConfig } from '../support/builds';

const ec2 = mockClient(EC2Client);

describe('legacy AMI look-up', () => {
  it('asks only for AMIs the account owns (a public AMI copying the name is never a base)', async () => {
    ec2.reset();
    ec2.on(DescribeImagesCommand).resolves({
      Images: [
        {
          ImageId: 'ami-0000000000000000a',
          Name: 'comfyui-multitenant-dev-1',
          State: 'available',
          CreationDate: '2024-01-01T00:00:00.000Z',
        },
      ],
    });
    await expect(findLegacyImages(new EC2Client({ region: 'us-east-1' }), demoConfig(), 'dev')).resolves.toHaveLength(1);
    const calls = ec2.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(2);
    for (const input of calls) expect(input.Owners).toEqual(['self']);
  });

  it('never counts a pipeline AMI, or one whose name and Name tag point at two environments', () => {
    const config = demoConfig();
    expect(
      isLegacyImage(
        config,
        { Name: 'comfyui-multitenant-dev-0001-abc', Tags: [{ Key: 'comfyui-ami:managed-by', Value: 'comfyui-ami-pipeline' }] },
        'dev',
      ),
    ).toBe(false);
    expect(
      isLegacyImage(config, { Name: 'comfyui-multitenant-dev', Tags: [{ Key: 'Name', Value: 'comfyui-multitenant-prod' }] }, 'dev'),
    ).toBe(false);
    expect(isLegacyImage(config, { Name: 'x', Tags: [{ Key: 'Name', Value: 'comfyui-multitenant-prod-2' }] }, 'prod')).toBe(true);
  });
});
