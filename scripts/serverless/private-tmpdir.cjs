'use strict';
/**
 * serverless-esbuild 1.57.2 stages each function's zip in a directory under os.tmpdir() and never
 * removes it (a non-recursive remove of a full directory whose error is swallowed; upstream
 * floydspace/serverless-esbuild#589): one directory per function per `sls package`. Every
 * command of the framework runs with a temp directory of its own, removed when it exits.
 */
const { mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

class PrivateTmpdir {
  constructor() {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'comfyui-ami-sls-'));
    // os.tmpdir() reads these on every call: TMPDIR on POSIX, TEMP and TMP on Windows.
    for (const name of ['TMPDIR', 'TEMP', 'TMP']) process.env[name] = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    this.hooks = {};
  }
}

module.exports = PrivateTmpdir;
