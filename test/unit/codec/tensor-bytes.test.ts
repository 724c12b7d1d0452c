/**
 * Raw tensor bytes of the binary tensor data extension: JSON values ⇄ raw bytes for every
 * datatype with each refusal (the float16 and shortest-digit conversions themselves are
 * numbers.ts's, tested in test/unit/numbers.test.ts), BYTES framing, nested JSON arrays, and
 * element counts that cannot be counted exactly.
 */
import {
  TensorBytesError,
  bytesElements,
  checkRawTensor,
  elementCount,
  joinBytesElements,
  jsonToRaw,
  nestedToFlat,
  rawToJson,
} from '../../../functions/core/codec/tensor-bytes.js';

describe('JSON values ⇄ raw bytes', () => {
  it('lays out elements little-endian, BOOL as one byte, BYTES as a 4-byte length and UTF-8', () => {
    expect([...jsonToRaw('FP32', [1, -2])]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
    expect([...jsonToRaw('INT16', [0x0102])]).toEqual([0x02, 0x01]);
    expect([...jsonToRaw('UINT64', ['18446744073709551615'])]).toEqual(Array(8).fill(0xff));
    expect([...jsonToRaw('FP16', [1, 'NaN', '-Infinity'])]).toEqual([0x00, 0x3c, 0x00, 0x7e, 0x00, 0xfc]);
    expect([...jsonToRaw('BOOL', [true, false])]).toEqual([1, 0]);
    expect([...jsonToRaw('BYTES', ['é', ''])]).toEqual([2, 0, 0, 0, 0xc3, 0xa9, 0, 0, 0, 0]);
  });

  it('reads them back by the JSON convention: non-finite floats as words, 64-bit integers past 2^53 as strings', () => {
    // Prepare
    const cases = [
      ['FP64', [0.1, 'NaN', 'Infinity', '-Infinity', -0]],
      ['FP32', [0.1, 'NaN', 16777217]],
      ['INT64', ['-9223372036854775808', -9007199254740991, '9007199254740992']],
      ['UINT64', [0, '18446744073709551615']],
      ['INT8', [-128, 127]],
      ['BOOL', [true, false]],
      ['BYTES', ['😀', '']],
    ] as const;

    // Act / Assess
    for (const [datatype, values] of cases) {
      expect({ datatype, values: rawToJson({ datatype, shape: [values.length], data: jsonToRaw(datatype, values) }) }).toEqual({
        datatype,
        values: datatype === 'FP32' ? [0.1, 'NaN', 16777216] : values,
      });
    }
  });

  it('reads only the first elements asked for', () => {
    expect(rawToJson({ datatype: 'INT32', shape: [4], data: jsonToRaw('INT32', [1, 2, 3, 4]) }, 2)).toEqual([1, 2]);
    expect(rawToJson({ datatype: 'BYTES', shape: [3], data: jsonToRaw('BYTES', ['a', 'b', 'c']) }, 1)).toEqual(['a']);
  });

  it.each([
    ['INT8', 128, /^Element 0 is 128; INT8 elements are whole numbers from -128 to 127\.$/],
    ['UINT32', -1, /from 0 to 4294967295/],
    ['INT32', 1.5, /whole numbers/],
    ['INT64', '9223372036854775808', /from -9223372036854775808 to 9223372036854775807/],
    ['INT64', 9007199254740992, /whole numbers up to 2\^53 − 1, or decimal strings/],
    ['UINT64', '1e3', /decimal strings/],
    ['FP32', 1e39, /within ±3\.4028235e38/],
    ['FP16', 70000, /within ±65504/],
    ['FP64', 'nan', /numbers, "NaN", "Infinity" or "-Infinity"/],
    ['FP64', null, /numbers/],
    ['BOOL', 1, /true or false/],
    ['BYTES', 3, /strings/],
  ] as const)('refuses %s %p', (datatype, value, message) => {
    expect(() => jsonToRaw(datatype, [value])).toThrow(message);
  });

  it('names the element a refusal is about, and cuts long values short', () => {
    expect(() => jsonToRaw('UINT8', [1, 2, 'x'.repeat(100)])).toThrow(/^Element 2 is "x{39}…; UINT8 elements/);
  });
});

describe('BYTES framing and shapes', () => {
  it('splits BYTES data into its elements and joins them back', () => {
    const data = joinBytesElements([Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)]);

    expect([...data]).toEqual([2, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 0, 0, 0, 3]);
    expect(bytesElements(data).map((e) => [...e])).toEqual([[1, 2], [], [3]]);
  });

  it.each([
    ['a cut-off length', Uint8Array.of(1, 0, 0, 0, 9, 2, 0), undefined, /element 1 is cut off in its 4-byte length at offset 5/],
    ['a length past the end', Uint8Array.of(9, 0, 0, 0, 1), undefined, /element 0 says it has 9 bytes, but only 1 follow/],
    ['a length of 4 GB', Uint8Array.of(0xff, 0xff, 0xff, 0xff), undefined, /says it has 4294967295 bytes, but only 0 follow/],
    ['fewer elements than the shape', Uint8Array.of(1, 0, 0, 0, 7), 2, /holds 1 elements; the shape says 2/],
    ['bytes after the last element', Uint8Array.of(0, 0, 0, 0, 7), 1, /has 1 bytes after its 1 elements/],
  ])('refuses %s', (_name, data, count, message) => {
    expect(() => bytesElements(data, count)).toThrow(message);
  });

  it('checks raw data against its shape', () => {
    expect(() => checkRawTensor({ datatype: 'INT64', shape: [2, 2], data: new Uint8Array(24) })).toThrow(
      'INT64 data of shape [2, 2] takes 32 bytes, not 24.',
    );
    expect(() => checkRawTensor({ datatype: 'BYTES', shape: [2], data: jsonToRaw('BYTES', ['a']) })).toThrow(TensorBytesError);
    expect(() => checkRawTensor({ datatype: 'FP64', shape: [], data: new Uint8Array(8) })).not.toThrow();
  });

  it('counts elements exactly or not at all', () => {
    expect(elementCount([])).toBe(1);
    expect(elementCount([3, 0, 2 ** 52])).toBe(0);
    expect(() => elementCount([2 ** 27, 2 ** 27])).toThrow(/more elements than can be counted exactly/);
    expect(() => elementCount([-1])).toThrow(/whole number from 0, not -1/);
  });

  it('reads nested arrays as a shape and row-major elements', () => {
    expect(
      nestedToFlat([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    ).toEqual({ shape: [2, 3], values: [1, 2, 3, 4, 5, 6] });
    expect(nestedToFlat(7)).toEqual({ shape: [], values: [7] });
    expect(nestedToFlat([])).toEqual({ shape: [0], values: [] });
    expect(nestedToFlat([[], []])).toEqual({ shape: [2, 0], values: [] });
  });

  it('refuses ragged and mixed nesting, and nesting past 64 dimensions', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 65; i += 1) deep = [deep];

    expect(() => nestedToFlat([[1, 2], [3]])).toThrow('[1] is an array of 1; the shape [2, 2] has 2 there.');
    expect(() => nestedToFlat([[1, 2], 3])).toThrow('[1] is not an array; the shape [2, 2] has 2 there.');
    expect(() => nestedToFlat([1, [2]])).toThrow('[1] is an array where the shape [2] has an element.');
    expect(() => nestedToFlat(deep)).toThrow('nested deeper than 64 levels');
  });
});
