/**
 * The workflow's own steps: the plan writes the splits and the job's row count; assembly puts
 * every row in exactly one output file, in input order, including the rows of batches that
 * failed whole (with their error, from the ResultWriter's FAILED results) and of splits never
 * run; it judges the tolerance at its boundary, refuses to trust outputs that do not add up, and
 * leaves a cancelled job cancelled. Real readers over an in-memory S3 and job table.
 */
import { JOB_FILES, partKey, type BatchJob, type PlanResult, type Split, type WorkflowInput } from '../../functions/core/batch-contract.js';
import { planSplits } from '../../functions/core/batch-input.js';
import { BatchSteps, failureOf } from '../../functions/core/batch-steps.js';
import { errorsPartKey } from '../../functions/core/batch-worker.js';
import { InMemoryDataObjects } from '../fixtures/in-memory-data.js';
import { InMemoryBatchJobStore } from '../fixtures/in-memory-jobs.js';
import { irisBatch } from '../fixtures/batch-data.js';

const OUT = { bucket: 'out', prefix: 'results/job-1/' };
let objects: InMemoryDataObjects;
let jobs: InMemoryBatchJobStore;
let steps: BatchSteps;
let workflow: WorkflowInput;

function job(): BatchJob {
  return {
    jobId: 'job-1',
    model: 'iris',
    modelVersion: '1',
    state: 'RUNNING',
    input: { uri: 's3://in/data.csv', format: 'csv', files: [], columns: [], columnCount: 0, ignoredColumns: [], ignoredColumnCount: 0 },
    output: { uri: 's3://out/results/job-1/', predictions: '', errors: '', manifest: '' },
    options: { rowsPerBatch: 3, maxConcurrency: 1, toleratedFailurePercentage: 0 },
    progress: { rowsRead: 0, predicted: 0, failed: 0 },
    submittedBy: 'test',
    submittedAt: '2026-11-30T12:00:00.000Z',
    startedAt: '2026-11-30T12:00:01.000Z',
    revision: 1,
  };
}

beforeEach(async () => {
  objects = new InMemoryDataObjects();
  jobs = new InMemoryBatchJobStore();
  steps = new BatchSteps({ objects, jobs, planSplits, now: () => new Date('2026-11-30T12:05:00.000Z') });
  const file = objects.set({ bucket: 'in', key: 'data.csv' }, irisBatch({ rows: 10, format: 'csv' }).bytes);
  workflow = {
    jobId: 'job-1',
    model: 'iris',
    version: '1',
    format: 'csv',
    files: [file],
    output: OUT,
    options: { rowsPerBatch: 3, maxConcurrency: 1, toleratedFailurePercentage: 0 },
  };
  await jobs.create(job());
});

/** Writes the parts a batch function would: every row predicted, except `errors` (row → code). */
function writeParts(plan: PlanResult, splits: Split[], skip: number[] = [], errors: Record<number, string> = {}): void {
  for (const split of splits) {
    if (skip.includes(split.index)) continue;
    const rows = Array.from({ length: split.rows }, (_, i) => split.firstRow + i);
    const bad = rows.filter((r) => errors[r] !== undefined);
    if (bad.length > 0)
      objects.set(
        { bucket: OUT.bucket, key: errorsPartKey(OUT.prefix, split.index) },
        `${bad.map((row) => JSON.stringify({ row, code: errors[row], message: 'bad', path: [] })).join('\n')}\n`,
      );
    const good = rows.filter((r) => errors[r] === undefined).map((row) => JSON.stringify({ row, prediction: { label: `r${row}` } }));
    objects.set({ bucket: OUT.bucket, key: partKey(OUT.prefix, split.index) }, good.length > 0 ? `${good.join('\n')}\n` : '');
  }
  expect(plan.splitCount).toBe(splits.length);
}

async function planned(): Promise<{ plan: PlanResult; splits: Split[] }> {
  const plan = await steps.plan(workflow);
  const text = Buffer.from(objects.bytes(plan.splits) ?? new Uint8Array()).toString('utf8');
  return {
    plan,
    splits: text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Split),
  };
}

