/**
 * `modelctl` as a process whose reader goes away, as in `npm run -s modelctl -- help register |
 * head -5`: a real pipe on its standard output (or error) closed before it writes, or after the
 * first chunk of an output larger than the pipe's buffer. It ends quietly, with its own exit code
 * and no stack trace; `logs --follow` stops instead of polling on for nobody. The process's own
 * file reading (a folder, a missing file) speaks the same words as the in-process runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FEATURES = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };

let stack: LocalStack;
let dataDir: string;

/** One prediction of the sample model. */
async function predict(): Promise<void> {
  const response = await fetch(`${stack.url}/v1/models/iris/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ features: FEATURES }),
  });
  expect(response.status).toBe(200);
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-pipes-'));
  stack = await startTestStack({ dataDir, auth: 'insecure', rateLimit: false, driftIntervalMs: 0 });
  // A few predictions, so that "logs iris" has lines to print (the log is written off the request path).
  for (let i = 0; i < 3; i++) await predict();
  for (;;) {
    const page = (await (await fetch(`${stack.url}/v1/models/iris/predictions`)).json()) as { records: unknown[] };
    if (page.records.length >= 3) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** What was read of standard output before it was closed (all of it when it was not). */
  readonly out: string;
  readonly err: string;
}

/**
 * `node bin/modelctl-bin.mjs ...args` against the local stack. `closed`: the streams whose read
 * end this side closes at once, before the process (still loading) writes anything;
 * `afterFirstChunk`: standard output is closed once its first chunk has been read, then this is called.
 */
function modelctl(args: readonly string[], closed: readonly ('stdout' | 'stderr')[], afterFirstChunk?: () => void): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'bin/modelctl-bin.mjs'), ...args], {
      cwd: ROOT,
      env: { ...process.env, MODELCTL_API: stack.url, MODELCTL_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!afterFirstChunk) return;
      child.stdout?.destroy();
      afterFirstChunk();
    });
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    for (const name of closed) child[name]?.destroy();
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

describe('standard output closed before anything is written', () => {
  it.each([['help register'], ['--help'], ['models'], ['versions iris -o json'], ['logs iris'], ['stats iris']])(
    'modelctl %s: exit 0, nothing on stderr',
    async (line) => {
      // Act
      const ended = await modelctl(line.split(' '), ['stdout']);

      // Assess
      expect(ended).toEqual({ code: 0, signal: null, out: '', err: '' });
    },
    60_000,
  );

  it('keeps its own exit code: a usage mistake is still 2, an unknown model still 1', async () => {
    // Act
    const usage = await modelctl(['stats', 'iris', '--minutes', 'abc'], ['stdout']);
    const refused = await modelctl(['versions', 'nobody'], ['stdout']);

    // Assess
    expect(usage).toMatchObject({
      code: 2,
      signal: null,
      err: '--minutes is a whole number from 1, not "abc".\nRun "modelctl stats --help" for usage.\n',
    });
    expect(refused).toMatchObject({ code: 1, signal: null, err: expect.stringMatching(/^404 MODEL_NOT_FOUND: [^\n]+\n$/) as unknown });
  }, 60_000);

  it('logs --follow stops once nobody reads what it prints, exit 0', async () => {
    // Act: without a reader it would poll until Ctrl+C.
    const ended = await modelctl(['logs', 'iris', '--follow', '--poll', '0.2'], ['stdout']);

    // Assess
    expect(ended).toEqual({ code: 0, signal: null, out: '', err: '' });
  }, 60_000);
});

describe('standard output closed after its first chunk (| head -1)', () => {
  it('logs --follow: the next record, written after the close, ends it quietly, exit 0', async () => {
    // Act: a prediction made once the reader has gone gives follow a line to write to nobody.
    let predicted: Promise<void> | undefined;
    const ended = await modelctl(['logs', 'iris', '--follow', '--poll', '0.2'], [], () => {
      predicted = predict();
    });
    await predicted;

    // Assess
    expect({ code: ended.code, signal: ended.signal, err: ended.err }).toEqual({ code: 0, signal: null, err: '' });
    expect(ended.out).toMatch(/^\S+Z \S+ model=1 function=\$LATEST /);
  }, 60_000);
});

it('an output larger than the pipe buffer, closed after its first chunk: exit 0, the rest dropped quietly', async () => {
  // Act: the profile's JSON (about 70 KB) on stdout, its summary on stderr after it.
  const ended = await modelctl(['profile', 'data/diabetes.csv'], [], () => {});

  // Assess
  expect({ code: ended.code, signal: ended.signal }).toEqual({ code: 0, signal: null });
  expect(ended.out.startsWith('{\n  "profileVersion": 1,')).toBe(true);
  expect(ended.out.length).toBeLessThan(65_537);
  expect(ended.err).toMatch(/^Profiled 442 rows of data\/diabetes\.csv, 11 features:\n/);
  expect(ended.err).not.toMatch(/EPIPE|Error| {4}at /);
}, 60_000);

describe('standard error closed', () => {
  it('a usage mistake still exits 2, a table still reaches stdout', async () => {
    // Act
    const usage = await modelctl(['stats', 'iris', '--minutes', 'abc'], ['stderr']);
    const table = await modelctl(['logs', 'iris', '--limit', '1'], ['stderr']);

    // Assess
    expect(usage).toEqual({ code: 2, signal: null, out: '', err: '' });
    expect(table).toMatchObject({ code: 0, signal: null, err: '' });
    expect(table.out).toMatch(/^\S+Z \S+ model=1 function=\$LATEST caller=\S+ rows=1 /);
  }, 60_000);

  it('both closed (2>&1 | head): exit 0', async () => {
    // Act
    const ended = await modelctl(['logs', 'iris', '--limit', '1'], ['stdout', 'stderr']);

    // Assess
    expect(ended).toEqual({ code: 0, signal: null, out: '', err: '' });
  }, 60_000);
});

describe("the process's own files", () => {
  it('a folder and a missing file, before any upload: one line each, exit 1', async () => {
    // Act
    const folder = await modelctl(['batch', 'run', 'iris', dataDir, '--format', 'csv'], []);
    const missing = await modelctl(['register', 'iris', path.join(dataDir, 'none.onnx')], []);

    // Assess
    expect(folder).toEqual({
      code: 1,
      signal: null,
      out: '',
      err: `modelctl: cannot read ${dataDir}: it is a folder. Give one file (or put the files in S3 under one prefix and use "modelctl batch submit").\n`,
    });
    expect(missing).toEqual({
      code: 1,
      signal: null,
      out: '',
      err: `modelctl: cannot read ${path.join(dataDir, 'none.onnx')}: no such file.\n`,
    });
  }, 60_000);
});
