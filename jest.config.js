// One jest setup for the whole repository. The code is ES modules end to end (middy and jose
// ship only ESM), so jest runs with --experimental-vm-modules (see the `test` script) and swc
// strips the types while keeping `import`/`export` as they are.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  // Sources import siblings as `./x.js` (NodeNext); jest resolves the `.ts` file behind them.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Node's environment, sharing the main context's typed arrays with the test (see the file):
  // onnxruntime-node creates output data there and checks it with `instanceof`.
  testEnvironment: '<rootDir>/test/fixtures/ort-environment.ts',
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'cdk', testMatch: ['<rootDir>/test/cdk/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/cdk/setup.ts'] },
  ],
};
