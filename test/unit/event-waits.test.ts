/**
 * The await step and the event receiver, against mocked clients: the registry decides whom an
 * event may wake, and a wait whose resource has already settled wakes itself.
 */
import 'aws-sdk-client-mock-jest';
import { DeleteItemCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, type InstanceStateName } from '@aws-sdk/client-ec2';
import { SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetCommandInvocationCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { type AwaitInput, awaitEvent } from '../../functions/await-event/await-event';
import { receiveEvent } from '../../functions/receive-event/receive-event';
import { stateChangeEvent } from '../../scripts/lib/local-events';
import { stepContext } from '../support/context';

const dynamodb = mockClient(DynamoDBClient);
const ec2 = mockClient(EC2Client);
const ssm = mockClient(SSMClient);
const sfn = mockClient(SFNClient);

const AMI = 'ami-0123456789abcdef0';
const COMMAND = '11111111-2222-3333-4444-555555555555';
const BUILDER = 'i-0fedcba9876543210';
const TOKEN = 'token-of-the-wait';
const registered = (kind: string, resourceId: string) => ({
  Item: {
    environment: { S: `wait:${resourceId}` },
    kind: { S: kind },
    task_token: { S: TOKEN },
    execution_id: { S: 'arn:aws:states:us-east-1:000000000000:execution:bake:one' },
  },
});
const amiWait: AwaitInput = { kind: 'image', resourceId: AMI, executionId: 'exec', taskToken: TOKEN };
const commandWait: AwaitInput = {
  kind: 'command',
  resourceId: COMMAND,
  instanceId: 'i-0123456789abcdef0',
  executionId: 'exec',
  taskToken: TOKEN,
};

const builderWait: AwaitInput = { kind: 'instance', resourceId: BUILDER, executionId: 'exec', taskToken: TOKEN };
const instanceIn = (state: string) => ({
  Reservations: [{ Instances: [{ InstanceId: BUILDER, State: { Name: state as InstanceStateName } }] }],
});

beforeEach(() => {
  for (const mock of [dynamodb, ec2, ssm, sfn]) mock.reset();
  dynamodb.on(PutItemCommand).resolves({});
  dynamodb.on(DeleteItemCommand).resolves({});
  // No cancel record.
  dynamodb.on(GetItemCommand).resolves({});
  sfn.on(SendTaskSuccessCommand).resolves({});
});

describe('awaitEvent', () => {
  it('registers the token under the resource before it looks at the resource', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'pending' }] });
    await expect(awaitEvent(amiWait, stepContext())).resolves.toEqual({ resourceId: AMI, settled: null });
    expect(dynamodb).toHaveReceivedCommandWith(PutItemCommand, {
      Item: expect.objectContaining({ environment: { S: `wait:${AMI}` }, task_token: { S: TOKEN } }),
    });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('wakes the execution at once when the AMI has already left pending (its event came before the token)', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'failed' }] });
    await expect(awaitEvent(amiWait, stepContext())).resolves.toEqual({ resourceId: AMI, settled: 'failed' });
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN });
  });

  it('keeps waiting for a command that is running or not yet known', async () => {
    ssm
      .on(GetCommandInvocationCommand)
      .resolvesOnce({ Status: 'InProgress' })
      .rejectsOnce(Object.assign(new Error('x'), { name: 'InvocationDoesNotExist' }));
    await expect(awaitEvent(commandWait, stepContext())).resolves.toMatchObject({ settled: null });
    await expect(awaitEvent(commandWait, stepContext())).resolves.toMatchObject({ settled: null });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('fails a cancelled build with BuildCancelled before it registers, so the build does not pause', async () => {
    const executionId = 'arn:aws:states:us-east-1:000000000000:execution:bake:dev-one';
    dynamodb.on(GetItemCommand, { Key: { environment: { S: 'cancel:dev-one' } } }).resolves({
      Item: { execution_id: { S: executionId }, cancel_requested_at: { S: '2026-11-28T04:00:00.000Z' }, cancel_requested_by: { S: 'op' } },
    });

    await expect(awaitEvent({ ...amiWait, executionId }, stepContext())).rejects.toMatchObject({ name: 'BuildCancelled' });
    expect(dynamodb).not.toHaveReceivedCommand(PutItemCommand);
    // A record of another execution of the same name does not cancel this one.
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'pending' }] });
    await expect(awaitEvent({ ...amiWait, executionId: 'local:dev-one' }, stepContext())).resolves.toMatchObject({ settled: null });
    expect(dynamodb).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  it("pauses for the builder's stop without reading the cancel: Create the AMI reads it right after", async () => {
    const executionId = 'arn:aws:states:us-east-1:000000000000:execution:bake:dev-one';
    dynamodb.on(GetItemCommand).resolves({
      Item: { execution_id: { S: executionId }, cancel_requested_at: { S: '2026-11-28T04:00:00.000Z' }, cancel_requested_by: { S: 'op' } },
    });
    ec2.on(DescribeInstancesCommand).resolves(instanceIn('stopping'));

    await expect(awaitEvent({ ...builderWait, executionId }, stepContext())).resolves.toMatchObject({ settled: null });
    expect(dynamodb).not.toHaveReceivedCommand(GetItemCommand);
    expect(dynamodb).toHaveReceivedCommandTimes(PutItemCommand, 1);
  });

  it('keeps waiting for a builder on its way to stopped, and wakes at once for one stopped, terminated or gone', async () => {
    const settled = async (state: string | null) => {
      ec2.reset();
      if (state) ec2.on(DescribeInstancesCommand).resolves(instanceIn(state));
      else ec2.on(DescribeInstancesCommand).rejects(Object.assign(new Error('gone'), { name: 'InvalidInstanceID.NotFound' }));
      return (await awaitEvent(builderWait, stepContext())).settled;
    };
    expect(await settled('running')).toBeNull();
    expect(await settled('stopping')).toBeNull();
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
    expect(await settled('stopped')).toBe('stopped');
    expect(await settled('terminated')).toBe('terminated');
    expect(await settled(null)).toBe('missing');
    expect(sfn).toHaveReceivedCommandTimes(SendTaskSuccessCommand, 3);
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output ?? '')).toEqual({
      resourceId: BUILDER,
      status: 'stopped',
      via: 'check',
    });
  });

  it('refuses a kind it does not wait for, naming the field and the kinds', async () => {
    await expect(awaitEvent({ ...builderWait, kind: 'volume' as AwaitInput['kind'] }, stepContext())).rejects.toMatchObject({
      name: 'RequestInvalid',
      message: expect.stringContaining('"image", "command" or "instance"'),
    });
    expect(dynamodb).not.toHaveReceivedCommand(PutItemCommand);
  });

  it('refuses a payload without its token, naming the field, before registering anything', async () => {
    await expect(awaitEvent({ ...amiWait, taskToken: '' }, stepContext())).rejects.toMatchObject({
      name: 'RequestInvalid',
      message: expect.stringContaining('taskToken'),
    });
    expect(dynamodb).not.toHaveReceivedCommand(PutItemCommand);
  });
});

