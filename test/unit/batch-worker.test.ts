/**
 * The batch function's work in a job: a batch of several splits is read, predicted in exactly one
 * `session.run`, and written as one part per split (predictions, and error records when there
 * are any); its counts go to the job's progress. Real ONNX Runtime on the sample model, real CSV
 * and JSON Lines readers, in-memory S3 and job table.
 */
import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { partKey, type BatchJobStore, type Split, type SplitBatchEvent } from '../../functions/core/batch-contract.js';
import { planSplits, readSplit } from '../../functions/core/batch-input.js';
import { BatchPredictor } from '../../functions/core/batch.js';
import { BatchWorker, errorsPartKey } from '../../functions/core/batch-worker.js';
import type { ModelMetadata } from '../../functions/core/model.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, publishModel } from '../fixtures/in-memory.js';
import { InMemoryDataObjects } from '../fixtures/in-memory-data.js';
import { irisBatch } from '../fixtures/batch-data.js';
import { rejection } from '../fixtures/errors.js';

const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
const IRIS_BYTES = new Uint8Array(read('models/iris/model.onnx'));
const IRIS_METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as ModelMetadata;
const OUTPUT = { bucket: 'out', prefix: 'results/job-1/' };

let cacheDir: string;
let objects: InMemoryDataObjects;
let progress: Array<{ rowsRead: number; predicted: number; failed: number }>;
let worker: BatchWorker;

/** Only what the worker calls: the job's progress counters. */
function progressStore(): BatchJobStore {
  const unused = (): never => {
    throw new Error('not used by the worker');
  };
  return {
    create: unused,
    get: unused,
    findByToken: unused,
    list: unused,
    update: unused,
    listActive: unused,
    addProgress: async (_model: string, _jobId: string, delta: { rowsRead: number; predicted: number; failed: number }) => {
      progress.push(delta);
    },
  } satisfies Record<keyof BatchJobStore, unknown> as BatchJobStore;
}

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'batch-worker-'));
});

afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

beforeEach(async () => {
  jest.restoreAllMocks();
  const registry = new InMemoryModelRegistry();
  const store = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(store, { cacheDir, intraOpThreads: 1 });
  await publishModel(registry, store, {
    model: 'iris',
    bytes: IRIS_BYTES,
    signature: await runtime.inspect(IRIS_BYTES),
    metadata: IRIS_METADATA,
  });
  objects = new InMemoryDataObjects();
  progress = [];
  worker = new BatchWorker({
    predictor: new BatchPredictor({ registry, runtime, config: { maxRows: 1000 } }),
    objects,
    jobs: progressStore(),
    readSplit,
    maxRows: 1000,
  });
});

/** The input's splits as the plan step cuts them, `rowsPerBatch` at a time. */
async function plan(format: 'csv' | 'jsonl', bytes: Uint8Array, rowsPerBatch: number): Promise<{ splits: Split[]; columns: string[] }> {
  const file = objects.set({ bucket: 'in', key: `data.${format}` }, bytes);
  const splits: Split[] = [];
  const { columns } = await planSplits(objects, { files: [file], format, rowsPerBatch, maxBatchBytes: 2_000 }, (split) => {
    splits.push(split);
  });
  return { splits, columns };
}

function batchOf(splits: Split[], format: 'csv' | 'jsonl', columns: string[]): SplitBatchEvent {
  return { Items: splits, BatchInput: { jobId: 'job-1', model: 'iris', version: '1', format, output: OUTPUT, columns } };
}

