import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { defaultClients, type Clients } from './clients';
import { loadConfig, type PipelineConfig } from './config';
import { classifyError } from './errors';

export const logger = new Logger({ serviceName: 'comfyui-ami' });

/** What every step's logic receives besides its input. */
export interface StepContext {
  config: PipelineConfig;
  clients: Clients;
  logger: Logger;
}

export type Step<I, O> = (input: I, ctx: StepContext) => Promise<O>;

/**
 * The one way a step becomes a Lambda handler: config validated on first use, AWS errors mapped
 * to named errors for the ASL's Retry/Catch, and middy's TimeoutError a second before Lambda's.
 */
export function stepHandler<I, O>(step: Step<I, O>) {
  const run = async (event: I, _context: Context): Promise<O> => {
    try {
      return await step(event, { config: loadConfig(), clients: defaultClients(), logger });
    } catch (error) {
      const named = classifyError(error);
      logger.error('step failed', { errorName: named.name, error: named });
      throw named;
    }
  };
  return middy(run, { timeoutEarlyInMillis: 1000 }).use(injectLambdaContext(logger));
}
