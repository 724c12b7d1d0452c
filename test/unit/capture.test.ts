/**
 * The capture record (`functions/core/capture.ts`): what it holds for each model layout, the
 * redaction applied before anything is written, the size bound (rows cut, tensors without a row
 * axis kept without data), and the sampling draw; read back by `parseCaptureLines`.
 */
import { createHash } from 'node:crypto';
import {
  CaptureSettingsSchema,
  captureRecordText,
  checkRedaction,
  parseCaptureLines,
  sampled,
  type CaptureRecord,
  type CaptureSource,
} from '../../functions/core/capture.js';
import { recordLayout } from '../../functions/core/codec/decode.js';
import type { ModelSignature } from '../../functions/core/model.js';
import type { TensorMap } from '../../functions/core/tensor.js';

const IRIS: ModelSignature = {
  inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
  outputs: [
    { name: 'probabilities', type: 'float32', shape: ['N', 3] },
    { name: 'label', type: 'string', shape: ['N'] },
  ],
};
const FEATURES = ['a', 'b', 'c', 'd'];

function source(overrides: Partial<CaptureSource> & Pick<CaptureSource, 'feeds' | 'outputs' | 'rows'>): CaptureSource {
  return {
    requestId: 'r-1',
    model: 'iris',
    modelVersion: '3',
    functionVersion: '7',
    timestamp: '2026-11-30T12:00:00.000Z',
    layout: recordLayout(IRIS, { features: FEATURES }),
    settings: { drop: [], hash: [], maxRecordBytes: 65_536 },
    ...overrides,
  };
}

function irisTensors(rows: number): { feeds: TensorMap; outputs: TensorMap } {
  const features = new Float32Array(rows * 4).map((_, i) => 0.1 + i / 10);
  const probabilities = new Float32Array(rows * 3).map((_, i) => (i % 3) / 3);
  return {
    feeds: { features: { type: 'float32', shape: [rows, 4], data: features } },
    outputs: {
      probabilities: { type: 'float32', shape: [rows, 3], data: probabilities },
      label: { type: 'string', shape: [rows], data: Array.from({ length: rows }, (_, r) => `class-${r}`) },
    },
  };
}

function parsed(text: string): CaptureRecord {
  const { records, invalid } = parseCaptureLines(text);
  expect(invalid).toBe(0);
  expect(records).toHaveLength(1);
  return records[0] as CaptureRecord;
}

