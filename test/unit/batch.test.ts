import { jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { BatchPredictor, csvCellValue, type BatchItem, type BatchResult, type RowPrediction } from '../../functions/core/batch.js';
import type { ModelMetadata } from '../../functions/core/model.js';
import { PredictionService, type PredictResponse } from '../../functions/core/predict.js';
import { BatchFailure, jobKeysOf, makeHandler } from '../../functions/batch/app.js';
import type { LogFields, RequestLog } from '../../functions/core/observability.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, InMemoryPredictionLog, publishModel } from '../fixtures/in-memory.js';
import { identityModel } from '../fixtures/models.js';
import { rejection } from '../fixtures/errors.js';

const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
const IRIS_BYTES = new Uint8Array(read('models/iris/model.onnx'));
const IRIS_METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as ModelMetadata;
const FEATURES = IRIS_METADATA.features as string[];

/** data/iris.csv as Step Functions' CSV reader gives it (FIRST_ROW headers): string values. */
const CSV_ROWS: Record<string, string>[] = (() => {
  const [header, ...lines] = read('data/iris.csv').toString('utf8').trim().split('\n');
  const names = (header as string).split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, j) => [names[j] as string, v])));
})();
/** The same rows' features as strings (CSV) and as numbers (JSON Lines). */
const CSV_FEATURES = CSV_ROWS.map((row) => Object.fromEntries(FEATURES.map((f) => [f, row[f] as string])));
const JSON_FEATURES = CSV_FEATURES.map((row) => Object.fromEntries(FEATURES.map((f) => [f, Number(row[f])])));

let cacheDir: string;
let store: InMemoryArtifactStore;
let registry: InMemoryModelRegistry;
let runtime: OnnxRuntime;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'batch-test-'));
});

afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

beforeEach(async () => {
  jest.restoreAllMocks();
  store = new InMemoryArtifactStore();
  registry = new InMemoryModelRegistry();
  runtime = new OnnxRuntime(store, { cacheDir, intraOpThreads: 1 });
  const signature = await runtime.inspect(IRIS_BYTES);
  await publishModel(registry, store, { model: 'iris', bytes: IRIS_BYTES, signature, metadata: IRIS_METADATA });
});

function predictor(maxRows = 1000): BatchPredictor {
  return new BatchPredictor({ registry, runtime, config: { maxRows } });
}

/** The same rows through the predict route's service (the API's own answer). */
async function viaApi(instances: readonly Record<string, unknown>[], pinnedVersion?: string): Promise<unknown[]> {
  const service = new PredictionService({
    registry,
    runtime,
    log: new InMemoryPredictionLog(),
    config: {
      maxRows: 1000,
      functionVersion: '1',
      logTtlDays: 1,
      maxLoggedOutputBytes: 1000,
      pointerCacheMs: 1000,
      ...(pinnedVersion ? { pinnedVersion } : {}),
    },
  });
  const reply: PredictResponse = await service.predict('iris', { instances }, { requestId: 'r', caller: 'test', startedAt: 0 });
  return reply.predictions;
}

/** A batch's predictions with each row's JSON text parsed. */
function parsed(predictions: readonly RowPrediction[]): { row: number; prediction: unknown }[] {
  return predictions.map(({ row, json }) => ({ row, prediction: JSON.parse(json) as unknown }));
}

function batch(records: readonly unknown[], format: 'csv' | 'jsonl' | 'parquet', firstRow = 0, version = '1') {
  return { Items: records.map((record, i): BatchItem => ({ row: firstRow + i, record })), BatchInput: { model: 'iris', version, format } };
}

