'use strict';
const TemplateFinalizer = require('./template-finalizer.cjs');

/**
 * serverless-iam-roles-per-function gives every function a role of its own, copied from the
 * framework's default role, which then stays in the template with nobody using it. This removes
 * it once the per-function roles exist, and fails the package if anything still refers to it.
 */
class DropUnusedDefaultRole extends TemplateFinalizer {
  finalize(template) {
    const id = this.serverless.getProvider('aws').naming.getRoleLogicalId();
    const resources = template.Resources;
    if (!resources[id]) return;
    const { [id]: role, ...others } = resources;
    const users = Object.entries(others)
      .filter(([, r]) => JSON.stringify(r).includes(`"${id}"`))
      .map(([name]) => name);
    if (users.length > 0) throw new Error(`the default role ${id} is still used by ${users.join(', ')}`);
    delete resources[id];
    void role;
  }
}

module.exports = DropUnusedDefaultRole;
