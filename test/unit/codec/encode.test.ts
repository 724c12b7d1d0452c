import type { ModelSignature } from '../../../functions/core/model.js';
import { classifierView, recordPredictions, v2OutputJsonText, v2Outputs } from '../../../functions/core/codec/encode.js';
import type { TensorMap } from '../../../functions/core/tensor.js';

const LABELS = ['setosa', 'versicolor', 'virginica'];
const classifier: ModelSignature = {
  inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }],
  outputs: [
    { name: 'label', type: 'string', shape: ['N'] },
    { name: 'probabilities', type: 'float32', shape: ['N', 3] },
  ],
};

describe('classifierView', () => {
  it('serves a model with class labels and a float [N, K] output as a classifier', () => {
    expect(classifierView(classifier, { classLabels: LABELS })).toEqual({ probabilities: 'probabilities', labels: LABELS, binary: false });
  });

  it('is no classifier without class labels', () => {
    expect(classifierView(classifier, {})).toBeUndefined();
    expect(classifierView(classifier, { classLabels: [] })).toBeUndefined();
  });

  it('is no classifier when no float output has one column per label', () => {
    expect(classifierView(classifier, { classLabels: ['yes', 'no'] })).toBeUndefined();
  });

  it('prefers the output whose name mentions "prob" among several that fit', () => {
    // Prepare
    const signature: ModelSignature = {
      inputs: [],
      outputs: [
        { name: 'logits', type: 'float32', shape: ['N', 3] },
        { name: 'output_probability', type: 'float64', shape: ['N', null] },
      ],
    };

    // Act / Assess
    expect(classifierView(signature, { classLabels: LABELS })?.probabilities).toBe('output_probability');
  });

  it('does not guess between several fitting outputs none of which is named for probabilities', () => {
    const signature: ModelSignature = {
      inputs: [],
      outputs: [
        { name: 'a', type: 'float32', shape: ['N', 3] },
        { name: 'b', type: 'float32', shape: ['N', 3] },
      ],
    };
    expect(classifierView(signature, { classLabels: LABELS })).toBeUndefined();
  });
});

describe('recordPredictions', () => {
  it('gives label, confidence and probabilities keyed by class label for each row', () => {
    // Prepare
    const outputs: TensorMap = {
      label: { type: 'string', shape: [2], data: ['virginica', 'setosa'] },
      probabilities: { type: 'float32', shape: [2, 3], data: new Float32Array([0.1, 0.2, 0.7, 0.8, 0.15, 0.05]) },
    };
    const view = classifierView(classifier, { classLabels: LABELS });

    // Act
    const predictions = recordPredictions(outputs, 2, view);

    // Assess: float32 values in their shortest digits (0.7, not 0.699999988079071)
    const f = (v: number) => v;
    expect(predictions).toEqual([
      { label: 'virginica', confidence: f(0.7), probabilities: { setosa: f(0.1), versicolor: f(0.2), virginica: f(0.7) } },
      { label: 'setosa', confidence: f(0.8), probabilities: { setosa: f(0.8), versicolor: f(0.15), virginica: f(0.05) } },
    ]);
  });

  it('falls back to generic outputs when the probabilities do not have one column per label at run time', () => {
    // Prepare: the model's K is dynamic and it produced 2 columns for 3 labels.
    const outputs: TensorMap = { probabilities: { type: 'float32', shape: [1, 2], data: new Float32Array([0.25, 0.75]) } };

    // Act
    const predictions = recordPredictions(outputs, 1, { probabilities: 'probabilities', labels: LABELS, binary: false });

    // Assess
    expect(predictions).toEqual([{ probabilities: [0.25, 0.75] }]);
  });

  it('gives every output per row for other models', () => {
    // Prepare
    const outputs: TensorMap = {
      sum: { type: 'float64', shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) },
      flag: { type: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
      name: { type: 'string', shape: [2, 1], data: ['x', 'y'] },
    };

    // Act
    const predictions = recordPredictions(outputs, 2, undefined);

    // Assess
    expect(predictions).toEqual([
      { sum: [1, 2], flag: true, name: ['x'] },
      { sum: [3, 4], flag: false, name: ['y'] },
    ]);
  });

  it('gives int64 outputs beyond 2^53 as exact strings and smaller ones as numbers', () => {
    // Prepare
    const outputs: TensorMap = {
      next: { type: 'int64', shape: [2, 2], data: new BigInt64Array([9007199254740994n, 1n, -9223372036854775808n, 0n]) },
    };

    // Act
    const predictions = recordPredictions(outputs, 2, undefined);

    // Assess
    expect(predictions).toEqual([{ next: ['9007199254740994', 1] }, { next: ['-9223372036854775808', 0] }]);
    expect(JSON.parse(JSON.stringify(predictions))).toEqual(predictions);
  });

  it('repeats an output without a batch axis on every row', () => {
    // Prepare
    const outputs: TensorMap = {
      y: { type: 'float32', shape: [2, 1], data: new Float32Array([1, 2]) },
      version: { type: 'int32', shape: [], data: new Int32Array([7]) },
    };

    // Act
    const predictions = recordPredictions(outputs, 2, undefined);

    // Assess
    expect(predictions).toEqual([
      { y: [1], version: 7 },
      { y: [2], version: 7 },
    ]);
  });
});

