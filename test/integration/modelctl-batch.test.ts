/**
 * `modelctl batch` against the local stack over real HTTP, with the real workflow emulation, S3
 * and ONNX Runtime: `run` uploads a local file, waits and downloads the job's files; `submit`,
 * `wait`, `status`, `list` and `cancel` over a file in the local bucket; the exit codes of
 * waiting (0 SUCCEEDED, 1 FAILED or CANCELLED, 2 still running); the help and the usage errors,
 * which never reach the API; and the progress bar's rendering of a job.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { jobsTable, Progress, resultsLocation, uploadName } from '../../bin/modelctl.js';
import type { BatchJob, JobManifest, RowError } from '../../functions/core/batch-contract.js';
import { LOCAL_BATCH_BUCKET, type LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { runModelctl, type ModelctlRun } from '../fixtures/modelctl.js';

const IRIS_CSV = 'data/iris.csv';
/** A model whose batch input and output locations are apart (`run` cannot put the output beside the upload). */
const APART = 'apart';

let stack: LocalStack;
let dataDir: string;
let work: string;
let token: string;
/** The rows of data/iris.csv: the four features (in the model's order) and the species. */
let iris: { features: number[]; species: string }[];
/** Requests modelctl made (every one, through `fetch`). */
let requests: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-batch-'));
  work = await mkdtemp(path.join(os.tmpdir(), 'modelctl-batch-work-'));
  stack = await startTestStack({
    dataDir,
    env: {
      BATCH_LOCATIONS: JSON.stringify({
        '*': { inputs: [`s3://${LOCAL_BATCH_BUCKET}/`], outputs: [`s3://${LOCAL_BATCH_BUCKET}/`] },
        [APART]: { inputs: [`s3://${LOCAL_BATCH_BUCKET}/in/`], outputs: [`s3://${LOCAL_BATCH_BUCKET}/out/`] },
      }),
    },
  });
  const minted = await run(
    'token',
    '--scope',
    'predict,models:read,models:write,models:promote,batch:submit,batch:read',
    '--data-dir',
    dataDir,
    '--subject',
    'batcher',
  );
  expect(minted.code).toBe(0);
  token = minted.out.trim();
  const registered = await run('register', APART, 'models/iris/model.onnx', '--metadata', 'models/iris/metadata.json', '--production');
  expect(registered.code).toBe(0);
  const [, ...lines] = (await readFile(IRIS_CSV, 'utf8')).trim().split('\n');
  iris = lines.map((line) => {
    const cells = line.split(',');
    return { features: cells.slice(0, 4).map(Number), species: cells[4] ?? '' };
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  requests = [];
});

/** Runs modelctl in-process with real fetch and files, recording the requests it makes. */
function run(...argv: string[]): Promise<ModelctlRun> {
  return runWith({}, ...argv);
}

function runWith(options: { errIsTTY?: boolean; token?: string }, ...argv: string[]): Promise<ModelctlRun> {
  const recording: typeof fetch = (input, init) => {
    requests.push(`${init?.method ?? 'GET'} ${String(input)}`);
    return fetch(input, init);
  };
  return runModelctl(
    {
      url: stack?.url,
      token: options.token ?? token,
      fetch: recording,
      ...(options.errIsTTY === undefined ? {} : { errIsTTY: options.errIsTTY }),
    },
    argv,
  );
}

/** A file's JSON lines. */
async function jsonLines<T>(file: string): Promise<T[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
}

/** What the predict route answers for these rows (labels), to compare the batch's with. */
async function predictedLabels(rows: readonly { features: number[] }[]): Promise<string[]> {
  const answer = await run('predict', 'iris', '--instances', JSON.stringify(rows.map((r) => r.features)), '-o', 'json');
  expect(answer.code).toBe(0);
  return (JSON.parse(answer.out) as { predictions: { label: string }[] }).predictions.map((p) => p.label);
}

/** The job id a command printed. */
function jobIdIn(text: string): string {
  const id = /job-[0-9a-z-]+/.exec(text)?.[0];
  expect(id).toBeDefined();
  return id as string;
}

/** Writes iris as JSON Lines, row `wide` with a feature that is not a number. */
async function irisJsonl(file: string, wide?: number): Promise<void> {
  const names = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
  const lines = iris.map((row, i) =>
    JSON.stringify(Object.fromEntries(names.map((name, j) => [name, i === wide && j === 2 ? 'wide' : row.features[j]]))),
  );
  await writeFile(file, `${lines.join('\n')}\n`);
}

