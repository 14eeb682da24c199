import type { z } from 'zod';

/** One line naming each bad field by its path and the form it must take. */
export function describeZodError(error: z.ZodError, root: string): string {
  return error.issues
    .map((issue) => {
      const path = [root, ...issue.path.map(String)].join('.');
      if (issue.code === 'unrecognized_keys')
        return `${path}: unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} are not allowed`;
      if (issue.code === 'invalid_type') {
        return /received undefined$/.test(issue.message)
          ? `${path} is required`
          : `${path}: must be a ${issue.expected} (${issue.message.replace(/^Invalid input: /, '')})`;
      }
      return `${path}: must be ${issue.message.replace(/^Invalid string: must match pattern .*/, 'of the documented form')}`;
    })
    .join('; ');
}
