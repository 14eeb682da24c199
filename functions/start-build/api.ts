import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RequestInvalid } from '../shared/errors';
import { MAX_INPUT_BYTES } from '../shared/request';
import { baseUrl, bodyText, errorResponse, jsonResponse } from '../shared/http';
import { startBuild, type StartBuildDeps } from './start-build';

const API_FIELDS = ['environment', 'image', 'branch', 'commit_sha'] as const;
const BODY_FORM = '{"environment": ..., "image"?: ..., "branch"?: ..., "commit_sha"?: ...}';

/** The JSON object of a POST /builds body, refused when missing, oversized, not JSON or with unknown fields. */
export function parseApiBody(event: APIGatewayProxyEventV2): Record<string, unknown> {
  const text = bodyText(event);
  if (text === undefined || text.trim() === '') throw new RequestInvalid(`body is required: ${BODY_FORM}`);
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_INPUT_BYTES) throw new RequestInvalid(`body: must be at most ${MAX_INPUT_BYTES} bytes (got ${size})`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RequestInvalid(`body: must be JSON (${(error as Error).message}): ${BODY_FORM}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RequestInvalid(`body: must be a JSON object: ${BODY_FORM}`);
  const unknown = Object.keys(body).filter((key) => !(API_FIELDS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw new RequestInvalid(`body: unknown field(s) ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')} are not allowed; allowed: ${API_FIELDS.join(', ')}`);
  }
  return body as Record<string, unknown>;
}

/** POST /builds: 202 with the execution and where to poll it; 4xx, and nothing started, otherwise. */
export async function startFromApi(
  event: APIGatewayProxyEventV2,
  deps: () => StartBuildDeps,
  logger: Pick<Logger, 'error' | 'warn'>,
): Promise<APIGatewayProxyStructuredResultV2> {
  try {
    const body = parseApiBody(event);
    const started = await startBuild({ ...body, source: 'api' }, deps());
    return jsonResponse(202, {
      executionArn: started.executionArn,
      executionName: started.executionName,
      environment: started.environment,
      imageUri: started.imageUri,
      alreadyStarted: started.alreadyStarted,
      statusUrl: `${baseUrl(event)}/builds/${started.executionName}`,
    });
  } catch (error) {
    const response = errorResponse(error);
    if ((response.statusCode ?? 500) >= 500) logger.error('POST /builds failed', { error: error as Error });
    else logger.warn('POST /builds refused', { response: response.body });
    return response;
  }
}
