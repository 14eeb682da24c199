/**
 * The clean-up decisions on their own: which of an environment's AMIs are outdated (never the
 * one latest names, the retainPrevious newest others kept, nothing of another environment or not
 * the pipeline's), and how history is bounded.
 */
import 'aws-sdk-client-mock-jest';
import type { Image } from '@aws-sdk/client-ec2';
import { DeleteParametersCommand, GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { outdatedImages, pruneHistory } from '../../functions/clean-up/clean-up';
import { MANAGED_BY, TAG } from '../../functions/shared/tags';

const ssmMock = mockClient(SSMClient);

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
    ssmMock.on(GetParametersByPathCommand).resolves({ Parameters: entries });

    const pruned = await pruneHistory(new SSMClient({ region: 'us-east-1' }), PREFIX, 3, 'ami-15');

    expect(pruned).toEqual(
      entries
        .slice(0, 12)
        .reverse()
        .map((e) => e.Name),
    );
    expect(ssmMock.commandCalls(DeleteParametersCommand).map((c) => c.args[0].input.Names?.length)).toEqual([10, 2]);
  });

  it("never deletes the current AMI's entry, however old", async () => {
    ssmMock.on(GetParametersByPathCommand).resolves({ Parameters: [entry('ami-new', 20), entry('ami-current', 1), entry('ami-old', 2)] });

    await expect(pruneHistory(new SSMClient({ region: 'us-east-1' }), PREFIX, 1, 'ami-current')).resolves.toEqual([`${PREFIX}ami-old`]);
  });
});
