// Tests are TypeScript compiled by `tsc --build` (test/tsconfig.json);
// jest runs the emitted ES modules.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/dist'],
  testMatch: ['**/*.test.js'],
  transform: {},
  verbose: true,
};
