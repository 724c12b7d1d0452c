/**
 * Names that are members of `Object.prototype` (`constructor`, `toString`, `__proto__`, ...) are
 * plain names wherever a request or a model uses them: as feature names, input names and output
 * names (issue 10, fault 3). Lookups go through Maps and objects without a prototype.
 */
import type { ModelSignature, TensorType } from '../../../functions/core/model.js';
import { decodeArrays, decodeRecords, decodeV2, recordLayout, selectOutputs } from '../../../functions/core/codec/decode.js';
import { classifierView, recordPredictions, v2OutputJsonText, v2Outputs } from '../../../functions/core/codec/encode.js';
import { checkDeclarations } from '../../../functions/core/declarations.js';
import type { TensorData, TensorMap } from '../../../functions/core/tensor.js';
import { refusal } from '../../fixtures/errors.js';

/** Every member of Object.prototype, `__proto__` included. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
/** Those a request body can carry as a key (the HTTP edge refuses `__proto__` keys anywhere). */
const KEY_NAMES = PROTOTYPE_NAMES.filter((n) => n !== '__proto__');

/** An object whose own keys are exactly `entries`' (even `__proto__`), as JSON.parse builds it. */
const record = (...entries: [string, unknown][]): Record<string, unknown> => Object.fromEntries(entries);

const f32 = (shape: (number | string)[], name: string) => ({ name, type: 'float32' as TensorType, shape });
const iris: ModelSignature = { inputs: [f32(['N', 4], 'input')], outputs: [f32(['N', 3], 'probabilities')] };
const GOOD: [string, unknown][] = [
  ['sepal_length_cm', 5.1],
  ['sepal_width_cm', 3.5],
  ['petal_length_cm', 1.4],
  ['petal_width_cm', 0.2],
];
const irisColumns = recordLayout(iris, { features: GOOD.map(([k]) => k) });

function values(tensor: TensorData | undefined): number[] {
  return Array.from((tensor?.data ?? []) as Float32Array);
}

