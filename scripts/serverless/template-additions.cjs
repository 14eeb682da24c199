'use strict';
const TemplateFinalizer = require('./template-finalizer.cjs');

/**
 * Adds custom.templateAdditions.Rules and .Resources to the template: osls's schema has no place
 * for CloudFormation Rules, and resources that exist only for some configs (built in config.cjs)
 * cannot be spliced into `resources:` by a variable. CloudFormation checks rules before it
 * creates anything.
 */
class TemplateAdditions extends TemplateFinalizer {
  finalize(template) {
    const additions = this.serverless.service.custom?.templateAdditions ?? {};
    // BuildEventResources: the build events' rule, topic and alarms, kept apart from the EBS key's.
    for (const [key, section] of [
      ['Rules', 'Rules'],
      ['Resources', 'Resources'],
      ['BuildEventResources', 'Resources'],
    ]) {
      for (const [id, value] of Object.entries(additions[key] ?? {})) {
        if (template[section]?.[id]) throw new Error(`templateAdditions.${key}.${id} already exists in the template`);
        template[section] = { ...(template[section] ?? {}), [id]: value };
      }
    }
  }
}

module.exports = TemplateAdditions;
