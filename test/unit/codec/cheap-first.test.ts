/**
 * Cheap limits before the data (issue 10, fault 2): in every request form, the row count, the
 * keys of a record, an array's length against the shape and a v2 tensor's header are checked
 * before any value is read. Proven structurally: the rows, records and data arrays are proxies
 * that count every element read.
 */
import type { ModelSignature } from '../../../functions/core/model.js';
import { decodeArrays, decodeRecords, decodeV2, recordLayout } from '../../../functions/core/codec/decode.js';
import { parseRecordRequest, parseV2Request } from '../../../functions/core/codec/request.js';
import { AppError } from '../../../functions/core/errors.js';

const HINT = 'Send something else.';

/** `target` behind a proxy that counts the reads of its elements (array indices, or any key). */
function counted<T extends object>(
  target: T,
  isElement: (key: string) => boolean = (k) => /^[0-9]+$/.test(k),
): { value: T; reads: () => number } {
  let reads = 0;
  const value = new Proxy(target, {
    get(t, key, receiver) {
      if (typeof key === 'string' && isElement(key)) reads++;
      return Reflect.get(t, key, receiver) as unknown;
    },
  });
  return { value, reads: () => reads };
}

/** The AppError (400 or 413) `act` throws. */
function failure(act: () => unknown): AppError {
  try {
    act();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
}

const iris: ModelSignature = {
  inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
};
const IRIS_FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const irisColumns = recordLayout(iris, { features: IRIS_FEATURES });
const GOOD = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };
const two: ModelSignature = {
  inputs: [
    { name: 'a', type: 'float32', shape: ['N', 2] },
    { name: 'b', type: 'float32', shape: ['N', 2] },
  ],
  outputs: [{ name: 'sum', type: 'float32', shape: ['N', 2] }],
};

describe('the row count comes first', () => {
  it.each<[string, () => unknown[]]>([
    ['580,000 one-value rows', () => Array.from({ length: 580_000 }, () => [1])],
    ['580,000 records', () => Array.from({ length: 580_000 }, () => ({ x: 1 }))],
    ['1,001 rows of the wrong kinds', () => Array.from({ length: 1_001 }, (_, i) => (i % 2 ? 'not a row' : [1]))],
  ])('%s: 413 TOO_MANY_ROWS from the envelope, no row read', (_name, make) => {
    // Prepare
    const rows = counted(make());

    // Act
    const error = failure(() => parseRecordRequest({ instances: rows.value }, 1_000, HINT));

    // Assess
    expect([error.status, error.code, error.path]).toEqual([413, 'TOO_MANY_ROWS', ['instances']]);
    expect(rows.reads()).toBe(0);
  });

  it('in the decoders too, for records and arrays', () => {
    const records = counted(Array.from({ length: 11 }, () => GOOD));
    const arrays = counted(Array.from({ length: 11 }, () => [1, 2, 3, 4]));
    const byRecord = failure(() => decodeRecords(irisColumns, records.value, (r) => ['instances', r], { maxRows: 10 }));
    const byArray = failure(() => decodeArrays(irisColumns, arrays.value, (r) => ['instances', r], { maxRows: 10 }));
    expect([byRecord.code, byArray.code]).toEqual(['TOO_MANY_ROWS', 'TOO_MANY_ROWS']);
    expect(records.reads() + arrays.reads()).toBe(0);
  });

  it('v2: the batch axis of a tensor, before its data', () => {
    // Prepare
    const data = counted(new Array<number>(580_000 * 4).fill(1));

    // Act
    const error = failure(() =>
      decodeV2(iris, [{ name: 'input', shape: [580_000, 4], datatype: 'FP32', data: data.value }], { maxRows: 1_000 }),
    );

    // Assess
    expect([error.status, error.code, error.path]).toEqual([413, 'TOO_MANY_ROWS', ['inputs', 0, 'shape', 0]]);
    expect(data.reads()).toBe(0);
  });

  it("v2: every tensor's rows are checked before any tensor's data is read", () => {
    // Prepare: `a` is fine, `b` has too many rows.
    const a = counted([1, 2, 3, 4]);
    const b = counted(new Array<number>(2_000 * 2).fill(1));

    // Act
    const error = failure(() =>
      decodeV2(
        two,
        [
          { name: 'a', shape: [2, 2], datatype: 'FP32', data: a.value },
          { name: 'b', shape: [2_000, 2], datatype: 'FP32', data: b.value },
        ],
        { maxRows: 1_000 },
      ),
    );

    // Assess: `a`'s first element is looked at (to tell nested from flat), nothing more.
    expect(error.code).toBe('TOO_MANY_ROWS');
    expect(a.reads()).toBeLessThanOrEqual(1);
    expect(b.reads()).toBe(0);
  });
});

