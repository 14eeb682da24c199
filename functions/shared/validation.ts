import type { z } from 'zod';
import { type InvalidField, receivedText } from './errors';

/** Each bad field of a failed parse: its path, the form it must take, and what was received. */
export function zodIssues(error: z.ZodError, root: string): InvalidField[] {
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
      const allowed = issue.message.startsWith('Invalid input') ? `a ${issue.expected}` : issue.message;
      if (input === undefined) return { field, missing: true, allowed };
      return { field, allowed, received };
    }
    const allowed = issue.message.replace(/^Invalid string: must match pattern .*/, 'of the documented form');
    return { field, allowed, ...(received !== undefined && { received }) };
  });
}
