/**
 * What the packaged bundles carry of the schema library: classic zod (its whole API, JSON Schema
 * and every locale, about 440 KiB, which made a function load in 3x a bare handler's time) in
 * none; zod/mini, tree-shaken to the checks the request schemas use, only in the three functions
 * that validate requests at the edge (a promotion and a rollback are checked like a build request). The config schema is validated at package time.
 */
import path from 'node:path';
import AdmZip from 'adm-zip';
import { PACKAGE_DIR, packagedTemplate } from './support/template';

/** The bundled code of every function, by its key (the zip's name). */
function bundles(): Map<string, string> {
  const template = packagedTemplate();
  const code = new Map<string, string>();
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const key = path.basename((resource.Properties.Code as { S3Key: string }).S3Key, '.zip');
    const js = new AdmZip(path.join(PACKAGE_DIR, `${key}.zip`))
      .getEntries()
      .filter((entry) => entry.entryName.endsWith('.js'))
      .map((entry) => entry.getData().toString('utf8'))
      .join('\n');
    code.set(key, js);
  }
  return code;
}

describe('the schema library in the Lambda bundles', () => {
  const code = bundles();

  it('packages every function', () => {
    expect(code.size).toBeGreaterThanOrEqual(20);
  });

  it('no bundle carries classic zod (each of its schema classes registers its name, such as ZodObject)', () => {
    expect([...code].filter(([, js]) => js.includes('"ZodObject"')).map(([key]) => key)).toEqual([]);
  });

  it('only the functions that validate requests at the edge carry zod/mini', () => {
    expect(
      [...code]
        .filter(([, js]) => js.includes('"ZodMiniObject"'))
        .map(([key]) => key)
        .sort(),
    ).toEqual(['normalizeRequest', 'startBuild', 'startEnvironmentAction']);
  });
});
