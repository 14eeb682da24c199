import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { classifyError, InvalidInput, PipelineError } from './errors';

/** An HTTP API (payload 2.0) request, as opposed to an EventBridge event or a direct invocation. */
export function isHttpEvent(event: unknown): event is APIGatewayProxyEventV2 {
  if (event === null || typeof event !== 'object') return false;
  const context = (event as { requestContext?: { http?: unknown } }).requestContext;
  return (
    (event as { version?: unknown }).version === '2.0' &&
    typeof context === 'object' &&
    context !== null &&
    typeof context.http === 'object'
  );
}

export function jsonResponse(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

const STATUS_BY_ERROR: Record<string, number> = {
  RequestInvalid: 400,
  CallerNotAllowed: 403,
  BuildNotFound: 404,
  ImageNotFound: 422,
  CancelRefused: 409,
  AwsThrottled: 503,
  AwsUnavailable: 503,
};

/**
 * A refused or failed request as `{error, message}`. Client errors say which field is wrong;
 * an unexpected error is logged by the caller and answered without its details.
 */
export function errorResponse(error: unknown): APIGatewayProxyStructuredResultV2 {
  const named = classifyError(error);
  const statusCode = STATUS_BY_ERROR[named.name] ?? 500;
  if (!(named instanceof PipelineError))
    return jsonResponse(500, { error: 'InternalError', message: 'the request failed; see the function logs' });
  if (named instanceof InvalidInput && statusCode === 400) {
    // The validators name fields from the root "input"; an API caller sent a "body".
    const issue = named.issues[0];
    return jsonResponse(statusCode, {
      error: named.name,
      message: named.describe(asBodyField),
      field: asBodyField(issue.field),
      allowed: issue.allowed,
      ...(issue.received !== undefined && { received: issue.received }),
    });
  }
  return jsonResponse(statusCode, { error: named.name, message: named.message });
}

/** `input.image` as an API caller sent it: `body.image`. */
export function asBodyField(field: string): string {
  return field.replace(/^input(?=\.|$)/, 'body');
}

/** The decoded body text; the size limit is checked before anything parses it. */
export function bodyText(event: APIGatewayProxyEventV2): string | undefined {
  if (event.body === undefined || event.body === null) return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

/** `https://<domain>[/<stage>]`: the API's base URL as the caller reached it. */
export function baseUrl(event: APIGatewayProxyEventV2): string {
  const { domainName, stage } = event.requestContext;
  return `https://${domainName}${stage && stage !== '$default' ? `/${stage}` : ''}`;
}
