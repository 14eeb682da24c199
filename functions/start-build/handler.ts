import type { Logger } from '@aws-lambda-powertools/logger';
import { defaultClients } from '../shared/clients';
import { loadPackagedConfig } from '../shared/config-env';
import { classifyError } from '../shared/errors';
import { stateMachineArnFromEnv } from '../shared/execution-name';
import { lambdaHandler, logger } from '../shared/handler';
import { isHttpEvent } from '../shared/http';
import { startFromApi } from './api';
import { type StartBuildDeps, type StartedBuild, startBuild } from './start-build';

function defaultDeps(): StartBuildDeps {
  return { config: loadPackagedConfig(), clients: defaultClients(), logger, stateMachineArn: stateMachineArnFromEnv() };
}

/**
 * POST /builds answers with an HTTP response; an ECR push event (EventBridge) or a direct
 * invocation with a console-style input starts the build or throws a named error, so Lambda's
 * async retries cover transient failures.
 */
export async function dispatch(event: unknown, deps: () => StartBuildDeps, log: Logger = logger) {
  if (isHttpEvent(event)) return startFromApi(event, deps, log);
  try {
    const started: StartedBuild = await startBuild(event, deps());
    return started;
  } catch (error) {
    const named = classifyError(error);
    log.error('build not started', { errorName: named.name, error: named });
    throw named;
  }
}

export const handler = lambdaHandler((event: unknown) => dispatch(event, defaultDeps));
