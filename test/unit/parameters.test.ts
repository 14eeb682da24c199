/**
 * The parameter helpers on their own: reading a missing parameter, and putting back only what a
 * build wrote, to the newest value before it (or deleting what it created).
 */
import 'aws-sdk-client-mock-jest';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  ParameterNotFound,
  PutParameterCommand,
  SSMClient,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import {
  deleteParameter,
  getJsonParameter,
  getParameterValue,
  undoHistory,
  undoLatest,
  undoMetadata,
  undoPublish,
  undoRepoint,
} from '../../functions/shared/parameters';

const ssmMock = mockClient(SSMClient);
const ssm = new SSMClient({ region: 'us-east-1' });

const PATHS = { latest: '/p/dev/latest', metadata: '/p/dev/metadata', history: (ami: string) => `/p/dev/history/${ami}` };
const OLD = 'ami-0000000000000000a';
const NEW = 'ami-0000000000000000b';
const metadata = (ami: string) => JSON.stringify({ ami_id: ami, environment: 'dev' });
const notFound = () => new ParameterNotFound({ message: 'not found', $metadata: {} });

/** A parameter whose versions are `history` (oldest first), the last one being its value. */
function parameter(name: string, history: string[]): void {
  ssmMock.on(GetParameterCommand, { Name: name }).resolves({ Parameter: { Name: name, Value: history.at(-1) } });
  ssmMock.on(GetParameterHistoryCommand, { Name: name }).resolves({ Parameters: history.map((Value) => ({ Name: name, Value })) });
}

beforeEach(() => {
  ssmMock.reset();
  ssmMock.on(GetParameterCommand).rejects(notFound());
  ssmMock.on(DeleteParameterCommand).resolves({});
  ssmMock.on(PutParameterCommand).resolves({ Version: 2 });
});

describe('reading', () => {
  it('answers null for a parameter that does not exist, and lets other errors through', async () => {
    await expect(getParameterValue(ssm, '/p/none')).resolves.toBeNull();
    ssmMock.on(GetParameterCommand, { Name: '/p/denied' }).rejects(Object.assign(new Error('no'), { name: 'AccessDeniedException' }));
    await expect(getParameterValue(ssm, '/p/denied')).rejects.toMatchObject({ name: 'AccessDeniedException' });
  });

  it('parses a JSON object, and answers null for text that is not one', async () => {
    parameter('/p/json', ['{"a": 1}']);
    parameter('/p/array', ['[1]']);
    parameter('/p/text', ['ami-1']);
    await expect(getJsonParameter(ssm, '/p/json')).resolves.toEqual({ a: 1 });
    await expect(getJsonParameter(ssm, '/p/array')).resolves.toBeNull();
    await expect(getJsonParameter(ssm, '/p/text')).resolves.toBeNull();
    await expect(getJsonParameter(ssm, '/p/none')).resolves.toBeNull();
  });

  it('counts a parameter already gone as not deleted', async () => {
    await expect(deleteParameter(ssm, '/p/x')).resolves.toBe(true);
    ssmMock.on(DeleteParameterCommand).rejects(notFound());
    await expect(deleteParameter(ssm, '/p/x')).resolves.toBe(false);
  });
});

describe('undoing a publish', () => {
  it('puts latest back to the newest value before this build, as an aws:ec2:image', async () => {
    parameter(PATHS.latest, [OLD, NEW]);

    await expect(undoLatest(ssm, PATHS, NEW)).resolves.toBe(`restored ${PATHS.latest}`);

    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, {
      Name: PATHS.latest,
      Value: OLD,
      DataType: 'aws:ec2:image',
      Overwrite: true,
    });
  });

  it('skips every version this build wrote (a retried publish writes twice)', async () => {
    parameter(PATHS.metadata, [metadata(OLD), metadata(NEW), metadata(NEW)]);

    await expect(undoMetadata(ssm, PATHS, NEW)).resolves.toBe(`restored ${PATHS.metadata}`);

    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, { Name: PATHS.metadata, Value: metadata(OLD) });
  });

  it('deletes a parameter the build created (no earlier version)', async () => {
    parameter(PATHS.latest, [NEW]);

    await expect(undoLatest(ssm, PATHS, NEW)).resolves.toBe(`deleted ${PATHS.latest}`);

    expect(ssmMock).toHaveReceivedCommandWith(DeleteParameterCommand, { Name: PATHS.latest });
    expect(ssmMock).not.toHaveReceivedCommand(PutParameterCommand);
  });

  it('leaves alone a parameter that names another AMI, or does not exist', async () => {
    parameter(PATHS.latest, [NEW, OLD]);

    await expect(undoLatest(ssm, PATHS, NEW)).resolves.toBeNull();
    await expect(undoMetadata(ssm, PATHS, NEW)).resolves.toBeNull();

    expect(ssmMock).not.toHaveReceivedCommand(PutParameterCommand);
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
  });

  it('undoes latest, then metadata, then the history entry, naming each', async () => {
    parameter(PATHS.latest, [OLD, NEW]);
    parameter(PATHS.metadata, [metadata(OLD), metadata(NEW)]);

    await expect(undoPublish(ssm, PATHS, NEW)).resolves.toEqual([
      `restored ${PATHS.latest}`,
      `restored ${PATHS.metadata}`,
      `deleted ${PATHS.history(NEW)}`,
    ]);
    const order = ssmMock.calls().map((call) => (call.args[0].input as { Name?: string }).Name);
    expect(order.lastIndexOf(PATHS.latest)).toBeLessThan(order.indexOf(PATHS.metadata));
    expect(order.lastIndexOf(PATHS.metadata)).toBeLessThan(order.indexOf(PATHS.history(NEW)));
  });

  it('says nothing of a history entry already gone', async () => {
    ssmMock.on(DeleteParameterCommand).rejects(notFound());
    await expect(undoHistory(ssm, PATHS, NEW)).resolves.toBeNull();
  });

  it("undoes a rollback's re-point without touching the target's history entry", async () => {
    parameter(PATHS.latest, [NEW, OLD]);
    parameter(PATHS.metadata, [metadata(NEW), metadata(OLD)]);

    await expect(undoRepoint(ssm, PATHS, OLD)).resolves.toEqual([`restored ${PATHS.latest}`, `restored ${PATHS.metadata}`]);

    expect(ssmMock).toHaveReceivedCommandWith(PutParameterCommand, { Name: PATHS.latest, Value: NEW });
    expect(ssmMock).not.toHaveReceivedCommand(DeleteParameterCommand);
  });
});
