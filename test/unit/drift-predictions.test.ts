/**
 * Prediction columns (`functions/core/drift/predictions.ts`): checked against what the record
 * forms answer (`recordPredictions` of `codec/encode.ts`) on the sample model's real outputs and
 * on hand-built ties and NaNs, and the same columns from ONNX Runtime's tensors and from their
 * captured (v2 JSON) form.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { classifierView, recordPredictions, v2OutputJsonText, v2Outputs, type ClassifierView } from '../../functions/core/codec/encode.js';
import { numberToFloat16Bits } from '../../functions/core/codec/numbers.js';
import {
  LABEL_COLUMN,
  MAX_PREDICTION_WIDTH,
  predictionColumns,
  probabilityColumn,
  type CapturedTensorLike,
  type PredictionColumns,
} from '../../functions/core/drift/predictions.js';
import type { ModelSignature } from '../../functions/core/model.js';
import type { TensorData, TensorMap } from '../../functions/core/tensor.js';

const read = (path: string): Buffer => readFileSync(new URL(`../../${path}`, import.meta.url));
const IRIS_METADATA = JSON.parse(read('models/iris/metadata.json').toString('utf8')) as { features: string[]; classLabels: string[] };
const IRIS_SIGNATURE: ModelSignature = {
  inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
  outputs: [
    { name: 'probabilities', type: 'float32', shape: ['N', 3] },
    { name: 'label', type: 'string', shape: ['N'] },
  ],
};

/** The outputs as a capture record stores them: each tensor's v2 JSON form, parsed. */
function captured(outputs: TensorMap): Record<string, CapturedTensorLike> {
  const names = Object.keys(outputs);
  return Object.fromEntries(
    v2Outputs(outputs, names).map((output) => {
      const { datatype, shape, data } = JSON.parse(v2OutputJsonText(output)) as CapturedTensorLike;
      return [output.name, { datatype, shape, data }];
    }),
  );
}

/** The columns a classifier's record predictions imply: label, and each class's probability. */
function columnsFromRecords(records: readonly unknown[], labels: readonly string[]): PredictionColumns {
  const typed = records as { label: string | null; probabilities: Record<string, number | string> }[];
  const asValue = (p: number | string): number | string | null => (p === 'NaN' ? null : p);
  return {
    [LABEL_COLUMN]: typed.map((r) => r.label),
    ...Object.fromEntries(
      labels.map((label) => [probabilityColumn(label), typed.map((r) => asValue(r.probabilities[label] as number | string))]),
    ),
  };
}

describe('predictionColumns of a classifier', () => {
  let session: ort.InferenceSession;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(read('models/iris/model.onnx'));
  });

  afterAll(async () => {
    await session.release();
  });

  it('gives the label and probabilities the record forms answer, for the sample model on the whole iris data', async () => {
    // Prepare: every row of data/iris.csv through the real model
    const lines = read('data/iris.csv').toString('utf8').trim().split('\n').slice(1);
    const values = Float32Array.from(lines.flatMap((line) => line.split(',').slice(0, 4).map(Number)));
    const rows = lines.length;
    const result = await session.run({ features: new ort.Tensor('float32', values, [rows, 4]) });
    const outputs: TensorMap = Object.fromEntries(
      Object.entries(result).map(([name, t]) => [name, { type: t.type, shape: t.dims, data: t.data } as TensorData]),
    );
    const view = classifierView(IRIS_SIGNATURE, IRIS_METADATA) as ClassifierView;

    // Act
    const columns = predictionColumns(outputs, rows, view);

    // Assess: exactly the record forms' values; the model's own `label` output gives way to the derived one
    expect(view).toEqual({ probabilities: 'probabilities', labels: IRIS_METADATA.classLabels, binary: false });
    expect(Object.keys(columns)).toEqual([LABEL_COLUMN, ...IRIS_METADATA.classLabels.map(probabilityColumn)]);
    expect(columns).toEqual(columnsFromRecords(recordPredictions(outputs, rows, view), view.labels));
    expect(new Set(columns[LABEL_COLUMN])).toEqual(new Set(IRIS_METADATA.classLabels));
    // Assess: the captured form of the same outputs gives the same columns
    expect(predictionColumns(captured(outputs), rows, view)).toEqual(columns);
  });

  it('breaks ties and skips NaN exactly as the record forms do', () => {
    // Prepare: ties (first wins), NaN first, NaN in the middle, all NaN, negative zero, infinity
    const labels = ['a', 'b', 'c'];
    const view: ClassifierView = { probabilities: 'p', labels, binary: false };
    const n = Number.NaN;
    const data = [0.4, 0.4, 0.2, n, 0.3, 0.7, 0.5, n, 0.5, n, n, n, 0.2, 0.3, 0.3, -0, 0, 0, 0.1, Infinity, 0.1, n, -Infinity, n];
    const rows = data.length / 3;
    for (const type of ['float32', 'float64', 'float16'] as const) {
      const tensor: TensorData =
        type === 'float16'
          ? { type, shape: [rows, 3], data: Uint16Array.from(data, numberToFloat16Bits) }
          : type === 'float32'
            ? { type, shape: [rows, 3], data: Float32Array.from(data) }
            : { type, shape: [rows, 3], data: Float64Array.from(data) };
      const outputs: TensorMap = { p: tensor };

      // Act
      const columns = predictionColumns(outputs, rows, view);

      // Assess
      const expected = columnsFromRecords(recordPredictions(outputs, rows, view), labels);
      expect(columns).toEqual(expected);
      expect(columns[LABEL_COLUMN]).toEqual(['a', 'c', 'a', null, 'b', 'a', 'b', 'b']);
      expect(columns[probabilityColumn('b')]?.[6]).toBe('Infinity');
      expect(predictionColumns(captured(outputs), rows, view)).toEqual(columns);
    }
  });

  it("gives a binary classifier's two probabilities and label (p ≥ 0.5 is the second label) as the record forms do", () => {
    // Prepare
    const view: ClassifierView = { probabilities: 'score', labels: ['no', 'yes'], binary: true };
    const p = [0.5, 0.1, 0.9, Number.NaN, 0.4999999, 1];
    const shapes: TensorData[] = [
      { type: 'float32', shape: [6], data: Float32Array.from(p) },
      { type: 'float64', shape: [6, 1], data: Float64Array.from(p) },
      { type: 'float16', shape: [6, 1], data: Uint16Array.from(p, numberToFloat16Bits) },
    ];
    for (const tensor of shapes) {
      const outputs: TensorMap = { score: tensor };

      // Act
      const columns = predictionColumns(outputs, 6, view);

      // Assess
      expect(columns).toEqual(columnsFromRecords(recordPredictions(outputs, 6, view), view.labels));
      expect(columns[LABEL_COLUMN]?.slice(0, 4)).toEqual(['yes', 'no', 'yes', null]);
      expect(predictionColumns(captured(outputs), 6, view)).toEqual(columns);
    }
  });

  it('treats probabilities that do not fit the view as a plain output, as the record forms do', () => {
    // Prepare: three labels, two columns at run time
    const view: ClassifierView = { probabilities: 'p', labels: ['a', 'b', 'c'], binary: false };
    const outputs: TensorMap = { p: { type: 'float32', shape: [2, 2], data: new Float32Array([0.25, 0.75, 0.5, 0.5]) } };

    // Act
    const columns = predictionColumns(outputs, 2, view);

    // Assess
    expect(recordPredictions(outputs, 2, view)).toEqual([{ p: [0.25, 0.75] }, { p: [0.5, 0.5] }]);
    expect(columns).toEqual({ 'p[0]': [0.25, 0.5], 'p[1]': [0.75, 0.5] });
  });
});

