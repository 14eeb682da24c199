import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  GetExecutionHistoryCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import type { PipelineConfig } from '../shared/config';
import { environmentsForTag } from '../shared/config-values';
import { BuildNotFound } from '../shared/errors';
import { executionNameOf } from '../shared/execution-name';
import { parseJsonObject } from '../shared/json';

export interface BuildStatus {
  executionName: string;
  executionArn: string;
  /**
   * RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE; SUPERSEDED when the
   * execution ended without baking because a newer image of the environment is being built.
   */
  status: string;
  supersededBy?: string;
  environment: string | null;
  /** While RUNNING: the state the execution entered last. */
  currentStep?: string;
  amiId?: string;
  error?: string;
  cause?: string;
  startDate?: string;
  stopDate?: string;
  redriveCount?: number;
}

/** The environment a build is for: stated by the input, or derived from a pushed tag. */
function environmentOf(input: Record<string, unknown> | null, config: PipelineConfig): string | null {
  if (!input) return null;
  if (typeof input.environment === 'string') return input.environment;
  // An ECR push names its repository and tag; read without the request schema (no zod in this bundle).
  const detail = input.detail as Record<string, unknown> | undefined;
  const repository = detail?.['repository-name'];
  const tag = detail?.['image-tag'];
  if (typeof repository !== 'string' || typeof tag !== 'string') return null;
  const environments = environmentsForTag(config, repository, tag);
  return environments.length === 1 ? environments[0] : null;
}

/** A Lambda error's cause is JSON with a stack trace; its message is what a caller needs. */
export function readableCause(cause: string | undefined): string | undefined {
  const parsed = parseJsonObject(cause);
  return typeof parsed?.errorMessage === 'string' ? parsed.errorMessage : cause;
}

export const MAX_REASON_CHARS = 200;

/**
 * What an API caller learns of a failure: the first line of its message, without the command
 * output some errors carry (the builder's log may print anything; it stays in the command log
 * group and the execution history, behind their own IAM permissions).
 */
export function failureReason(cause: string | undefined): string | undefined {
  const message = readableCause(cause);
  if (message === undefined) return undefined;
  const line = message
    .replace(/[;,]?\s*last output:[\s\S]*$/i, '')
    .split('\n')[0]
    .trim();
  return line.length > MAX_REASON_CHARS ? `${line.slice(0, MAX_REASON_CHARS - 1)}…` : line;
}

/** The state a running execution entered last, from the newest events of its history. */
async function currentStepOf(sfn: SFNClient, executionArn: string): Promise<string | undefined> {
  const out = await sfn.send(
    new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 25, includeExecutionData: false }),
  );
  const events = [...(out.events ?? [])].sort((a, b) => (b.id ?? 0) - (a.id ?? 0));
  return events.find((e) => e.stateEnteredEventDetails?.name)?.stateEnteredEventDetails?.name;
}

/** One execution summed up: its status, environment, and the AMI or the failure. */
export async function describeBuild(sfn: SFNClient, executionArn: string, config: PipelineConfig): Promise<BuildStatus> {
  let out: DescribeExecutionCommandOutput;
  try {
    out = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if ((error as Error).name === 'ExecutionDoesNotExist')
      throw new BuildNotFound(`no build ${executionNameOf(executionArn)} (${executionArn})`);
    throw error;
  }
  const output = parseJsonObject(out.output);
  const status: BuildStatus = {
    executionName: out.name ?? executionNameOf(executionArn),
    executionArn: out.executionArn ?? executionArn,
    status: out.status === 'SUCCEEDED' && output?.status === 'SUPERSEDED' ? 'SUPERSEDED' : (out.status ?? 'UNKNOWN'),
    environment: typeof output?.environment === 'string' ? output.environment : environmentOf(parseJsonObject(out.input), config),
  };
  if (status.status === 'RUNNING') {
    const step = await currentStepOf(sfn, executionArn);
    if (step) status.currentStep = step;
  }
  if (typeof output?.amiId === 'string') status.amiId = output.amiId;
  if (status.status === 'SUPERSEDED' && output?.supersededBy !== undefined) status.supersededBy = String(output.supersededBy);
  if (out.error) status.error = out.error;
  if (out.cause) status.cause = readableCause(out.cause);
  if (out.startDate) status.startDate = out.startDate.toISOString();
  if (out.stopDate) status.stopDate = out.stopDate.toISOString();
  if (out.redriveCount) status.redriveCount = out.redriveCount;
  return status;
}
