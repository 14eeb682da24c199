'use strict';
/**
 * esbuild plugins of the Lambda bundles (serverless.yml custom.esbuild.plugins).
 *
 * The SDK's schema modules (`@aws-sdk/client-<service>/dist-es/schemas/schemas_0.js`) describe
 * every operation of the service as plain arrays, but spell trait keys as computed keys of
 * module constants (`{ [_xN]: _y }` with `const _xN = "xmlName"`). esbuild cannot prove such a
 * key free of side effects, so it keeps every schema: about 550 KB of EC2's, for the handful of
 * operations a step calls. Putting the constant's string in place of the computed key (what
 * the minifier would write anyway) lets esbuild drop the schemas nothing uses.
 */
const { readFile } = require('node:fs/promises');

/** `{ [_xN]: v }` -> `{ "xmlName": v }` for every `const _xN = "...";` of the module. */
function literalTraitKeys(source) {
  const strings = new Map();
  for (const m of source.matchAll(/^const (_\w+) = ("(?:[^"\\]|\\.)*");$/gm)) strings.set(m[1], m[2]);
  return source.replace(/\[(_\w+)\]:/g, (whole, name) => (strings.has(name) ? `${strings.get(name)}:` : whole));
}

const shakeableSdkSchemas = {
  name: 'shakeable-sdk-schemas',
  setup(build) {
    build.onLoad({ filter: /[\\/]@aws-sdk[\\/]client-[\w-]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/ }, async (args) => ({
      contents: literalTraitKeys(await readFile(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};

module.exports = [shakeableSdkSchemas];
module.exports.literalTraitKeys = literalTraitKeys;