function runSpy() {
  return jest.spyOn((ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype, 'run');
}

describe('BatchPredictor: predictions', () => {
  it('predicts JSON records as the predict route does, in order, with their row numbers, in one session.run', async () => {
    // Prepare
    const expected = await viaApi(JSON_FEATURES);
    const run = runSpy();
    // Act
    const result = await predictor().predict(batch(JSON_FEATURES, 'jsonl', 5000));
    // Assess
    expect(run).toHaveBeenCalledTimes(1);
    expect(Object.values(run.mock.calls[0]?.[0] as Record<string, ort.Tensor>)[0]?.dims).toEqual([150, 4]);
    expect(result).toMatchObject({ model: 'iris', modelVersion: '1', rows: 150, predicted: 150, failed: 0, errors: [] });
    expect(parsed(result.predictions)).toEqual(expected.map((prediction, i) => ({ row: 5000 + i, prediction })));
  });

  it("converts CSV string values by the model's declared types: the same predictions as the numbers", async () => {
    const expected = await viaApi(JSON_FEATURES);
    const result = await predictor().predict(batch(CSV_FEATURES, 'csv'));
    expect(result.errors).toEqual([]);
    expect(parsed(result.predictions)).toEqual(expected.map((prediction, row) => ({ row, prediction })));
  });

  it('treats Parquet records as JSON values (no string conversion)', async () => {
    const result = await predictor().predict(batch([JSON_FEATURES[0], CSV_FEATURES[1]], 'parquet'));
    expect(result.predicted).toBe(1);
    expect(result.errors).toEqual([expect.objectContaining({ row: 1, code: 'WRONG_TYPE', path: ['sepal_length_cm'] })]);
  });

  it('runs a 1000-record batch as exactly one session.run', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => CSV_FEATURES[i % CSV_FEATURES.length]);
    const run = runSpy();
    const result = await predictor().predict(batch(records, 'csv'));
    expect(run).toHaveBeenCalledTimes(1);
    expect(Object.values(run.mock.calls[0]?.[0] as Record<string, ort.Tensor>)[0]?.dims).toEqual([1000, 4]);
    expect(result.predicted).toBe(1000);
  });

  it('uses the version the job pins, not the production version', async () => {
    const other = identityModel('float32');
    await publishModel(registry, store, { model: 'iris', bytes: other.bytes, signature: { inputs: other.inputs, outputs: other.outputs } });
    expect((await registry.getModel('iris'))?.productionVersion).toBe('2');
    const expected = await viaApi(JSON_FEATURES.slice(0, 3), '1');
    const result = await predictor().predict(batch(JSON_FEATURES.slice(0, 3), 'jsonl', 0, '1'));
    expect(result.modelVersion).toBe('1');
    expect(parsed(result.predictions)).toEqual(expected.map((prediction, row) => ({ row, prediction })));
    expect((parsed(result.predictions)[0]?.prediction as { label: string }).label).toBe('setosa');
  });
});

