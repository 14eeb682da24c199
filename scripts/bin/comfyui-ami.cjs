#!/usr/bin/env node
// The CLI is TypeScript: run it under tsx's loader (require and import alike), so there is no
// build step to forget. The SDK's Node-version notice is silenced; Lambda runs Node 22.
const { spawnSync } = require('node:child_process');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');

const loader = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
const cli = join(__dirname, '..', 'cli.ts');
const child = spawnSync(process.execPath, ['--no-warnings', '--import', loader, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exitCode = child.status ?? 1;
