/**
 * `npm run invoke` as a user runs it (`local/invoke-cli.ts`): standard output carries the
 * function's answer and nothing else, whatever the function prints and whenever Node warns, so
 * `npm run -s invoke ... | jq` works for a quick 400 as for a 200; the function's output and the
 * warnings reach standard error. A missing prerequisite (no `cdk.out`, no template, no such
 * function, no bundled code, no event file) is one line that says what to run or choose, exit 1;
 * a usage mistake (no function, no `-e`, an unknown option) one line saying what and the short
 * usage line, exit 2, as `modelctl`'s. A reader that goes away (`| head -1`) ends nothing with a
 * stack trace.
 *
 * The functions are real bundles in a template of their own (as `test/integration/invoke-payloads`
 * does), run by the same runner as the app's functions.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** tsx by its file, so that the CLI also runs from a folder outside the repository. */
const TSX = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/**
 * A function that answers at once with the status its query asks for, after printing what
 * functions print: a log line, text on stdout with no newline that looks like JSON, a
 * deprecation warning from Node itself and one of its own.
 */
const NOISY = `
export const handler = async (event) => {
  console.log(JSON.stringify({ level: 'INFO', message: 'handling', path: event.path }));
  process.stdout.write('{"statusCode": 500, "body": "not the answer"}');
  Buffer(1);
  process.emitWarning('this function uses an old API', 'DeprecationWarning', 'DEP_NOISY');
  const status = Number(event.queryStringParameters?.status ?? 200);
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(status === 200 ? { ok: true } : { error: { code: 'MISSING_FIELD', message: 'Field "features" is required.', path: 'features' } }),
  };
};
`;

let dir: string;
let templateFile: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'invoke-cli-'));
  await mkdir(path.join(dir, 'asset.noisy'));
  await writeFile(path.join(dir, 'asset.noisy', 'index.mjs'), NOISY);
  templateFile = path.join(dir, 'Noisy.template.json');
  const fn = (asset: string) => ({
    Type: 'AWS::Lambda::Function',
    Metadata: { 'aws:cdk:path': `Noisy/${asset}/Function/Resource`, 'aws:asset:path': `asset.${asset.toLowerCase()}` },
    Properties: { Handler: 'index.handler', Runtime: 'nodejs22.x', Environment: { Variables: {} } },
  });
  await writeFile(templateFile, JSON.stringify({ Resources: { NoisyFunction: fn('Noisy'), GoneFunction: fn('Gone') } }));
  await writeFile(path.join(dir, 'empty.template.json'), JSON.stringify({ Resources: { Bucket: { Type: 'AWS::S3::Bucket' } } }));
  for (const status of [200, 400]) {
    await writeFile(
      path.join(dir, `event-${status}.json`),
      JSON.stringify({ path: '/v1/models/iris/predict', queryStringParameters: { status } }),
    );
  }
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * `npm run -s invoke -- ...`: the CLI in a process of its own, run from `cwd`; with `closeStdout`,
 * the read end of its standard output closed at once, before it writes anything.
 */
function cli(args: readonly string[], cwd = ROOT, closeStdout = false): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, path.join(ROOT, 'local/invoke-cli.ts'), ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    if (closeStdout) child.stdout.destroy();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** The line a usage mistake ends with. */
const SHORT_USAGE = 'Usage: npm run invoke -- <function> -e <event.json> [options]   (npm run invoke -- --help lists them)';

describe('standard output is the answer alone', () => {
  it.each([400, 200])(
    'a %i answered at once, by a function that prints to stdout and warns: stdout parses as the result, the rest is on stderr',
    async (status) => {
      // Act
      const run = await cli(['noisy', '-e', path.join(dir, `event-${status}.json`), '-t', templateFile]);

      // Assess: stdout is exactly the result, as JSON.
      expect(run.code).toBe(0);
      const result = JSON.parse(run.out) as { statusCode: number; body: string };
      expect(result.statusCode).toBe(status);
      expect(JSON.parse(result.body)).toEqual(status === 200 ? { ok: true } : expect.objectContaining({ error: expect.anything() }));
      // What the function printed, and Node's warnings, reached stderr, none of it stdout.
      expect(run.err).toContain('{"level":"INFO","message":"handling"');
      expect(run.err).toContain('{"statusCode": 500, "body": "not the answer"}');
      expect(run.err).toContain('DEP0005');
      expect(run.err).toContain('DEP_NOISY');
      expect(run.out).not.toContain('not the answer');
      expect(run.out).not.toContain('Warning');
    },
    60_000,
  );
});