describe('BatchPredictor: records that cannot be decoded', () => {
  it('turns exactly the malformed records into error records and predicts the rest, in one session.run', async () => {
    // Prepare: rows 0..9, the odd ones malformed, each in a different way.
    const good = (i: number) => ({ ...(CSV_FEATURES[i] as Record<string, string>) });
    const records: unknown[] = [
      good(0),
      (() => {
        const r = good(1);
        delete r['petal_width_cm'];
        return r;
      })(),
      good(2),
      { ...good(3), sepal_width_cm: 'NaN' },
      good(4),
      { ...good(5), petal_length_cm: 'abc' },
      good(6),
      { ...good(7), species: 'setosa' },
      good(8),
      { ...good(9), sepal_length_cm: '' },
      good(10),
      'not a record',
      { ...good(12), sepal_length_cm: '1e999' },
      { ...good(13), sepal_length_cm: ' 5.1' },
    ];
    const expected = await viaApi([0, 2, 4, 6, 7, 8, 10].map((i) => JSON_FEATURES[i] as Record<string, number>));
    const run = runSpy();
    // Act
    const result = await predictor().predict(batch(records, 'csv', 100));
    // Assess
    expect(run).toHaveBeenCalledTimes(1);
    expect(result).toMatchObject({ rows: 14, predicted: 7, failed: 7 });
    // Row 7's extra column (the data set's label) is not a feature: ignored, the row predicted.
    expect(parsed(result.predictions)).toEqual([0, 2, 4, 6, 7, 8, 10].map((i, k) => ({ row: 100 + i, prediction: expected[k] })));
    expect(result.errors.map(({ row, code, path }) => ({ row, code, path }))).toEqual([
      { row: 101, code: 'MISSING_FEATURE', path: ['petal_width_cm'] },
      { row: 103, code: 'NOT_FINITE', path: ['sepal_width_cm'] },
      { row: 105, code: 'WRONG_TYPE', path: ['petal_length_cm'] },
      { row: 109, code: 'WRONG_TYPE', path: ['sepal_length_cm'] },
      { row: 111, code: 'WRONG_TYPE', path: [] },
      { row: 112, code: 'NOT_FINITE', path: ['sepal_length_cm'] },
      { row: 113, code: 'WRONG_TYPE', path: ['sepal_length_cm'] },
    ]);
    for (const error of result.errors) expect(error.message).toEqual(expect.any(String));
  });

  it("gives JSON records the predict route's codes (wrong type, missing feature)", async () => {
    const records = [
      JSON_FEATURES[0],
      { ...JSON_FEATURES[1], sepal_length_cm: true },
      { ...JSON_FEATURES[2], petal_width_cm: '0.2' },
      { sepal_length_cm: 1 },
    ];
    const result = await predictor().predict(batch(records, 'jsonl'));
    expect(result.predictions.map((p) => p.row)).toEqual([0]);
    expect(result.errors.map(({ row, code }) => ({ row, code }))).toEqual([
      { row: 1, code: 'WRONG_TYPE' },
      { row: 2, code: 'WRONG_TYPE' },
      { row: 3, code: 'MISSING_FEATURE' },
    ]);
  });

  it('quotes only bounded excerpts of what a record holds', async () => {
    const long = 'x'.repeat(100_000);
    const result = await predictor().predict(
      batch(
        [
          { ...CSV_FEATURES[0], sepal_length_cm: long },
          { ...CSV_FEATURES[0], petal_width_cm: long.replace(/x/g, '9') },
        ],
        'csv',
      ),
    );
    expect(result.failed).toBe(2);
    for (const error of result.errors) {
      expect(JSON.stringify(error).length).toBeLessThan(1_000);
    }
  });

  it('runs nothing when no record of the batch can be decoded', async () => {
    const run = runSpy();
    const result = await predictor().predict(batch([{ a: '1' }, 7], 'csv'));
    expect(run).not.toHaveBeenCalled();
    expect(result).toMatchObject({ rows: 2, predicted: 0, failed: 2, predictions: [] });
  });
});

describe('BatchPredictor: the batch itself', () => {
  it('answers an empty batch with nothing, without running the model', async () => {
    const run = runSpy();
    const result = await predictor().predict(batch([], 'csv'));
    expect(run).not.toHaveBeenCalled();
    expect(result).toEqual<BatchResult>({
      model: 'iris',
      modelVersion: '1',
      rows: 0,
      predicted: 0,
      failed: 0,
      predictions: [],
      errors: [],
    });
  });

  it('refuses a batch over the row limit with 413 TOO_MANY_ROWS before any item is read', async () => {
    let reads = 0;
    const items = Array.from({ length: 11 }, (_, i) => ({
      get row() {
        reads++;
        return i;
      },
      record: CSV_FEATURES[0],
    }));
    const error = await rejection(predictor(10).predict({ Items: items, BatchInput: { model: 'iris', version: '1', format: 'csv' } }));
    expect(error).toMatchObject({ status: 413, code: 'TOO_MANY_ROWS', path: ['Items'] });
    expect(reads).toBe(0);
  });

  it('refuses an envelope that is not a batch, and a version that does not exist', async () => {
    expect(
      await rejection(predictor().predict({ Items: [{ record: {} }], BatchInput: { model: 'iris', version: '1', format: 'csv' } })),
    ).toMatchObject({ status: 400, code: 'INVALID_BATCH', path: ['Items', 0] });
    expect(await rejection(predictor().predict({ Items: [], BatchInput: { model: 'iris', version: '1', format: 'xml' } }))).toMatchObject({
      status: 400,
      code: 'INVALID_BATCH',
      path: ['BatchInput', 'format'],
    });
    expect(await rejection(predictor().predict(batch([JSON_FEATURES[0]], 'jsonl', 0, '9')))).toMatchObject({
      status: 404,
      code: 'VERSION_NOT_FOUND',
    });
  });
});