/** Puts a file into the local batch bucket; its s3:// URI. */
async function putInput(key: string, body: string): Promise<string> {
  await stack.clients.s3.send(new PutObjectCommand({ Bucket: LOCAL_BATCH_BUCKET, Key: key, Body: body }));
  return `s3://${LOCAL_BATCH_BUCKET}/${key}`;
}

describe('batch run', () => {
  it('uploads a CSV file, waits for the job and downloads its files next to the input, predictions in row order', async () => {
    // Prepare
    const input = path.join(work, 'iris.csv');
    await writeFile(input, await readFile(IRIS_CSV));

    // Act
    const result = await run('batch', 'run', 'iris', input, '--interval', '0.2');

    // Assess
    expect(result.code).toBe(0);
    const predictions = await jsonLines<{ row: number; prediction: { label: string } }>(`${input}.predictions.jsonl`);
    expect(predictions.map((p) => p.row)).toEqual(iris.map((_, i) => i));
    expect(predictions.map((p) => p.prediction.label)).toEqual(await predictedLabels(iris));
    expect(await readFile(`${input}.errors.jsonl`, 'utf8')).toBe('');
    const manifest = JSON.parse(await readFile(`${input}.manifest.json`, 'utf8')) as JobManifest;
    expect(manifest).toMatchObject({ model: 'iris', state: 'SUCCEEDED', rows: 150, predicted: 150, failed: 0 });
    expect(manifest.input.uri).toMatch(new RegExp(`^s3://${LOCAL_BATCH_BUCKET}/uploads/[0-9a-f-]{36}/iris\\.csv$`));
    expect(manifest.predictions).toMatch(new RegExp(`^s3://${LOCAL_BATCH_BUCKET}/results/job-[0-9a-z-]+/predictions\\.jsonl$`));
    expect(result.out).toBe(
      [
        `Job ${manifest.jobId} of iris v1 SUCCEEDED: 150 rows, 150 predicted, 0 failed.`,
        `  predictions  ${input}.predictions.jsonl`,
        `  errors       ${input}.errors.jsonl`,
        `  manifest     ${input}.manifest.json`,
        '',
      ].join('\n'),
    );
    expect(result.err).toContain('Uploading iris.csv: 100% (3879 of 3879 bytes)\n');
    expect(result.err).toContain(`Submitted job ${manifest.jobId} (iris v1)`);
    expect(result.err).toMatch(/^iris: 150 \/ 150 rows \(100%\) {2}SUCCEEDED$/m);
    expect((await readdir(work)).filter((f) => f.endsWith('.part'))).toEqual([]);
  }, 60_000);

  it('takes JSON Lines into --output-dir; a row that cannot be predicted is in errors.jsonl, within --tolerate', async () => {
    // Prepare
    const input = path.join(work, 'iris rows.jsonl'); // a space: uploaded as iris_rows.jsonl
    await irisJsonl(input, 3);
    const outDir = path.join(work, 'results', 'tolerated');

    // Act
    const result = await run(
      'batch',
      'run',
      'iris',
      input,
      '--output-dir',
      outDir,
      '--tolerate',
      '1',
      '--rows-per-batch',
      '40',
      '--interval',
      '0.2',
    );

    // Assess
    expect(result.code).toBe(0);
    expect((await readdir(outDir)).sort()).toEqual(['errors.jsonl', 'manifest.json', 'predictions.jsonl']);
    const predictions = await jsonLines<{ row: number; prediction: { label: string } }>(path.join(outDir, 'predictions.jsonl'));
    const errors = await jsonLines<RowError>(path.join(outDir, 'errors.jsonl'));
    expect(predictions.map((p) => p.row)).toEqual(iris.map((_, i) => i).filter((i) => i !== 3));
    expect(predictions.map((p) => p.prediction.label)).toEqual(await predictedLabels(iris.filter((_, i) => i !== 3)));
    expect(errors).toEqual([expect.objectContaining({ row: 3, code: 'WRONG_TYPE', path: ['petal_length_cm'], line: 4 })]);
    expect(result.out).toMatch(/^Job job-[0-9a-z-]+ of iris v1 SUCCEEDED: 150 rows, 149 predicted, 1 failed\.\n/);
    expect(result.err).toContain('uploads/');
    expect(result.err).toMatch(/\/iris_rows\.jsonl\n/);
  }, 60_000);

  it('exits 1 with the reason when the job fails, still downloading its errors; "wait" on it exits 1 too', async () => {
    // Prepare
    const input = path.join(work, 'failing.jsonl');
    await irisJsonl(input, 7);

    // Act
    const result = await run('batch', 'run', 'iris', input, '--interval', '0.2');
    const jobId = jobIdIn(result.out);
    const waited = await run('batch', 'wait', 'iris', jobId);
    const status = await run('batch', 'status', 'iris', jobId);

    // Assess
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/^Job job-[0-9a-z-]+ of iris v1 FAILED: 150 rows, 149 predicted, 1 failed\.\n/);
    expect(result.err).toMatch(new RegExp(`Job ${jobId} FAILED: [A-Z_]+: .+\\n$`));
    expect(await jsonLines<RowError>(`${input}.errors.jsonl`)).toEqual([expect.objectContaining({ row: 7, code: 'WRONG_TYPE' })]);
    expect((await jsonLines(`${input}.predictions.jsonl`)).length).toBe(149);
    expect(waited.code).toBe(1);
    expect(waited.out).toMatch(new RegExp(`^Job ${jobId}: FAILED\\n`));
    expect(waited.err).toMatch(new RegExp(`Job ${jobId} FAILED: `));
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/^ {2}reason {7}[A-Z_]+: .+$/m);
    expect(status.out).toMatch(/^ {2}error sample \(1 of 1 failed rows\):\n {4}row 7, line 8: WRONG_TYPE: .+ \(at petal_length_cm\)$/m);
  }, 60_000);

  it("draws one bar on a terminal: the upload, then the job's rows and state", async () => {
    // Prepare
    const input = path.join(work, 'tty.csv');
    await writeFile(input, await readFile(IRIS_CSV));

    // Act
    const result = await runWith(
      { errIsTTY: true },
      'batch',
      'run',
      'iris',
      input,
      '--output-dir',
      path.join(work, 'tty'),
      '--interval',
      '0.2',
    );

    // Assess
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/^\rtty\.csv \[\.{30}\] {3}0% {2}0 B \/ 3\.8 KB\rtty\.csv \[#{30}\] 100% {2}3\.8 KB \/ 3\.8 KB\n/);
    expect(result.err).toMatch(/\riris \[#{30}\] 100% {2}150 \/ 150 rows {2}SUCCEEDED *\n$/);
  }, 60_000);

  it('puts the output beside the upload; where that is not an allowed output, says to give --output, which works', async () => {
    // Prepare
    const input = path.join(work, 'apart.csv');
    await writeFile(input, await readFile(IRIS_CSV));

    // Act
    const refused = await run('batch', 'run', APART, input);
    const given = await run('batch', 'run', APART, input, '--output', `s3://${LOCAL_BATCH_BUCKET}/out/`, '--interval', '0.2');

    // Assess
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^403 BATCH_LOCATION_NOT_ALLOWED: /m);
    expect(refused.err).toContain(`"batch run" put the output beside the upload, at s3://${LOCAL_BATCH_BUCKET}/in/results/; give --output`);
    expect(given.code).toBe(0);
    expect(JSON.parse(await readFile(`${input}.manifest.json`, 'utf8'))).toMatchObject({
      predictions: expect.stringMatching(new RegExp(`^s3://${LOCAL_BATCH_BUCKET}/out/job-`)) as unknown,
      input: { uri: expect.stringMatching(new RegExp(`^s3://${LOCAL_BATCH_BUCKET}/in/uploads/`)) as unknown },
    });
  }, 60_000);
});

