/**
 * Replays (`functions/core/replay/`): the comparison of one request and the report's sums
 * (`compare.ts`), rebuilding requests from capture records and replaying batches on real models
 * (`worker.ts`, ONNX Runtime on the sample model and on a two-input model built here), the plan
 * over capture files (`plan.ts`, with the batch reader reading its splits back), the window
 * rules (`service.ts`), a replay through the batch steps and batch function, and `modelctl
 * replay`'s report.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replayLines } from '../../bin/modelctl.js';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import {
  JOB_FILES,
  type BatchJob,
  type InputFile,
  type PlanResult,
  type ReplaySpec,
  type Split,
  type SplitBatchEvent,
  type WorkflowInput,
} from '../../functions/core/batch-contract.js';
import { planSplits, readSplit } from '../../functions/core/batch-input.js';
import { BatchSteps } from '../../functions/core/batch-steps.js';
import { BatchWorker } from '../../functions/core/batch-worker.js';
import { BatchPredictor } from '../../functions/core/batch.js';
import { captureRecordText, type CapturedTensor, type CaptureRecord } from '../../functions/core/capture.js';
import { decodeRecords, recordLayout } from '../../functions/core/codec/decode.js';
import { v2OutputJsonText, v2Outputs } from '../../functions/core/codec/encode.js';
import { codecLimits } from '../../functions/core/codec/limits.js';
import type { ModelMetadata, TensorSpec } from '../../functions/core/model.js';
import { buildModel } from '../support/onnx/builder.js';
import { served } from '../../functions/core/predict.js';
import {
  compareOutput,
  compareRequest,
  MOST_DIFFERENT,
  ReplayReportBuilder,
  type ReplayReport,
  type RequestComparison,
} from '../../functions/core/replay/compare.js';
import { planReplaySplits } from '../../functions/core/replay/plan.js';
import { writeReplayReport } from '../../functions/core/replay/report.js';
import { replayWindow } from '../../functions/core/replay/service.js';
import { utcDays } from '../../functions/core/capture.js';
import { rebuild, ReplayPredictor } from '../../functions/core/replay/worker.js';
import type { TensorData, TensorMap } from '../../functions/core/tensor.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, publishModel } from '../fixtures/in-memory.js';
import { InMemoryDataObjects } from '../fixtures/in-memory-data.js';
import { InMemoryBatchJobStore } from '../fixtures/in-memory-jobs.js';

const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
const IRIS_BYTES = new Uint8Array(read('models/iris/model.onnx'));
const IRIS_METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as ModelMetadata;
const FEATURES = IRIS_METADATA.features as string[];
const LABELS = IRIS_METADATA.classLabels as string[];
const VIEW = { probabilities: 'probabilities', labels: LABELS, binary: false };

const f32 = (values: number[]): TensorData => ({ type: 'float32', shape: [values.length / 3, 3], data: Float32Array.from(values) });
const strings = (values: string[]): TensorData => ({ type: 'string', shape: [values.length], data: values });
/** A tensor as a capture record stores it: its v2 JSON form, parsed. */
function capturedOf(name: string, tensor: TensorData): CapturedTensor {
  const [output] = v2Outputs({ [name]: tensor }, [name]);
  const { datatype, shape, data } = JSON.parse(v2OutputJsonText(output as NonNullable<typeof output>)) as CapturedTensor;
  return { datatype, shape, data: data as unknown[] };
}
function request(outputs: Record<string, CapturedTensor>, rows: number, extra: Partial<{ rows: number; requestId: string }> = {}) {
  return {
    requestId: extra.requestId ?? 'r-1',
    modelVersion: '1',
    timestamp: '2026-11-30T12:00:00.000Z',
    rows: extra.rows ?? rows,
    capturedRows: rows,
    outputs,
  };
}

