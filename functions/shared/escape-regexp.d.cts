/** `text` as a literal inside a regular expression. */
export declare function escapeRegExp(text: string): string;