describe('batch submit, wait, status, list and cancel', () => {
  let jobId: string;

  beforeAll(async () => {
    const uri = await putInput('inputs/iris.csv', await readFile(IRIS_CSV, 'utf8'));
    const submitted = await run(
      'batch',
      'submit',
      'iris',
      '--input',
      uri,
      '--output',
      `s3://${LOCAL_BATCH_BUCKET}/out/`,
      '--client-token',
      'first-try',
    );
    expect(submitted.code).toBe(0);
    jobId = jobIdIn(submitted.out);
  }, 30_000);

  it('submit prints the job and how to follow it; the same client token gets the same job', async () => {
    // Act
    const again = await run(
      'batch',
      'submit',
      'iris',
      '--input',
      `s3://${LOCAL_BATCH_BUCKET}/inputs/iris.csv`,
      '--output',
      `s3://${LOCAL_BATCH_BUCKET}/out/`,
      '--client-token',
      'first-try',
    );

    // Assess
    expect(again.code).toBe(0);
    expect(again.out).toMatch(new RegExp(`^Job ${jobId} was submitted before with this client token: [A-Z]+\\n`));
    expect(again.out).toContain(`  input   s3://${LOCAL_BATCH_BUCKET}/inputs/iris.csv (csv, 1 file, 3.8 KB)\n`);
    expect(again.out).toContain(`  output  s3://${LOCAL_BATCH_BUCKET}/out/${jobId}/\n`);
    expect(again.out).toContain(`Follow it: modelctl batch wait iris ${jobId}\n`);
  });

  it('wait exits 0 once the job has SUCCEEDED and prints it; status shows it, --json with download links', async () => {
    // Act
    const waited = await run('batch', 'wait', 'iris', jobId, '--interval', '0.1', '--timeout', '30');
    const status = await run('batch', 'status', 'iris', jobId);
    const json = await run('batch', 'status', 'iris', jobId, '--json');

    // Assess
    expect(waited.code).toBe(0);
    expect(waited.err).toMatch(new RegExp(`^Waiting for job ${jobId} of iris for at most 30 s`));
    expect(waited.out).toBe(status.out);
    expect(status.out).toMatch(
      new RegExp(
        `^Job ${jobId}: SUCCEEDED\\n {2}model {8}iris v1\\n {2}rows {9}150 read of 150 \\(100%\\)\\n {2}predicted {4}150\\n {2}failed {7}0\\n {2}submitted {4}\\S+ by batcher\\n`,
      ),
    );
    expect(status.out).toMatch(/^ {2}ended {8}\S+ \(\d+\.\d s\)$/m);
    expect(status.out).toContain('  ignored      species (columns the model does not take)\n');
    expect(status.out).toContain(`  predictions  s3://${LOCAL_BATCH_BUCKET}/out/${jobId}/predictions.jsonl\n`);
    expect(status.out).toContain('  options      500 rows per batch, at most 10 batches at once, 0% of the rows may fail\n');
    expect(status.out).not.toContain('reason');
    const reply = JSON.parse(json.out) as { job: BatchJob; links: Record<string, string> };
    expect(reply.job).toMatchObject({ jobId, state: 'SUCCEEDED', rows: 150, progress: { rowsRead: 150, predicted: 150, failed: 0 } });
    expect(Object.keys(reply.links).sort()).toEqual(['errors', 'manifest', 'predictions']);
    expect((await (await fetch(reply.links['predictions'] as string)).text()).trim().split('\n')).toHaveLength(150);
  }, 60_000);

  it('list shows the job in a table, filtered by --state', async () => {
    // Act
    const all = await run('batch', 'list', 'iris');
    const succeeded = await run('batch', 'list', 'iris', '--state', 'succeeded', '--limit', '100');
    const cancelled = await run('batch', 'list', 'iris', '--state', 'CANCELLED');
    const json = await run('batch', 'list', 'iris', '--limit', '1', '--json');
    const one = await run('batch', 'list', 'iris', '--limit', '1');

    // Assess
    expect(all.code).toBe(0);
    const [header, ...rows] = all.out.trimEnd().split('\n');
    expect(header).toMatch(/^ID {2,}STATE {2,}VERSION {2}ROWS {2}PREDICTED {2}FAILED {2}SUBMITTED$/);
    expect(rows.find((r) => r.startsWith(jobId))).toMatch(
      new RegExp(`^${jobId} {2,}SUCCEEDED {2}1 {8}150 {3}150 {8}0 {7}\\d{4}-\\d\\d-\\d\\dT`),
    );
    expect(succeeded.out).toContain(jobId);
    expect(cancelled.out).not.toContain(jobId);
    expect(JSON.parse(json.out)).toEqual({ jobs: [expect.objectContaining({ model: 'iris' })], cursor: expect.any(String) as unknown });
    expect(one.out.trimEnd().split('\n')).toHaveLength(2);
    expect(one.err).toBe('(more jobs follow: raise --limit, at most 100, or narrow with --state)\n');
    expect(requests.filter((r) => r.includes('state=SUCCEEDED'))).toEqual([
      `GET ${stack.url}/v1/models/iris/batch-jobs?limit=100&state=SUCCEEDED`,
    ]);
  });

  it('cancel of an ended job prints the 409 and exits 1', async () => {
    // Act
    const result = await run('batch', 'cancel', 'iris', jobId, '--reason', 'too late');

    // Assess
    expect(result).toMatchObject({ code: 1, out: '' });
    expect(result.err).toBe(`409 JOB_ALREADY_ENDED: Job ${jobId} has ended SUCCEEDED; there is nothing to cancel. (at job)\n`);
  });

  it('submit --wait --json waits and prints the ended job as JSON', async () => {
    // Act
    const result = await run(
      'batch',
      'submit',
      'iris',
      '--input',
      `s3://${LOCAL_BATCH_BUCKET}/inputs/iris.csv`,
      '--output',
      `s3://${LOCAL_BATCH_BUCKET}/out/`,
      '--format',
      'csv',
      '--wait',
      '--interval',
      '0.1',
      '--json',
    );

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({
      job: { state: 'SUCCEEDED', rows: 150 },
      links: { predictions: expect.any(String) as unknown },
    });
  }, 60_000);

  it('wait exits 2 when --timeout passes and the job keeps running; cancelled, wait exits 1 with the reason', async () => {
    // Prepare: 3,000 rows one per batch, one batch at a time: a job that runs for a while.
    const many = Array.from({ length: 20 }, () => `${iris.map((r) => r.features.join(',')).join('\n')}\n`).join('');
    const uri = await putInput('inputs/slow.csv', `sepal_length_cm,sepal_width_cm,petal_length_cm,petal_width_cm\n${many}`);
    const submitted = await run(
      'batch',
      'submit',
      'iris',
      '--input',
      uri,
      '--output',
      `s3://${LOCAL_BATCH_BUCKET}/out/`,
      '--rows-per-batch',
      '1',
      '--max-concurrency',
      '1',
    );
    const slow = jobIdIn(submitted.out);

    // Act
    const timedOut = await run('batch', 'wait', 'iris', slow, '--interval', '0.2', '--timeout', '1');
    const cancelled = await run('batch', 'cancel', 'iris', slow, '--reason', 'enough');
    const waited = await run('batch', 'wait', 'iris', slow);

    // Assess
    expect(timedOut.code).toBe(2);
    expect(timedOut.out).toMatch(new RegExp(`^Job ${slow}: (SUBMITTED|RUNNING)\\n`));
    expect(timedOut.err).toMatch(
      new RegExp(
        `Stopped waiting after 1 s \\(--timeout\\): job ${slow} is (SUBMITTED|RUNNING) and keeps running\\. Wait again: modelctl batch wait iris ${slow}\\n$`,
      ),
    );
    expect(cancelled.code).toBe(0);
    expect(cancelled.out).toMatch(new RegExp(`^Job ${slow}: CANCELLED\\n`));
    expect(cancelled.out).toContain('  reason       CANCELLED: Cancelled by batcher: enough\n');
    expect(waited.code).toBe(1);
    expect(waited.err).toMatch(new RegExp(`Job ${slow} was CANCELLED: CANCELLED: Cancelled by batcher: enough\\n$`));
  }, 60_000);
});

