import type { $ZodError } from 'zod/v4/core';
import { type InvalidField, receivedText } from './errors';

/**
 * zod's own wording of an issue, as opposed to a schema's (`'a Docker tag ...'`): English
 * ("Invalid input: expected ...", "Invalid option: ...") where classic zod is loaded, a bare
 * "Invalid input" in the Lambda bundles, whose zod/mini loads no locale.
 */
const ZOD_WORDING = /^Invalid (input|option)(:|$)/;

/** Each bad field of a failed parse: its path, the form it must take, and what was received. */
export function zodIssues(error: $ZodError, root: string): InvalidField[] {
  return error.issues.map((issue): InvalidField => {
    const field = [root, ...issue.path.map(String)].join('.');
    const input = (issue as { input?: unknown }).input;
    const received = input === undefined ? undefined : receivedText(input);
    if (issue.code === 'unrecognized_keys')
      return {
        field,
        problem: `unknown field(s) ${issue.keys.map((k) => `"${receivedText(k)}"`).join(', ')} are not allowed`,
        allowed: 'an object with only the documented fields',
      };
    if (issue.code === 'invalid_type') {
      // A schema's own words (`{ error: ... }`) say more than zod's "expected string".
      const allowed = ZOD_WORDING.test(issue.message) ? `a ${issue.expected}` : issue.message;
      if (input === undefined) return { field, missing: true, allowed };
      return { field, allowed, received };
    }
    if (issue.code === 'invalid_value' && ZOD_WORDING.test(issue.message)) {
      // A literal or an enum: its values, in the same words with or without a locale.
      const values = issue.values.map((v) => JSON.stringify(v));
      return {
        field,
        allowed: values.length === 1 ? values[0] : `one of ${values.join(', ')}`,
        ...(received !== undefined && { received }),
      };
    }
    const allowed = issue.message.replace(/^Invalid string: must match pattern .*/, 'of the documented form');
    return { field, allowed, ...(received !== undefined && { received }) };
  });
}