describe('compareRequest', () => {
  it('finds no difference between outputs and their captured form, float32 read back exactly', () => {
    // Prepare: values that print shorter than their float32 (0.1 is 0.10000000149011612)
    const probabilities = f32([0.1, 0.2, 0.7, 0.3333333, 0.3333333, 0.3333334]);
    const label = strings(['virginica', 'virginica']);

    // Act
    const result = compareRequest(
      request({ probabilities: capturedOf('probabilities', probabilities), label: capturedOf('label', label) }, 2),
      { probabilities, label },
      { source: VIEW, target: VIEW },
    );

    // Assess
    expect(result).toEqual({
      requestId: 'r-1',
      sourceVersion: '1',
      timestamp: '2026-11-30T12:00:00.000Z',
      rows: 2,
      truncated: false,
      maxAbsDiff: 0,
      differingLabels: 0,
      labelsIdentical: [true, true],
      outputs: {
        probabilities: { kind: 'numeric', elements: 6, differing: 0, maxAbsDiff: 0, meanAbsDiff: 0 },
        label: { kind: 'exact', elements: 2, differing: 0 },
      },
    });
  });

  it('measures numeric differences and changed labels row by row', () => {
    // Prepare
    const source = f32([0.25, 0.5, 0.25, 0.1, 0.1, 0.8]);
    const target = f32([0.5, 0.25, 0.25, 0.1, 0.1, 0.8]);

    // Act
    const result = compareRequest(
      request({ probabilities: capturedOf('probabilities', source) }, 2, { rows: 3 }),
      { probabilities: target },
      { source: VIEW, target: VIEW },
    );

    // Assess: row 0's argmax moves from versicolor to setosa; row 1 is untouched
    expect(result).toMatchObject({
      rows: 2,
      truncated: true,
      maxAbsDiff: 0.25,
      differingLabels: 1,
      labelsIdentical: [false, true],
      labelChanges: [{ row: 0, source: 'versicolor', target: 'setosa' }],
      outputs: { probabilities: { kind: 'numeric', elements: 6, differing: 2, maxAbsDiff: 0.25, meanAbsDiff: 0.5 / 6 } },
    });
  });

  it("compares no output capture hashed or dropped: digests are not values, a dropped output is not the target's alone", () => {
    // Prepare: the label output hashed, the probabilities dropped
    const probabilities = f32([0.2, 0.3, 0.5]);
    const label = strings(['virginica']);
    const digest = { datatype: 'BYTES', shape: [1], data: ['sha256:0f00'] };

    // Act
    const result = compareRequest(
      { ...request({ label: digest }, 1), redaction: { dropped: ['probabilities'], hashed: ['label'] } },
      { probabilities, label },
      { source: VIEW, target: VIEW },
    );

    // Assess
    expect(result.notCompared).toEqual({ probabilities: 'redacted', label: 'redacted' });
    expect(result.outputs).toEqual({});
    expect(result).not.toHaveProperty('differingLabels');
    expect(result.maxAbsDiff).toBe(0);
  });

  it('compares labels only when both sides are classifiers', () => {
    const probabilities = f32([0.2, 0.3, 0.5]);
    const result = compareRequest(
      request({ probabilities: capturedOf('probabilities', probabilities) }, 1),
      { probabilities },
      { target: VIEW },
    );
    expect(result).not.toHaveProperty('labelsIdentical');
    expect(result).not.toHaveProperty('differingLabels');
  });

  it('counts non-finite disagreements apart from the differences', () => {
    // Prepare: NaN = NaN and Infinity = Infinity agree; NaN against 1 and Infinity against -Infinity do not
    const source: CapturedTensor = { datatype: 'FP64', shape: [1, 5], data: ['NaN', 'Infinity', 'NaN', 'Infinity', 2] };
    const target: TensorData = { type: 'float64', shape: [1, 5], data: Float64Array.from([Number.NaN, Infinity, 1, -Infinity, 2.5]) };

    // Act
    const result = compareOutput(source, target, 1);

    // Assess
    expect(result).toEqual({ kind: 'numeric', elements: 5, differing: 3, maxAbsDiff: 0.5, meanAbsDiff: 0.5, nonFinite: 2 });
  });

  it('reads 64-bit integers past 2^53 from their decimal strings, and compares booleans exactly', () => {
    expect(
      compareOutput(
        { datatype: 'INT64', shape: [2], data: ['9007199254740993', 5] },
        { type: 'int64', shape: [2], data: BigInt64Array.from([9007199254740993n, 7n]) },
        2,
      ),
    ).toEqual({ kind: 'numeric', elements: 2, differing: 1, maxAbsDiff: 2, meanAbsDiff: 1 });
    expect(
      compareOutput(
        { datatype: 'BOOL', shape: [3, 1], data: [true, false, true] },
        { type: 'bool', shape: [3, 1], data: Uint8Array.from([1, 1, 1]) },
        3,
      ),
    ).toEqual({ kind: 'exact', elements: 3, differing: 1 });
  });

  it('names the outputs it cannot compare, and why', () => {
    // Prepare
    const captured = {
      gone: capturedOf('gone', f32([1, 2, 3])),
      cut: { datatype: 'FP32', shape: [1, 3] },
      wide: capturedOf('wide', f32([1, 2, 3])),
      typed: capturedOf('typed', f32([1, 2, 3])),
      whole: { datatype: 'FP32', shape: [3], data: [1, 2, 3] },
    };
    const target: TensorMap = {
      cut: f32([1, 2, 3]),
      wide: { type: 'float32', shape: [1, 4], data: Float32Array.from([1, 2, 3, 4]) },
      typed: { type: 'string', shape: [1, 3], data: ['1', '2', '3'] },
      whole: { type: 'float32', shape: [3], data: Float32Array.from([1, 2, 3]) },
      added: f32([1, 2, 3]),
    };

    // Act
    const result = compareRequest(request(captured, 1), target);

    // Assess
    expect(result.outputs).toEqual({});
    expect(result.notCompared).toEqual({
      gone: 'source-only',
      cut: 'not-captured',
      wide: 'shape-mismatch',
      typed: 'type-mismatch',
      whole: 'not-per-row',
      added: 'target-only',
    });
  });

  it('takes [N, 1] and [N] as the same rows', () => {
    expect(
      compareOutput(
        { datatype: 'FP32', shape: [2, 1], data: [1, 2] },
        { type: 'float32', shape: [2], data: Float32Array.from([1, 2.5]) },
        2,
      ),
    ).toMatchObject({ kind: 'numeric', maxAbsDiff: 0.5 });
  });
});