describe('scopes', () => {
  it('a batch:read token reads jobs but cannot submit or cancel (403 names batch:submit)', async () => {
    // Prepare
    const reader = (await run('token', '--scope', 'batch:read', '--data-dir', dataDir)).out.trim();

    // Act
    const listed = await runWith({ token: reader }, 'batch', 'list', 'iris');
    const refused = await runWith({ token: reader }, 'batch', 'cancel', 'iris', 'job-20261130t120501z-7f3k9q2m1x');

    // Assess
    expect(listed.code).toBe(0);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^403 FORBIDDEN: .*"batch:submit"/);
  });
});

describe('help', () => {
  it('prints the batch commands for "batch --help", "batch -h" and "help batch"', async () => {
    // Act
    const results = [await run('batch', '--help'), await run('batch', '-h'), await run('help', 'batch')];

    // Assess
    for (const result of results) {
      expect(result).toMatchObject({ code: 0, err: '', out: results[0]?.out });
    }
    const out = results[0]?.out ?? '';
    expect(out).toMatch(/^Usage: modelctl batch <command> \[options\]\n/);
    for (const command of [
      'submit <model>',
      'run <model> <file>',
      'status <model> <job>',
      'wait <model> <job>',
      'cancel <model> <job>',
      'list <model>',
    ]) {
      expect(out).toMatch(new RegExp(`^ {2}${command} {2,}\\S`, 'm'));
    }
    expect(out).not.toMatch(/^ {2}help /m);
    expect(requests).toEqual([]);
  });

  it.each([
    ['submit', '<model> --input s3://BUCKET/KEY --output s3://BUCKET/PREFIX/ [options]'],
    ['run', '<model> <file> [options]'],
    ['status', '<model> <job> [options]'],
    ['wait', '<model> <job> [options]'],
    ['cancel', '<model> <job> [options]'],
    ['list', '<model> [options]'],
  ])('prints the help of "batch %s" alone for "--help", "-h" and "help batch %s"', async (command, usage) => {
    // Act
    const results = [await run('batch', command, '--help'), await run('batch', command, '-h'), await run('help', 'batch', command)];

    // Assess
    for (const result of results) {
      expect(result).toMatchObject({ code: 0, err: '' });
      expect(result.out.split('\n')[0]).toBe(`Usage: modelctl batch ${command} ${usage}`);
      expect(result.out).not.toContain('Commands:');
      expect(result.out).toBe(results[0]?.out);
    }
    expect(requests).toEqual([]);
  });

  it('lists "batch" in the general help, and the batch scopes where scopes are listed', async () => {
    // Act
    const general = await run('--help');
    const token = await run('token', '--help');

    // Assess
    expect(general.out).toMatch(/^ {2}batch <command> +batch jobs over files in S3, or a local file$/m);
    expect(general.out).toContain('token --scope predict,models:read,models:write,models:promote,batch:submit,batch:read)');
    expect(token.out.replace(/\s+/g, ' ')).toContain('batch:submit, batch:read, experiments:outcomes.');
  });

  it('documents the exit codes of waiting and where "run" puts the output', async () => {
    // Act
    const wait = await run('batch', 'wait', '--help');
    const runHelp = await run('help', 'batch', 'run');

    // Assess
    for (const help of [wait.out, runHelp.out]) {
      expect(help).toContain(
        '\nExit codes:\n  0  the job SUCCEEDED\n  1  it FAILED or was CANCELLED (with the reason), or the API refused\n  2  --timeout passed (the job keeps running), or a usage mistake\n',
      );
    }
    expect(runHelp.out).toContain('<location>uploads/<id>/<file>');
    expect(runHelp.out).toContain('<location>results/');
    expect(runHelp.out).toMatch(/^ {2}-o <format> /m);
    expect(runHelp.out).toMatch(/^ {2}--output <uri> +s3:\/\/BUCKET\/PREFIX\/: where the job's files go/m);
  });
});

describe('usage errors', () => {
  it.each([
    [['batch', 'frobnicate'], "Unknown command 'frobnicate'", 'batch'],
    [['help', 'batch', 'frobnicate'], "Unknown command 'frobnicate'", 'batch'],
    [
      ['batch', 'submit', 'iris'],
      '"batch submit" needs --input s3://BUCKET/KEY (or a prefix ending in "/") and --output s3://BUCKET/PREFIX/.',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 'iris.csv', '--output', 's3://b/o/'],
      '--input is an S3 URI (s3://BUCKET/KEY), not "iris.csv".',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 's3://b/k.csv', '--output', 'json'],
      '--output is an S3 URI (s3://BUCKET/KEY), not "json".',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 's3://b/k.csv', '--input', 's3://b/j.csv', '--output', 's3://b/o/'],
      '"batch submit" takes one --input (a prefix ending in "/" reads every object under it).',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 's3://b/k.csv', '--output', 's3://b/o/', '--format', 'xml'],
      '--format is one of csv, jsonl, parquet, not "xml".',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 's3://b/k.csv', '--output', 's3://b/o/', '--tolerate', '120'],
      '--tolerate is a percent of the rows from 0 to 100, not "120".',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 's3://b/k.csv', '--output', 's3://b/o/', '--rows-per-batch', '0'],
      '--rows-per-batch is a whole number from 1, not "0".',
      'batch submit',
    ],
    [
      ['batch', 'submit', 'iris', '--input', 's3://b/k.csv', '--output', 's3://b/o/', '--timeout', '5'],
      '--interval and --timeout go with --wait.',
      'batch submit',
    ],
    [['batch', 'status', 'iris'], "Missing required argument 'job'", 'batch status'],
    [['batch', 'wait', 'iris', 'job-x', '--interval', '0'], '--interval is a number of seconds from 0.1, not "0".', 'batch wait'],
    [['batch', 'wait', 'iris', 'job-x', '--timeout', 'soon'], '--timeout is a number of seconds from 0, not "soon".', 'batch wait'],
    [['batch', 'cancel', 'iris', 'job-x', '--wait'], "Unknown option '--wait'", 'batch cancel'],
    [
      ['batch', 'list', 'iris', '--state', 'DONE'],
      '--state is one of SUBMITTED, RUNNING, SUCCEEDED, FAILED, CANCELLED, not "DONE".',
      'batch list',
    ],
    [['batch', 'list', 'iris', '--follow'], "Unknown option '--follow'", 'batch list'],
    [
      ['batch', 'run', 'iris', 'data/README.md'],
      'Cannot tell the format of "README.md" from its extension; give --format csv|jsonl|parquet.',
      'batch run',
    ],
    [['batch', 'run', 'iris', 'data/iris.csv', '--input', 's3://b/k.csv'], "Unknown option '--input'", 'batch run'],
    [
      ['batch', 'run', 'iris', 'data/iris.csv', '--tolerate', 'some'],
      '--tolerate is a percent of the rows from 0 to 100, not "some".',
      'batch run',
    ],
    [['batch', 'run', 'iris', 'data/iris.csv', '--bogus'], "Unknown option '--bogus'", 'batch run'],
    [['batch', 'run', 'iris', 'data/iris.csv', '-o', 'csv'], "Option '-o <format>' argument 'csv' is invalid.", 'batch run'],
    [['versions', 'iris', '--wait'], "Unknown option '--wait'", 'versions'],
    [['token', '--scope', 'batch:read', '--state', 'RUNNING'], "Unknown option '--state'", 'token'],
  ])('%j: exit 2, one line saying what, one naming the help, no request', async (argv, message, command) => {
    // Act
    const result = await run(...argv);

    // Assess
    expect(result).toMatchObject({ code: 2, out: '' });
    const [first = '', ...rest] = result.err.split('\n');
    expect(first.startsWith(message)).toBe(true);
    expect(rest).toEqual([`Run "modelctl ${command} --help" for usage.`, '']);
    expect(requests).toEqual([]);
  });

  it('prints the batch help on stderr, exit 2, when no batch command is given', async () => {
    // Act
    const result = await run('batch');

    // Assess
    expect(result).toMatchObject({
      code: 2,
      out: '',
      err: expect.stringMatching(/^Usage: modelctl batch <command> \[options\]\n/) as unknown,
    });
    expect(requests).toEqual([]);
  });

  it('refuses a file that does not exist before asking for an upload', async () => {
    // Act
    const result = await run('batch', 'run', 'iris', path.join(work, 'nowhere.csv'));

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toBe(`modelctl: cannot read ${path.join(work, 'nowhere.csv')}: no such file.\n`);
    expect(requests).toEqual([]);
  });

  it('refuses an empty file and a directory before asking for an upload', async () => {
    // Prepare
    const empty = path.join(work, 'empty.csv');
    await writeFile(empty, '');

    // Act
    const none = await run('batch', 'run', 'iris', empty);
    const folder = await run('batch', 'run', 'iris', work, '--format', 'csv');

    // Assess
    expect(none).toMatchObject({ code: 1, err: `modelctl: ${empty} is empty: there is nothing to predict.\n` });
    expect(folder.code).toBe(1);
    expect(folder.err).toBe(
      `modelctl: cannot read ${work}: it is a folder. Give one file (or put the files in S3 under one prefix and use "modelctl batch submit").\n`,
    );
    expect(requests).toEqual([]);
  });

  it("shows the API's refusal of a submission: an input that is not there", async () => {
    // Act
    const result = await run(
      'batch',
      'submit',
      'iris',
      '--input',
      `s3://${LOCAL_BATCH_BUCKET}/inputs/none.csv`,
      '--output',
      `s3://${LOCAL_BATCH_BUCKET}/out/`,
    );

    // Assess
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^404 INPUT_NOT_FOUND: .+\(at input\.uri\)\n$/);
  });
});

