// Jest in ESM mode (client-node 1.x is ESM-only). Type checking is `npm run lint`'s job;
// ts-jest only transpiles here so that test start-up stays fast.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  roots: ['<rootDir>/src', '<rootDir>/test', '<rootDir>/hack', '<rootDir>/bench'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/env/global-setup.mjs',
  globalTeardown: '<rootDir>/test/env/global-teardown.mjs',
  testTimeout: 60_000,
  // Integration suites share one API server; two workers match this machine's two cores.
  maxWorkers: 2,
};