function text(key: string): string | undefined {
  const bytes = objects.bytes({ bucket: OUTPUT.bucket, key });
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

it('predicts a batch of several splits in one session.run and writes one part per split', async () => {
  // Prepare: 300 rows cut into splits of at most 2,000 bytes; row 7 is NaN, row 250 has a field too few.
  const data = irisBatch({ rows: 300, format: 'csv', corrupt: { 7: 'nan', 250: 'missing-field' } });
  const { splits, columns } = await plan('csv', data.bytes, 1000);
  const run = jest.spyOn((ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype, 'run');

  // Act
  const result = await worker.run(batchOf(splits, 'csv', columns));

  // Assess
  expect(splits.length).toBeGreaterThan(2);
  expect(run).toHaveBeenCalledTimes(1);
  expect(result).toEqual({ splits: splits.map((s) => s.index), rows: 300, predicted: 298, failed: 2 });
  expect(progress).toEqual([{ rowsRead: 300, predicted: 298, failed: 2 }]);
  const predicted: number[] = [];
  for (const split of splits) {
    const lines = (text(partKey(OUTPUT.prefix, split.index)) ?? 'missing').split('\n').filter((l) => l !== '');
    predicted.push(...lines.map((l) => (JSON.parse(l) as { row: number }).row));
    const errors = text(errorsPartKey(OUTPUT.prefix, split.index));
    const expected = data.corrupted.filter((c) => c.row >= split.firstRow && c.row < split.firstRow + split.rows);
    if (expected.length === 0) expect(errors).toBeUndefined();
    else
      expect(
        (errors ?? '')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { row: number; code: string; line: number }),
      ).toEqual(expected.map((c) => expect.objectContaining({ row: c.row, code: c.code, line: c.row + 2 })));
  }
  expect(predicted).toEqual(Array.from({ length: 300 }, (_, i) => i).filter((i) => i !== 7 && i !== 250));
});

it('writes an empty predictions part for a split whose every row failed (its presence marks the split done)', async () => {
  const data = irisBatch({ rows: 3, format: 'jsonl', corrupt: { 0: 'malformed', 1: 'wrong-type', 2: 'nan' } });
  const { splits, columns } = await plan('jsonl', data.bytes, 1000);

  const result = await worker.run(batchOf(splits, 'jsonl', columns));

  expect(result).toMatchObject({ rows: 3, predicted: 0, failed: 3 });
  expect(text(partKey(OUTPUT.prefix, 0))).toBe('');
  expect(
    (text(errorsPartKey(OUTPUT.prefix, 0)) ?? '')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { code: string }).code),
  ).toEqual(['INVALID_JSON', 'WRONG_TYPE', 'NOT_FINITE']);
});

it('writes the same parts again when a batch is retried: no row twice', async () => {
  const { splits, columns } = await plan('csv', irisBatch({ rows: 50, format: 'csv' }).bytes, 1000);
  await worker.run(batchOf(splits, 'csv', columns));
  const first = splits.map((s) => text(partKey(OUTPUT.prefix, s.index)));

  await worker.run(batchOf(splits, 'csv', columns));

  expect(splits.map((s) => text(partKey(OUTPUT.prefix, s.index)))).toEqual(first);
  expect(first.join('').trim().split('\n')).toHaveLength(50);
});

it('refuses a batch over MAX_ROWS before reading anything, and an envelope that is not a batch of splits', async () => {
  const { splits, columns } = await plan('csv', irisBatch({ rows: 1_200, format: 'csv' }).bytes, 1000);
  const before = objects.ranges.length;

  const tooMany = await rejection(worker.run(batchOf(splits, 'csv', columns)));
  const notSplits = await rejection(worker.run({ Items: [{ row: 0, record: {} }], BatchInput: batchOf([], 'csv', columns).BatchInput }));
  const noInput = await rejection(worker.run({ Items: [] }));

  expect(tooMany).toMatchObject({ status: 413, code: 'TOO_MANY_ROWS', path: ['Items'] });
  expect(objects.ranges.length).toBe(before);
  expect(notSplits).toMatchObject({ status: 400, code: 'INVALID_BATCH', path: ['Items', 0] });
  expect(noInput).toMatchObject({ status: 400, code: 'INVALID_BATCH', path: ['BatchInput'] });
});
