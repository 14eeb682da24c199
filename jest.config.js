/** @type {import('jest').Config} */
const transform = { '^.+\\.(t|j)sx?$': ['@swc/jest'] };
// @middy/core is ESM-only: let swc compile it to CommonJS too.
const transformIgnorePatterns = ['/node_modules/(?!(@middy)/)'];
const common = { transform, transformIgnorePatterns, setupFiles: ['<rootDir>/test/support/polyfills.ts'] };

module.exports = {
  testTimeout: 60000,
  // Finds or sets up the Python tools (moto server, boto3, cfn-lint) once, before any worker starts.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'statemachine', testMatch: ['<rootDir>/test/statemachine/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'template', testMatch: ['<rootDir>/test/template/**/*.test.ts'] },
    { ...common, displayName: 'builder', testMatch: ['<rootDir>/test/builder/**/*.test.ts'] },
  ],
};
