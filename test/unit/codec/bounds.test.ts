/**
 * Every string that reaches the codec has a bound suited to its type, checked before any work on
 * it, and no error quotes more than a short excerpt of what the caller sent, in its message or
 * its path (issue 10, faults 1 and 7).
 */
import { jest } from '@jest/globals';
import * as z from 'zod';
import { formatPath, type ValidationError } from '../../../functions/core/errors.js';
import type { ModelSignature, TensorType } from '../../../functions/core/model.js';
import { decodeArrays, decodeRecords, decodeV2, recordLayout, selectOutputs } from '../../../functions/core/codec/decode.js';
import { elementWriter } from '../../../functions/core/codec/elements.js';
import { DECIMAL_64_MAX_CHARS, DEFAULT_MAX_STRING_CHARS, EXCERPT_CHARS, NameIndex } from '../../../functions/core/codec/limits.js';
import { checkJsonSafety, parseRecordRequest, parseV2Request, parseWith } from '../../../functions/core/codec/request.js';
import { allocate } from '../../../functions/core/tensor.js';
import { refusal } from '../../fixtures/errors.js';

const HINT = 'Send something else.';
const MB = 1_000_000;
/** An error quotes at most an excerpt: its message and path stay this short, whatever was sent. */
const SHORT = 600;

function expectShort(error: ValidationError): void {
  expect(error.message.length).toBeLessThan(SHORT);
  expect(formatPath(error.path).length).toBeLessThan(SHORT);
}

function write(type: TensorType, value: unknown, options: { maxStringChars?: number } = {}): unknown {
  const data = allocate(type, 1) as unknown as { [i: number]: unknown };
  elementWriter(type, options)(data, 0, value, (i) => ['data', i]);
  return data[0];
}

const iris: ModelSignature = {
  inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
};
const IRIS_FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const irisLayout = recordLayout(iris, { features: IRIS_FEATURES });
const GOOD = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };

describe('64-bit integers as decimal strings', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each<[string, TensorType, string, string]>([
    ['5.8 M nines (int64)', 'int64', '9'.repeat(5_800_000), 'OUT_OF_RANGE'],
    ['a million digits, negative (int64)', 'int64', `-${'1'.repeat(MB)}`, 'OUT_OF_RANGE'],
    ['21 digits (uint64)', 'uint64', '1'.repeat(21), 'OUT_OF_RANGE'],
    ['a million zeros (uint64)', 'uint64', '0'.repeat(MB), 'OUT_OF_RANGE'],
    ['a million letters (int64)', 'int64', 'x'.repeat(MB), 'WRONG_TYPE'],
    ['digits then a letter, 2 M long (uint64)', 'uint64', `${'7'.repeat(30)}${'z'.repeat(2 * MB)}`, 'OUT_OF_RANGE'],
  ])('%s: refused on its length, never parsed, quoted as an excerpt', (_name, type, value, code) => {
    // Prepare
    const parse = jest.spyOn(globalThis, 'BigInt');

    // Act
    const error = refusal(() => write(type, value));

    // Assess
    expect(error.code).toBe(code);
    expect(error.path).toEqual(['data', 0]);
    expectShort(error);
    expect(parse).not.toHaveBeenCalledWith(value);
    // The spy does see the parses that happen: a short value is parsed through it.
    write(type, '12');
    expect(parse).toHaveBeenCalledWith('12');
  });

  it.each<[TensorType, string, bigint]>([
    ['int64', '-9223372036854775808', -(2n ** 63n)],
    ['int64', '9223372036854775807', 2n ** 63n - 1n],
    ['uint64', '18446744073709551615', 2n ** 64n - 1n],
  ])('still takes the widest %s value, %s', (type, value, expected) => {
    expect(value.length).toBeLessThanOrEqual(DECIMAL_64_MAX_CHARS);
    expect(write(type, value)).toBe(expected);
  });

  it('refuses a 20-character value just past the range as OUT_OF_RANGE, quoting it whole (it is short)', () => {
    const error = refusal(() => write('uint64', '18446744073709551616'));
    expect(error.code).toBe('OUT_OF_RANGE');
    expect(error.message).toContain('18446744073709551616');
  });
});

describe('strings where numbers or booleans belong', () => {
  it.each<TensorType>(['int8', 'int16', 'int32', 'uint8', 'uint16', 'uint32', 'float32', 'float64', 'bool'])(
    'a 1 MB string for %s is WRONG_TYPE with an excerpt',
    (type) => {
      const error = refusal(() => write(type, '7'.repeat(MB)));
      expect(error.code).toBe('WRONG_TYPE');
      expect(error.message).toContain('7'.repeat(EXCERPT_CHARS));
      expectShort(error);
    },
  );
});

