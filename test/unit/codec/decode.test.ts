import { formatPath } from '../../../functions/core/errors.js';
import type { ModelSignature, TensorSpec } from '../../../functions/core/model.js';
import {
  decodeArrays,
  decodeRecords,
  decodeV2,
  recordLayout,
  type DecodedInputs,
  type V2InputTensor,
} from '../../../functions/core/codec/decode.js';
import { fixedShapeModel, identityModel, int64Model, mixedInputModel, stringInputModel, twoInputModel } from '../../fixtures/models.js';
import { refusal } from '../../fixtures/errors.js';

const IRIS_FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const iris: ModelSignature = {
  inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
};
const irisLayout = recordLayout(iris, { features: IRIS_FEATURES });

/** Paths as the service builds them: the `features` form is one row at `features`. */
const features = (): (string | number)[] => ['features'];
const instances = (r: number): (string | number)[] => ['instances', r];

function signatureOf(fixture: { inputs: readonly TensorSpec[]; outputs: readonly TensorSpec[] }): ModelSignature {
  return { inputs: fixture.inputs, outputs: fixture.outputs };
}

function only(decoded: DecodedInputs, name: string) {
  const tensor = decoded.feeds[name];
  if (!tensor) throw new Error(`no feed ${name}`);
  return tensor;
}

describe('recordLayout', () => {
  it('maps declared features onto the columns of a single [N, F] input', () => {
    expect(irisLayout).toMatchObject({ kind: 'columns', input: iris.inputs[0], features: IRIS_FEATURES });
  });

  it('keys records by input name when there are several inputs, no features, or a width that does not fit', () => {
    // Prepare
    const two = signatureOf(twoInputModel());

    // Act
    const layouts = [
      recordLayout(two, { features: ['a', 'b'] }),
      recordLayout(iris, {}),
      recordLayout(iris, { features: ['only', 'three', 'names'] }),
    ];

    // Assess
    expect(layouts.map((l) => l.kind)).toEqual(['inputs', 'inputs', 'inputs']);
  });
});