describe('captureRecordText', () => {
  it('writes declared features as columns, values as the v2 JSON writes them, and every output', () => {
    const record = parsed(captureRecordText(source({ rows: 2, ...irisTensors(2) })));

    expect(record).toEqual({
      captureVersion: 1,
      requestId: 'r-1',
      model: 'iris',
      modelVersion: '3',
      functionVersion: '7',
      timestamp: '2026-11-30T12:00:00.000Z',
      rows: 2,
      capturedRows: 2,
      truncated: false,
      // float32 values with their shortest digits: 0.1 rather than 0.10000000149011612
      features: { a: [0.1, 0.5], b: [0.2, 0.6], c: [0.3, 0.7], d: [0.4, 0.8] },
      outputs: {
        probabilities: { datatype: 'FP32', shape: [2, 3], data: [0, 0.33333334, 0.6666667, 0, 0.33333334, 0.6666667] },
        label: { datatype: 'BYTES', shape: [2], data: ['class-0', 'class-1'] },
      },
    });
  });

  it('drops and hashes named features before anything is written', () => {
    const text = captureRecordText(source({ rows: 2, ...irisTensors(2), settings: { drop: ['b'], hash: ['c'], maxRecordBytes: 65_536 } }));
    const record = parsed(text);

    const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
    expect(record.features).toEqual({ a: [0.1, 0.5], c: [digest('0.3'), digest('0.7')], d: [0.4, 0.8] });
    expect(record.redaction).toEqual({ dropped: ['b'], hashed: ['c'] });
    // Neither the dropped values nor the hashed ones appear anywhere in the line.
    expect(text).not.toMatch(/[^.\d]0\.(2|6|3|7)[,\]]/);
  });

  it("takes the input's name for all of its features, and redacts outputs by name", () => {
    const { feeds, outputs } = irisTensors(2);
    const dropped = parsed(
      captureRecordText(source({ rows: 2, feeds, outputs, settings: { drop: ['features', 'label'], hash: [], maxRecordBytes: 65_536 } })),
    );
    const hashed = parsed(
      captureRecordText(source({ rows: 2, feeds, outputs, settings: { drop: [], hash: ['features', 'label'], maxRecordBytes: 65_536 } })),
    );

    expect(dropped.features).toBeUndefined();
    expect(Object.keys(dropped.outputs)).toEqual(['probabilities']);
    expect(dropped.redaction).toEqual({ dropped: [...FEATURES, 'label'], hashed: [] });
    const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
    expect(hashed.features?.['a']).toEqual([digest('0.1'), digest('0.5')]);
    expect(hashed.outputs['label']?.data).toEqual([digest('class-0'), digest('class-1')]);
    expect(hashed.outputs['probabilities']?.data).toEqual([0, 0.33333334, 0.6666667, 0, 0.33333334, 0.6666667]);
    expect(hashed.redaction).toEqual({ dropped: [], hashed: [...FEATURES, 'label'] });
  });

  it('keeps single-value inputs of other models as features and the rest as tensors, redaction by input name', () => {
    const layout = recordLayout(
      {
        inputs: [
          { name: 'email', type: 'string', shape: ['N'] },
          { name: 'age', type: 'int64', shape: ['N', 1] },
          { name: 'image', type: 'uint8', shape: ['N', 2, 2] },
        ],
        outputs: [{ name: 'score', type: 'float64', shape: ['N'] }],
      },
      {},
    );
    const record = parsed(
      captureRecordText(
        source({
          layout,
          rows: 2,
          feeds: {
            email: { type: 'string', shape: [2], data: ['a@example.com', 'b@example.com'] },
            age: { type: 'int64', shape: [2, 1], data: new BigInt64Array([31n, 9007199254740993n]) },
            image: { type: 'uint8', shape: [2, 2, 2], data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
          },
          outputs: { score: { type: 'float64', shape: [2], data: new Float64Array([Number.NaN, Number.POSITIVE_INFINITY]) } },
          settings: { drop: [], hash: ['email'], maxRecordBytes: 65_536 },
        }),
      ),
    );

    expect(record.features).toEqual({
      email: [
        `sha256:${createHash('sha256').update('a@example.com').digest('hex')}`,
        `sha256:${createHash('sha256').update('b@example.com').digest('hex')}`,
      ],
      // Past 2^53 an int64 is a string, never rounded.
      age: [31, '9007199254740993'],
    });
    expect(record.inputs).toEqual({ image: { datatype: 'UINT8', shape: [2, 2, 2], data: [1, 2, 3, 4, 5, 6, 7, 8] } });
    expect(record.outputs['score']?.data).toEqual(['NaN', 'Infinity']);
  });

  it('keeps the first rows that fit its bound, and says so', () => {
    // Prepare: 1000 rows take about 70 KB
    const { feeds, outputs } = irisTensors(1000);
    for (const max of [1024, 4096, 30_000]) {
      // Act
      const text = captureRecordText(source({ rows: 1000, feeds, outputs, settings: { drop: [], hash: [], maxRecordBytes: max } }));

      // Assess
      expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(max);
      const record = parsed(text);
      expect(record.truncated).toBe(true);
      expect(record.rows).toBe(1000);
      expect(record.capturedRows).toBeGreaterThan(0);
      expect(record.capturedRows).toBeLessThan(1000);
      // Every part is cut to the same rows, from the first.
      expect(record.features?.['a']).toHaveLength(record.capturedRows);
      expect(record.outputs['probabilities']).toMatchObject({ shape: [record.capturedRows, 3] });
      expect(record.outputs['probabilities']?.data).toHaveLength(record.capturedRows * 3);
      expect(record.outputs['label']?.data).toEqual(Array.from({ length: record.capturedRows }, (_, r) => `class-${r}`));
    }
  });

  it('keeps a tensor without a row axis as its type and shape when it does not fit', () => {
    const layout = recordLayout(
      {
        inputs: [{ name: 'x', type: 'float32', shape: ['N', 1] }],
        outputs: [{ name: 'embedding_table', type: 'float32', shape: [500, 64] }],
      },
      {},
    );
    const text = captureRecordText(
      source({
        layout,
        rows: 1,
        feeds: { x: { type: 'float32', shape: [1, 1], data: new Float32Array([2]) } },
        outputs: { embedding_table: { type: 'float32', shape: [500, 64], data: new Float32Array(32_000).fill(0.123) } },
        settings: { drop: [], hash: [], maxRecordBytes: 2048 },
      }),
    );

    const record = parsed(text);
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(2048);
    expect(record).toMatchObject({ truncated: true, capturedRows: 1, features: { x: [2] } });
    expect(record.outputs['embedding_table']).toEqual({ datatype: 'FP32', shape: [500, 64] });
  });
});

