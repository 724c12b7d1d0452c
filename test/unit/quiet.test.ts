/**
 * Quiet by default (`local/quiet.ts`): a process that imports it first builds AWS SDK clients
 * without the SDK's Node-version notice, a caller who sets the variable keeps their choice, and
 * every local entry point imports it before anything else. The notice is the SDK's own, read
 * from a real client in a child process whose Node version is made to look old (so the check
 * means the same on every Node the project runs on).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { QUIET_ENV } from '../../local/quiet.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NOTICE = /NodeVersionSupportWarning/;

/** What a child prints on stderr when it builds an S3 client, after importing `local/quiet.ts` or not. */
async function clientStderr(options: { quiet: boolean; env?: Record<string, string> }): Promise<string> {
  const script = [
    options.quiet ? "await import('./local/quiet.ts');" : '',
    "Object.defineProperty(process, 'version', { value: 'v20.0.0' });",
    "const { S3Client } = await import('@aws-sdk/client-s3');",
    "new S3Client({ region: 'us-east-1' });",
  ].join('\n');
  // Without the variable this test process has (jest's setup imports the module too).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !(name in QUIET_ENV)));
  const { stderr } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...inherited, ...options.env },
  });
  return stderr;
}

/** The module specifiers a source file imports, in order (static and dynamic). */
function importsOf(file: string): string[] {
  const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  return [...source.matchAll(/^(?:import\s+(?:[^'"]*?\s+from\s+)?|await import\()'([^']+)'/gm)].map((m) => m[1] as string);
}

it("silences the AWS SDK's Node-version notice in a process that imports it first", async () => {
  const [loud, quiet] = await Promise.all([clientStderr({ quiet: false }), clientStderr({ quiet: true })]);

  expect(loud).toMatch(NOTICE); // the control: the SDK does print it
  expect(quiet).not.toMatch(NOTICE);
  expect(QUIET_ENV).toEqual({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
});

it("leaves a caller's own setting alone: =false brings the notice back", async () => {
  const stderr = await clientStderr({ quiet: true, env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' } });

  expect(stderr).toMatch(NOTICE);
});

it.each([
  ['local/start.ts', './quiet.js'],
  ['local/invoke-cli.ts', './quiet.js'],
  ['bin/app.ts', '../local/quiet.js'],
])('%s imports it before anything else', (file, specifier) => {
  expect(importsOf(file)[0]).toBe(specifier);
});

it('modelctl loads it right after the TypeScript loader, before the CLI; jest runs it before each test file', () => {
  expect(importsOf('bin/modelctl-bin.mjs')).toEqual(['tsx/esm/api', '../local/quiet.ts', './modelctl-main.ts']);
  expect(readFileSync(new URL('../../jest.config.js', import.meta.url), 'utf8')).toContain("setupFiles: ['<rootDir>/local/quiet.ts']");
});
