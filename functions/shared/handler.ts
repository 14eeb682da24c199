import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Clients } from './clients';
import type { PipelineConfig } from './config';
import { loadPackagedConfig } from './config-env';
import { classifyError } from './errors';

export const logger = new Logger({ serviceName: 'comfyui-ami' });

/** What every step's logic receives besides its input: only the clients `K` it calls. */
export interface StepContext<K extends keyof Clients = keyof Clients> {
  config: PipelineConfig;
  clients: Pick<Clients, K>;
  logger: Logger;
}

/** A context that also starts executions of the bake state machine (the functions that start builds). */
export interface StarterContext<K extends keyof Clients = keyof Clients> extends StepContext<K> {
  stateMachineArn: string;
}

export type Step<I, O, K extends keyof Clients = keyof Clients> = (input: I, ctx: StepContext<K>) => Promise<O>;

/** Every Lambda here: the logger bound to the invocation, and middy's TimeoutError a second before Lambda's. */
export function lambdaHandler<E, R>(fn: (event: E, context: Context) => Promise<R>) {
  return middy(fn, { timeoutEarlyInMillis: 1000 }).use(injectLambdaContext(logger));
}

/**
 * The one way a step becomes a Lambda handler: the packaged (already validated) config, the
 * clients the step names (functions/shared/sdk/, so the bundle holds no other), and AWS errors
 * mapped to named errors for the ASL's Retry/Catch.
 */
export function stepHandler<I, O, K extends keyof Clients>(step: Step<I, O, K>, clients: () => Pick<Clients, K>) {
  const run = async (event: I, _context: Context): Promise<O> => {
    // Every line of the invocation names its build, so `comfyui-ami logs` finds it in the log group.
    const execution = (event as { execution?: { name?: unknown; buildId?: unknown } } | null)?.execution;
    if (typeof execution?.name === 'string') logger.appendKeys({ execution: execution.name, build_id: String(execution.buildId ?? '') });
    try {
      return await step(event, { config: loadPackagedConfig(), clients: clients(), logger });
    } catch (error) {
      const named = classifyError(error);
      logger.error('step failed', { errorName: named.name, error: named });
      throw named;
    } finally {
      logger.removeKeys(['execution', 'build_id']);
    }
  };
  return lambdaHandler(run);
}
