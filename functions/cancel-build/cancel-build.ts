import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SFNClient } from '@aws-sdk/client-sfn';
import { describeBuild } from '../build-status/build-status';
import { requestCancel } from '../shared/cancellation';
import type { PipelineConfig } from '../shared/config';
import { BuildNotFound, CancelRefused } from '../shared/errors';

export interface CancelBuildDeps {
  sfn: SFNClient;
  dynamodb: DynamoDBClient;
  config: PipelineConfig;
}

export interface CancelledBuild {
  executionName: string;
  executionArn: string;
  environment: string;
  /** The state the build was in when the cancel was recorded. */
  currentStep: string | null;
  requestedBy: string;
}

/**
 * Records a cancel of a running build: it fails with BuildCancelled before it makes anything
 * more and rolls back (shared/cancellation.ts). Refused for a build that has ended or has started to
 * publish. `environment`, when given, is the one the caller may act on: a build of another is
 * reported as not found, so a caller learns nothing of other environments' builds.
 */
export async function cancelBuild(
  executionArn: string,
  requestedBy: string,
  { sfn, dynamodb, config }: CancelBuildDeps,
  environment?: string,
): Promise<CancelledBuild> {
  const status = await describeBuild(sfn, executionArn, config);
  if (environment !== undefined && status.environment !== environment)
    throw new BuildNotFound(`no build ${status.executionName} in environment ${environment}`);
  if (status.status !== 'RUNNING')
    throw new CancelRefused(`build ${status.executionName} has ended (${status.status}): there is nothing to cancel`);
  if (!status.environment)
    throw new CancelRefused(`build ${status.executionName} names no configured environment: it ends at "Normalize the request" on its own`);
  await requestCancel(dynamodb, config, {
    executionName: status.executionName,
    executionId: status.executionArn,
    environment: status.environment,
    requestedBy,
  });
  return {
    executionName: status.executionName,
    executionArn: status.executionArn,
    environment: status.environment,
    currentStep: status.currentStep ?? null,
    requestedBy,
  };
}
