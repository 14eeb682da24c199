import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { RequestInvalid } from '../shared/errors';
import { bodyText } from '../shared/http';
import { isPlainObject } from '../shared/json';
import { MAX_INPUT_BYTES } from '../shared/request';

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
    throw new RequestInvalid(`body is required: ${form}`);
  }
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_INPUT_BYTES) throw new RequestInvalid(`body: must be at most ${MAX_INPUT_BYTES} bytes (got ${size})`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new RequestInvalid(`body: must be JSON (${(error as Error).message}): ${form}`);
  }
  if (!isPlainObject(body)) throw new RequestInvalid(`body: must be a JSON object: ${form}`);
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new RequestInvalid(
      `body: unknown field(s) ${unknown.map((k) => `"${k.slice(0, 40)}"`).join(', ')} are not allowed; allowed: ${allowed.join(', ')}`,
    );
  }
  for (const field of required) if (!(field in body)) throw new RequestInvalid(`body.${field} is required: ${form}`);
  return body;
}
