import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Caller } from './callers';
import type { PipelineConfig } from './config';
import { environmentConfig } from './config-values';
import { CallerNotAllowed, RequestInvalid, receivedText } from './errors';
import { errorResponse, jsonResponse } from './http';

/** What a route handler receives: the event, the verified caller, and the environment of an env-in-path route. */
export interface ApiRequest {
  event: APIGatewayProxyEventV2;
  caller: Caller;
  /** `{env}` of `/environments/{env}/...`, checked against the config; null on routes without it. */
  pathEnvironment: string | null;
}

export type Route<D> = (request: ApiRequest, deps: D) => Promise<APIGatewayProxyStructuredResultV2>;

/** Route key (`POST /environments/{env}/builds`, as API Gateway names it) to handler. */
export type RouteTable<D> = Readonly<Record<string, Route<D>>>;

type ApiLogger = Pick<Logger, 'error' | 'warn' | 'info'>;

/** An API function's entry: one HTTP event answered by its route table (deps made only when a route runs). */
export type ApiEntry<D> = (event: APIGatewayProxyEventV2, deps: () => D, logger: ApiLogger) => Promise<APIGatewayProxyStructuredResultV2>;

/** The entry of an API function serving `routes`. */
export function apiEntry<D extends { config: PipelineConfig }>(routes: RouteTable<D>): ApiEntry<D> {
  return (event, deps, logger) => routeApi(routes, event, deps, logger);
}

/**
 * The IAM principal of an AWS_IAM route (payload 2.0: `requestContext.authorizer.iam`). Only
 * API Gateway fills it after checking the signature; whoever may invoke the function directly
 * could write any, which is why nobody but API Gateway and EventBridge may invoke it.
 */
export function callerOf(event: APIGatewayProxyEventV2): Caller | null {
  const context = event.requestContext as { authorizer?: { iam?: { userArn?: unknown; accountId?: unknown } } };
  const iam = context.authorizer?.iam;
  if (typeof iam?.userArn !== 'string' || !iam.userArn.startsWith('arn:')) return null;
  return { arn: iam.userArn, accountId: typeof iam.accountId === 'string' ? iam.accountId : '' };
}

function pathEnvironmentOf(event: APIGatewayProxyEventV2, config: PipelineConfig): string | null {
  if (!event.routeKey.includes('{env}')) return null;
  const env = event.pathParameters?.env ?? '';
  if (!environmentConfig(config, env)) {
    throw new RequestInvalid({
      field: 'path.env',
      allowed: `one of the configured environments (${Object.keys(config.environments).join(', ')})`,
      received: receivedText(env),
    });
  }
  return env;
}

/**
 * Runs the route the event names: every route needs a verified IAM caller, and an env-in-path
 * route a configured environment. Errors become `{error, message}` answers; every answer is
 * logged with the route and the caller.
 */
async function routeApi<D extends { config: PipelineConfig }>(
  routes: RouteTable<D>,
  event: APIGatewayProxyEventV2,
  deps: () => D,
  logger: ApiLogger,
): Promise<APIGatewayProxyStructuredResultV2> {
  const route = routes[event.routeKey];
  const caller = callerOf(event);
  const where = { route: event.routeKey, caller: caller?.arn ?? null };
  if (!route) {
    logger.warn('no such route', where);
    return jsonResponse(404, {
      error: 'RouteNotFound',
      message: `no route ${event.routeKey.slice(0, 100)}; routes: ${Object.keys(routes).join(', ')}`,
    });
  }
  try {
    if (!caller) throw new CallerNotAllowed('the request carries no IAM principal: every route must use AWS_IAM authorization');
    const resolved = deps();
    const response = await route({ event, caller, pathEnvironment: pathEnvironmentOf(event, resolved.config) }, resolved);
    logger.info('request answered', { ...where, statusCode: response.statusCode });
    return response;
  } catch (error) {
    const response = errorResponse(error);
    if ((response.statusCode ?? 500) >= 500) logger.error('request failed', { ...where, error: error as Error });
    else logger.warn('request refused', { ...where, response: response.body });
    return response;
  }
}
