import os from 'node:os';

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
  // Before each test file, as the local entry points do first (see the file): no AWS SDK notice
  // about the Node version in the middle of the test output.
  setupFiles: ['<rootDir>/local/quiet.ts'],
};

const projects = [
  { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
  // Integration tests start servers and child processes: 30 s before a test or hook counts as hung
  // (jest's 5 s default is a guard a loaded 2-core machine can trip; it is no speed limit either way).
  { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'], testTimeout: 30_000 },
  { ...common, displayName: 'cdk', testMatch: ['<rootDir>/test/cdk/**/*.test.ts'], setupFilesAfterEnv: ['<rootDir>/test/cdk/setup.ts'] },
];

// `JEST_TIER=unit|integration|cdk` keeps one tier (`npm run test:unit` etc.). jest's own
// `--selectProjects` takes every word after it as a project name, so the file names given after
// `npm run test:unit --` would be swallowed.
const tier = process.env.JEST_TIER;
if (tier !== undefined && !projects.some((project) => project.displayName === tier)) {
  throw new Error(`JEST_TIER=${tier} names no test tier; use one of: ${projects.map((project) => project.displayName).join(', ')}.`);
}

/** @type {import('jest').Config} */
export default {
  // Two test files at a time even on a 2-core machine (CI), where jest's default (the cores less
  // one) runs them one by one: much of an integration file's time is spent waiting (on child
  // processes such as `npm start`, bash and the CLIs it runs, on timers), and an in-process local
  // stack keeps one core busy at most, so a second file fills the other core.
  maxWorkers: Math.max(2, os.availableParallelism() - 1),
  // The longest files first (see the file), so that no long file starts last.
  testSequencer: '<rootDir>/test/sequencer.js',
  // `npm run coverage`: V8's own coverage (no instrumentation of the ESM sources), every source
  // file counted, tested or not; the report in coverage/ (text summary, lcov, HTML).
  coverageProvider: 'v8',
  coverageDirectory: 'coverage',
  coverageReporters: ['text-summary', 'lcov'],
  collectCoverageFrom: [
    '{bin,lib,functions,local,scripts,layers}/**/*.ts',
    '!functions/core/onnx/gen/**',
    '!functions/adapters/feast/gen/**',
    '!layers/onnxruntime/build/**',
  ],
  projects: tier === undefined ? projects : projects.filter((project) => project.displayName === tier),
};