describe('string (BYTES) elements', () => {
  it(`take up to ${DEFAULT_MAX_STRING_CHARS} characters by default, and no more`, () => {
    expect(write('string', 'a'.repeat(DEFAULT_MAX_STRING_CHARS))).toHaveLength(DEFAULT_MAX_STRING_CHARS);
    const error = refusal(() => write('string', 'a'.repeat(DEFAULT_MAX_STRING_CHARS + 1)));
    expect(error.code).toBe('STRING_TOO_LONG');
    expect(error.message).toContain(String(DEFAULT_MAX_STRING_CHARS));
    expectShort(error);
  });

  it('take the bound the function is configured with', () => {
    expect(write('string', 'abcde', { maxStringChars: 5 })).toBe('abcde');
    expect(refusal(() => write('string', 'abcdef', { maxStringChars: 5 })).code).toBe('STRING_TOO_LONG');
  });

  it('are held to their length before anything else is looked at: a too-long string with a NUL is STRING_TOO_LONG', () => {
    const error = refusal(() => write('string', `\u0000${'a'.repeat(MB)}`));
    expect(error.code).toBe('STRING_TOO_LONG');
  });

  it.each([
    ['a NUL between two values', 'key=1\u0000key=2', 'NUL_IN_STRING', 5],
    ['a NUL first', '\u0000', 'NUL_IN_STRING', 0],
    ['a NUL last', 'abc\u0000', 'NUL_IN_STRING', 3],
    ['a lone high surrogate', 'a\ud800b', 'UNPAIRED_SURROGATE', 1],
    ['a lone low surrogate', 'ab\udc00', 'UNPAIRED_SURROGATE', 2],
    ['two high surrogates in a row', '\ud83d\ud83d\ude00', 'UNPAIRED_SURROGATE', 0],
  ])('refuse %s, which ONNX Runtime would alter, naming the character', (_name, value, code, at) => {
    const error = refusal(() => write('string', value));
    expect(error.code).toBe(code);
    expect(error.message).toContain(`character ${at}`);
    expect(error.path).toEqual(['data', 0]);
  });

  it('keep what ONNX Runtime stores as sent: surrogate pairs, accents, empty strings, other control characters', () => {
    for (const value of ['😀', 'é', '', '\u0001\t\n', '\uffff']) expect(write('string', value)).toBe(value);
  });
});

describe('keys and names the caller chooses', () => {
  const huge = `k${'x'.repeat(MB)}`;

  it('an unknown feature 1 MB long is quoted as an excerpt, in the message and the path', () => {
    const error = refusal(() => decodeRecords(irisLayout, [{ ...GOOD, [huge]: 1 }], () => ['features']));
    expect(error.code).toBe('UNKNOWN_FEATURE');
    expectShort(error);
    expect(error.path[0]).toBe('features');
  });

  it('an unknown input name 1 MB long, in a record and in v2, is quoted as an excerpt', () => {
    const layout = recordLayout(iris, {});
    const record = refusal(() => decodeRecords(layout, [{ input: [1, 2, 3, 4], [huge]: 1 }], (r) => ['instances', r]));
    const v2 = refusal(() => decodeV2(iris, [{ name: huge, shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }]));
    expect([record.code, v2.code]).toEqual(['UNKNOWN_INPUT', 'UNKNOWN_INPUT']);
    expectShort(record);
    expectShort(v2);
  });

  it('a datatype 1 MB long is quoted as an excerpt', () => {
    const error = refusal(() => decodeV2(iris, [{ name: 'input', shape: [1, 4], datatype: huge, data: [1, 2, 3, 4] }]));
    expect(error.code).toBe('DATATYPE_MISMATCH');
    expectShort(error);
  });

  it('an output name 1 MB long is quoted as an excerpt', () => {
    const error = refusal(() => selectOutputs(iris, [huge]));
    expect(error.code).toBe('UNKNOWN_OUTPUT');
    expectShort(error);
  });

  it('an unknown field 1 MB long, at the top, in an input or in an output, is quoted as an excerpt', () => {
    const input = { name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] };
    const errors = [
      refusal(() => parseRecordRequest({ features: GOOD, [huge]: 1 }, 10, HINT)),
      refusal(() => parseV2Request({ inputs: [input], [huge]: 1 }, HINT)),
      refusal(() => parseV2Request({ inputs: [input], outputs: [{ name: 'probabilities', [huge]: 1 }] }, HINT)),
      refusal(() => decodeV2(iris, [{ ...input, [huge]: 1 }])),
    ];
    for (const error of errors) {
      expect(error.code).toBe('UNKNOWN_FIELD');
      expectShort(error);
    }
  });

  it('a key a schema refuses (a record key too long) is an excerpt in the path', () => {
    const error = refusal(() => parseWith(z.record(z.string().max(8), z.number()), { [huge]: 1 }, HINT));
    expectShort(error);
  });

  it('keys on the way to a body too deep or to a __proto__ key are excerpts in the path', () => {
    // Prepare: 1 MB keys at every level, then one level too many, or a __proto__ key.
    const deep = `{"${huge}": {"${huge}": {"${huge}": [[1]]}}}`;
    const proto = `{"${huge}": {"${huge}": {"__proto__": 1}}}`;

    // Act
    const tooDeep = refusal(() => checkJsonSafety(deep, 4));
    const forbidden = refusal(() => checkJsonSafety(proto, 32));
    const deepIteratively = refusal(() => checkJsonSafety(`{"${huge}": ${'['.repeat(2_000)}${']'.repeat(2_000)}}`, 1_500));

    // Assess
    expect([tooDeep.code, forbidden.code, deepIteratively.code]).toEqual(['JSON_TOO_DEEP', 'FORBIDDEN_KEY', 'JSON_TOO_DEEP']);
    expectShort(tooDeep);
    expectShort(forbidden);
    expect(forbidden.path.at(-1)).toBe('__proto__');
    expect(String(deepIteratively.path[0]).length).toBeLessThan(SHORT);
    expect(deepIteratively.path).toHaveLength(1_500);
  });

  it('a name longer than every known one is not even hashed', () => {
    // Prepare
    const index = new NameIndex(['a', 'bb']);
    const get = jest.spyOn(Map.prototype, 'get');

    // Act
    const found = index.indexOf(huge);

    // Assess
    expect(found).toBeUndefined();
    expect(get).not.toHaveBeenCalled();
    get.mockRestore();
  });

  it('model names in messages are listed ten at most', () => {
    // Prepare: a model of 500 declared features
    const features = Array.from({ length: 500 }, (_, i) => `feature_${i}_${'f'.repeat(100)}`);
    const layout = recordLayout({ inputs: [{ name: 'x', type: 'float32', shape: ['N', 500] }], outputs: [] }, { features });

    // Act
    const error = refusal(() => decodeRecords(layout, [{}], () => ['features']));

    // Assess
    expect(error.code).toBe('MISSING_FEATURE');
    expect(error.message).toContain('and 490 more');
    expect(error.message.length).toBeLessThan(1_500);
  });
});