describe('ReplayReportBuilder', () => {
  const line = (row: number, maxAbsDiff: number, differingLabels: number, elements = 3): RequestComparison & { row: number } => ({
    row,
    requestId: `r-${row}`,
    sourceVersion: '1',
    timestamp: '2026-11-30T12:00:00.000Z',
    rows: 1,
    truncated: row === 0,
    maxAbsDiff,
    differingLabels,
    labelsIdentical: [differingLabels === 0],
    outputs: {
      probabilities: { kind: 'numeric', elements, differing: maxAbsDiff > 0 ? 1 : 0, maxAbsDiff, meanAbsDiff: maxAbsDiff / elements },
      label: { kind: 'exact', elements: 1, differing: differingLabels },
    },
  });
  const context = {
    jobId: 'job-1',
    model: 'iris',
    targetVersion: '2',
    sourceVersions: ['1'],
    window: { since: 'a', until: 'b' },
    capture: { inWindow: 14, replayed: 14, maxRequests: 100, capped: false, outsideWindow: 0, unreadableLines: 0 },
  };

  it('sums the lines: labels, per output maximum and element-weighted mean, failures by code', () => {
    // Prepare
    const builder = new ReplayReportBuilder();

    // Act
    builder.compared(line(0, 0, 0));
    builder.compared(line(1, 0.3, 1, 6));
    builder.compared({ ...line(2, 0.1, 0), notCompared: { extra: 'target-only' } });
    builder.notReplayable('FEATURE_DROPPED');
    builder.notReplayable('FEATURE_DROPPED');
    builder.notReplayable('INPUT_NOT_ACCEPTED');
    const report = builder.report(context);

    // Assess
    expect(report).toMatchObject({
      ...context,
      reportVersion: 1,
      requests: 6,
      compared: 3,
      rowsCompared: 3,
      truncatedRequests: 1,
      labels: { rows: 3, identical: 2, share: 2 / 3 },
      maxAbsDiff: 0.3,
      outputsNotCompared: { extra: { 'target-only': 1 } },
      notReplayable: { total: 3, byCode: { FEATURE_DROPPED: 2, INPUT_NOT_ACCEPTED: 1 } },
    });
    expect(report.outputs['label']).toEqual({ kind: 'exact', requests: 3, elements: 3, differing: 1 });
    const probabilities = report.outputs['probabilities'];
    expect(probabilities).toMatchObject({ kind: 'numeric', requests: 3, elements: 12, differing: 2, maxAbsDiff: 0.3 });
    // Σ|d| / elements: (0 + 0.3 + 0.1) / 12
    expect(Math.abs((probabilities?.meanAbsDiff as number) - 0.4 / 12)).toBeLessThan(1e-15);
    expect(report.mostDifferent.map((d) => d.row)).toEqual([1, 2]);
  });

  it(`keeps the ${MOST_DIFFERENT} that differ most: by largest difference, then differing labels, then the earlier request`, () => {
    // Prepare: 30 requests, differences cycling, some equal, some only in their labels
    const builder = new ReplayReportBuilder();
    const lines = Array.from({ length: 30 }, (_, row) => line(row, (row % 7) / 10, row % 4 === 0 ? 1 : 0));

    // Act
    for (const l of lines) builder.compared(l);
    const report = builder.report(context);

    // Assess
    const expected = lines
      .filter((l) => l.maxAbsDiff > 0 || (l.differingLabels ?? 0) > 0)
      .sort((a, b) => b.maxAbsDiff - a.maxAbsDiff || (b.differingLabels ?? 0) - (a.differingLabels ?? 0) || a.row - b.row)
      .slice(0, MOST_DIFFERENT)
      .map((l) => l.row);
    expect(report.mostDifferent.map((d) => d.row)).toEqual(expected);
    expect(report.mostDifferent.slice(0, 2)).toMatchObject([
      { requestId: 'r-20', maxAbsDiff: 0.6, differingLabels: 1, differingElements: 2 },
      { requestId: 'r-6', maxAbsDiff: 0.6, differingLabels: 0, differingElements: 1 },
    ]);
  });

  it('says nothing of labels for a model that is no classifier, and nothing differs in an empty replay', () => {
    const report = new ReplayReportBuilder().report(context);
    expect(report).toMatchObject({
      requests: 0,
      compared: 0,
      maxAbsDiff: 0,
      outputs: {},
      mostDifferent: [],
      notReplayable: { total: 0, byCode: {} },
    });
    expect(report).not.toHaveProperty('labels');
  });
});

// ---------------------------------------------------------------------------------------------
// Rebuilding and replaying on real models
// ---------------------------------------------------------------------------------------------

/** Inputs `a` float32 [N, K] (K free) and `b` float32 [N, 1] → output `y` = a · b. */
const SCALE_INPUTS: TensorSpec[] = [
  { name: 'a', type: 'float32', shape: ['N', 'K'] },
  { name: 'b', type: 'float32', shape: ['N', 1] },
];
const SCALE_BYTES = buildModel({
  inputs: SCALE_INPUTS,
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 'K'] }],
  nodes: [{ op: 'Mul', inputs: ['a', 'b'], outputs: ['y'] }],
});

/** Inputs `x` float32 [N, 1] and `w` float32 [W] (no row axis) → output `y` = x · Σw, [N, 1]. */
const WEIGHTED_BYTES = buildModel({
  inputs: [
    { name: 'x', type: 'float32', shape: ['N', 1] },
    { name: 'w', type: 'float32', shape: ['W'] },
  ],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
  nodes: [
    { op: 'ReduceSum', inputs: ['w'], outputs: ['total'] },
    { op: 'Mul', inputs: ['x', 'total'], outputs: ['y'] },
  ],
});

let cacheDir: string;
let registry: InMemoryModelRegistry;
let runtime: OnnxRuntime;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'replay-test-'));
  const store = new InMemoryArtifactStore();
  registry = new InMemoryModelRegistry();
  runtime = new OnnxRuntime(store, { cacheDir, intraOpThreads: 1 });
  await publishModel(registry, store, {
    model: 'iris',
    bytes: IRIS_BYTES,
    signature: await runtime.inspect(IRIS_BYTES),
    metadata: IRIS_METADATA,
  });
  await publishModel(registry, store, { model: 'scale', bytes: SCALE_BYTES, signature: await runtime.inspect(SCALE_BYTES) });
  await publishModel(registry, store, { model: 'weighted', bytes: WEIGHTED_BYTES, signature: await runtime.inspect(WEIGHTED_BYTES) });
});

afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

/**
 * A capture record of `model` v1 for `feeds`, as the serving core makes one: the model run on
 * them, the record's text built by `captureRecordText`, parsed back.
 */
async function captureOf(
  model: string,
  feeds: TensorMap,
  rows: number,
  settings: { drop?: string[]; hash?: string[]; maxRecordBytes?: number } = {},
  requestId = 'r-1',
): Promise<CaptureRecord> {
  const version = await registry.getVersion(model, '1');
  if (!version) throw new Error(`no ${model} v1`);
  const lease = await runtime.load(version);
  try {
    const outputs = await lease.run(feeds);
    const text = captureRecordText({
      requestId,
      model,
      modelVersion: '1',
      functionVersion: '$LATEST',
      timestamp: '2026-11-30T12:00:00.000Z',
      rows,
      layout: recordLayout(lease.signature, version.metadata),
      feeds,
      outputs,
      settings: { drop: settings.drop ?? [], hash: settings.hash ?? [], maxRecordBytes: settings.maxRecordBytes ?? 65_536 },
    });
    return JSON.parse(text) as CaptureRecord;
  } finally {
    lease.release();
  }
}

const irisFeeds = (rows: readonly number[][]): TensorMap =>
  decodeRecords(
    recordLayout({ inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }], outputs: [] }, IRIS_METADATA),
    rows.map((r) => Object.fromEntries(FEATURES.map((f, j) => [f, r[j]]))),
    () => [],
  ).feeds;
const scaleFeeds = (a: number[][], b: number[]): TensorMap => ({
  a: { type: 'float32', shape: [a.length, (a[0] as number[]).length], data: Float32Array.from(a.flat()) },
  b: { type: 'float32', shape: [b.length, 1], data: Float32Array.from(b) },
});

async function target(model: string) {
  const version = await registry.getVersion(model, '1');
  if (!version) throw new Error(`no ${model} v1`);
  const lease = await runtime.load(version);
  return { target: served(version, lease), release: () => lease.release() };
}

describe('rebuild', () => {
  const limits = codecLimits({ maxRows: 1000 });

  it('rebuilds the records form from captured features, and the v2 form from captured tensors', async () => {
    // Prepare
    const iris = await captureOf(
      'iris',
      irisFeeds([
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3, 5.2, 2.3],
      ]),
      2,
    );
    const scale = await captureOf('scale', scaleFeeds([[1, 2, 3]], [0.5]), 1);
    const irisTarget = await target('iris');
    const scaleTarget = await target('scale');
    try {
      // Act
      const a = rebuild(iris, irisTarget.target, limits);
      const b = rebuild(scale, scaleTarget.target, limits);

      // Assess: the features went into the record's `features`; `a` (K values a row) into `inputs`
      expect(scale.inputs?.['a']).toMatchObject({ datatype: 'FP32', shape: [1, 3] });
      expect(scale.features?.['b']).toEqual([0.5]);
      expect('decoded' in a && a.decoded.feeds['features']).toEqual(
        irisFeeds([
          [5.1, 3.5, 1.4, 0.2],
          [6.7, 3, 5.2, 2.3],
        ])['features'],
      );
      expect('decoded' in b && b.decoded.feeds).toEqual(scaleFeeds([[1, 2, 3]], [0.5]));
    } finally {
      irisTarget.release();
      scaleTarget.release();
    }
  });

  it('says why a record cannot be replayed', async () => {
    // Prepare
    const rows = [[5.1, 3.5, 1.4, 0.2]];
    const dropped = await captureOf('iris', irisFeeds(rows), 1, { drop: ['petal_width_cm'] });
    const hashed = await captureOf('iris', irisFeeds(rows), 1, { hash: ['sepal_length_cm'] });
    const many = irisFeeds(Array.from({ length: 40 }, () => rows[0] as number[]));
    const cut = await captureOf('iris', many, 40, { maxRecordBytes: 1024 });
    // An envelope (a long request id) that leaves no room for a row.
    const truncated = await captureOf('iris', many, 40, { maxRecordBytes: 1024 }, 'x'.repeat(900));
    const weights: TensorMap = {
      x: { type: 'float32', shape: [2, 1], data: Float32Array.from([1, 2]) },
      w: { type: 'float32', shape: [400], data: Float32Array.from({ length: 400 }, (_, i) => i / 7) },
    };
    const large = await captureOf('weighted', weights, 2, { maxRecordBytes: 1024 });
    const { features: _features, ...bare } = await captureOf('iris', irisFeeds(rows), 1);
    const wrongType = {
      ...(await captureOf('iris', irisFeeds(rows), 1)),
      features: { ...Object.fromEntries(FEATURES.map((f) => [f, [1]])), petal_width_cm: ['wide'] },
    };
    const iris = await target('iris');
    const scale = await target('weighted');
    try {
      // Act
      const codes = [dropped, hashed, truncated, bare, wrongType].map((r) => rebuild(r as CaptureRecord, iris.target, limits));
      const tooLarge = rebuild(large, scale.target, limits);
      const partly = rebuild(cut, iris.target, limits);

      // Assess
      expect(truncated).toMatchObject({ truncated: true, capturedRows: 0 });
      // A record cut to its first rows is replayed on them.
      expect(cut.capturedRows).toBeGreaterThan(0);
      expect(cut.capturedRows).toBeLessThan(40);
      expect('decoded' in partly && partly.decoded.rows).toBe(cut.capturedRows);
      expect(large).toMatchObject({
        capturedRows: 2,
        truncated: true,
        features: { x: [1, 2] },
        inputs: { w: { datatype: 'FP32', shape: [400] } },
      });
      expect(large.inputs?.['w']).not.toHaveProperty('data');
      expect(codes.map((c) => ('error' in c ? [c.error.code, c.error.path.join('.')] : 'decoded'))).toEqual([
        ['FEATURE_DROPPED', 'features.petal_width_cm'],
        ['FEATURE_HASHED', 'features.sepal_length_cm'],
        ['RECORD_TRUNCATED', ''],
        ['FEATURE_MISSING', 'features.sepal_length_cm'],
        ['INPUT_NOT_ACCEPTED', 'features.0.petal_width_cm'],
      ]);
      expect('error' in tooLarge && [tooLarge.error.code, tooLarge.error.path.join('.')]).toEqual(['INPUT_NOT_CAPTURED', 'inputs.w']);
      const wrong = codes[4];
      expect(wrong && 'error' in wrong && wrong.error.message).toMatch(/^Version 1 does not take the captured request: WRONG_TYPE: /);
    } finally {
      iris.release();
      scale.release();
    }
  });
});

