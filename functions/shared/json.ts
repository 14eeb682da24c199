/** An object, not null nor an array: what JSON.parse makes of `{...}`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A JSON object from text, or null when the text is missing, not JSON, or not an object. */
export function parseJsonObject(text: string | undefined | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    return isPlainObject(value) ? value : null;
  } catch {
    return null;
  }
}