describe('NUL in a string reaches no string tensor, whichever way it comes', () => {
  const NUL = 'key=1\u0000key=2';
  const strings: ModelSignature = { inputs: [{ name: 'color', type: 'string', shape: ['N', 1] }], outputs: [] };
  const columns: ModelSignature = { inputs: [{ name: 'x', type: 'string', shape: ['N', 2] }], outputs: [] };
  const twoInputs: ModelSignature = {
    inputs: [
      { name: 'tag', type: 'string', shape: ['N', 2] },
      { name: 'amount', type: 'float32', shape: ['N', 1] },
    ],
    outputs: [],
  };

  it.each<[string, () => unknown, string]>([
    [
      'features, as a declared column',
      () => decodeRecords(recordLayout(columns, { features: ['a', 'b'] }), [{ a: 'ok', b: NUL }], () => ['features']),
      'features.b',
    ],
    [
      'instances as arrays of declared columns',
      () =>
        decodeArrays(
          recordLayout(columns, { features: ['a', 'b'] }),
          [
            ['ok', 'ok'],
            ['ok', NUL],
          ],
          (r) => ['instances', r],
        ),
      'instances[1][1]',
    ],
    [
      'a record keyed by input name, bare value',
      () => decodeRecords(recordLayout(strings, {}), [{ color: NUL }], () => ['features']),
      'features.color',
    ],
    [
      'a record keyed by input name, array value',
      () => decodeRecords(recordLayout(twoInputs, {}), [{ tag: ['ok', NUL], amount: 1 }], () => ['features']),
      'features.tag[1]',
    ],
    [
      'instances as arrays, no features',
      () => decodeArrays(recordLayout(strings, {}), [['ok'], [NUL]], (r) => ['instances', r]),
      'instances[1][0]',
    ],
    [
      'v2 flat data',
      () => decodeV2(strings, [{ name: 'color', shape: [2, 1], datatype: 'BYTES', data: ['ok', NUL] }]),
      'inputs[0].data[1]',
    ],
    [
      'v2 nested data',
      () => decodeV2(strings, [{ name: 'color', shape: [2, 1], datatype: 'BYTES', data: [['ok'], [NUL]] }]),
      'inputs[0].data[1][0]',
    ],
  ])('%s: 400 NUL_IN_STRING naming the element', (_name, act, path) => {
    const error = refusal(act);
    expect(error.code).toBe('NUL_IN_STRING');
    expect(formatPath(error.path)).toBe(path);
  });
});
