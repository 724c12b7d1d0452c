/**
 * Batch jobs end to end on the local stack (real S3 and DynamoDB servers, real ONNX Runtime, the
 * emulated Distributed Map calling the same batch and steps handlers as on Lambda), over the job
 * API: submission checks, CSV / JSON Lines / Parquet jobs whose outputs equal the HTTP API's
 * answers in input order, error records and the tolerated failure percentage, client tokens,
 * cancellation, scopes, and one `session.run` per batch.
 */
import { jest } from '@jest/globals';
import * as ort from 'onnxruntime-node';
import type { BatchJob, JobManifest } from '../../functions/core/batch-contract.js';
import { LOCAL_BATCH_BUCKET } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';
import { bearer } from '../fixtures/tokens.js';
import { jsonLines, objectText, putBatchObject } from '../fixtures/batch-objects.js';
import { irisBatch, irisRows, writeBatchData, type BatchDataFormat, type Corruption } from '../fixtures/batch-data.js';

let stack: TestStack;
let token: string;

beforeAll(async () => {
  stack = await startTestStack({ batch: { retry: { intervalMs: 5 } } });
  token = await stack.auth!.mint({ subject: 'batch-user', scopes: ['predict', 'models:read', 'batch:submit', 'batch:read'] });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

function api(method: string, path: string, body?: unknown, as = token): Promise<JsonReply> {
  return call(stack.url, method, path, body, bearer(as));
}

const put = (key: string, body: string | Uint8Array): Promise<string> => putBatchObject(stack.clients.s3, key, body);
const text = (uri: string): Promise<string> => objectText(stack.clients.s3, uri);
const lines = jsonLines;

async function submit(body: Record<string, unknown>, model = 'iris'): Promise<JsonReply> {
  return api('POST', `/v1/models/${model}/batch-jobs`, { output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` }, ...body });
}

/** Polls the job until it has ended. */
async function ended(jobId: string, model = 'iris', timeoutMs = 240_000): Promise<{ job: BatchJob; links?: Record<string, string> }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reply = await api('GET', `/v1/models/${model}/batch-jobs/${jobId}`);
    expect(reply.status).toBe(200);
    const body = reply.body as { job: BatchJob; links?: Record<string, string> };
    if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(body.job.state)) return body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${body.job.state}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function jobOf(reply: JsonReply): Promise<BatchJob> {
  expect(reply.status).toBe(202);
  return (reply.body as { job: BatchJob }).job;
}

/** The same records through the predict route, 1,000 per request: the API's own answers. */
async function viaApi(records: readonly Record<string, unknown>[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < records.length; i += 1000) {
    const reply = await api('POST', '/v1/models/iris/predict', { instances: records.slice(i, i + 1000) });
    expect(reply.status).toBe(200);
    out.push(...(reply.body as { predictions: unknown[] }).predictions);
  }
  return out;
}

describe('jobs over 100,000 rows', () => {
  const ROWS = 100_000;
  let expected: unknown[];

  beforeAll(async () => {
    expected = await viaApi(irisRows(ROWS));
  }, 120_000);

  it.each<BatchDataFormat>(['csv', 'jsonl', 'parquet'])(
    'a %s job predicts every row as the HTTP API does, in input order',
    async (format) => {
      // Prepare
      const data = writeBatchData(format, ROWS);
      const uri = await put(`inputs/iris-100k.${format}`, await data);

      // Act
      const job = await jobOf(await submit({ input: { uri }, rowsPerBatch: 1000, maxConcurrency: 4 }));
      const done = await ended(job.jobId);

      // Assess
      expect(done.job).toMatchObject({
        state: 'SUCCEEDED',
        rows: ROWS,
        progress: { rowsRead: ROWS, predicted: ROWS, failed: 0 },
        modelVersion: '1',
      });
      expect(done.job.input.format).toBe(format);
      const predictions = lines(await text(done.job.output.predictions));
      expect(predictions.length).toBe(ROWS);
      predictions.forEach((line, i) => expect(line['row']).toBe(i));
      expect(predictions.map((line) => line['prediction'])).toEqual(expected);
      expect(await text(done.job.output.errors)).toBe('');
      const manifest = JSON.parse(await text(done.job.output.manifest)) as JobManifest;
      expect(manifest).toMatchObject({
        jobId: job.jobId,
        model: 'iris',
        modelVersion: '1',
        state: 'SUCCEEDED',
        rows: ROWS,
        predicted: ROWS,
        failed: 0,
      });
      expect(done.links).toEqual({ predictions: expect.any(String), errors: expect.any(String), manifest: expect.any(String) });
    },
    300_000,
  );
});

describe('bad rows: error records and the tolerated failure percentage', () => {
  const ROWS = 20_000;
  /** 3% of the rows, spread over the input, each corrupted one of the ways a format allows. */
  function corruptions(): Map<number, Corruption> {
    const kinds: Corruption[] = ['wrong-type', 'nan', 'missing-field', 'malformed'];
    const map = new Map<number, Corruption>();
    for (let k = 0; k < ROWS * 0.03; k++) map.set(Math.floor((k * 104_729) % ROWS), kinds[k % kinds.length] as Corruption);
    expect(map.size).toBe(ROWS * 0.03);
    return map;
  }

  it.each(['csv', 'jsonl'] as const)(
    'a %s job with 3%% bad rows and 5%% tolerance succeeds, with exactly those rows in errors.jsonl',
    async (format) => {
      // Prepare: the input also carries a column the model does not take (the label).
      const data = irisBatch({ rows: ROWS, format, corrupt: corruptions(), species: true });
      const uri = await put(`inputs/bad-rows.${format}`, data.bytes);

      // Act
      const job = await jobOf(await submit({ input: { uri }, toleratedFailurePercentage: 5 }));
      const done = await ended(job.jobId);

      // Assess
      expect(job.input.ignoredColumns).toEqual(['species']);
      expect(done.job).toMatchObject({
        state: 'SUCCEEDED',
        rows: ROWS,
        progress: { rowsRead: ROWS, predicted: ROWS - data.corrupted.length, failed: data.corrupted.length },
      });
      const errors = lines(await text(done.job.output.errors));
      expect(errors.map((e) => ({ row: e['row'], code: e['code'] }))).toEqual(data.corrupted.map(({ row, code }) => ({ row, code })));
      for (const error of errors) {
        expect(error).toMatchObject({
          message: expect.any(String),
          path: expect.any(Array),
          line: expect.any(Number),
          file: `inputs/bad-rows.${format}`,
        });
        expect(JSON.stringify(error).length).toBeLessThan(1_000);
      }
      // Every input row is in exactly one of the two files, in input order.
      const predicted = lines(await text(done.job.output.predictions)).map((p) => p['row'] as number);
      const bad = new Set(data.corrupted.map((c) => c.row));
      expect(predicted).toEqual(Array.from({ length: ROWS }, (_, i) => i).filter((i) => !bad.has(i)));
    },
    120_000,
  );

  it('the same job with 1% tolerance fails, saying why, and still writes both files', async () => {
    const data = irisBatch({ rows: ROWS, format: 'csv', corrupt: corruptions() });
    const uri = await put('inputs/bad-rows-strict.csv', data.bytes);

    const job = await jobOf(await submit({ input: { uri }, toleratedFailurePercentage: 1 }));
    const done = await ended(job.jobId);

    expect(done.job.state).toBe('FAILED');
    expect(done.job.failure).toMatchObject({ code: 'TOO_MANY_FAILED_ROWS' });
    expect(done.job.failure?.message).toContain(`${data.corrupted.length} of ${ROWS} rows (3.00%)`);
    expect(done.job.failure?.message).toContain('tolerates 1%');
    expect(done.job.failure?.errorSample?.map((e) => e.row)).toEqual(data.corrupted.slice(0, 10).map((c) => c.row));
    expect(lines(await text(done.job.output.errors)).length).toBe(data.corrupted.length);
    expect(lines(await text(done.job.output.predictions)).length).toBe(ROWS - data.corrupted.length);
    expect(JSON.parse(await text(done.job.output.manifest))).toMatchObject({ state: 'FAILED', failure: { code: 'TOO_MANY_FAILED_ROWS' } });
  }, 120_000);
});

describe('submission', () => {
  let csv: string;

  beforeAll(async () => {
    csv = await put('inputs/iris-300.csv', irisBatch({ rows: 300, format: 'csv' }).bytes);
  });

  it('returns the same job to a retry with the same client token, and refuses the token for another request', async () => {
    const first = await submit({ input: { uri: csv }, clientToken: 'nightly-2026-11-30' });
    const again = await submit({ input: { uri: csv }, clientToken: 'nightly-2026-11-30' });
    const other = await submit({ input: { uri: csv }, clientToken: 'nightly-2026-11-30', rowsPerBatch: 10 });

    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect((again.body as { job: BatchJob }).job.jobId).toBe((first.body as { job: BatchJob }).job.jobId);
    expect(other.status).toBe(409);
    expect(errorOf(other)).toMatchObject({ code: 'CLIENT_TOKEN_REUSED', path: 'clientToken' });
    const listed = (await api('GET', '/v1/models/iris/batch-jobs?limit=100')).body as { jobs: BatchJob[] };
    expect(listed.jobs.filter((j) => j.clientToken === 'nightly-2026-11-30')).toHaveLength(1);
  });

  it('refuses an input that lacks a feature the model takes, naming it, and stores no job', async () => {
    const before = ((await api('GET', '/v1/models/iris/batch-jobs?limit=100')).body as { jobs: BatchJob[] }).jobs.length;
    const header = 'sepal_length_cm,sepal_width_cm,petal_length_cm,species\n5.1,3.5,1.4,setosa\n';
    const uri = await put('inputs/no-petal-width.csv', header);
    const jsonl = await put('inputs/no-petal-width.jsonl', '{"sepal_length_cm":5.1,"sepal_width_cm":3.5,"petal_length_cm":1.4}\n');

    const replies = [await submit({ input: { uri } }), await submit({ input: { uri: jsonl } })];

    for (const reply of replies) {
      expect(reply.status).toBe(400);
      expect(errorOf(reply)).toMatchObject({ code: 'MISSING_FEATURES', path: 'input.uri' });
      expect(errorOf(reply).message).toContain('"petal_width_cm"');
    }
    expect(((await api('GET', '/v1/models/iris/batch-jobs?limit=100')).body as { jobs: BatchJob[] }).jobs.length).toBe(before);
  });

  it('says so when a CSV header is one column holding another separator', async () => {
    const uri = await put('inputs/semicolons.csv', 'sepal_length_cm;sepal_width_cm;petal_length_cm;petal_width_cm\n5.1;3.5;1.4;0.2\n');
    const reply = await submit({ input: { uri } });
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code: 'MISSING_FEATURES' });
    expect(errorOf(reply).message).toContain('one column holding ";"');
  });

  it.each<[string, () => Promise<Record<string, unknown>>, number, string, string]>([
    [
      'an input outside the allowed locations',
      async () => ({ input: { uri: 's3://someone-elses-bucket/data.csv' } }),
      403,
      'BATCH_LOCATION_NOT_ALLOWED',
      'input.uri',
    ],
    [
      'an output outside the allowed locations',
      async () => ({ input: { uri: csv }, output: { uri: 's3://onnx-artifacts/out/' } }),
      403,
      'BATCH_LOCATION_NOT_ALLOWED',
      'output.uri',
    ],
    [
      'an input that does not exist',
      async () => ({ input: { uri: `s3://${LOCAL_BATCH_BUCKET}/inputs/nothing.csv` } }),
      404,
      'INPUT_NOT_FOUND',
      'input.uri',
    ],
    ['an empty prefix', async () => ({ input: { uri: `s3://${LOCAL_BATCH_BUCKET}/nothing-here/` } }), 404, 'INPUT_NOT_FOUND', 'input.uri'],
    [
      'a file whose format cannot be told',
      async () => ({ input: { uri: await put('inputs/data.txt', 'a,b\n1,2\n') } }),
      400,
      'UNKNOWN_FORMAT',
      'input.format',
    ],
    [
      'a JSON Lines file whose first line is not JSON',
      async () => ({ input: { uri: await put('inputs/broken.jsonl', '{"sepal_length_cm": 5.1,\n') } }),
      400,
      'INPUT_UNREADABLE',
      'input.uri',
    ],
    [
      'a Parquet file that is not Parquet',
      async () => ({ input: { uri: await put('inputs/fake.parquet', 'sepal_length_cm\n5.1\n') } }),
      400,
      'INPUT_UNREADABLE',
      'input.uri',
    ],
    [
      'an output that is not a prefix',
      async () => ({ input: { uri: csv }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/out.jsonl` } }),
      400,
      'INVALID_BATCH_JOB',
      'output.uri',
    ],
    ['a version that does not exist', async () => ({ input: { uri: csv }, version: '99' }), 404, 'VERSION_NOT_FOUND', 'version'],
    [
      'more rows per batch than the function takes',
      async () => ({ input: { uri: csv }, rowsPerBatch: 1001 }),
      400,
      'INVALID_BATCH_JOB',
      'rowsPerBatch',
    ],
    [
      'more concurrency than the deployment allows',
      async () => ({ input: { uri: csv }, maxConcurrency: 101 }),
      400,
      'INVALID_BATCH_JOB',
      'maxConcurrency',
    ],
    [
      'a tolerance above 100%',
      async () => ({ input: { uri: csv }, toleratedFailurePercentage: 101 }),
      400,
      'INVALID_REQUEST',
      'toleratedFailurePercentage',
    ],
    ['a URI that is not S3', async () => ({ input: { uri: 'https://example.com/data.csv' } }), 400, 'INVALID_REQUEST', 'input.uri'],
    [
      'a key that climbs out of the allowed location',
      async () => ({ input: { uri: csv }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/../onnx-artifacts/escaped/` } }),
      400,
      'INVALID_BATCH_JOB',
      'output.uri',
    ],
    [
      'an input key with a "." segment',
      async () => ({ input: { uri: `s3://${LOCAL_BATCH_BUCKET}/inputs/./iris-300.csv` } }),
      400,
      'INVALID_BATCH_JOB',
      'input.uri',
    ],
    [
      'an output prefix with "//"',
      async () => ({ input: { uri: csv }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results//` } }),
      400,
      'INVALID_BATCH_JOB',
      'output.uri',
    ],
    [
      'an output key with an unpaired surrogate',
      async () => ({ input: { uri: csv }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/\ud800/` } }),
      400,
      'INVALID_BATCH_JOB',
      'output.uri',
    ],
    [
      'an input key with a control character',
      async () => ({ input: { uri: `s3://${LOCAL_BATCH_BUCKET}/inputs/\u001b.csv` } }),
      400,
      'INVALID_BATCH_JOB',
      'input.uri',
    ],
    [
      'a tolerance too small to mean anything but 0',
      async () => ({ input: { uri: csv }, toleratedFailurePercentage: 1e-131 }),
      400,
      'INVALID_BATCH_JOB',
      'toleratedFailurePercentage',
    ],
    ['a field the API does not know', async () => ({ input: { uri: csv }, priority: 'high' }), 400, 'UNKNOWN_FIELD', 'priority'],
  ])('refuses %s', async (_, body, status, code, path) => {
    const reply = await submit(await body());
    expect(reply.status).toBe(status);
    expect(errorOf(reply)).toMatchObject({ code, path });
    expect(reply.text.length).toBeLessThan(1_500);
  });

  it('refuses a prefix of more than 1,000 files, reading one page of the listing', async () => {
    for (let i = 0; i < 1_001; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, 1_001 - i) }, (_, k) =>
          put(`inputs/many/${String(i + k).padStart(4, '0')}.csv`, 'sepal_length_cm\n'),
        ),
      );
    }
    const reply = await submit({ input: { uri: `s3://${LOCAL_BATCH_BUCKET}/inputs/many/` } });
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code: 'TOO_MANY_INPUT_FILES', path: 'input.uri' });
  }, 60_000);

  it('takes a retry that writes the defaults out as the same request', async () => {
    const first = await submit({ input: { uri: csv }, clientToken: 'defaults-1' });
    const spelled = await submit({
      input: { uri: csv, format: 'csv' },
      rowsPerBatch: 500,
      maxConcurrency: 10,
      toleratedFailurePercentage: 0,
      clientToken: 'defaults-1',
    });
    expect(spelled.status).toBe(200);
    expect((spelled.body as { job: BatchJob }).job.jobId).toBe((first.body as { job: BatchJob }).job.jobId);
  });

  it('bounds what a job shows of a very wide input, and counts it all', async () => {
    const record: Record<string, number> = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };
    for (let i = 0; i < 25_000; i++) record[`extra_${i}_${'x'.repeat(20)}`] = i;
    const uri = await put('inputs/wide.jsonl', `${JSON.stringify(record)}\n`);

    const reply = await submit({ input: { uri } });
    const done = await ended((await jobOf(reply)).jobId);

    expect(reply.text.length).toBeLessThan(40_000);
    expect(done.job).toMatchObject({ state: 'SUCCEEDED', rows: 1, input: { columnCount: 25_004, ignoredColumnCount: 25_000 } });
    expect(done.job.input.columns).toHaveLength(100);
  });

  it('reads every file under a prefix, numbering rows across them in key order', async () => {
    await put('inputs/parts/a.csv', irisBatch({ rows: 120, format: 'csv' }).bytes);
    await put('inputs/parts/b.csv', irisBatch({ rows: 80, format: 'csv', corrupt: { 5: 'nan' } }).bytes);

    const done = await ended(
      (await jobOf(await submit({ input: { uri: `s3://${LOCAL_BATCH_BUCKET}/inputs/parts/` }, toleratedFailurePercentage: 1 }))).jobId,
    );

    expect(done.job).toMatchObject({ state: 'SUCCEEDED', rows: 200, progress: { predicted: 199, failed: 1 } });
    expect(done.job.input.files.map((f) => f.key)).toEqual(['inputs/parts/a.csv', 'inputs/parts/b.csv']);
    expect(lines(await text(done.job.output.errors))).toEqual([
      expect.objectContaining({ row: 125, line: 7, file: 'inputs/parts/b.csv', code: 'NOT_FINITE' }),
    ]);
  });
});

