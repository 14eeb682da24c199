'use strict';
/**
 * The base of the plugins that edit the compiled CloudFormation template once every function's
 * resources exist (before:package:finalize, after serverless-iam-roles-per-function has made
 * the roles): a subclass implements finalize(template).
 */
class TemplateFinalizer {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = { 'before:package:finalize': () => this.finalize(serverless.service.provider.compiledCloudFormationTemplate) };
  }
}

module.exports = TemplateFinalizer;