describe('ReplayPredictor', () => {
  const predictor = () => new ReplayPredictor({ registry, runtime, config: { maxRows: 1000 } });
  const batch = (model: string, records: unknown[]) => ({
    Items: records.map((record, row) => ({ row, record })),
    BatchInput: { model, version: '1', format: 'capture' },
  });

  it('replays a batch on the same version with no difference, stacking requests of the same row shape', async () => {
    // Prepare: requests of 3 and of 2 values a row (two runs), one of them two rows long
    const records = [
      await captureOf('scale', scaleFeeds([[1, 2, 3]], [0.5]), 1, {}, 'a'),
      await captureOf('scale', scaleFeeds([[4, 5]], [3]), 1, {}, 'b'),
      await captureOf(
        'scale',
        scaleFeeds(
          [
            [1, 1, 1],
            [2, 2, 2],
          ],
          [0.1, 7],
        ),
        2,
        {},
        'c',
      ),
      await captureOf('scale', scaleFeeds([[9, 8]], [-1]), 1, {}, 'd'),
    ];

    // Act
    const result = await predictor().predict(batch('scale', records));

    // Assess
    expect(result).toMatchObject({ rows: 4, predicted: 4, failed: 0, errors: [] });
    const lines = result.predictions.map((p) => JSON.parse(p.json) as RequestComparison & { row: number });
    expect(lines.map((l) => [l.row, l.requestId, l.rows, l.maxAbsDiff, l.outputs['y']?.elements])).toEqual([
      [0, 'a', 1, 0, 3],
      [1, 'b', 1, 0, 2],
      [2, 'c', 2, 0, 6],
      [3, 'd', 1, 0, 2],
    ]);
    expect(lines.every((l) => l.labelsIdentical === undefined && l.notCompared === undefined)).toBe(true);
  });

  it('compares with what was captured: a changed output is found, a bad record is an error line', async () => {
    // Prepare
    const good = await captureOf('iris', irisFeeds([[5.1, 3.5, 1.4, 0.2]]), 1, {}, 'good');
    const probabilities = good.outputs['probabilities'] as CapturedTensor;
    const altered = {
      ...good,
      requestId: 'altered',
      outputs: { ...good.outputs, probabilities: { ...probabilities, data: [0.5, 0.5, 0] } },
    };
    const dropped = await captureOf('iris', irisFeeds([[6.7, 3, 5.2, 2.3]]), 1, { drop: ['sepal_width_cm'] }, 'dropped');

    // Act
    const result = await predictor().predict(batch('iris', [good, { not: 'a record' }, altered, dropped, { ...good, model: 'wine' }]));

    // Assess
    expect(result).toMatchObject({ rows: 5, predicted: 2, failed: 3 });
    expect(result.errors.map((e) => [e.row, e.code, (e as { requestId?: string }).requestId])).toEqual([
      [1, 'INVALID_CAPTURE_RECORD', undefined],
      [3, 'FEATURE_DROPPED', 'dropped'],
      [4, 'INVALID_CAPTURE_RECORD', 'good'],
    ]);
    const [first, second] = result.predictions.map((p) => JSON.parse(p.json) as RequestComparison);
    expect(first).toMatchObject({ requestId: 'good', maxAbsDiff: 0, labelsIdentical: [true] });
    const p = (probabilities.data as number[]).map(Math.fround);
    expect(second).toMatchObject({ requestId: 'altered', differingLabels: 0, labelsIdentical: [true] });
    expect(
      Math.abs(
        (second?.maxAbsDiff as number) -
          Math.max(Math.abs(0.5 - (p[0] as number)), Math.abs(0.5 - (p[1] as number)), Math.abs(p[2] as number)),
      ),
    ).toBeLessThan(1e-12);
  });

  it("refuses a batch that is not a replay's, and a target that does not exist", async () => {
    await expect(predictor().predict({ Items: [], BatchInput: { model: 'iris', version: '1', format: 'jsonl' } })).rejects.toMatchObject({
      code: 'INVALID_BATCH',
    });
    await expect(
      predictor().predict({ Items: [{ row: 0, record: {} }], BatchInput: { model: 'iris', version: '9', format: 'capture' } }),
    ).rejects.toMatchObject({ code: 'VERSION_NOT_FOUND' });
  });
});

// ---------------------------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------------------------