describe('progress of a job', () => {
  it('on a terminal: an unknown total first, then rows of the total and the state; a shorter line blanks the longer one', () => {
    // Prepare
    const writes: string[] = [];
    const progress = new Progress({ err: (text) => writes.push(text), errIsTTY: true }, 'iris', undefined, { unit: 'rows' });

    // Act
    progress.update(0, undefined, 'SUBMITTED');
    progress.update(0, undefined, 'SUBMITTED');
    progress.update(0, undefined, 'RUNNING');
    progress.update(30, 150, 'RUNNING');
    progress.update(150, 150, 'RUNNING'); // all read: not the end, the job assembles its files
    progress.update(150, 150, 'SUCCEEDED');
    progress.finish();
    progress.update(0, 150, 'RUNNING');

    // Assess
    expect(writes).toEqual([
      `\riris [${'.'.repeat(30)}]   ?%  0 rows  SUBMITTED`,
      `\riris [${'.'.repeat(30)}]   ?%  0 rows  RUNNING  `,
      `\riris [${'#'.repeat(6)}${'.'.repeat(24)}]  20%  30 / 150 rows  RUNNING`,
      `\riris [${'#'.repeat(30)}] 100%  150 / 150 rows  RUNNING`,
      `\riris [${'#'.repeat(30)}] 100%  150 / 150 rows  SUCCEEDED`,
      '\n',
    ]);
  });

  it('off a terminal: a line per change, at most one per interval, and the newest state at the end', () => {
    // Prepare
    const lines: string[] = [];
    let now = 0;
    const progress = new Progress({ err: (text) => lines.push(text), errIsTTY: false }, 'iris', undefined, {
      unit: 'rows',
      lineEveryMs: 5_000,
      now: () => now,
    });

    // Act
    progress.update(0, undefined, 'RUNNING');
    now = 1_000;
    progress.update(10, 150, 'RUNNING'); // too soon: held
    now = 2_000;
    progress.update(20, 150, 'RUNNING'); // too soon: held, replaces the one held
    now = 6_000;
    progress.update(20, 150, 'RUNNING'); // a change since the last line, late enough
    now = 7_000;
    progress.update(20, 150, 'RUNNING'); // no change
    now = 8_000;
    progress.update(150, 150, 'SUCCEEDED'); // too soon: written at the end
    progress.finish();

    // Assess
    expect(lines).toEqual(['iris: 0 rows  RUNNING\n', 'iris: 20 / 150 rows (13%)  RUNNING\n', 'iris: 150 / 150 rows (100%)  SUCCEEDED\n']);
  });

  it('a bar interrupted by a message ends its line and draws anew', () => {
    // Prepare
    const writes: string[] = [];
    const progress = new Progress({ err: (text) => writes.push(text), errIsTTY: true }, 'iris', 10, { unit: 'rows' });

    // Act
    progress.update(5, 10, 'RUNNING');
    progress.interrupt();
    progress.update(5, 10, 'RUNNING');

    // Assess
    expect(writes).toEqual([
      `\riris [${'#'.repeat(15)}${'.'.repeat(15)}]  50%  5 / 10 rows  RUNNING`,
      '\n',
      `\riris [${'#'.repeat(15)}${'.'.repeat(15)}]  50%  5 / 10 rows  RUNNING`,
    ]);
  });
});

