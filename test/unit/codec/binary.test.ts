/**
 * The binary tensor data extension's codec (`functions/core/codec/binary.ts`), called directly:
 * every element type both ways with its little-endian layout, the size and value checks, BYTES
 * framing at its edges (empty elements, multi-byte UTF-8, a length prefix cut short), input
 * buffers at odd offsets, and the `Inference-Header-Content-Length` rule.
 */
import { framedStrings } from '../../fixtures/binary-http.js';
import { ELEMENT_BYTES, headerLength, tensorBytes, tensorFromBytes } from '../../../functions/core/codec/binary.js';
import { codecLimits } from '../../../functions/core/codec/limits.js';
import { ValidationError, type FieldPath } from '../../../functions/core/errors.js';
import type { TensorType } from '../../../functions/core/model.js';
import type { TensorData } from '../../../functions/core/tensor.js';

const LIMITS = codecLimits();
const PATH: FieldPath = ['inputs', 0, 'parameters', 'binary_data_size'];

/** The error `act` throws, checked to be a ValidationError. */
function refusal(act: () => unknown): ValidationError {
  try {
    act();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

/** Six elements of each type, edge values first, and their bytes written by hand (little-endian). */
const SAMPLES: { readonly [K in Exclude<TensorType, 'string'>]: { data: TensorData<K>['data']; firstBytes: number[] } } = {
  // binary16 bits: 1, NaN (quiet), +Infinity, -0, the smallest subnormal, the largest finite
  float16: { data: new Uint16Array([0x3c00, 0x7e00, 0x7c00, 0x8000, 0x0001, 0x7bff]), firstBytes: [0x00, 0x3c] },
  float32: {
    data: new Float32Array([1, Number.NaN, Number.NEGATIVE_INFINITY, -0, 1e-45, 3.4028234663852886e38]),
    firstBytes: [0x00, 0x00, 0x80, 0x3f],
  },
  float64: {
    data: new Float64Array([1, Number.NaN, Number.POSITIVE_INFINITY, -0, Number.MIN_VALUE, Number.MAX_VALUE]),
    firstBytes: [0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
  },
  int8: { data: new Int8Array([-1, -128, 127, 0, 1, 2]), firstBytes: [0xff] },
  int16: { data: new Int16Array([-2, -32768, 32767, 0, 1, 2]), firstBytes: [0xfe, 0xff] },
  int32: { data: new Int32Array([258, -2147483648, 2147483647, 0, -1, 2]), firstBytes: [0x02, 0x01, 0x00, 0x00] },
  int64: {
    data: new BigInt64Array([-2n, -(2n ** 63n), 2n ** 63n - 1n, 0n, 2n ** 53n + 1n, 2n]),
    firstBytes: [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  },
  uint8: { data: new Uint8Array([255, 0, 128, 1, 2, 3]), firstBytes: [0xff] },
  uint16: { data: new Uint16Array([0x1234, 0, 65535, 1, 2, 3]), firstBytes: [0x34, 0x12] },
  uint32: { data: new Uint32Array([0x01020304, 0, 4294967295, 1, 2, 3]), firstBytes: [0x04, 0x03, 0x02, 0x01] },
  uint64: {
    data: new BigUint64Array([0x0102030405060708n, 0n, 2n ** 64n - 1n, 1n, 2n, 3n]),
    firstBytes: [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01],
  },
  bool: { data: new Uint8Array([1, 0, 0, 1, 1, 0]), firstBytes: [0x01] },
};
const FIXED_TYPES = Object.keys(SAMPLES) as (keyof typeof SAMPLES)[];

/** The typed array's own bytes (what the extension carries on a little-endian host). */
function bytesOf(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** BYTES framing written by hand (the fixture's): each element a 4-byte little-endian length, then its bytes. */
function framed(...elements: (string | Uint8Array)[]): Uint8Array {
  return framedStrings(elements);
}

describe('fixed-size element types', () => {
  it.each(FIXED_TYPES)('%s: bytes → tensor → the same bytes, little-endian, element by element', (type) => {
    // Prepare
    const { data, firstBytes } = SAMPLES[type];
    const bytes = Uint8Array.from(bytesOf(data));

    // Act
    const tensor = tensorFromBytes(type, [2, 3], 6, bytes, LIMITS, PATH);
    const back = tensorBytes(tensor);

    // Assess
    expect(ELEMENT_BYTES[type]).toBe(data.BYTES_PER_ELEMENT);
    expect(tensor.type).toBe(type);
    expect(tensor.shape).toEqual([2, 3]);
    expect(tensor.data.constructor).toBe(data.constructor);
    expect(Array.from(bytesOf(tensor.data as ArrayBufferView).subarray(0, firstBytes.length))).toEqual(firstBytes);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
    // NaN, -0 and the other edge values keep their bits (compared as bytes, not as numbers).
    expect(Buffer.from(bytesOf(tensor.data as ArrayBufferView)).equals(Buffer.from(bytesOf(data)))).toBe(true);
  });

  it('copies the bytes: changing the body afterwards does not change the tensor', () => {
    // Prepare
    const bytes = Uint8Array.from(bytesOf(new Int32Array([1, 2, 3])));

    // Act
    const tensor = tensorFromBytes('int32', [3], 3, bytes, LIMITS, PATH);
    bytes.fill(0xff);

    // Assess
    expect(Array.from(tensor.data as Int32Array)).toEqual([1, 2, 3]);
  });

  it.each(FIXED_TYPES)('%s: one byte short or one byte over is BINARY_SIZE_MISMATCH at the given path', (type) => {
    // Prepare
    const size = ELEMENT_BYTES[type];
    const short = new Uint8Array(6 * size - 1);
    const over = new Uint8Array(6 * size + 1);

    // Act
    const errors = [short, over].map((bytes) => refusal(() => tensorFromBytes(type, [2, 3], 6, bytes, LIMITS, PATH)));

    // Assess
    for (const [k, error] of errors.entries()) {
      expect(error).toMatchObject({ status: 400, code: 'BINARY_SIZE_MISMATCH', path: PATH });
      expect(error.message).toContain(`${6 * size} bytes`);
      expect(error.message).toContain(`${[short, over][k]?.byteLength} were given`);
    }
  });

  it('reads a zero-element tensor from no bytes, and refuses any byte for it', () => {
    // Act
    const empty = tensorFromBytes('float32', [0, 3], 0, new Uint8Array(0), LIMITS, PATH);
    const error = refusal(() => tensorFromBytes('float32', [0, 3], 0, new Uint8Array(1), LIMITS, PATH));

    // Assess
    expect(empty).toMatchObject({ type: 'float32', shape: [0, 3] });
    expect(empty.data).toHaveLength(0);
    expect(error.code).toBe('BINARY_SIZE_MISMATCH');
  });

  it.each([2, 3, 0x80, 0xff])('BOOL byte %p is INVALID_BOOL, naming the element and the byte', (byte) => {
    // Act
    const error = refusal(() => tensorFromBytes('bool', [4], 4, Uint8Array.from([1, 0, byte, 1]), LIMITS, PATH));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'INVALID_BOOL', path: PATH });
    expect(error.message).toContain('element 2');
    expect(error.message).toContain(`byte ${byte}`);
  });
});

describe('buffers at odd offsets', () => {
  it.each(['float16', 'float32', 'float64', 'int16', 'int32', 'int64', 'uint32', 'uint64'] as const)(
    '%s bytes starting at byteOffset 1 (as a slice of a larger body) decode to the same values',
    (type) => {
      // Prepare: the tensor's bytes one byte into a larger buffer, unaligned for any element size > 1
      const { data } = SAMPLES[type];
      const source = bytesOf(data);
      const body = new Uint8Array(source.byteLength + 3);
      body.set(source, 1);
      const slice = body.subarray(1, 1 + source.byteLength);

      // Act
      const tensor = tensorFromBytes(type, [6], 6, slice, LIMITS, PATH);

      // Assess
      expect(slice.byteOffset).toBe(1);
      expect(Buffer.from(bytesOf(tensor.data as ArrayBufferView)).equals(Buffer.from(source))).toBe(true);
    },
  );

  it('BYTES elements at byteOffset 1 decode the same', () => {
    // Prepare
    const source = framed('ab', '', 'é🙂');
    const body = new Uint8Array(source.byteLength + 1);
    body.set(source, 1);

    // Act
    const tensor = tensorFromBytes('string', [3], 3, body.subarray(1), LIMITS, PATH);

    // Assess
    expect(tensor.data).toEqual(['ab', '', 'é🙂']);
  });

  it('tensorBytes of a typed array that is a view into a larger buffer gives only its own bytes', () => {
    // Prepare
    const whole = new Float64Array([9, 1.5, -2, 9]);
    const view = whole.subarray(1, 3);

    // Act
    const bytes = tensorBytes({ type: 'float64', shape: [2], data: view });

    // Assess
    expect(bytes.byteLength).toBe(16);
    expect(Array.from(new Float64Array(Uint8Array.from(bytes).buffer))).toEqual([1.5, -2]);
  });
});

describe('BYTES (string) elements', () => {
  it('writes each element as a 4-byte little-endian length and its UTF-8 bytes, and reads them back', () => {
    // Prepare
    const strings = ['', 'a', 'héllo', '🙂', '日本語', ''];

    // Act
    const bytes = tensorBytes({ type: 'string', shape: [2, 3], data: strings });
    const back = tensorFromBytes('string', [2, 3], 6, bytes, LIMITS, PATH);

    // Assess
    expect(Buffer.from(bytes).equals(Buffer.from(framed(...strings)))).toBe(true);
    // 'héllo' is 6 bytes of UTF-8 (é is 2), '🙂' 4, '日本語' 9: lengths count bytes, not characters
    expect(Buffer.from(bytes).readUInt32LE(4 + 4 + 1)).toBe(6);
    expect(back).toEqual({ type: 'string', shape: [2, 3], data: strings });
  });

  it('reads a tensor of empty strings (lengths only) and an empty tensor', () => {
    // Act
    const empties = tensorFromBytes('string', [3], 3, new Uint8Array(12), LIMITS, PATH);
    const none = tensorFromBytes('string', [0], 0, new Uint8Array(0), LIMITS, PATH);

    // Assess
    expect(empties.data).toEqual(['', '', '']);
    expect(none.data).toEqual([]);
    expect(tensorBytes(none).byteLength).toBe(0);
  });

  it.each([
    ['a length prefix cut short', Uint8Array.from([...framed('ab'), 1, 0]), 'ends after 1 of 2 elements'],
    ['no bytes at all', new Uint8Array(0), 'ends after 0 of 2 elements'],
    ['a length past the end', Uint8Array.from([...framed('ab'), 9, 0, 0, 0, 0x61]), 'says it is 9 bytes long, but only 1 bytes are left'],
    ['a length of 2^32 − 1', Uint8Array.from([...framed('ab'), 0xff, 0xff, 0xff, 0xff]), 'says it is 4294967295 bytes long'],
    ['bytes after the last element', Uint8Array.from([...framed('ab', 'c'), 0]), 'holds 1 bytes after its 2 elements'],
  ])('%s is BINARY_SIZE_MISMATCH', (_, bytes, says) => {
    // Act
    const error = refusal(() => tensorFromBytes('string', [2], 2, bytes, LIMITS, PATH));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'BINARY_SIZE_MISMATCH', path: PATH });
    expect(error.message).toContain(says);
  });

  it.each([
    ['a byte UTF-8 never uses', [0xff]],
    ['a stray continuation byte', [0x80]],
    ['an overlong NUL', [0xc0, 0x80]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a sequence cut short', [0xe6, 0x97]],
  ])('%s is MALFORMED_UTF8, never replaced by U+FFFD', (_, raw) => {
    // Act
    const error = refusal(() => tensorFromBytes('string', [2], 2, framed('ok', Uint8Array.from(raw)), LIMITS, PATH));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'MALFORMED_UTF8', path: PATH });
    expect(error.message).toContain('element 1');
  });

  it('applies the string rules of JSON elements: NUL_IN_STRING, STRING_TOO_LONG', () => {
    // Act
    const nul = refusal(() => tensorFromBytes('string', [1], 1, framed('a\u0000b'), LIMITS, PATH));
    const long = refusal(() => tensorFromBytes('string', [1], 1, framed('x'.repeat(11)), codecLimits({ maxStringChars: 10 }), PATH));
    const fits = tensorFromBytes('string', [1], 1, framed('x'.repeat(10)), codecLimits({ maxStringChars: 10 }), PATH);

    // Assess
    expect(nul).toMatchObject({ code: 'NUL_IN_STRING', path: PATH });
    expect(long).toMatchObject({ code: 'STRING_TOO_LONG', path: PATH });
    expect(fits.data).toEqual(['x'.repeat(10)]);
  });
});

describe('Inference-Header-Content-Length', () => {
  it.each([
    ['12', 100, 12],
    [' 12 ', 100, 12],
    ['100', 100, 100],
    ['1', 1, 1],
  ])('%p with a body of %p bytes is %p', (value, body, expected) => {
    expect(headerLength(value, body)).toBe(expected);
  });

  it.each([
    ['missing', undefined, 100, 'needs the header Inference-Header-Content-Length'],
    ['empty', '', 100, 'must be a byte count'],
    ['not a number', 'abc', 100, 'must be a byte count'],
    ['negative', '-1', 100, 'must be a byte count'],
    ['a fraction', '1.5', 100, 'must be a byte count'],
    ['an exponent', '1e2', 100, 'must be a byte count'],
    ['two values', '12, 12', 100, 'must be a byte count'],
    ['zero', '0', 100, 'is 0'],
    ['past the body', '101', 100, 'is 101, but the body has 100 bytes'],
    ['far past the body', '999999999999', 100, 'is 999999999999, but the body has 100 bytes'],
    ['more digits than a byte count has', '1234567890123', 100, 'must be a byte count'],
  ])('%s is INVALID_HEADER_LENGTH', (_, value, body, says) => {
    // Act
    const error = refusal(() => headerLength(value, body));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'INVALID_HEADER_LENGTH', path: ['headers', 'inference-header-content-length'] });
    expect(error.message).toContain(says);
  });

  it('quotes at most a short excerpt of a long header value', () => {
    // Act
    const error = refusal(() => headerLength(`x${'9'.repeat(5000)}`, 100));

    // Assess
    expect(error.code).toBe('INVALID_HEADER_LENGTH');
    expect(error.message.length).toBeLessThan(200);
  });
});