describe('lengths against the shape come before the values', () => {
  it('an array instance of a million values for 4 features: SHAPE_MISMATCH, no value read', () => {
    // Prepare
    const row = counted(new Array<number>(1_000_000).fill(1));

    // Act
    const error = failure(() => decodeArrays(irisColumns, [row.value], (r) => ['instances', r]));

    // Assess
    expect([error.code, error.path]).toEqual(['SHAPE_MISMATCH', ['instances', 0]]);
    expect(error.message).toContain('4 values');
    expect(row.reads()).toBe(0);
  });

  it('a later row of the wrong width is refused before its values are read', () => {
    const late = counted(new Array<number>(500_000).fill(1));
    const error = failure(() => decodeArrays(irisColumns, [[1, 2, 3, 4], late.value], (r) => ['instances', r]));
    expect([error.code, error.path]).toEqual(['SHAPE_MISMATCH', ['instances', 1]]);
    expect(late.reads()).toBe(0);
  });

  it('a record input slice of the wrong length is refused before its values are read', () => {
    const slice = counted(new Array<number>(500_000).fill(1));
    const error = failure(() => decodeRecords(recordLayout(two, {}), [{ a: slice.value, b: [1, 2] }], () => ['features']));
    expect([error.code, error.path]).toEqual(['SHAPE_MISMATCH', ['features', 'a']]);
    expect(slice.reads()).toBe(0);
  });

  it("v2 flat data whose length is not the shape's: SHAPE_MISMATCH, at most the first value looked at", () => {
    const data = counted(new Array<number>(1_000_001).fill(1));
    const error = failure(() =>
      decodeV2(iris, [{ name: 'input', shape: [250_000, 4], datatype: 'FP32', data: data.value }], { maxRows: 1_000_000 }),
    );
    expect([error.code, error.path]).toEqual(['SHAPE_MISMATCH', ['inputs', 0, 'data']]);
    expect(data.reads()).toBeLessThanOrEqual(1);
  });

  it('v2 nested data: the nesting is checked (arrays only) before a value is read', () => {
    // Prepare: 1,000 rows of 4, the last one ragged; the values of the good rows are proxies too.
    const rows = Array.from({ length: 1_000 }, () => counted([1, 2, 3, 4]));
    const data = [...rows.map((r) => r.value), [1, 2, 3]];

    // Act
    const error = failure(() => decodeV2(iris, [{ name: 'input', shape: [1_001, 4], datatype: 'FP32', data }], { maxRows: 2_000 }));

    // Assess
    expect([error.code, error.path]).toEqual(['SHAPE_MISMATCH', ['inputs', 0, 'data', 1_000]]);
    expect(rows.reduce((n, r) => n + r.reads(), 0)).toBe(0);
  });

  it('v2: a shape of a million dimensions is refused on its length', () => {
    const shape = counted(new Array<number>(1_000_000).fill(1));
    const error = failure(() => decodeV2(iris, [{ name: 'input', shape: shape.value, datatype: 'FP32', data: [1] }]));
    expect([error.code, error.path]).toEqual(['INVALID_REQUEST', ['inputs', 0, 'shape']]);
    expect(shape.reads()).toBe(0);
  });
});

describe('keys before values', () => {
  it('a record with an unknown key: refused before any of its values is read', () => {
    // Prepare: every feature, and 100,000 more keys
    const record: Record<string, unknown> = { ...GOOD };
    for (let i = 0; i < 100_000; i++) record[`extra_${i}`] = i;
    const watched = counted(record, () => true);

    // Act
    const error = failure(() => decodeRecords(irisColumns, [watched.value], () => ['features']));

    // Assess
    expect([error.code, error.path]).toEqual(['UNKNOWN_FEATURE', ['features', 'extra_0']]);
    expect(watched.reads()).toBe(0);
  });

  it('a record missing an input: refused before any of its values is read', () => {
    const watched = counted({ a: [1, 2] }, () => true);
    const error = failure(() => decodeRecords(recordLayout(two, {}), [watched.value], () => ['features']));
    expect([error.code, error.path]).toEqual(['MISSING_INPUT', ['features', 'b']]);
    expect(watched.reads()).toBe(0);
  });

  it('a body of 200,000 unknown fields: refused at the first, the rest unread', () => {
    // Prepare
    const body: Record<string, unknown> = { features: GOOD };
    for (let i = 0; i < 200_000; i++) body[`junk_${i}`] = i;
    const watched = counted(body, (k) => k.startsWith('junk_'));

    // Act
    const records = failure(() => parseRecordRequest(watched.value, 10, HINT));

    // Assess
    expect([records.code, records.path]).toEqual(['UNKNOWN_FIELD', ['junk_0']]);
    expect(watched.reads()).toBe(0);
  });
});

describe('v2 lists', () => {
  it('inputs: a list of 100,000 tensors for a two-input model is refused by its third entry', () => {
    // Prepare
    const entry = { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] };
    const inputs = counted(Array.from({ length: 100_000 }, () => entry));

    // Act
    const error = failure(() => decodeV2(two, parseV2Request({ inputs: inputs.value }, HINT).inputs));

    // Assess
    expect([error.code, error.path]).toEqual(['DUPLICATE_INPUT', ['inputs', 1, 'name']]);
    expect(inputs.reads()).toBeLessThanOrEqual(3);
  });

  it('outputs: more than 1,024 entries are refused on the count, none read', () => {
    const outputs = counted(Array.from({ length: 100_000 }, () => ({ name: 'sum' })));
    const error = failure(() => parseV2Request({ inputs: [{}], outputs: outputs.value }, HINT));
    expect([error.code, error.path]).toEqual(['INVALID_REQUEST', ['outputs']]);
    expect(outputs.reads()).toBe(0);
  });
});
