'use strict';
/**
 * statemachine/bake-ami.asl.json as one JSON string, for DefinitionString. Not `Definition:
 * ${file(...)}`: osls strips every null property from resource properties, and the ASL relies
 * on `"ResultPath": null` (keep the state, discard the result).
 */
const { readFileSync } = require('node:fs');
const path = require('node:path');

const ASL_FILE = path.resolve(__dirname, '../../statemachine/bake-ami.asl.json');

module.exports = JSON.stringify(JSON.parse(readFileSync(ASL_FILE, 'utf8')));
