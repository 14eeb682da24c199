/**
 * The clean-up decisions on their own: which of an environment's AMIs are outdated (never the
 * one latest names, the retainPrevious newest others kept, nothing of another environment or not
 * the pipeline's), and how history is bounded.
 */
import 'aws-sdk-client-mock-jest';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeImagesCommand, DescribeInstancesCommand, EC2Client, type Image } from '@aws-sdk/client-ec2';
import { DeleteParametersCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { cleanUpAndRelease, outdatedImages, pruneHistory } from '../../functions/clean-up/clean-up';
import { parameterPaths } from '../../functions/shared/names';
import type { Published } from '../../functions/shared/state';
import { MANAGED_BY, TAG } from '../../functions/shared/tags';
import { loadDefinition } from '../../scripts/lib/local-runner';
import { buildTags, stateAfterImage, stepContext } from '../support/context';

const ssmMock = mockClient(SSMClient);
const ec2Mock = mockClient(EC2Client);
const dynamodbMock = mockClient(DynamoDBClient);

/** A pipeline AMI of `environment`, created on day `day` of November 2026, with its build number. */
function image(id: string, day: number, { environment = 'dev', buildNumber = day, state = 'available', managed = true } = {}): Image {
  return {
    ImageId: id,
    State: state as Image['State'],
    CreationDate: `2026-11-${String(day).padStart(2, '0')}T12:00:00.000Z`,
    Tags: [
      ...(managed ? [{ Key: TAG.managedBy, Value: MANAGED_BY }] : []),
      { Key: TAG.environment, Value: environment },
      { Key: TAG.buildNumber, Value: String(buildNumber) },
    ],
  };
}

describe('outdatedImages', () => {
  const images = [image('ami-1', 1), image('ami-2', 2), image('ami-3', 3), image('ami-4', 4)];

  it.each([
    [0, ['ami-3', 'ami-2', 'ami-1']],
    [1, ['ami-2', 'ami-1']],
    [2, ['ami-1']],
    [5, []],
  ])('with retainPrevious %i keeps latest and that many newest others', (retainPrevious, outdated) => {
    expect(outdatedImages(images, { environment: 'dev', latest: 'ami-4', retainPrevious })).toEqual(outdated);
  });

  it('never names the AMI latest names, even when it is not the newest (after a rollback)', () => {
    expect(outdatedImages(images, { environment: 'dev', latest: 'ami-2', retainPrevious: 1 })).toEqual(['ami-3', 'ami-1']);
  });

  it("leaves another environment's, a deregistered and a hand-made AMI alone", () => {
    const mixed = [
      ...images,
      image('ami-qa', 5, { environment: 'qa' }),
      image('ami-gone', 5, { state: 'deregistered' }),
      image('ami-hand', 5, { managed: false }),
    ];
    expect(outdatedImages(mixed, { environment: 'dev', latest: 'ami-4', retainPrevious: 0 })).toEqual(['ami-3', 'ami-2', 'ami-1']);
  });

  it('orders AMIs of the same date by build number, then id', () => {
    const sameDay = [image('ami-a', 3, { buildNumber: 7 }), image('ami-b', 3, { buildNumber: 9 }), image('ami-c', 3, { buildNumber: 9 })];
    expect(outdatedImages(sameDay, { environment: 'dev', latest: 'ami-x', retainPrevious: 1 })).toEqual(['ami-b', 'ami-a']);
  });
});

describe('pruneHistory', () => {
  const PREFIX = '/p/dev/history/';
  const entry = (ami: string, day: number) => ({ Name: `${PREFIX}${ami}`, LastModifiedDate: new Date(Date.UTC(2026, 10, day)) });

  beforeEach(() => {
    ssmMock.reset();
    ssmMock.on(DeleteParametersCommand).resolves({});
  });

  it('keeps the newest entries up to the limit and deletes the rest, ten at a time', async () => {
    const entries = Array.from({ length: 15 }, (_, i) => entry(`ami-${String(i + 1).padStart(2, '0')}`, i + 1));

    const pruned = await pruneHistory(new SSMClient({ region: 'us-east-1' }), entries, 3, 'ami-15');

    expect(pruned).toEqual(
      entries
        .slice(0, 12)
        .reverse()
        .map((e) => e.Name),
    );
    expect(ssmMock.commandCalls(DeleteParametersCommand).map((c) => c.args[0].input.Names?.length)).toEqual([10, 2]);
  });

  it("never deletes the current AMI's entry, however old", async () => {
    const entries = [entry('ami-new', 20), entry('ami-current', 1), entry('ami-old', 2)];

    await expect(pruneHistory(new SSMClient({ region: 'us-east-1' }), entries, 1, 'ami-current')).resolves.toEqual([`${PREFIX}ami-old`]);
  });
});

describe('cleanUpAndRelease', () => {
  const AMI = 'ami-00000000000000002';
  const state = stateAfterImage({ published: { amiId: AMI, metadata: {} as Published['metadata'] } });
  const failure = (name: string) => Object.assign(new Error(name), { name, $metadata: {} });

  beforeEach(() => {
    for (const mock of [ssmMock, ec2Mock, dynamodbMock]) mock.reset();
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: AMI, State: 'available', Tags: buildTags(state) }] });
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    // latest names another AMI: nothing to remove, the release is what is left.
    const latest = parameterPaths(stepContext().config, 'dev').latest;
    ssmMock.on(GetParametersByPathCommand).resolves({ Parameters: [{ Name: latest, Value: 'ami-0000000000000other' }] });
  });

  it('frees the environment last, only while this execution holds it', async () => {
    dynamodbMock.on(UpdateItemCommand).resolves({});

    await expect(cleanUpAndRelease(state, stepContext())).resolves.toMatchObject({ lockReleased: true });
    expect(dynamodbMock).toHaveReceivedCommandWith(UpdateItemCommand, {
      Key: { environment: { S: 'dev' } },
      ConditionExpression: 'holder = :me',
      ExpressionAttributeValues: { ':me': { S: state.execution.name } },
    });
  });

  it('does not fail the published build when the release is refused: the next build takes the lock over', async () => {
    dynamodbMock.on(UpdateItemCommand).rejects(failure('AccessDeniedException'));
    await expect(cleanUpAndRelease(state, stepContext())).resolves.toMatchObject({ lockReleased: false, terminated: [] });
  });

  it('fails a throttled release with LockNotReleased, which the state machine retries and then lets pass to the success', async () => {
    dynamodbMock.on(UpdateItemCommand).rejects(failure('ThrottlingException'));
    await expect(cleanUpAndRelease(state, stepContext())).rejects.toMatchObject({ name: 'LockNotReleased' });
    const cleanUpState = loadDefinition().States['Clean up'] as unknown as { Retry: { ErrorEquals: string[] }[]; Catch: unknown[] };
    expect(cleanUpState.Retry[0].ErrorEquals).toEqual(['LockNotReleased']);
    expect(cleanUpState.Catch[0]).toEqual({ ErrorEquals: ['LockNotReleased'], ResultPath: '$.releaseError', Next: 'Announce the success' });
  });
});