describe('settings', () => {
  it('takes a share, names to redact and a bound, with defaults', () => {
    expect(CaptureSettingsSchema.parse({ samplePercent: 5 })).toEqual({ samplePercent: 5, drop: [], hash: [], maxRecordBytes: 65_536 });
    expect(CaptureSettingsSchema.parse({ samplePercent: 0.001 }).samplePercent).toBe(0.001);
    for (const bad of [
      { samplePercent: 0 },
      { samplePercent: 1e-300 },
      { samplePercent: 0.0009 },
      { samplePercent: 5, drop: ['a', 'b', 'a'] },
      { samplePercent: 5, hash: ['a', 'a'] },
      { samplePercent: 100.5 },
      { samplePercent: 5, maxRecordBytes: 2_000_000 },
      { samplePercent: 5, drop: [''] },
      { samplePercent: 5, other: 1 },
      {},
    ]) {
      expect(CaptureSettingsSchema.safeParse(bad).success).toBe(false);
    }
  });

  it('refuses to redact what no version declares, and a name both dropped and hashed', () => {
    const versions = [{ metadata: { features: FEATURES }, signature: IRIS }];
    expect(() => checkRedaction({ drop: ['a', 'label'], hash: ['features', 'probabilities'] }, versions)).not.toThrow();
    expect(() => checkRedaction({ drop: ['e'], hash: [] }, versions)).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_FEATURE', path: ['drop', 0] }),
    );
    expect(() => checkRedaction({ drop: ['a'], hash: ['a'] }, versions)).toThrow(
      expect.objectContaining({ code: 'CONFLICTING_FIELDS', path: ['hash', 0] }),
    );
    // Dropping the feature input drops every feature: hashing one of them too is a contradiction.
    expect(() => checkRedaction({ drop: ['features'], hash: ['label', 'b'] }, versions)).toThrow(
      expect.objectContaining({ code: 'CONFLICTING_FIELDS', path: ['hash', 1] }),
    );
    expect(() => checkRedaction({ drop: ['b'], hash: ['features'] }, versions)).not.toThrow();
  });

  it('draws the share asked for', () => {
    let i = 0;
    const steps = () => (i++ % 100) / 100;
    const taken = Array.from({ length: 1000 }, () => sampled({ samplePercent: 12.5 }, steps)).filter(Boolean).length;
    expect(taken).toBe(130);
    expect(sampled({ samplePercent: 100 }, () => 0.999999)).toBe(true);
  });
});

describe('parseCaptureLines', () => {
  it('counts lines that are not capture records, and reads the rest', () => {
    const good = captureRecordText(source({ rows: 1, ...irisTensors(1) }));
    const { records, invalid } = parseCaptureLines(`${good}\n{"captureVersion":2}\nnot json\n\n${good}`);
    expect(records).toHaveLength(2);
    expect(invalid).toBe(2);
  });
});
