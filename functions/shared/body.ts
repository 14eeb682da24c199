import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { RequestInvalid, receivedText } from './errors';
import { bodyText } from './http';
import { isPlainObject } from './json';
import { MAX_INPUT_BYTES } from './request';

export interface BodyForm {
  /** The only fields the body may have. */
  allowed: readonly string[];
  /** Fields that must be present (a body is then required). */
  required?: readonly string[];
  /** Whether a route answers a request without a body. */
  optional: boolean;
  /** The allowed form, quoted in every refusal. */
  form: string;
}

/**
 * The JSON object of a POST body, refused with the field and the allowed form when oversized,
 * not JSON, not an object, missing when required, or with a field not allowed.
 */
export function parseBody(event: APIGatewayProxyEventV2, { allowed, required = [], optional, form }: BodyForm): Record<string, unknown> {
  const text = bodyText(event);
  if (text === undefined || text.trim() === '') {
    if (optional) return {};
    throw new RequestInvalid({ field: 'body', missing: true, allowed: form });
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_INPUT_BYTES)
    throw new RequestInvalid({ field: 'body', allowed: `at most ${MAX_INPUT_BYTES} bytes`, received: `${size} bytes` });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RequestInvalid({ field: 'body', allowed: `JSON: ${form}`, received: receivedText(text) });
  }
  if (!isPlainObject(body)) throw new RequestInvalid({ field: 'body', allowed: `a JSON object: ${form}`, received: receivedText(body) });
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new RequestInvalid({
      field: 'body',
      problem: `unknown field(s) ${unknown.map((k) => `"${receivedText(k)}"`).join(', ')} are not allowed`,
      allowed: `an object with only ${allowed.join(', ')}`,
    });
  }
  for (const field of required) if (!(field in body)) throw new RequestInvalid({ field: `body.${field}`, missing: true, allowed: form });
  return body;
}