describe('predictionColumns of other outputs', () => {
  it('gives a column per [N] or [N, 1] output and per column of a narrow [N, K] one, and leaves the rest out', () => {
    // Prepare
    const rows = 2;
    const outputs: TensorMap = {
      y: { type: 'float32', shape: [2, 1], data: new Float32Array([0.1, Number.NaN]) },
      pair: { type: 'float64', shape: [2, 2], data: new Float64Array([1, 2, 3, -Infinity]) },
      flag: { type: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
      name: { type: 'string', shape: [2], data: ['x', 'y'] },
      id: { type: 'int64', shape: [2], data: new BigInt64Array([7n, 2n ** 60n]) },
      count: { type: 'uint8', shape: [2], data: new Uint8Array([3, 4]) },
      wide: { type: 'float32', shape: [2, MAX_PREDICTION_WIDTH + 1], data: new Float32Array(2 * (MAX_PREDICTION_WIDTH + 1)) },
      cube: { type: 'float32', shape: [2, 1, 1], data: new Float32Array(2) },
      constant: { type: 'int32', shape: [], data: new Int32Array([5]) },
      other: { type: 'float32', shape: [3], data: new Float32Array(3) },
    };

    // Act
    const columns = predictionColumns(outputs, rows, undefined);

    // Assess
    expect(columns).toEqual({
      y: [0.1, null],
      'pair[0]': [1, 3],
      'pair[1]': [2, '-Infinity'],
      flag: [true, false],
      name: ['x', 'y'],
      id: [7, 2 ** 60],
      count: [3, 4],
    });
    // Assess: each value is the record forms' (NaN, printed "NaN", is the missing null)
    const records = recordPredictions(outputs, rows, undefined) as Record<string, unknown>[];
    records.forEach((record, r) => {
      expect(columns.y?.[r]).toEqual((record.y as unknown[])[0] === 'NaN' ? null : (record.y as unknown[])[0]);
      expect([columns['pair[0]']?.[r], columns['pair[1]']?.[r]]).toEqual(record.pair);
      expect(columns.flag?.[r]).toBe(record.flag);
    });
    // Assess: the captured form (int64 beyond 2^53 as a string there) gives the same columns
    expect(predictionColumns(captured(outputs), rows, undefined)).toEqual(columns);
  });

  it('leaves out a captured tensor whose data does not match its shape or whose datatype is unknown', () => {
    // Prepare
    const outputs: Record<string, CapturedTensorLike> = {
      short: { datatype: 'FP32', shape: [3], data: [1, 2] },
      odd: { datatype: 'COMPLEX', shape: [3], data: [1, 2, 3] },
      negative: { datatype: 'FP32', shape: [-1], data: [] },
      fine: { datatype: 'INT32', shape: [3, 1], data: [1, 2, 3] },
    };

    // Act
    const columns = predictionColumns(outputs, 3);

    // Assess
    expect(columns).toEqual({ fine: [1, 2, 3] });
  });

  it('gives empty columns for zero rows', () => {
    const outputs: TensorMap = { y: { type: 'float32', shape: [0], data: new Float32Array(0) } };
    expect(predictionColumns(outputs, 0)).toEqual({ y: [] });
  });
});