describe('decodeRecords: features as columns', () => {
  it('orders columns by the declared feature names, whatever the order of keys in the request', () => {
    // Prepare
    const record = { petal_width_cm: 0.2, sepal_width_cm: 3.5, petal_length_cm: 1.4, sepal_length_cm: 5.1 };

    // Act
    const decoded = decodeRecords(irisLayout, [record], features);

    // Assess
    const tensor = only(decoded, 'input');
    expect(decoded.rows).toBe(1);
    expect(tensor.type).toBe('float32');
    expect(tensor.shape).toEqual([1, 4]);
    expect(Array.from(tensor.data as Float32Array)).toEqual([5.1, 3.5, 1.4, 0.2].map(Math.fround));
  });

  it('batches many records into one [rows, F] tensor', () => {
    // Prepare
    const rows = [
      { sepal_length_cm: 1, sepal_width_cm: 2, petal_length_cm: 3, petal_width_cm: 4 },
      { petal_width_cm: 8, petal_length_cm: 7, sepal_width_cm: 6, sepal_length_cm: 5 },
    ];

    // Act
    const decoded = decodeRecords(irisLayout, rows, instances);

    // Assess
    expect(decoded.rows).toBe(2);
    expect(only(decoded, 'input').shape).toEqual([2, 4]);
    expect(Array.from(only(decoded, 'input').data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('names a missing feature with its path', () => {
    // Prepare
    const record = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4 };

    // Act
    const error = refusal(() => decodeRecords(irisLayout, [record], features));

    // Assess
    expect(error.code).toBe('MISSING_FEATURE');
    expect(formatPath(error.path)).toBe('features.petal_width_cm');
    expect(error.message).toContain('sepal_length_cm, sepal_width_cm, petal_length_cm, petal_width_cm');
  });

  it('refuses a feature the model does not take', () => {
    // Prepare
    const record = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2, colour: 'blue' };

    // Act
    const error = refusal(() => decodeRecords(irisLayout, [record], features));

    // Assess
    expect(error.code).toBe('UNKNOWN_FEATURE');
    expect(error.path).toEqual(['features', 'colour']);
  });

  it('names the row and feature of a bad value', () => {
    // Prepare
    const good = { sepal_length_cm: 1, sepal_width_cm: 2, petal_length_cm: 3, petal_width_cm: 4 };
    const bad = { ...good, petal_length_cm: 'long' };

    // Act
    const error = refusal(() => decodeRecords(irisLayout, [good, good, bad], instances));

    // Assess
    expect(error.code).toBe('WRONG_TYPE');
    expect(formatPath(error.path)).toBe('instances[2].petal_length_cm');
  });

  it('refuses a row that is not an object', () => {
    const error = refusal(() => decodeRecords(irisLayout, [[1, 2, 3, 4]], instances));
    expect(error.code).toBe('WRONG_TYPE');
    expect(error.path).toEqual(['instances', 0]);
  });

  it('does not take inherited properties for features', () => {
    // Prepare: "constructor" is on every object's prototype, never an own key of a JSON record.
    const layout = recordLayout({ inputs: [{ name: 'x', type: 'float32', shape: ['N', 1] }], outputs: [] }, { features: ['constructor'] });

    // Act
    const error = refusal(() => decodeRecords(layout, [{}], features));

    // Assess
    expect(error.code).toBe('MISSING_FEATURE');
  });
});

describe('decodeArrays: instances as arrays', () => {
  it('takes each instance as the row of values in declared feature order', () => {
    // Act
    const decoded = decodeArrays(
      irisLayout,
      [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ],
      instances,
    );

    // Assess
    expect(decoded.rows).toBe(2);
    expect(only(decoded, 'input').shape).toEqual([2, 4]);
    expect(Array.from(only(decoded, 'input').data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('refuses an instance of the wrong length with its path', () => {
    const error = refusal(() =>
      decodeArrays(
        irisLayout,
        [
          [1, 2, 3, 4],
          [5, 6, 7],
        ],
        instances,
      ),
    );
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.path).toEqual(['instances', 1]);
  });

  it('requires F values per instance even when the model leaves the width dynamic', () => {
    // Prepare
    const layout = recordLayout(
      { inputs: [{ name: 'x', type: 'float64', shape: ['N', 'F'] }], outputs: [] },
      { features: ['a', 'b', 'c'] },
    );

    // Act
    const error = refusal(() =>
      decodeArrays(
        layout,
        [
          [1, 2],
          [3, 4],
        ],
        instances,
      ),
    );

    // Assess
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toContain('a, b, c');
  });

  it('refuses arrays for a model with several inputs', () => {
    const layout = recordLayout(signatureOf(twoInputModel()), {});
    const error = refusal(() => decodeArrays(layout, [[1, 2]], instances));
    expect(error.code).toBe('AMBIGUOUS_ROW');
    expect(error.message).toContain('keyed by input name');
  });

  it("takes rows of a model without declared features in the input's own shape", () => {
    // Prepare: identity over bool [N, 3]
    const layout = recordLayout(signatureOf(identityModel('bool')), {});

    // Act
    const decoded = decodeArrays(layout, [[true, false, true]], instances);

    // Assess
    expect(only(decoded, 'x').shape).toEqual([1, 3]);
    expect(Array.from(only(decoded, 'x').data as Uint8Array)).toEqual([1, 0, 1]);
  });
});

describe('decodeRecords: inputs keyed by name', () => {
  it('decodes a multi-input model from objects keyed by input name', () => {
    // Prepare
    const layout = recordLayout(signatureOf(twoInputModel()), {});

    // Act
    const decoded = decodeRecords(
      layout,
      [
        { b: [3, 4], a: [1, 2] },
        { a: [5, 6], b: [7, 8] },
      ],
      instances,
    );

    // Assess
    expect(decoded.rows).toBe(2);
    expect(only(decoded, 'a').shape).toEqual([2, 2]);
    expect(Array.from(only(decoded, 'a').data as Float32Array)).toEqual([1, 2, 5, 6]);
    expect(Array.from(only(decoded, 'b').data as Float32Array)).toEqual([3, 4, 7, 8]);
  });

  it('names a missing input and refuses an unknown one', () => {
    // Prepare
    const layout = recordLayout(signatureOf(twoInputModel()), {});

    // Act
    const missing = refusal(() => decodeRecords(layout, [{ a: [1, 2] }], instances));
    const unknown = refusal(() => decodeRecords(layout, [{ a: [1, 2], b: [3, 4], c: [5, 6] }], instances));

    // Assess
    expect(missing.code).toBe('MISSING_INPUT');
    expect(missing.path).toEqual(['instances', 0, 'b']);
    expect(unknown.code).toBe('UNKNOWN_INPUT');
    expect(unknown.path).toEqual(['instances', 0, 'c']);
  });

  it('decodes string inputs, with a bare value for a one-element row', () => {
    // Prepare: color string [N, 1]
    const layout = recordLayout(signatureOf(stringInputModel()), {});

    // Act
    const decoded = decodeRecords(layout, [{ color: 'red' }, { color: ['blue'] }], instances);

    // Assess
    const color = only(decoded, 'color');
    expect(color.type).toBe('string');
    expect(color.shape).toEqual([2, 1]);
    expect(color.data).toEqual(['red', 'blue']);
  });

  it('decodes mixed string and float inputs', () => {
    // Prepare
    const layout = recordLayout(signatureOf(mixedInputModel()), {});

    // Act
    const decoded = decodeRecords(layout, [{ category: 'large', amount: 2 }], features);

    // Assess
    expect(only(decoded, 'category').data).toEqual(['large']);
    expect(Array.from(only(decoded, 'amount').data as Float32Array)).toEqual([2]);
  });

  it('refuses a number where a string input belongs, with the path', () => {
    const layout = recordLayout(signatureOf(mixedInputModel()), {});
    const error = refusal(() => decodeRecords(layout, [{ category: 3, amount: 2 }], instances));
    expect(error.code).toBe('WRONG_TYPE');
    expect(error.path).toEqual(['instances', 0, 'category']);
  });

  it('keeps int64 inputs exact', () => {
    // Prepare
    const layout = recordLayout(signatureOf(int64Model()), {});

    // Act
    const decoded = decodeRecords(layout, [{ ids: ['9007199254740993', -4] }], instances);

    // Assess
    const ids = only(decoded, 'ids');
    expect(ids.type).toBe('int64');
    expect(Array.from(ids.data as BigInt64Array)).toEqual([9007199254740993n, -4n]);
  });

  it('refuses an int64 JSON number beyond 2^53 with its path', () => {
    const layout = recordLayout(signatureOf(int64Model()), {});
    const error = refusal(() => decodeRecords(layout, [{ ids: [1, 2 ** 53 + 2] }], instances));
    expect(error.code).toBe('INEXACT_INTEGER');
    expect(error.path).toEqual(['instances', 0, 'ids', 1]);
  });
});

describe('shapes', () => {
  const fixed = signatureOf(fixedShapeModel());

  it('accepts exactly the fixed batch of a fixed-shape model', () => {
    const decoded = decodeRecords(recordLayout(fixed, {}), [{ x: [1, 2, 3] }], features);
    expect(only(decoded, 'x').shape).toEqual([1, 3]);
  });

  it('refuses more rows than a fixed batch axis takes', () => {
    const error = refusal(() => decodeRecords(recordLayout(fixed, {}), [{ x: [1, 2, 3] }, { x: [4, 5, 6] }], instances));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toContain('exactly 1 row');
    expect(error.path).toEqual(['instances']);
  });

  it('refuses a row that does not fit a fixed inner dimension', () => {
    const error = refusal(() => decodeRecords(recordLayout(fixed, {}), [{ x: [1, 2] }], features));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toContain('[3]');
    expect(error.path).toEqual(['features', 'x']);
  });

  it('refuses a fixed-shape model fed with declared features for the wrong count of rows', () => {
    const layout = recordLayout(fixed, { features: ['a', 'b', 'c'] });
    const error = refusal(() =>
      decodeArrays(
        layout,
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        instances,
      ),
    );
    expect(error.code).toBe('SHAPE_MISMATCH');
  });

  it('fixes a dynamic inner dimension from the first row and holds every row to it', () => {
    // Prepare: [N, T] sequences
    const layout = recordLayout({ inputs: [{ name: 'seq', type: 'int32', shape: ['N', 'T'] }], outputs: [] }, {});

    // Act
    const ok = decodeRecords(layout, [{ seq: [1, 2, 3, 4, 5] }, { seq: [6, 7, 8, 9, 10] }], instances);
    const ragged = refusal(() => decodeRecords(layout, [{ seq: [1, 2, 3] }, { seq: [4, 5] }], instances));

    // Assess
    expect(only(ok, 'seq').shape).toEqual([2, 5]);
    expect(ragged.code).toBe('SHAPE_MISMATCH');
    expect(ragged.path).toEqual(['instances', 1, 'seq']);
  });

  it('decodes rank-3 rows and refuses one nested too deep', () => {
    // Prepare: [N, 2, 2]
    const layout = recordLayout({ inputs: [{ name: 'img', type: 'uint8', shape: ['N', 2, 2] }], outputs: [] }, {});

    // Act
    const decoded = decodeRecords(
      layout,
      [
        {
          img: [
            [1, 2],
            [3, 4],
          ],
        },
      ],
      instances,
    );
    const deep = refusal(() =>
      decodeRecords(
        layout,
        [
          {
            img: [
              [1, [2]],
              [3, 4],
            ],
          },
        ],
        instances,
      ),
    );

    // Assess
    expect(only(decoded, 'img').shape).toEqual([1, 2, 2]);
    expect(Array.from(only(decoded, 'img').data as Uint8Array)).toEqual([1, 2, 3, 4]);
    expect(deep.code).toBe('SHAPE_MISMATCH');
    expect(deep.path).toEqual(['instances', 0, 'img', 0, 1]);
  });

  it('refuses an array where a rank-1 input takes one value per row', () => {
    const layout = recordLayout({ inputs: [{ name: 'k', type: 'int64', shape: ['N'] }], outputs: [] }, {});
    const decoded = decodeRecords(layout, [{ k: 1 }, { k: '2' }], instances);
    const error = refusal(() => decodeRecords(layout, [{ k: [1] }], instances));
    expect(only(decoded, 'k').shape).toEqual([2]);
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toContain('expected a single value, got an array of 1');
  });

  it('takes one row for a scalar input and refuses two', () => {
    const layout = recordLayout({ inputs: [{ name: 't', type: 'float64', shape: [] }], outputs: [] }, {});
    const decoded = decodeRecords(layout, [{ t: 0.5 }], features);
    const error = refusal(() => decodeRecords(layout, [{ t: 0.5 }, { t: 1 }], instances));
    expect(only(decoded, 't').shape).toEqual([]);
    expect(error.code).toBe('SHAPE_MISMATCH');
  });
});

describe('decodeV2', () => {
  const two = signatureOf(twoInputModel());
  const v2 = (input: Partial<V2InputTensor> & { name: string }): V2InputTensor => ({
    shape: [2, 2],
    datatype: 'FP32',
    data: [1, 2, 3, 4],
    ...input,
  });

  it.each([
    [[0, 2], 0],
    [[2, 0], 1],
    [[-1, 2], 0],
  ])("refuses a dimension below 1 (shape %j): a tensor without values is the caller's 400, never a run that fails", (shape, axis) => {
    const error = refusal(() => decodeV2(two, [v2({ name: 'a', shape, data: [] }), v2({ name: 'b', shape, data: [] })]));
    expect(error).toMatchObject({ status: 400, code: 'INVALID_REQUEST', path: ['inputs', 0, 'shape', axis] });
    expect(error.message).toContain('at least 1');
  });

  it('decodes flat row-major data', () => {
    // Act
    const decoded = decodeV2(two, [v2({ name: 'a' }), v2({ name: 'b', data: [5, 6, 7, 8] })]);

    // Assess
    expect(decoded.rows).toBe(2);
    expect(only(decoded, 'a').shape).toEqual([2, 2]);
    expect(Array.from(only(decoded, 'b').data as Float32Array)).toEqual([5, 6, 7, 8]);
  });

  it('decodes nested data the same as flat data', () => {
    // Act
    const flat = decodeV2(two, [v2({ name: 'a' }), v2({ name: 'b' })]);
    const nested = decodeV2(two, [
      v2({
        name: 'a',
        data: [
          [1, 2],
          [3, 4],
        ],
      }),
      v2({
        name: 'b',
        data: [
          [1, 2],
          [3, 4],
        ],
      }),
    ]);

    // Assess
    expect(nested).toEqual(flat);
  });

  it('refuses nested data that does not follow the shape, even with the right count', () => {
    const error = refusal(() => decodeV2(two, [v2({ name: 'a', data: [[1], [2, 3, 4]] }), v2({ name: 'b' })]));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.path).toEqual(['inputs', 0, 'data', 0]);
  });

  it("refuses a datatype that is not the input's", () => {
    const error = refusal(() => decodeV2(two, [v2({ name: 'a', datatype: 'FP64' }), v2({ name: 'b' })]));
    expect(error.code).toBe('DATATYPE_MISMATCH');
    expect(error.path).toEqual(['inputs', 0, 'datatype']);
    expect(error.message).toContain('FP32');
  });

  it('refuses a shape whose element count differs from the data', () => {
    const error = refusal(() => decodeV2(two, [v2({ name: 'a', shape: [3, 2] }), v2({ name: 'b' })]));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.path).toEqual(['inputs', 0, 'data']);
    expect(error.message).toContain('holds 6 values; data has 4');
  });

  it('refuses the wrong rank and a wrong fixed dimension', () => {
    const rank = refusal(() => decodeV2(two, [v2({ name: 'a', shape: [4] }), v2({ name: 'b' })]));
    const dim = refusal(() => decodeV2(two, [v2({ name: 'a', shape: [1, 4] }), v2({ name: 'b' })]));
    expect(rank.code).toBe('SHAPE_MISMATCH');
    expect(rank.path).toEqual(['inputs', 0, 'shape']);
    expect(dim.code).toBe('SHAPE_MISMATCH');
    expect(dim.path).toEqual(['inputs', 0, 'shape', 1]);
  });

  it('holds inputs that share a symbolic dimension to the same size', () => {
    const error = refusal(() => decodeV2(two, [v2({ name: 'a' }), v2({ name: 'b', shape: [1, 2], data: [1, 2] })]));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toContain('"N"');
    expect(error.path).toEqual(['inputs', 1, 'shape', 0]);
  });

  it('refuses unknown, duplicate and missing inputs', () => {
    const unknown = refusal(() => decodeV2(two, [v2({ name: 'z' })]));
    const duplicate = refusal(() => decodeV2(two, [v2({ name: 'a' }), v2({ name: 'a' })]));
    const missing = refusal(() => decodeV2(two, [v2({ name: 'a' })]));
    expect([unknown.code, duplicate.code, missing.code]).toEqual(['UNKNOWN_INPUT', 'DUPLICATE_INPUT', 'MISSING_INPUT']);
    expect(missing.message).toContain('"b"');
  });

  it('names the element of a bad value in flat and nested data', () => {
    const flat = refusal(() => decodeV2(two, [v2({ name: 'a', data: [1, 2, 'x', 4] }), v2({ name: 'b' })]));
    const nested = refusal(() =>
      decodeV2(two, [
        v2({ name: 'a' }),
        v2({
          name: 'b',
          data: [
            [1, 2],
            [3, null],
          ],
        }),
      ]),
    );
    expect(flat.path).toEqual(['inputs', 0, 'data', 2]);
    expect(nested.path).toEqual(['inputs', 1, 'data', 1, 1]);
  });

  it('decodes BYTES, BOOL and INT64 tensors', () => {
    // Prepare
    const strings = signatureOf(stringInputModel());
    const bools = signatureOf(identityModel('bool'));
    const ints = signatureOf(int64Model());

    // Act
    const s = decodeV2(strings, [{ name: 'color', shape: [2, 1], datatype: 'BYTES', data: ['red', 'green'] }]);
    const b = decodeV2(bools, [{ name: 'x', shape: [1, 3], datatype: 'BOOL', data: [true, false, false] }]);
    const i = decodeV2(ints, [{ name: 'ids', shape: [1, 2], datatype: 'INT64', data: ['9007199254740993', 1] }]);

    // Assess
    expect(only(s, 'color').data).toEqual(['red', 'green']);
    expect(Array.from(only(b, 'x').data as Uint8Array)).toEqual([1, 0, 0]);
    expect(Array.from(only(i, 'ids').data as BigInt64Array)).toEqual([9007199254740993n, 1n]);
  });

  it('holds a fixed-shape model to its declared dims', () => {
    const fixed = signatureOf(fixedShapeModel());
    const error = refusal(() => decodeV2(fixed, [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }]));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.path).toEqual(['inputs', 0, 'shape', 0]);
  });
});