describe('planReplaySplits', () => {
  const bucket = 'capture';
  const line = (id: string, timestamp: string, version = '1') =>
    JSON.stringify({
      captureVersion: 1,
      requestId: id,
      model: 'iris',
      modelVersion: version,
      timestamp,
      rows: 1,
      capturedRows: 1,
      truncated: false,
      outputs: {},
    });
  const spec = (over: Partial<ReplaySpec> = {}): ReplaySpec => ({
    since: '2026-11-30T12:00:00.000Z',
    until: '2026-11-30T13:00:00.000Z',
    sourceVersions: ['1'],
    maxRequests: 100,
    ...over,
  });

  async function planned(files: string[], replay: ReplaySpec, rowsPerBatch = 500) {
    const objects = new InMemoryDataObjects({ chunkBytes: 37 });
    const inputs: InputFile[] = files.map((body, i) =>
      objects.set({ bucket, key: `capture/model=iris/version=1/date=2026-11-30/${i}.jsonl` }, body),
    );
    const splits: Split[] = [];
    const result = await planReplaySplits(objects, { files: inputs, rowsPerBatch, replay }, (split) => {
      splits.push(split);
    });
    const ids: (string | undefined)[] = [];
    for (const split of splits) {
      for (const entry of await readSplit(objects, split, 'jsonl'))
        ids.push(entry.error ? `error:${entry.error.code}` : (entry.record as { requestId: string }).requestId);
    }
    return { result, splits, ids };
  }

  it("keeps the window's records of the source versions, and every line that is no record, in consecutive splits", async () => {
    // Prepare
    const files = [
      [
        line('early', '2026-11-30T11:59:59.999Z'),
        line('a', '2026-11-30T12:00:00.000Z'),
        line('b', '2026-11-30T12:30:00.000Z'),
        line('other', '2026-11-30T12:31:00.000Z', '2'),
        line('c', '2026-11-30T12:32:00.000Z'),
        '',
        '{"cut short',
      ].join('\n'),
      `\ufeff${line('d', '2026-11-30T12:59:59.999Z')}\n${line('late', '2026-11-30T13:00:00.000Z')}\n`,
    ];

    // Act
    const { result, splits, ids } = await planned(files, spec());

    // Assess: the lines left out split the runs; row numbers count what is replayed
    expect(ids).toEqual(['a', 'b', 'c', 'error:INVALID_JSON', 'd']);
    expect(result).toMatchObject({ rows: 5, splitCount: 4, columns: [], replay: { inWindow: 4, selected: 4, unreadable: 1, outside: 3 } });
    expect(splits.map((s) => [s.firstRow, s.rows, s.firstLine])).toEqual([
      [0, 2, 2],
      [2, 1, 5],
      [3, 1, 7],
      [4, 1, 1],
    ]);
  });

  it('replays the newest maxRequests when the window holds more, the later line first among equal times', async () => {
    // Prepare: 12 records, times out of order, two pairs at the same instant
    const times = [5, 1, 9, 9, 3, 7, 7, 2, 8, 6, 4, 0];
    const body = times.map((t, i) => line(`r${i}`, `2026-11-30T12:${String(10 + t).padStart(2, '0')}:00.000Z`)).join('\n');

    // Act
    const { result, ids } = await planned([body], spec({ maxRequests: 4 }), 2);

    // Assess: 9, 9, 8 and the later of the two 7s
    expect(ids).toEqual(['r2', 'r3', 'r6', 'r8']);
    expect(result.replay).toEqual({ inWindow: 12, selected: 4, unreadable: 0, outside: 0 });
  });

  it('fails a file that changed since the replay was submitted', async () => {
    const objects = new InMemoryDataObjects();
    const file = objects.set(
      { bucket, key: 'capture/model=iris/version=1/date=2026-11-30/0.jsonl' },
      line('a', '2026-11-30T12:00:00.000Z'),
    );
    objects.delete(file);
    await expect(planReplaySplits(objects, { files: [file], rowsPerBatch: 10, replay: spec() }, () => undefined)).rejects.toMatchObject({
      status: 409,
      code: 'INPUT_CHANGED',
    });
  });
});

describe('replayWindow', () => {
  const now = new Date('2026-11-30T12:00:00.000Z');

  it('reads durations back from now and times with their zone', () => {
    expect(replayWindow('1h', undefined, now)).toEqual({ since: '2026-11-30T11:00:00.000Z', until: '2026-11-30T12:00:00.000Z' });
    expect(replayWindow('90s', '2026-11-30T12:00:00Z', now).since).toBe('2026-11-30T11:58:30.000Z');
    expect(replayWindow('2026-11-30T10:00:00+02:00', '2026-11-30T09:00:00.5Z', now)).toEqual({
      since: '2026-11-30T08:00:00.000Z',
      until: '2026-11-30T09:00:00.500Z',
    });
  });

  it.each([
    ['tomorrow', undefined, 'since'],
    ['2026-11-30T12:00:01Z', undefined, 'since'],
    ['2026-11-30 11:00', undefined, 'since'],
    ['1h', '2026-11-30T11:00:00Z', 'until'],
    ['1h', 'now', 'until'],
    ['40d', undefined, 'since'],
    ['0h', undefined, 'since'],
  ])('refuses since %s, until %s (INVALID_WINDOW at %s)', (since, until, path) => {
    expect(() => replayWindow(since, until, now)).toThrow(expect.objectContaining({ code: 'INVALID_WINDOW', path: [path] }) as Error);
  });

  it.each([
    ['2026-02-30T00:00:00Z', undefined, 'since'],
    ['2026-11-30T24:00:00Z', undefined, 'since'],
    ['2026-11-29T10:61:00Z', undefined, 'since'],
    ['1h', '2026-11-31T00:00:00Z', 'until'],
  ])('refuses a time that is not on the calendar, since %s until %s, as not a valid time', (since, until, path) => {
    expect(() => replayWindow(since, until, now)).toThrow(
      expect.objectContaining({ code: 'INVALID_WINDOW', path: [path], message: expect.stringContaining('is not a valid time') }) as Error,
    );
  });

  it('lists the UTC days a window touches', () => {
    expect(utcDays('2026-11-29T23:00:00.000Z', '2026-12-01T00:00:00.000Z')).toEqual(['2026-11-29', '2026-11-30']);
    expect(utcDays('2026-11-30T10:00:00.000Z', '2026-11-30T11:00:00.000Z')).toEqual(['2026-11-30']);
  });
});