describe('receiveEvent', () => {
  it('wakes the execution that registered the AMI, then forgets the registration', async () => {
    dynamodb.on(GetItemCommand).resolves(registered('image', AMI));
    const out = await receiveEvent(stateChangeEvent({ kind: 'image', resourceId: AMI }, 'available'), stepContext());
    expect(out.resumed).toContain('execution:bake:one');
    expect(sfn).toHaveReceivedCommandWith(SendTaskSuccessCommand, { taskToken: TOKEN });
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output ?? '')).toEqual({
      resourceId: AMI,
      status: 'available',
      via: 'event',
    });
    expect(dynamodb).toHaveReceivedCommandWith(DeleteItemCommand, {
      ConditionExpression: '#held = :value',
      ExpressionAttributeNames: { '#held': 'task_token' },
      ExpressionAttributeValues: { ':value': { S: 'token-of-the-wait' } },
    });
  });

  it('wakes the execution that registered the builder when EC2 says it stopped', async () => {
    dynamodb.on(GetItemCommand).resolves(registered('instance', BUILDER));
    const out = await receiveEvent(stateChangeEvent({ kind: 'instance', resourceId: BUILDER }, 'stopped'), stepContext());
    expect(out.resumed).toContain('execution:bake:one');
    expect(dynamodb).toHaveReceivedCommandWith(GetItemCommand, { Key: { environment: { S: `wait:${BUILDER}` } } });
    expect(JSON.parse(sfn.commandCalls(SendTaskSuccessCommand)[0].args[0].input.output ?? '')).toEqual({
      resourceId: BUILDER,
      status: 'stopped',
      via: 'event',
    });
    expect(dynamodb).toHaveReceivedCommand(DeleteItemCommand);
  });

  it('resumes nothing for a resource no wait registered (another build, anyone)', async () => {
    dynamodb.on(GetItemCommand).resolves({});
    await expect(receiveEvent(stateChangeEvent({ kind: 'image', resourceId: AMI }, 'available'), stepContext())).resolves.toEqual({
      resumed: null,
    });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('resumes nothing when the event is of another kind than the registered wait', async () => {
    dynamodb.on(GetItemCommand).resolves(registered('command', AMI));
    await expect(receiveEvent(stateChangeEvent({ kind: 'image', resourceId: AMI }, 'available'), stepContext())).resolves.toEqual({
      resumed: null,
    });
    expect(sfn).not.toHaveReceivedCommand(SendTaskSuccessCommand);
  });

  it('ignores events it does not know, and a token whose Task has ended', async () => {
    await expect(
      receiveEvent({ source: 'aws.ec2', 'detail-type': 'EC2 Spot Instance Interruption Warning', detail: {} }, stepContext()),
    ).resolves.toEqual({
      resumed: null,
    });
    expect(dynamodb).not.toHaveReceivedCommand(GetItemCommand);
    dynamodb.on(GetItemCommand).resolves(registered('command', COMMAND));
    sfn.on(SendTaskSuccessCommand).rejects(Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' }));
    const event = stateChangeEvent({ kind: 'command', resourceId: COMMAND, instanceId: 'i-0123456789abcdef0' }, 'Success');
    await expect(receiveEvent(event, stepContext())).resolves.toEqual({ resumed: null });
    expect(dynamodb).toHaveReceivedCommand(DeleteItemCommand);
  });
});
