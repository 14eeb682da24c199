import type { BuildMode, BuildState } from '../shared/state';
import type { StepTiming } from './step-timings';

export const BUILD_EVENT_SOURCE = 'comfyui.ami';

export type BuildResult = 'succeeded' | 'failed' | 'superseded';

export const DETAIL_TYPES: Record<BuildResult, string> = {
  succeeded: 'AMI Build Succeeded',
  failed: 'AMI Build Failed',
  superseded: 'AMI Build Superseded',
};

/** What each terminal path of the ASL hands to "Announce the ..." (its Parameters). */
export interface AnnounceInput {
  result: BuildResult;
  state: BuildState;
}

/** The event's detail: a contract for rules and consumers, keys may be added, never removed. */
export interface BuildEventDetail {
  result: BuildResult;
  environment: string;
  /** The AMI `latest` names because of this build; null when the build published nothing. */
  ami_id: string | null;
  /** What `latest` named when the build started (null before the base was resolved, or for a first build). */
  previous_ami_id: string | null;
  image_uri: string;
  digest: string;
  tag: string | null;
  /** fresh | incremental | migration | rollback; null when the build ended before choosing. */
  mode: BuildMode | null;
  requested_by: string;
  source: string;
  execution_id: string;
  execution_name: string;
  build_id: string;
  started_at: string;
  finished_at: string;
  duration_seconds: number;
  /** Per Task state from the execution history; null where there is none (a local run). */
  steps: StepTiming[] | null;
  /** The failed step's error and a short cause; null unless the build failed. */
  error: { error: string; cause: string } | null;
  /** The newer request that won the environment; null unless superseded. */
  superseded_by: string | null;
}

const CAUSE_LIMIT = 500;

/** A Lambda's Cause is JSON with errorMessage (and a stack trace nobody wants in an e-mail). */
export function shortCause(cause: string | undefined): string {
  const text = cause ?? '';
  let message = text;
  try {
    const parsed = JSON.parse(text) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // Not JSON: the cause as the state machine recorded it.
  }
  return message.length > CAUSE_LIMIT ? `${message.slice(0, CAUSE_LIMIT - 1)}…` : message;
}

export function buildEventDetail(input: AnnounceInput, now: Date, steps: StepTiming[] | null): BuildEventDetail {
  const { result, state } = input;
  const request = state.request;
  if (!request) throw new Error('state.request is missing: only a normalized request reaches an announcement');
  const startedMs = new Date(state.execution.startTime).getTime();
  return {
    result,
    environment: request.environment,
    ami_id: result === 'succeeded' ? (state.published?.amiId ?? null) : null,
    previous_ami_id: state.base?.previousAmiId ?? null,
    image_uri: request.imageUri,
    digest: request.digest,
    tag: request.tag,
    mode: state.base?.mode ?? null,
    requested_by: request.requestedBy,
    source: request.source,
    execution_id: state.execution.id,
    execution_name: state.execution.name,
    build_id: state.execution.buildId,
    started_at: state.execution.startTime,
    finished_at: now.toISOString(),
    duration_seconds: Number.isFinite(startedMs) ? Math.max(0, Math.round((now.getTime() - startedMs) / 1000)) : 0,
    steps,
    error: result === 'failed' && state.error ? { error: state.error.Error, cause: shortCause(state.error.Cause) } : null,
    superseded_by: result === 'superseded' ? (state.lock?.other ?? null) : null,
  };
}