function output(name: string): Array<Record<string, unknown>> {
  const bytes = objects.bytes({ bucket: OUT.bucket, key: OUT.prefix + name });
  return Buffer.from(bytes ?? new Uint8Array())
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

it('plans the splits into the job folder and records the row count', async () => {
  const { plan, splits } = await planned();

  expect(plan).toEqual({
    splits: { bucket: 'out', key: `${OUT.prefix}${JOB_FILES.splits}` },
    splitCount: 4,
    rows: 10,
    splitsPerBatch: 1,
    columns: ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'],
    mapResultsPrefix: `${OUT.prefix}_map`,
  });
  expect(splits.map((s) => [s.firstRow, s.rows])).toEqual([
    [0, 3],
    [3, 3],
    [6, 3],
    [9, 1],
  ]);
  expect(await jobs.get('iris', 'job-1')).toMatchObject({ state: 'RUNNING', rows: 10 });
});

it('assembles every row into exactly one file, in input order, and ends the job SUCCEEDED with exact counts', async () => {
  const { plan, splits } = await planned();
  writeParts(plan, splits, [], { 4: 'NOT_FINITE' });
  workflow = { ...workflow, options: { ...workflow.options, toleratedFailurePercentage: 10 } };

  const result = await steps.assemble(workflow, plan, {});

  expect(result).toEqual({ state: 'SUCCEEDED', rows: 10, predicted: 9, failed: 1 });
  expect(output(JOB_FILES.predictions).map((p) => p['row'])).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
  expect(output(JOB_FILES.errors)).toEqual([expect.objectContaining({ row: 4, code: 'NOT_FINITE' })]);
  expect(
    JSON.parse(Buffer.from(objects.bytes({ bucket: OUT.bucket, key: OUT.prefix + JOB_FILES.manifest }) as Uint8Array).toString('utf8')),
  ).toMatchObject({ state: 'SUCCEEDED', rows: 10, predicted: 9, failed: 1, failedInBatches: 0, endedAt: '2026-11-30T12:05:00.000Z' });
  expect(await jobs.get('iris', 'job-1')).toMatchObject({
    state: 'SUCCEEDED',
    progress: { rowsRead: 10, predicted: 9, failed: 1 },
    endedAt: '2026-11-30T12:05:00.000Z',
  });
});

it('fails a job one row over its tolerance, with the counts and a sample of error records', async () => {
  const { plan, splits } = await planned();
  writeParts(plan, splits, [], { 2: 'WRONG_TYPE', 8: 'NOT_FINITE' });
  workflow = { ...workflow, options: { ...workflow.options, toleratedFailurePercentage: 10 } };

  const result = await steps.assemble(workflow, plan, {});

  expect(result.state).toBe('FAILED');
  const stored = await jobs.get('iris', 'job-1');
  expect(stored?.failure).toMatchObject({ code: 'TOO_MANY_FAILED_ROWS', message: expect.stringContaining('2 of 10 rows (20.00%)') });
  expect(stored?.failure?.errorSample?.map((e) => e.row)).toEqual([2, 8]);
});

it("turns the rows of a batch that failed whole into error records carrying its error, from the ResultWriter's results", async () => {
  const { plan, splits } = await planned();
  writeParts(plan, splits, [1]);
  const cause = JSON.stringify({ errorType: 'Batch.INPUT_CHANGED', errorMessage: 'data.csv changed since the plan.', trace: [] });
  objects.set(
    { bucket: OUT.bucket, key: `${OUT.prefix}_map/run-1/FAILED_0.json` },
    JSON.stringify([{ Input: JSON.stringify({ Items: [splits[1]] }), Error: 'Batch.INPUT_CHANGED', Cause: cause, Status: 'FAILED' }]),
  );
  objects.set(
    { bucket: OUT.bucket, key: `${OUT.prefix}_map/run-1/manifest.json` },
    JSON.stringify({
      DestinationBucket: OUT.bucket,
      ResultFiles: { FAILED: [{ Key: `${OUT.prefix}_map/run-1/FAILED_0.json` }], SUCCEEDED: [] },
    }),
  );
  workflow = { ...workflow, options: { ...workflow.options, toleratedFailurePercentage: 50 } };

  const result = await steps.assemble(workflow, plan, {
    map: { ResultWriterDetails: { Bucket: OUT.bucket, Key: `${OUT.prefix}_map/run-1/manifest.json` } },
  });

  expect(result).toEqual({ state: 'SUCCEEDED', rows: 10, predicted: 7, failed: 3 });
  expect(output(JOB_FILES.errors)).toEqual(
    [3, 4, 5].map((row) => ({ row, code: 'INPUT_CHANGED', message: 'data.csv changed since the plan.', path: [], file: 'data.csv' })),
  );
  expect(output(JOB_FILES.predictions).map((p) => p['row'])).toEqual([0, 1, 2, 6, 7, 8, 9]);
});

it("fails a job whose Map failed, naming the Map's error on the rows it never ran", async () => {
  const { plan, splits } = await planned();
  writeParts(plan, splits, [2, 3]);

  const result = await steps.assemble(workflow, plan, {
    mapError: { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'The specified tolerated failure threshold was exceeded' },
  });

  expect(result).toMatchObject({ state: 'FAILED', predicted: 6, failed: 4 });
  expect(output(JOB_FILES.errors).map((e) => [e['row'], e['code']])).toEqual(
    [6, 7, 8, 9].map((row) => [row, 'States.ExceedToleratedFailureThreshold']),
  );
  expect((await jobs.get('iris', 'job-1'))?.failure?.code).toBe('States.ExceedToleratedFailureThreshold');
});

it('fails rather than trusts outputs that do not account for every row once', async () => {
  const { plan, splits } = await planned();
  writeParts(plan, splits);
  const first = partKey(OUT.prefix, 0);
  objects.set(
    { bucket: OUT.bucket, key: first },
    `${Buffer.from(objects.bytes({ bucket: OUT.bucket, key: first }) as Uint8Array).toString('utf8')}{"row":2,"prediction":{}}\n`,
  );

  const result = await steps.assemble(workflow, plan, {});

  expect(result.state).toBe('FAILED');
  expect((await jobs.get('iris', 'job-1'))?.failure?.code).toBe('ROW_COUNT_MISMATCH');
});

it('leaves a job cancelled meanwhile cancelled', async () => {
  const { plan, splits } = await planned();
  writeParts(plan, splits);
  await jobs.update('iris', 'job-1', ['RUNNING'], { state: 'CANCELLED', failure: { code: 'CANCELLED', message: 'stop' } });

  const result = await steps.assemble(workflow, plan, {});

  expect(result.state).toBe('CANCELLED');
  expect((await jobs.get('iris', 'job-1'))?.failure?.code).toBe('CANCELLED');
  // Nothing is assembled for it: no output claims a state the job does not have.
  expect(objects.bytes({ bucket: OUT.bucket, key: OUT.prefix + JOB_FILES.manifest })).toBeUndefined();
  expect(objects.bytes({ bucket: OUT.bucket, key: OUT.prefix + JOB_FILES.predictions })).toBeUndefined();
});

it('records a plan failure with its reason: our codes keep their message, other errors are named', async () => {
  await steps.fail(workflow, {
    Error: 'Batch.INPUT_UNREADABLE',
    Cause: JSON.stringify({ errorType: 'Batch.INPUT_UNREADABLE', errorMessage: 'data.csv: an unclosed quote in the header.' }),
  });
  expect(await jobs.get('iris', 'job-1')).toMatchObject({
    state: 'FAILED',
    failure: { code: 'INPUT_UNREADABLE', message: 'data.csv: an unclosed quote in the header.' },
  });

  expect(failureOf({ Error: 'States.DataLimitExceeded', Cause: 'x'.repeat(5_000) }, 'PLAN_FAILED', 'The plan failed')).toEqual({
    code: 'States.DataLimitExceeded',
    message: expect.stringMatching(/^x{500}… \(4500 more characters\)$/),
  });
  expect(failureOf({}, 'PLAN_FAILED', 'The plan failed')).toEqual({ code: 'PLAN_FAILED', message: 'The plan failed (PLAN_FAILED).' });
});
