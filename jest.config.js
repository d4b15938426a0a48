/**
 * Jest runs the TypeScript sources directly (swc), as native ESM: it needs
 * `node --experimental-vm-modules` (see the `jest` script). Plugin fixtures are plain .js/.mjs and
 * are imported untransformed; their `import 'plugd'` is mapped to the sources.
 */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'es6' } }] },
  transformIgnorePatterns: ['/node_modules/', '\\.m?js$'],
  moduleNameMapper: {
    '^plugd$': '<rootDir>/src/index.ts',
    // As users import it: compiled (its check runs in a worker thread, which loads compiled code).
    '^plugd/testing$': '<rootDir>/dist/src/testing.js',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  setupFilesAfterEnv: ['<rootDir>/test/support/setup.ts'],
  testTimeout: 30000,
};
