'use strict';
/**
 * functions/steps.ts for serverless.yml: each step's function (handler, description, timeout),
 * the state machine's DefinitionSubstitutions and the ARNs its role may invoke. The roles stay in
 * serverless.yml, merged into these functions by name (its `functions:` is a list of two maps).
 */
const path = require('node:path');
const tsx = require('tsx/cjs/api');

const ROOT = path.resolve(__dirname, '../..');
const { STEPS, arnPlaceholder, functionLogicalId } = tsx.require(path.join(ROOT, 'functions', 'steps.ts'), __filename);

const arnOf = (key) => ({ 'Fn::GetAtt': [functionLogicalId(key), 'Arn'] });

module.exports = {
  functions: Object.fromEntries(
    Object.entries(STEPS).map(([key, step]) => [
      key,
      { handler: `functions/${step.folder}/handler.handler`, description: step.description, timeout: step.timeoutSeconds },
    ]),
  ),
  definitionSubstitutions: Object.fromEntries(Object.keys(STEPS).map((key) => [arnPlaceholder(key), arnOf(key)])),
  invokeArns: Object.keys(STEPS).map(arnOf),
};
