'use strict';
// CommonJS so builder/documents.cjs, which osls loads as is, shares it with the TypeScript code.

/** `text` as a literal inside a regular expression. */
function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

module.exports = { escapeRegExp };
