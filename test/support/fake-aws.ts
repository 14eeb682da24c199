/**
 * Small stateful stand-ins for the EC2 and SSM calls roll back and clean up make, behind
 * aws-sdk-client-mock, for what moto cannot do: refuse one chosen call while the others work.
 */
import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeFastSnapshotRestoresCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DisableFastSnapshotRestoresCommand,
  type EC2Client,
  EnableFastSnapshotRestoresCommand,
  type Filter,
  StopInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  DeleteParameterCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { AwsClientStub } from 'aws-sdk-client-mock';

type Tags = { Key: string; Value: string }[];

export function awsError(name: string, status = 400): Error {
  return Object.assign(new Error(`${name} (injected)`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

export interface FakeInstance {
  id: string;
  state: string;
  tags: Tags;
}
export interface FakeImage {
  id: string;
  state: string;
  tags: Tags;
  snapshots: string[];
}
export interface FakeSnapshot {
  id: string;
  tags: Tags;
}

/** `action` or `action:resource` -> the error that call gets. */
export type Faults = Map<string, Error>;

function matches(tags: Tags, filters: Filter[] | undefined, extra: Record<string, string>): boolean {
  return (filters ?? []).every((f) => {
    const value = f.Name?.startsWith('tag:') ? tags.find((t) => t.Key === f.Name?.slice(4))?.Value : extra[f.Name ?? ''];
    return value !== undefined && (f.Values ?? []).includes(value);
  });
}

export function fakeEc2(
  stub: AwsClientStub<EC2Client>,
  world: { instances: FakeInstance[]; images: FakeImage[]; snapshots: FakeSnapshot[]; fastRestores?: Map<string, Set<string>> },
  faults: Faults = new Map(),
) {
  // Fast snapshot restore: snapshot -> zones where it is enabled. Deleting a snapshot ends it, as in EC2.
  const fastRestores = world.fastRestores ?? new Map<string, Set<string>>();
  world.fastRestores = fastRestores;
  const fault = (action: string, id: string) => faults.get(`${action}:${id}`) ?? faults.get(action);
  stub.on(DescribeInstancesCommand).callsFake((input: { InstanceIds?: string[]; Filters?: Filter[] }) => {
    const found = world.instances.filter((i) =>
      input.InstanceIds ? input.InstanceIds.includes(i.id) : matches(i.tags, input.Filters, { 'instance-state-name': i.state }),
    );
    if (input.InstanceIds && found.length === 0) throw awsError('InvalidInstanceID.NotFound');
    return { Reservations: found.map((i) => ({ Instances: [{ InstanceId: i.id, State: { Name: i.state as never }, Tags: i.tags }] })) };
  });
  stub.on(DescribeImagesCommand).callsFake((input: { ImageIds?: string[]; Filters?: Filter[] }) => {
    const live = world.images.filter((i) => i.state !== 'deregistered');
    const found = live.filter((i) => (input.ImageIds ? input.ImageIds.includes(i.id) : matches(i.tags, input.Filters, { name: i.id })));
    if (input.ImageIds && found.length === 0) throw awsError('InvalidAMIID.NotFound');
    return {
      Images: found.map((i) => ({
        ImageId: i.id,
        State: i.state as never,
        Tags: i.tags,
        BlockDeviceMappings: i.snapshots.map((s) => ({ Ebs: { SnapshotId: s } })),
      })),
    };
  });
  stub.on(DescribeSnapshotsCommand).callsFake((input: { Filters?: Filter[] }) => ({
    Snapshots: world.snapshots
      .filter((s) => matches(s.tags, input.Filters, { 'snapshot-id': s.id }))
      .map((s) => ({ SnapshotId: s.id, Tags: s.tags })),
  }));
  stub.on(DescribeFastSnapshotRestoresCommand).callsFake((input: { Filters?: Filter[] }) => {
    const wanted = (name: string) => input.Filters?.find((f) => f.Name === name)?.Values;
    const ids = wanted('snapshot-id');
    return {
      FastSnapshotRestores: [...fastRestores].flatMap(([id, zones]) =>
        ids && !ids.includes(id) ? [] : [...zones].map((zone) => ({ SnapshotId: id, AvailabilityZone: zone, State: 'enabled' as const })),
      ),
    };
  });
  for (const [Command, enable] of [
    [EnableFastSnapshotRestoresCommand, true],
    [DisableFastSnapshotRestoresCommand, false],
  ] as const) {
    stub.on(Command).callsFake((input: { SourceSnapshotIds: string[]; AvailabilityZones: string[] }) => {
      const error = fault(enable ? 'EnableFastSnapshotRestores' : 'DisableFastSnapshotRestores', input.SourceSnapshotIds[0]);
      if (error) throw error;
      for (const id of input.SourceSnapshotIds) {
        const zones = fastRestores.get(id) ?? new Set<string>();
        for (const zone of input.AvailabilityZones) enable ? zones.add(zone) : zones.delete(zone);
        if (zones.size > 0) fastRestores.set(id, zones);
        else fastRestores.delete(id);
      }
      return { Successful: [], Unsuccessful: [] };
    });
  }
  for (const [Command, action, to] of [
    [TerminateInstancesCommand, 'TerminateInstances', 'terminated'],
    [StopInstancesCommand, 'StopInstances', 'stopped'],
  ] as const) {
    stub.on(Command).callsFake((input: { InstanceIds: string[] }) => {
      for (const id of input.InstanceIds) {
        const error = fault(action, id);
        if (error) throw error;
        const instance = world.instances.find((i) => i.id === id);
        if (!instance) throw awsError('InvalidInstanceID.NotFound');
        instance.state = to;
      }
      return {};
    });
  }
  stub.on(DeregisterImageCommand).callsFake((input: { ImageId: string }) => {
    const error = fault('DeregisterImage', input.ImageId);
    if (error) throw error;
    const image = world.images.find((i) => i.id === input.ImageId && i.state !== 'deregistered');
    if (!image) throw awsError('InvalidAMIID.NotFound');
    image.state = 'deregistered';
    return {};
  });
  stub.on(DeleteSnapshotCommand).callsFake((input: { SnapshotId: string }) => {
    const error = fault('DeleteSnapshot', input.SnapshotId);
    if (error) throw error;
    if (world.images.some((i) => i.state !== 'deregistered' && i.snapshots.includes(input.SnapshotId)))
      throw awsError('InvalidSnapshot.InUse');
    const index = world.snapshots.findIndex((s) => s.id === input.SnapshotId);
    if (index < 0) throw awsError('InvalidSnapshot.NotFound');
    world.snapshots.splice(index, 1);
    fastRestores.delete(input.SnapshotId);
    return {};
  });
  return world;
}

export interface FakeParameter {
  versions: string[];
  modified: Date;
}

export function fakeSsm(stub: AwsClientStub<SSMClient>, parameters: Map<string, FakeParameter>, faults: Faults = new Map()) {
  const fault = (action: string, name: string) => faults.get(`${action}:${name}`) ?? faults.get(action);
  const notFound = () => awsError('ParameterNotFound');
  stub.on(GetParameterCommand).callsFake((input: { Name: string }) => {
    const error = fault('GetParameter', input.Name);
    if (error) throw error;
    const p = parameters.get(input.Name);
    if (!p) throw notFound();
    return { Parameter: { Name: input.Name, Value: p.versions.at(-1), LastModifiedDate: p.modified, Version: p.versions.length } };
  });
  stub.on(GetParametersByPathCommand).callsFake((input: { Path: string; Recursive?: boolean }) => {
    const error = fault('GetParametersByPath', input.Path);
    if (error) throw error;
    const prefix = `${input.Path.replace(/\/$/, '')}/`;
    const names = [...parameters.keys()].filter((n) => n.startsWith(prefix) && (input.Recursive || !n.slice(prefix.length).includes('/')));
    return {
      Parameters: names.map((Name) => {
        const p = parameters.get(Name) as FakeParameter;
        return { Name, Value: p.versions.at(-1), LastModifiedDate: p.modified, Version: p.versions.length };
      }),
    };
  });
  stub.on(GetParameterHistoryCommand).callsFake((input: { Name: string }) => {
    const p = parameters.get(input.Name);
    if (!p) throw notFound();
    return { Parameters: p.versions.map((Value, i) => ({ Name: input.Name, Value, Version: i + 1 })) };
  });
  stub.on(PutParameterCommand).callsFake((input: { Name: string; Value: string }) => {
    const error = fault('PutParameter', input.Name);
    if (error) throw error;
    const p = parameters.get(input.Name) ?? { versions: [], modified: new Date() };
    p.versions.push(input.Value);
    p.modified = new Date();
    parameters.set(input.Name, p);
    return { Version: p.versions.length };
  });
  stub.on(DeleteParameterCommand).callsFake((input: { Name: string }) => {
    const error = fault('DeleteParameter', input.Name);
    if (error) throw error;
    if (!parameters.delete(input.Name)) throw notFound();
    return {};
  });
  return parameters;
}

/** Current values only, for assertions. */
export function values(parameters: Map<string, FakeParameter>): Record<string, string> {
  return Object.fromEntries([...parameters.entries()].map(([name, p]) => [name, p.versions.at(-1) ?? '']));
}