describe('helpers', () => {
  it('uploads a file under a name the API takes, keeping the extension that tells its format', () => {
    expect(uploadName('iris.csv')).toBe('iris.csv');
    expect(uploadName('my data (1).jsonl')).toBe('my_data__1_.jsonl');
    expect(uploadName(`${'x'.repeat(300)}.parquet`)).toBe(`${'x'.repeat(192)}.parquet`);
    expect(uploadName('..')).toBe('input');
  });

  it('puts the output beside the upload: <location>results/', () => {
    expect(resultsLocation('s3://onnx-batch/uploads/0b6f/iris.csv')).toBe('s3://onnx-batch/results/');
    expect(resultsLocation('s3://data/team/uploads/in/uploads/0b6f/iris.csv')).toBe('s3://data/team/uploads/in/results/');
    expect(() => resultsLocation('s3://data/elsewhere/iris.csv')).toThrow('give --output s3://BUCKET/PREFIX/');
  });

  it('lists jobs whose row count is not known yet with "-"', () => {
    // Prepare
    const job = {
      jobId: 'job-20261130t120501z-7f3k9q2m1x',
      state: 'RUNNING',
      modelVersion: '2',
      progress: { rowsRead: 0, predicted: 0, failed: 0 },
      submittedAt: '2026-11-30T12:05:01.000Z',
    } as unknown as BatchJob;

    // Act
    const table = jobsTable([job]);

    // Assess
    expect(table.split('\n')[1]).toBe(
      'job-20261130t120501z-7f3k9q2m1x  RUNNING  2        -     0          0       2026-11-30T12:05:01.000Z',
    );
  });
});