describe('replayLines (modelctl replay)', () => {
  it('prints the verdict, the window, a row per output, the requests that differ most and what was not replayed', () => {
    // Prepare
    const builder = new ReplayReportBuilder();
    builder.compared({
      row: 7,
      requestId: 'req-7',
      sourceVersion: '1',
      timestamp: 't',
      rows: 2,
      truncated: true,
      maxAbsDiff: 0.125,
      differingLabels: 1,
      labelsIdentical: [false, true],
      outputs: {
        probabilities: { kind: 'numeric', elements: 6, differing: 2, maxAbsDiff: 0.125, meanAbsDiff: 0.03125 },
        label: { kind: 'exact', elements: 2, differing: 1 },
      },
    });
    builder.compared({
      row: 8,
      requestId: 'req-8',
      sourceVersion: '1',
      timestamp: 't',
      rows: 1,
      truncated: false,
      maxAbsDiff: 0.0000125,
      differingLabels: 0,
      labelsIdentical: [true],
      outputs: {
        probabilities: { kind: 'numeric', elements: 3, differing: 1, maxAbsDiff: 0.0000125, meanAbsDiff: 0.0000125 / 3 },
        label: { kind: 'exact', elements: 1, differing: 0 },
      },
      notCompared: { extra: 'target-only' },
    });
    builder.notReplayable('FEATURE_DROPPED');
    const report = builder.report({
      jobId: 'job-1',
      model: 'iris',
      targetVersion: '2',
      sourceVersions: ['1'],
      window: { since: '2026-11-30T11:00:00.000Z', until: '2026-11-30T12:00:00.000Z' },
      capture: { inWindow: 5, replayed: 3, maxRequests: 3, capped: true, outsideWindow: 0, unreadableLines: 0 },
    });

    // Act
    const text = replayLines(report);

    // Assess
    expect(text).toBe(
      [
        'iris: replay against version 2 of 3 requests of version 1: 2 of 3 labels identical (66.67%), max abs diff 0.125',
        'window 2026-11-30T11:00:00.000Z to 2026-11-30T12:00:00.000Z: 5 captured, 3 replayed (the newest 3); 2 compared (3 rows), 1 not replayable',
        'OUTPUT         KIND     REQUESTS  ELEMENTS  DIFFERING  MAX ABS DIFF  MEAN ABS DIFF',
        'label          exact    2         3         1          -             -',
        'probabilities  numeric  2         9         3          0.125         0.02083',
        '',
        'differing most:',
        'ROW  REQUEST  SOURCE  MAX ABS DIFF  LABELS CHANGED',
        '7    req-7    1       0.125         1',
        '8    req-8    1       1.25e-5       0',
        '',
        'not replayable: FEATURE_DROPPED 1 (errors.jsonl says why, request by request)',
        'outputs not compared: extra (target-only 1)',
        '1 request replayed on the rows capture kept (records over their size bound)',
        '',
      ].join('\n'),
    );
  });
});

