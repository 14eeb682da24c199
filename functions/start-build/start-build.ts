import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { resolveRequest } from '../normalize-request/normalize-request';
import { executionArnFor, executionName, requestDiscriminator } from '../shared/execution-name';
import type { StarterContext } from '../shared/handler';
import type { RequesterRecord } from '../shared/requester';

/** What starting a build takes: ECR and SSM to check the request, Step Functions to start it. */
export type StartDeps = StarterContext<'ecr' | 'ssm' | 'sfn'>;

/** The start function's (its routes and the ECR push): the API's build routes also record the caller, in DynamoDB. */
export type StartBuildDeps = StarterContext<'ecr' | 'ssm' | 'sfn' | 'dynamodb'>;

export interface StartedBuild {
  executionArn: string;
  executionName: string;
  environment: string;
  imageUri: string;
  /** True when this very request (the same ECR event) had started an execution already: nothing new started. */
  alreadyStarted: boolean;
}

/**
 * The one way a build starts, whatever the trigger: validate the input, pin its image to a
 * digest and check that it belongs to the environment (nothing starts otherwise), then start
 * the execution named after (environment, digest, request) with the input as given; the state machine
 * checks it again. Redeliveries of one ECR event start one build; every other request its own. `requester`, the caller's IAM principal when API Gateway verified one, is
 * recorded for the execution before it starts (shared/requester.ts), never put in its input.
 */
export async function startBuild(input: unknown, deps: StartDeps, requester?: RequesterRecord): Promise<StartedBuild> {
  const request = await resolveRequest(input, new Date().toISOString(), deps);
  const name = executionName(request.environment, request.digest, requestDiscriminator(input));
  const started = { executionName: name, environment: request.environment, imageUri: request.imageUri };
  const logged = { ...started, requestedBy: requester?.requestedBy ?? null, grounds: request.grounds };
  const recorded = requester !== undefined && (await requester.record(name));
  try {
    const out = await deps.clients.sfn.send(
      new StartExecutionCommand({ stateMachineArn: deps.stateMachineArn, name, input: JSON.stringify(input) }),
    );
    deps.logger.info('build started', { executionArn: out.executionArn, ...logged });
    return { ...started, executionArn: out.executionArn ?? executionArnFor(deps.stateMachineArn, name), alreadyStarted: false };
  } catch (error) {
    // This caller started nothing: its record must not name an execution someone else started.
    if (recorded) await requester.forget(name);
    // A redelivery of the same ECR event: already started.
    if ((error as Error).name !== 'ExecutionAlreadyExists') throw error;
    const executionArn = executionArnFor(deps.stateMachineArn, name);
    deps.logger.info('build already started for this event', { executionArn, ...logged });
    return { ...started, executionArn, alreadyStarted: true };
  }
}