describe('csvCellValue', () => {
  it('reads JSON number literals for numeric types and leaves everything else to the element writer', () => {
    expect(csvCellValue('float32', '5.1')).toBe(5.1);
    expect(csvCellValue('float64', '-1e-3')).toBe(-0.001);
    expect(csvCellValue('float32', 'nan')).toBeNaN();
    expect(csvCellValue('float32', '-Inf')).toBe(-Infinity);
    for (const text of ['', ' 5', '5.', '.5', '+5', '0x10', '05', 'abc']) expect(csvCellValue('float32', text)).toBe(text);
    expect(csvCellValue('int64', '9007199254740993')).toBe('9007199254740993');
    expect(csvCellValue('int32', '7')).toBe(7);
    expect(csvCellValue('bool', 'true')).toBe(true);
    expect(csvCellValue('bool', '1')).toBe('1');
    expect(csvCellValue('string', '5')).toBe('5');
  });
});

describe('batch handler', () => {
  it("returns the core's result, and fails a whole batch as Batch.<CODE> for the workflow to match", async () => {
    const handler = makeHandler({ work: (event) => predictor(2).predict(event) });
    expect((await handler(batch([JSON_FEATURES[0]], 'jsonl'))).predicted).toBe(1);
    const failure = await handler(batch([{}, {}, {}], 'jsonl')).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(BatchFailure);
    expect(failure).toMatchObject({ name: 'Batch.TOO_MANY_ROWS', code: 'TOO_MANY_ROWS', status: 413 });
  });

  it('hides the details of our own faults', async () => {
    jest.spyOn(registry, 'getVersion').mockRejectedValue(new Error('socket hang up at /var/task/secret.js'));
    const handler = makeHandler({ work: (event) => predictor().predict(event) });
    const failure = await handler(batch([JSON_FEATURES[0]], 'jsonl')).then(
      () => undefined,
      (error: unknown) => error as BatchFailure,
    );
    expect(failure).toMatchObject({ name: 'Batch.REGISTRY_UNAVAILABLE', status: 503 });
    expect(failure?.message).not.toContain('secret');
  });
});

describe('batch handler logs', () => {
  it("puts the job id on every line of an invocation, and the refusal's reason under a key the logger keeps", async () => {
    const lines: Array<{ level: string; message: string; fields: LogFields }> = [];
    let keys: LogFields = {};
    const log: RequestLog = {
      set: (more) => (keys = { ...keys, ...more }),
      debug: () => undefined,
      info: (message, fields = {}) => lines.push({ level: 'INFO', message, fields: { ...keys, ...fields } }),
      warn: (message, fields = {}) => lines.push({ level: 'WARN', message, fields: { ...keys, ...fields } }),
      error: (message, fields = {}) => lines.push({ level: 'ERROR', message, fields: { ...keys, ...fields } }),
      isDebug: () => false,
    };
    const handler = makeHandler({ work: (event) => predictor(1).predict(event), keysOf: jobKeysOf, log: () => log });
    const event = {
      ...batch([JSON_FEATURES[0], JSON_FEATURES[1]], 'jsonl'),
      BatchInput: { model: 'iris', version: '1', format: 'jsonl', jobId: 'job-1' },
    };

    await handler(event).catch(() => undefined);

    expect(lines).toEqual([
      {
        level: 'WARN',
        message: 'batch refused',
        fields: expect.objectContaining({ jobId: 'job-1', code: 'TOO_MANY_ROWS', reason: expect.stringContaining('2') }),
      },
    ]);
    expect(jobKeysOf({ step: 'plan', job: { jobId: 'job-2' } })).toEqual({ jobId: 'job-2', step: 'plan' });
    expect(jobKeysOf('not an event')).toEqual({});
  });
});