describe('a replay through the batch steps and the batch function', () => {
  it('plans the window, replays each split, and assembles comparisons.jsonl, errors.jsonl and replay.json before the job ends', async () => {
    // Prepare: one capture file of 6 lines: 4 records in the window (one with a dropped feature), one before it, one that is no record
    const objects = new InMemoryDataObjects({ chunkBytes: 101 });
    const jobs = new InMemoryBatchJobStore();
    const records = [
      await captureOf('iris', irisFeeds([[5.1, 3.5, 1.4, 0.2]]), 1, {}, 'a'),
      await captureOf(
        'iris',
        irisFeeds([
          [6.7, 3, 5.2, 2.3],
          [5.9, 3, 4.2, 1.5],
        ]),
        2,
        {},
        'b',
      ),
      await captureOf('iris', irisFeeds([[6.3, 2.9, 5.6, 1.8]]), 1, { drop: ['petal_width_cm'] }, 'c'),
      await captureOf('iris', irisFeeds([[4.9, 3, 1.4, 0.2]]), 1, {}, 'd'),
    ];
    const before = { ...records[0], requestId: 'before', timestamp: '2026-11-30T10:00:00.000Z' };
    const body = `${[
      JSON.stringify(before),
      ...records.slice(0, 2).map((r) => JSON.stringify(r)),
      '{"not": "a record"}',
      ...records.slice(2).map((r) => JSON.stringify(r)),
    ].join('\n')}\n`;
    const file = objects.set({ bucket: 'capture', key: 'capture/model=iris/version=1/date=2026-11-30/0.jsonl' }, body);
    const output = { bucket: 'capture', prefix: 'replays/iris/job-r/' };
    const workflow: WorkflowInput = {
      jobId: 'job-r',
      model: 'iris',
      version: '1',
      format: 'capture',
      files: [file],
      output,
      options: { rowsPerBatch: 2, maxConcurrency: 1, toleratedFailurePercentage: 100 },
      replay: { since: '2026-11-30T11:00:00.000Z', until: '2026-11-30T13:00:00.000Z', sourceVersions: ['1'], maxRequests: 100 },
    };
    const job: BatchJob = {
      jobId: 'job-r',
      model: 'iris',
      modelVersion: '1',
      state: 'RUNNING',
      input: {
        uri: 's3://capture/capture/model=iris/',
        format: 'capture',
        files: [file],
        columns: [],
        columnCount: 0,
        ignoredColumns: [],
        ignoredColumnCount: 0,
      },
      output: { uri: 's3://capture/replays/iris/job-r/', predictions: '', errors: '', manifest: '' },
      options: workflow.options,
      replay: workflow.replay,
      progress: { rowsRead: 0, predicted: 0, failed: 0 },
      submittedBy: 'test',
      submittedAt: '2026-11-30T12:00:00.000Z',
      revision: 1,
    };
    await jobs.create(job);
    let ended: ReplayReport | undefined;
    const steps = new BatchSteps({
      objects,
      jobs,
      planSplits,
      replays: {
        plan: planReplaySplits,
        report: async (store, input) => {
          expect((await jobs.get('iris', 'job-r'))?.state).toBe('RUNNING');
          return (ended = await writeReplayReport(store, input));
        },
      },
    });
    const worker = new BatchWorker({
      predictor: new BatchPredictor({ registry, runtime, config: { maxRows: 1000 } }),
      replay: new ReplayPredictor({ registry, runtime, config: { maxRows: 1000 } }),
      objects,
      jobs,
      readSplit,
      maxRows: 1000,
    });

    // Act
    const plan: PlanResult = await steps.plan(workflow);
    const splits = Buffer.from(objects.bytes(plan.splits) ?? new Uint8Array())
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Split);
    for (const split of splits) {
      await worker.run({
        Items: [split],
        BatchInput: { jobId: 'job-r', model: 'iris', version: '1', format: 'capture', output, columns: plan.columns },
      } satisfies SplitBatchEvent);
    }
    const result = await steps.assemble(workflow, plan, {});

    // Assess
    expect(plan).toMatchObject({ rows: 5, replay: { inWindow: 4, selected: 4, unreadable: 1, outside: 1 } });
    expect(result).toEqual({ state: 'SUCCEEDED', rows: 5, predicted: 3, failed: 2 });
    const lines = (name: string) =>
      Buffer.from(objects.bytes({ bucket: 'capture', key: output.prefix + name }) ?? new Uint8Array())
        .toString('utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines(JOB_FILES.comparisons).map((l) => [l['row'], l['requestId'], l['maxAbsDiff'], l['labelsIdentical']])).toEqual([
      [0, 'a', 0, [true]],
      [1, 'b', 0, [true, true]],
      [4, 'd', 0, [true]],
    ]);
    expect(lines(JOB_FILES.errors).map((l) => [l['row'], l['code'], l['requestId'] ?? null, l['line']])).toEqual([
      [2, 'INVALID_CAPTURE_RECORD', null, 4],
      [3, 'FEATURE_DROPPED', 'c', 5],
    ]);
    expect(objects.bytes({ bucket: 'capture', key: output.prefix + JOB_FILES.predictions })).toBeUndefined();
    const stored = JSON.parse(
      Buffer.from(objects.bytes({ bucket: 'capture', key: output.prefix + JOB_FILES.replayReport }) ?? new Uint8Array()).toString('utf8'),
    ) as ReplayReport;
    expect(stored).toEqual(ended);
    expect(stored).toMatchObject({
      jobId: 'job-r',
      targetVersion: '1',
      requests: 5,
      compared: 3,
      rowsCompared: 4,
      labels: { rows: 4, identical: 4, share: 1 },
      maxAbsDiff: 0,
      capture: { inWindow: 4, replayed: 4, capped: false, outsideWindow: 1, unreadableLines: 1 },
      notReplayable: { total: 2, byCode: { FEATURE_DROPPED: 1, INVALID_CAPTURE_RECORD: 1 } },
    });
    const manifest = JSON.parse(
      Buffer.from(objects.bytes({ bucket: 'capture', key: output.prefix + JOB_FILES.manifest }) ?? new Uint8Array()).toString('utf8'),
    ) as { predictions: string };
    expect(manifest.predictions).toBe(`s3://capture/${output.prefix}${JOB_FILES.comparisons}`);
  });

  it('refuses to plan a replay without its window, or with steps that do not replay', async () => {
    const objects = new InMemoryDataObjects();
    const jobs = new InMemoryBatchJobStore();
    const workflow: WorkflowInput = {
      jobId: 'j',
      model: 'iris',
      version: '1',
      format: 'capture',
      files: [],
      output: { bucket: 'b', prefix: 'p/' },
      options: { rowsPerBatch: 1, maxConcurrency: 1, toleratedFailurePercentage: 100 },
    };
    await expect(
      new BatchSteps({ objects, jobs, planSplits, replays: { plan: planReplaySplits, report: writeReplayReport } }).plan(workflow),
    ).rejects.toMatchObject({ code: 'INVALID_STEP' });
    await expect(
      new BatchSteps({ objects, jobs, planSplits }).plan({
        ...workflow,
        replay: { since: 'a', until: 'b', sourceVersions: ['1'], maxRequests: 1 },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_STEP' });
  });
});