describe('a usage mistake: one line saying what, the short usage line, exit 2', () => {
  it.each([
    [['iris'], 'Give the event: -e <event.json> (the events/ folder has ready ones).'],
    [[], 'Give the function to run (any part of its name) and its event (-e <event.json>).'],
    [['-e', 'event.json'], 'Give the function to run: any part of its name, e.g. predict.'],
    [['iris', 'predict', '-e', 'event.json'], 'One function at a time: "iris", "predict" were given.'],
    [['iris', '-e', 'event.json', '--frobnicate'], "Unknown option '--frobnicate'."],
    [['iris', '-e'], "Option '-e, --event <value>' argument missing."],
    [
      ['iris', '-e', 'event.json', '--metadata', 'm.json'],
      '--metadata m.json comes before any --register: give it after the --register <model>=<file.onnx> it describes.',
    ],
    [
      ['iris', '-e', 'event.json', '--register', 'iris'],
      '--register takes <model>=<file.onnx>, e.g. --register iris=models/iris/model.onnx; got "iris".',
    ],
  ])(
    '%j',
    async (args, message) => {
      // Act
      const run = await cli(args);

      // Assess
      expect(run).toEqual({ code: 2, out: '', err: `${message}\n${SHORT_USAGE}\n` });
    },
    60_000,
  );
});

it('a reader that goes away before the answer is written: exit 0, no stack trace', async () => {
  // Act
  const run = await cli(['noisy', '-e', path.join(dir, 'event-200.json'), '-t', templateFile], ROOT, true);

  // Assess: the function's own output still reached stderr; nothing about the closed pipe did.
  expect(run.code).toBe(0);
  expect(run.err).toContain('{"level":"INFO","message":"handling"');
  expect(run.err).not.toMatch(/EPIPE|Unhandled| {4}at /);
}, 60_000);

describe('a missing prerequisite says what to run or choose', () => {
  it('without cdk.out: run "npx cdk synth" first, or give -t', async () => {
    const run = await cli(['iris', '-e', path.join(dir, 'event-200.json')], dir);

    expect(run.code).toBe(1);
    expect(run.out).toBe('');
    expect(run.err).toBe(
      `invoke failed: There is no cdk.out folder in ${dir}: run "npx cdk synth -q" (or "npm run synth") first, or give a template with -t <file>.\n`,
    );
    expect(run.err).not.toContain('ENOENT');
  });

  it('a cdk.out without a template, and a template path that does not exist: run "npx cdk synth"', async () => {
    // Prepare: an empty cdk.out beside the events.
    const project = await mkdtemp(path.join(os.tmpdir(), 'invoke-cli-project-'));
    await mkdir(path.join(project, 'cdk.out'));

    // Act
    const empty = await cli(['iris', '-e', path.join(dir, 'event-200.json')], project);
    const absent = await cli(['iris', '-e', path.join(dir, 'event-200.json'), '-t', path.join(dir, 'Nothing.template.json')]);
    await rm(project, { recursive: true, force: true });

    // Assess
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/^invoke failed: cdk\.out holds no template \(\*\.template\.json\): run "npx cdk synth -q"/);
    expect(absent.code).toBe(1);
    expect(absent.err).toMatch(/^invoke failed: The template .*Nothing\.template\.json does not exist: run "npx cdk synth -q"/);
  });

  it('an unknown function name: the closest one suggested, and every function of the template listed by its short name', async () => {
    const run = await cli(['noisey', '-e', path.join(dir, 'event-200.json'), '-t', templateFile]);

    expect(run.code).toBe(1);
    expect(run.err).toBe(
      `invoke failed: No function in ${templateFile} matches "noisey" (did you mean "Noisy/Function"?). Give any part of one of these names:\n  Noisy/Function\n  Gone/Function\n`,
    );
  });

  it('a template without functions, a function whose bundle is gone, an event file that is missing or not JSON', async () => {
    // Prepare
    const notJson = path.join(dir, 'not-json.json');
    await writeFile(notJson, '{"path": ');

    // Act
    const noFunctions = await cli(['iris', '-e', path.join(dir, 'event-200.json'), '-t', path.join(dir, 'empty.template.json')]);
    const gone = await cli(['gone', '-e', path.join(dir, 'event-200.json'), '-t', templateFile]);
    const noEvent = await cli(['noisy', '-e', path.join(dir, 'no-event.json'), '-t', templateFile]);
    const badEvent = await cli(['noisy', '-e', notJson, '-t', templateFile]);

    // Assess
    expect(noFunctions.err).toMatch(/^invoke failed: .*empty\.template\.json declares no Lambda function: .*run "npx cdk synth -q"/);
    expect(gone.err).toMatch(
      /^invoke failed: The bundled code of GoneFunction \(.*asset\.gone\) is missing: run "npx cdk synth -q" .* again\.\n$/,
    );
    expect(noEvent.err).toMatch(/^invoke failed: The event file .*no-event\.json does not exist .*the events\/ folder has ready ones\.\n$/);
    expect(badEvent.err).toMatch(/^invoke failed: The event file .*not-json\.json is not JSON: /);
    for (const run of [noFunctions, gone, noEvent, badEvent]) {
      expect(run.code).toBe(1);
      expect(run.out).toBe('');
    }
  }, 60_000);
});
