import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { normalizeRequest } from '../normalize-request/normalize-request';
import { executionArnFor, executionName, requestDiscriminator } from '../shared/execution-name';
import type { StepContext } from '../shared/handler';

export interface StartBuildDeps extends StepContext {
  stateMachineArn: string;
}

export interface StartedBuild {
  executionArn: string;
  executionName: string;
  environment: string;
  imageUri: string;
  /** True when this very request (the same ECR event) had started an execution already: nothing new started. */
  alreadyStarted: boolean;
}

/**
 * The one way a build starts, whatever the trigger: validate the input and pin its image to a
 * digest (nothing starts on a bad request or a missing image), then start the execution named
 * after (environment, digest, request) with the input as given; the state machine normalizes it
 * again. Redeliveries of one ECR event start one build; every other request starts its own.
 */
export async function startBuild(input: unknown, deps: StartBuildDeps): Promise<StartedBuild> {
  const request = await normalizeRequest({ input, execution: { name: '', id: '', startTime: new Date().toISOString(), buildId: '' } }, deps);
  const name = executionName(request.environment, request.digest, requestDiscriminator(input));
  const started = { executionName: name, environment: request.environment, imageUri: request.imageUri };
  try {
    const out = await deps.clients.sfn.send(new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input: JSON.stringify(input) }));
    deps.logger.info('build started', { executionArn: out.executionArn, ...started });
    return { ...started, executionArn: out.executionArn ?? executionArnFor(deps.stateMachineArn, name), alreadyStarted: false };
  } catch (error) {
    // A redelivery of the same ECR event: already started.
    if ((error as Error).name !== 'ExecutionAlreadyExists') throw error;
    const executionArn = executionArnFor(deps.stateMachineArn, name);
    deps.logger.info('build already started for this event', { executionArn, ...started });
    return { ...started, executionArn, alreadyStarted: true };
  }
}
