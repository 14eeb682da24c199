import 'aws-sdk-client-mock-jest';
import { DescribeInstancesCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { sweepBuilders } from '../../functions/sweep-builders/sweep-builders';
import { stepContext } from '../support/context';

const ec2 = mockClient(EC2Client);
const NOW = new Date('2026-11-27T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60000);

describe('sweepBuilders', () => {
  beforeEach(() => ec2.reset());

  it('terminates builders and test instances older than the limit, counting whole days, and leaves younger ones', async () => {
    // Prepare: a minute over the limit, 2 days and 10 minutes (a sweeper reading only hours would miss it), 29 minutes.
    const ctx = stepContext();
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-old',
              LaunchTime: minutesAgo(ctx.config.builder.maxAgeMinutes + 1),
              Tags: [{ Key: 'comfyui-ami:execution', Value: 'dev-1' }],
            },
          ],
        },
        {
          Instances: [
            { InstanceId: 'i-days', LaunchTime: minutesAgo(2 * 24 * 60 + 10) },
            { InstanceId: 'i-young', LaunchTime: minutesAgo(29) },
          ],
        },
      ],
    });
    ec2.on(TerminateInstancesCommand).resolves({});

    // Act
    const result = await sweepBuilders({}, ctx, NOW);

    // Assess
    expect(result.checked).toBe(3);
    expect(result.terminated.map((t) => t.instanceId)).toEqual(['i-old', 'i-days']);
    expect(ec2).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: ['i-old', 'i-days'] });
    expect(ec2).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: expect.arrayContaining([
        { Name: 'tag:comfyui-ami:managed-by', Values: ['comfyui-ami-pipeline'] },
        { Name: 'tag:comfyui-ami:role', Values: ['builder', 'verifier'] },
      ]),
    });
  });
});
