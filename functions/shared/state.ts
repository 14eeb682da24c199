/**
 * The execution's state as it flows through the ASL: each Task receives the whole state and
 * its result is stored under one key (its ResultPath). Types here mirror statemachine/*.asl.json.
 */
export type RequestSource = 'ecr-push' | 'console' | 'api' | 'cli';

export interface ExecutionInfo {
  name: string;
  id: string;
  startTime: string;
  /**
   * A random id drawn once per execution (States.UUID() in the first state): unlike the name,
   * it never repeats, so resources tagged with it belong to this build and no other.
   */
  buildId: string;
}

export interface BuildRequest {
  environment: string;
  repository: string;
  /** `<registry>/<repository>@sha256:<64 hex>`: what the builder pulls and the metadata records. */
  imageUri: string;
  digest: string;
  tag: string | null;
  branch: string;
  commitSha: string;
  source: RequestSource;
  requestedAt: string;
  /** The environment's verify.enabled: "Should the AMI be verified?" skips the stage only when false. */
  verify?: boolean;
  /**
   * Who asked: the IAM principal the start function recorded for an API request, else what is
   * known without it (see shared/requester.ts). Never taken from the execution input.
   */
  requestedBy: string;
  /**
   * A rollback's target: an AMI of this environment's history to re-point `latest` to (or, when
   * it is gone, whose recorded digest to rebuild). null for every other request.
   */
  rollbackTo?: string | null;
}

/** `rollback`: no AMI is made; `latest` is re-pointed to a retained AMI of the environment. */
export type BuildMode = 'fresh' | 'incremental' | 'migration' | 'rollback';

export interface BaseAmi {
  mode: BuildMode;
  baseAmiId: string;
  /** The AMI `latest` named when the build started; removed after a successful publish. */
  previousAmiId: string | null;
  buildNumber: number;
  amiName: string;
  /** The base's root device as Resolve read it, so the launch needs no second DescribeImages; absent in states written before. */
  root?: BaseRoot;
}

export interface BaseRoot {
  deviceName: string;
  /** 0 when EC2 did not say. */
  sizeGiB: number;
}

export interface Builder {
  instanceId: string;
  /** The launch choice that had capacity (launch.ts); absent in states written before it was recorded. */
  instanceType?: string;
  subnetId?: string;
  market?: 'spot' | 'on-demand';
}

export interface UpdateCommand {
  commandId: string;
  documentName: string;
}

export interface PollResult {
  done: boolean;
  attempt: number;
  status: string;
}

/** A check of the update command; once it succeeded, what the builder's pull fetched (when it said). */
export interface UpdateStatus extends PollResult {
  pulledBytes?: number | null;
  pulledLayers?: number;
  presentLayers?: number;
}

export interface CreatedImage {
  amiId: string;
  name: string;
}

export interface TestInstance {
  instanceId: string;
  /** The AMI it booted: the one "Publish the AMI" will publish. */
  amiId: string;
  /** The launch choice that had capacity. */
  instanceType?: string;
  subnetId?: string;
}

export interface HealthCheckCommand {
  commandId: string;
  documentName: string;
}

export interface Published {
  amiId: string;
  metadata: AmiMetadata;
  /** The new AMI's snapshots and the zones whose fast snapshot restore this build enabled (absent when off). */
  fastSnapshotRestore?: { snapshotIds: string[]; availabilityZones: string[] };
}

export interface StepError {
  Error: string;
  Cause: string;
}

export interface LockStatus {
  status: 'acquired' | 'waiting' | 'superseded';
  attempt: number;
  /** The execution holding the lock (waiting) or the newer request (superseded). */
  other: string | null;
}

export interface BuildState {
  input?: unknown;
  execution: ExecutionInfo;
  request?: BuildRequest;
  lock?: LockStatus;
  base?: BaseAmi;
  builder?: Builder;
  update?: UpdateCommand;
  updateStatus?: UpdateStatus;
  stop?: PollResult;
  image?: CreatedImage;
  imageStatus?: PollResult;
  testInstance?: TestInstance;
  healthCheck?: HealthCheckCommand;
  healthCheckStatus?: PollResult;
  published?: Published;
  cleanup?: unknown;
  error?: StepError;
}

/** The contract consumers read from `metadata` and `history/{ami-id}`; keys may be added, never removed. */
export interface AmiMetadata {
  ami_id: string;
  docker_image: string;
  environment: string;
  creation_date: string;
  branch: string;
  commit_sha: string;
  region: string;
  workflow_run_id: string;
  workflow_run_number: string;
  ami_name: string;
  docker_digest: string;
  docker_tag: string | null;
  build_mode: BuildMode;
  base_ami_id: string;
  previous_ami_id: string | null;
  source: RequestSource;
  execution_id: string;
  /** BuildRequest.requestedBy: the caller's IAM principal, or how the build was started when it is not recorded. */
  requested_by: string;
  /** The build id its resources are tagged with (never repeats, unlike workflow_run_id). */
  build_id: string;
}

/** Reads a key a previous state must have set; a missing one is a wiring bug, named as such. */
export function need<K extends keyof BuildState>(state: BuildState, key: K): NonNullable<BuildState[K]> {
  const value = state[key];
  if (value === undefined || value === null)
    throw new Error(`state.${String(key)} is missing: the state machine did not run the step that sets it`);
  return value as NonNullable<BuildState[K]>;
}
