/** @type {import('jest').Config} */
const transform = { '^.+\\.(t|j)sx?$': ['@swc/jest'] };
// @middy/core is ESM-only: let swc compile it to CommonJS too.
const transformIgnorePatterns = ['/node_modules/(?!(@middy)/)'];
const common = { transform, transformIgnorePatterns, setupFiles: ['<rootDir>/test/support/polyfills.ts'] };

module.exports = {
  testTimeout: 60000,
  // Most tests wait on the moto server, a process of its own: two workers keep both cores busy.
  maxWorkers: 2,
  // Finds or sets up the Python tools (moto server, boto3, cfn-lint) once, before any worker starts.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'statemachine',
      testMatch: ['<rootDir>/test/statemachine/**/*.test.ts'],
      // The long scenario files run with the matrices (the exhaustive project below).
      testPathIgnorePatterns: [
        '/node_modules/',
        '<rootDir>/test/statemachine/fail-.*-steps.test.ts',
        '<rootDir>/test/statemachine/(way-back|event-waits|build-events|cancel|capacity|disks|verification).test.ts',
      ],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/integration/(faults|bad-input).test.ts'],
    },
    // The matrices (every step failing before and after its work, every step x every AWS fault),
    // the bad-input corpus and the long scenarios on the real ASL (the way back, event waits,
    // build events, cancel, GPU capacity, disks, verification): npm run test:exhaustive, which
    // CI runs after npm test, so npm test keeps its five minutes on 2 cores.
    {
      ...common,
      displayName: 'exhaustive',
      testMatch: [
        '<rootDir>/test/integration/faults.test.ts',
        '<rootDir>/test/integration/bad-input.test.ts',
        '<rootDir>/test/statemachine/fail-*-steps.test.ts',
        '<rootDir>/test/statemachine/{way-back,event-waits,build-events,cancel,capacity,disks,verification}.test.ts',
      ],
    },
    { ...common, displayName: 'template', testMatch: ['<rootDir>/test/template/**/*.test.ts'] },
    { ...common, displayName: 'builder', testMatch: ['<rootDir>/test/builder/**/*.test.ts'] },
  ],
};