/**
 * A step or batch that ran after the job was cancelled is refused, and logs it as a WARN line; how
 * many do depends on where the workflow was, so only what they say is fixed.
 */
function expectOnlyStateChangeRefusals(jobId: string): void {
  const refusals = stack.log.take({ level: 'WARN', message: 'batch refused', jobId });
  for (const refusal of refusals) expect(refusal).toMatchObject({ code: 'JOB_STATE_CHANGED' });
}

describe('the job API', () => {
  it('runs one session.run per batch', async () => {
    // Prepare
    const uri = await put('inputs/runs.jsonl', irisBatch({ rows: 5_000, format: 'jsonl' }).bytes);
    const run = jest.spyOn((ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype, 'run');
    try {
      // Act
      const done = await ended((await jobOf(await submit({ input: { uri }, rowsPerBatch: 1000 }))).jobId);
      // Assess: 5 batches of 1,000 records, each one run.
      expect(done.job.state).toBe('SUCCEEDED');
      expect(run).toHaveBeenCalledTimes(5);
    } finally {
      run.mockRestore();
    }
  });

  it('cancels a running job, and refuses to cancel it twice', async () => {
    const uri = await put('inputs/slow.csv', irisBatch({ rows: 3_000, format: 'csv' }).bytes);
    const job = await jobOf(await submit({ input: { uri }, rowsPerBatch: 1, maxConcurrency: 1 }));

    const cancelled = await api('POST', `/v1/models/iris/batch-jobs/${job.jobId}/cancel`, { reason: 'wrong input' });
    const again = await api('POST', `/v1/models/iris/batch-jobs/${job.jobId}/cancel`, {});
    await stack.batchRunner.settled((cancelled.body as { job: BatchJob }).job.executionId as string);
    const after = (await api('GET', `/v1/models/iris/batch-jobs/${job.jobId}`)).body as { job: BatchJob };

    expect(cancelled.status).toBe(200);
    expect((cancelled.body as { job: BatchJob }).job).toMatchObject({
      state: 'CANCELLED',
      failure: { code: 'CANCELLED', message: 'Cancelled by batch-user: wrong input' },
    });
    expect(again.status).toBe(409);
    expect(errorOf(again).code).toBe('JOB_ALREADY_ENDED');
    const unprintable = await api('POST', `/v1/models/iris/batch-jobs/${job.jobId}/cancel`, { reason: 'stop\u001b[2J\ud800' });
    expect(unprintable.status).toBe(400);
    expect(errorOf(unprintable).path).toBe('reason');
    expect(after.job.state).toBe('CANCELLED');
    expect(after.job.progress.rowsRead).toBeLessThan(3_000);
    expectOnlyStateChangeRefusals(job.jobId);
  });

  it('lets exactly one of concurrent cancels cancel, with its reason', async () => {
    const uri = await put('inputs/slow-2.csv', irisBatch({ rows: 3_000, format: 'csv' }).bytes);
    const job = await jobOf(await submit({ input: { uri }, rowsPerBatch: 1, maxConcurrency: 1 }));

    const replies = await Promise.all(
      [1, 2, 3].map((n) => api('POST', `/v1/models/iris/batch-jobs/${job.jobId}/cancel`, { reason: `cancel ${n}` })),
    );
    await stack.batchRunner.settled(job.executionId as string);
    const after = ((await api('GET', `/v1/models/iris/batch-jobs/${job.jobId}`)).body as { job: BatchJob }).job;

    expect(replies.map((r) => r.status).sort()).toEqual([200, 409, 409]);
    const winner = replies.find((r) => r.status === 200)?.body as { job: BatchJob };
    expect(after).toMatchObject({ state: 'CANCELLED', failure: winner.job.failure });
    expect(after.failure?.code).toBe('CANCELLED');
    expectOnlyStateChangeRefusals(job.jobId);
  });

  it('fails the batches of an input replaced by other content of the same size while the job runs', async () => {
    // Prepare: one row per batch, one at a time, so the job is still running when the file changes.
    const original = irisBatch({ rows: 2_000, format: 'csv' }).bytes;
    const replaced = Buffer.from(original);
    for (let i = replaced.indexOf(10) + 1; i < replaced.length; i++) if (replaced[i] === 0x35) replaced[i] = 0x36; // every '5' becomes '6'
    const uri = await put('inputs/replaced.csv', original);
    const job = await jobOf(await submit({ input: { uri }, rowsPerBatch: 1, maxConcurrency: 1, toleratedFailurePercentage: 100 }));
    for (let i = 0; i < 400; i++) {
      const running = ((await api('GET', `/v1/models/iris/batch-jobs/${job.jobId}`)).body as { job: BatchJob }).job;
      if (running.progress.rowsRead > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    // Act
    await put('inputs/replaced.csv', replaced);
    const done = await ended(job.jobId);

    // Assess: rows read before are predictions, every later one an INPUT_CHANGED error record; none mixes the two files.
    const errors = lines(await text(done.job.output.errors));
    const predictions = lines(await text(done.job.output.predictions));
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors.map((e) => e['code']))).toEqual(new Set(['INPUT_CHANGED']));
    expect(predictions.length + errors.length).toBe(2_000);
    const firstError = errors[0]?.['row'] as number;
    expect(predictions.every((p) => (p['row'] as number) < firstError)).toBe(true);
    // Each refused batch (one row each) said why in the batch function's log.
    const refusals = stack.log.take({ level: 'WARN', message: 'batch refused', jobId: job.jobId });
    expect(refusals).toHaveLength(errors.length);
    expect(new Set(refusals.map((line) => `${line['function']} ${line['code']}`))).toEqual(new Set(['batch INPUT_CHANGED']));
  }, 120_000);

  it('answers 404 for an unknown job and 400 for a malformed id', async () => {
    const unknown = await api('GET', '/v1/models/iris/batch-jobs/job-20261130t000000z-nothing');
    const malformed = await api('GET', '/v1/models/iris/batch-jobs/..%2F..%2Fetc');
    expect(unknown.status).toBe(404);
    expect(errorOf(unknown).code).toBe('JOB_NOT_FOUND');
    expect(malformed.status).toBe(400);
    expect(errorOf(malformed)).toMatchObject({ code: 'INVALID_JOB_ID', path: 'job' });
  });

  it('lets batch:read read jobs but not submit them, and batch:submit submit but not read models', async () => {
    const reader = await stack.auth!.mint({ subject: 'reader', scopes: ['batch:read'] });
    const submitter = await stack.auth!.mint({ subject: 'submitter', scopes: ['batch:submit:iris'] });
    const uri = await put('inputs/scoped.csv', irisBatch({ rows: 10, format: 'csv' }).bytes);

    const list = await api('GET', '/v1/models/iris/batch-jobs', undefined, reader);
    const refused = await api(
      'POST',
      '/v1/models/iris/batch-jobs',
      { input: { uri }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` } },
      reader,
    );
    const submitted = await api(
      'POST',
      '/v1/models/iris/batch-jobs',
      { input: { uri }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` } },
      submitter,
    );
    const models = await api('GET', '/v1/models/iris', undefined, submitter);
    const otherModel = await api(
      'POST',
      '/v1/models/wine/batch-jobs',
      { input: { uri }, output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` } },
      submitter,
    );

    expect(list.status).toBe(200);
    expect(refused.status).toBe(403);
    expect(submitted.status).toBe(202);
    expect((submitted.body as { job: BatchJob }).job.submittedBy).toBe('submitter');
    expect(models.status).toBe(403);
    expect(otherModel.status).toBe(403);
  });

  it('hands out an upload URL for an input file under the allowed location', async () => {
    const reply = await api('POST', '/v1/models/iris/batch-inputs', { fileName: 'mine.csv' });
    expect(reply.status).toBe(201);
    const { uploadUrl, uri } = reply.body as { uploadUrl: string; uri: string };
    expect(uri).toMatch(new RegExp(`^s3://${LOCAL_BATCH_BUCKET}/uploads/[0-9a-f-]{36}/mine\\.csv$`));
    const uploaded = await fetch(uploadUrl, { method: 'PUT', body: Buffer.from(irisBatch({ rows: 3, format: 'csv' }).bytes) });
    expect(uploaded.status).toBe(200);
    expect((await ended((await jobOf(await submit({ input: { uri } }))).jobId)).job).toMatchObject({ state: 'SUCCEEDED', rows: 3 });
    expect((await api('POST', '/v1/models/iris/batch-inputs', { fileName: '../../etc/passwd' })).status).toBe(400);
  });
});