describe('v2Outputs', () => {
  it('gives each requested output with its v2 datatype, shape and flat data, in the order asked', () => {
    // Prepare
    const outputs: TensorMap = {
      label: { type: 'int64', shape: [2], data: new BigInt64Array([2n, 2n ** 60n]) },
      probabilities: { type: 'float32', shape: [2, 2], data: new Float32Array([0.5, 0.5, 0.25, 0.75]) },
      names: { type: 'string', shape: [1], data: ['a'] },
      ok: { type: 'bool', shape: [1], data: new Uint8Array([1]) },
    };

    // Act
    const tensors = v2Outputs(outputs, ['probabilities', 'label', 'names', 'ok']).map((t) => JSON.parse(v2OutputJsonText(t)) as unknown);

    // Assess
    expect(tensors).toEqual([
      { name: 'probabilities', datatype: 'FP32', shape: [2, 2], data: [0.5, 0.5, 0.25, 0.75] },
      { name: 'label', datatype: 'INT64', shape: [2], data: [2, '1152921504606846976'] },
      { name: 'names', datatype: 'BYTES', shape: [1], data: ['a'] },
      { name: 'ok', datatype: 'BOOL', shape: [1], data: [true] },
    ]);
  });

  it('gives only the outputs asked for', () => {
    const outputs: TensorMap = {
      a: { type: 'uint16', shape: [1], data: new Uint16Array([1]) },
      b: { type: 'int8', shape: [1], data: new Int8Array([-1]) },
    };
    expect(v2Outputs(outputs, ['b']).map((t) => JSON.parse(v2OutputJsonText(t)) as unknown)).toEqual([
      { name: 'b', datatype: 'INT8', shape: [1], data: [-1] },
    ]);
  });
});

describe('binary classifiers: one probability per row and two labels', () => {
  const signature = (shape: (string | number)[]): ModelSignature => ({
    inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }],
    outputs: [{ name: 'probability', type: 'float32', shape }],
  });

  it.each([[['N', 1]], [['N']]])("serves an output of shape %j as the second label's probability", (shape) => {
    // Prepare
    const view = classifierView(signature(shape), { classLabels: ['stays', 'churns'] });
    const rows = 3;
    const outputs: TensorMap = {
      probability: { type: 'float32', shape: shape.length === 2 ? [rows, 1] : [rows], data: new Float32Array([0.9, 0.25, 0.5]) },
    };

    // Act
    const predictions = recordPredictions(outputs, rows, view);

    // Assess: label, confidence and both probabilities (the first is 1 − p, in float32)
    expect(view).toEqual({ probabilities: 'probability', labels: ['stays', 'churns'], binary: true });
    expect(predictions).toEqual([
      { label: 'churns', confidence: 0.9, probabilities: { stays: 0.100000024, churns: 0.9 } },
      { label: 'stays', confidence: 0.75, probabilities: { stays: 0.75, churns: 0.25 } },
      { label: 'churns', confidence: 0.5, probabilities: { stays: 0.5, churns: 0.5 } },
    ]);
    expect(Math.fround(1 - Math.fround(0.9))).toBe(Math.fround(0.100000024));
  });

  it('is no classifier with one probability per row and three labels', () => {
    expect(classifierView(signature(['N', 1]), { classLabels: ['a', 'b', 'c'] })).toBeUndefined();
  });
});