it('covers every member of Object.prototype', () => {
  expect(PROTOTYPE_NAMES).toEqual(
    expect.arrayContaining(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', '__defineGetter__']),
  );
});

describe.each(KEY_NAMES)('the feature name %s', (name) => {
  const model: ModelSignature = { inputs: [f32(['N', 2], 'x')], outputs: [f32(['N', 2], 'y')] };
  const layout = recordLayout(model, { features: ['other', name] });

  it('is a column like any other, in records and arrays', () => {
    const fromRecord = decodeRecords(layout, [record([name, 2], ['other', 1])], () => ['features']);
    const fromArray = decodeArrays(layout, [[1, 2]], (r) => ['instances', r]);
    expect(values(fromRecord.feeds['x'])).toEqual([1, 2]);
    expect(values(fromArray.feeds['x'])).toEqual([1, 2]);
  });

  it('is missing when the record does not have it as its own key', () => {
    const error = refusal(() => decodeRecords(layout, [record(['other', 1])], () => ['features']));
    expect([error.code, error.path]).toEqual(['MISSING_FEATURE', ['features', name]]);
  });

  it('is an unknown feature for a model that does not declare it', () => {
    const error = refusal(() => decodeRecords(irisColumns, [record(...GOOD, [name, 1])], () => ['features']));
    expect([error.code, error.path]).toEqual(['UNKNOWN_FEATURE', ['features', name]]);
  });
});

describe.each(PROTOTYPE_NAMES)('the input name %s', (name) => {
  const model: ModelSignature = { inputs: [f32(['N', 1], name), f32(['N', 1], 'b')], outputs: [f32(['N', 1], 'y')] };
  const v2 = (input: string, value: number) => ({ name: input, shape: [1, 1], datatype: 'FP32', data: [value] });

  it('is decoded from v2 tensors, as an own feed, neither "given twice" nor taken for present', () => {
    // Act
    const decoded = decodeV2(model, [v2(name, 7), v2('b', 8)]);
    const missing = refusal(() => decodeV2(model, [v2('b', 8)]));

    // Assess
    expect(Object.hasOwn(decoded.feeds, name)).toBe(true);
    expect(values(decoded.feeds[name])).toEqual([7]);
    expect([missing.code, missing.message]).toEqual(['MISSING_INPUT', expect.stringContaining(`"${name}"`)]);
  });

  it('is an unknown input, in v2, for a model that lacks it', () => {
    const error = refusal(() => decodeV2(iris, [v2(name, 1)]));
    expect([error.code, error.path]).toEqual(['UNKNOWN_INPUT', ['inputs', 0, 'name']]);
  });

  if (name === '__proto__') return;

  it('is decoded from a record keyed by input name, and missing when absent', () => {
    const layout = recordLayout(model, {});
    const decoded = decodeRecords(layout, [record([name, 7], ['b', 8])], () => ['features']);
    const missing = refusal(() => decodeRecords(layout, [record(['b', 8])], () => ['features']));
    expect(values(decoded.feeds[name])).toEqual([7]);
    expect([missing.code, missing.path]).toEqual(['MISSING_INPUT', ['features', name]]);
  });

  it('is an unknown input in a record for a model that lacks it', () => {
    const error = refusal(() => decodeRecords(recordLayout(iris, {}), [record(['input', [1, 2, 3, 4]], [name, 1])], () => ['features']));
    expect([error.code, error.path]).toEqual(['UNKNOWN_INPUT', ['features', name]]);
  });
});

describe.each(PROTOTYPE_NAMES)('the output name %s', (name) => {
  const model: ModelSignature = { inputs: [f32(['N', 1], 'x')], outputs: [f32(['N', 1], name), f32(['N', 1], 'z')] };
  const outputs = (): TensorMap => {
    const map = Object.create(null) as TensorMap;
    map[name] = { type: 'float32', shape: [1, 1], data: new Float32Array([3]) };
    map['z'] = { type: 'float32', shape: [1, 1], data: new Float32Array([4]) };
    return map;
  };

  it('is asked for like any other in v2, and unknown to a model without it', () => {
    expect(selectOutputs(model, [name, name])).toEqual([name]);
    const error = refusal(() => selectOutputs(iris, [name]));
    expect([error.code, error.path]).toEqual(['UNKNOWN_OUTPUT', ['outputs', 0, 'name']]);
  });

  it('is an own field of each prediction row and of the v2 outputs', () => {
    const [row] = recordPredictions(outputs(), 1, undefined) as Record<string, unknown>[];
    expect(Object.hasOwn(row ?? {}, name)).toBe(true);
    expect(JSON.parse(JSON.stringify(row))).toEqual(JSON.parse(`{${JSON.stringify(name)}: [3], "z": [4]}`));
    expect(v2Outputs(outputs(), [name]).map((t) => JSON.parse(v2OutputJsonText(t)) as unknown)).toEqual([
      { name, datatype: 'FP32', shape: [1, 1], data: [3] },
    ]);
  });

  it('is a class label like any other', () => {
    // Prepare: a classifier whose second class is named `name`
    const signature: ModelSignature = { inputs: [f32(['N', 1], 'x')], outputs: [f32(['N', 2], 'probabilities')] };
    const view = classifierView(signature, { classLabels: ['first', name] });
    const probs = Object.create(null) as TensorMap;
    probs['probabilities'] = { type: 'float32', shape: [1, 2], data: new Float32Array([0.25, 0.75]) };

    // Act
    const [prediction] = recordPredictions(probs, 1, view) as { label: string; probabilities: Record<string, number> }[];

    // Assess
    expect(prediction?.label).toBe(name);
    expect(Object.hasOwn(prediction?.probabilities ?? {}, name)).toBe(true);
    expect(Object.keys(prediction?.probabilities ?? {})).toEqual(['first', name]);
  });
});

describe('registration: names the serving path could not carry', () => {
  const model = (input: string, output: string): ModelSignature => ({ inputs: [f32(['N', 2], input)], outputs: [f32(['N', 2], output)] });

  it.each(KEY_NAMES)('takes %s as an input, output and feature name', (name) => {
    expect(() => checkDeclarations(model(name, name), { features: [name, 'b'] })).not.toThrow();
  });

  it('refuses __proto__ as an input, an output or a feature, naming it', () => {
    const input = refusal(() => checkDeclarations(model('__proto__', 'y'), {}));
    const output = refusal(() => checkDeclarations(model('x', '__proto__'), {}));
    const feature = refusal(() => checkDeclarations(model('x', 'y'), { features: ['a', '__proto__'] }));
    expect([input.code, input.path]).toEqual(['FORBIDDEN_KEY', ['inputs', '__proto__']]);
    expect([output.code, output.path]).toEqual(['FORBIDDEN_KEY', ['outputs', '__proto__']]);
    expect([feature.code, feature.path]).toEqual(['FORBIDDEN_KEY', ['metadata', 'features', 1]]);
  });
});
