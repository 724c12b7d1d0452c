import { AppError, ValidationError } from '../../../functions/core/errors.js';
import { TENSOR_TYPES, type TensorType } from '../../../functions/core/model.js';
import { elementText, elementWriter, elementsText } from '../../../functions/core/codec/elements.js';
import { nestedText } from '../../../functions/core/codec/encode.js';
import { allocate, type TensorData } from '../../../functions/core/tensor.js';

const PATH = ['instances', 2, 'age'];

/** Writes `value` as element 0 of a one-element tensor of `type` and returns the stored element. */
function store(type: TensorType, value: unknown): unknown {
  const data = allocate(type, 1) as unknown as { [i: number]: unknown };
  elementWriter(type)(data, 0, value, () => PATH);
  return data[0];
}

/** The error `store` throws (fails the test when it does not throw). */
function refusal(type: TensorType, value: unknown): ValidationError {
  try {
    store(type, value);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error(`${type} accepted ${String(value)}`);
}

/** A JSON value through a one-element tensor of `type` and back. */
function roundTrip(type: TensorType, value: unknown): unknown {
  const data = allocate(type, 1);
  elementWriter(type)(data as unknown as { [i: number]: unknown }, 0, value, () => PATH);
  return JSON.parse(elementText({ type, shape: [1], data } as TensorData, 0)) as unknown;
}

const NUMERIC = TENSOR_TYPES.filter((t) => t !== 'bool' && t !== 'string');

describe('element writers: accepted values', () => {
  it.each<[TensorType, unknown, unknown]>([
    ['float32', 1.5, 1.5],
    ['float32', -3.4e38, Math.fround(-3.4e38)],
    ['float64', 1e300, 1e300],
    ['float64', -0.1, -0.1],
    ['int8', -128, -128],
    ['int8', 127, 127],
    ['int16', -32768, -32768],
    ['int16', 32767, 32767],
    ['int32', -2147483648, -2147483648],
    ['int32', 2147483647, 2147483647],
    ['uint8', 0, 0],
    ['uint8', 255, 255],
    ['uint16', 65535, 65535],
    ['uint32', 4294967295, 4294967295],
    ['int64', -9007199254740991, -9007199254740991n],
    ['int64', '-9223372036854775808', -(2n ** 63n)],
    ['int64', '9223372036854775807', 2n ** 63n - 1n],
    ['uint64', '18446744073709551615', 2n ** 64n - 1n],
    ['uint64', 0, 0n],
    ['bool', true, 1],
    ['bool', false, 0],
    ['string', 'héllo', 'héllo'],
    ['string', '', ''],
  ])('%s stores %p as %p', (type, value, expected) => {
    // Prepare / Act
    const stored = store(type, value);

    // Assess
    expect(stored).toBe(expected);
  });
});

describe('element writers: range checks', () => {
  it.each<[TensorType, unknown]>([
    ['float32', 3.5e38],
    ['float32', -1e39],
    ['int8', -129],
    ['int8', 128],
    ['int16', -32769],
    ['int16', 32768],
    ['int32', -2147483649],
    ['int32', 2147483648],
    ['uint8', -1],
    ['uint8', 256],
    ['uint16', -1],
    ['uint16', 65536],
    ['uint32', -1],
    ['uint32', 4294967296],
    ['int64', '9223372036854775808'],
    ['int64', '-9223372036854775809'],
    ['uint64', -1],
    ['uint64', '18446744073709551616'],
  ])('%s refuses %p with OUT_OF_RANGE and the field path', (type, value) => {
    // Act
    const error = refusal(type, value);

    // Assess
    expect(error.code).toBe('OUT_OF_RANGE');
    expect(error.status).toBe(400);
    expect(error.path).toEqual(PATH);
  });

  it.each(['int8', 'int16', 'int32', 'uint8', 'uint16', 'uint32', 'int64', 'uint64'] as const)('%s refuses a fraction', (type) => {
    // Act
    const error = refusal(type, 1.5);

    // Assess
    expect(error.code).toBe('WRONG_TYPE');
    expect(error.message).toContain('integer');
    expect(error.path).toEqual(PATH);
  });
});

describe('element writers: non-finite numbers', () => {
  it.each(NUMERIC.flatMap((type) => [NaN, Infinity, -Infinity].map((v) => [type, v] as const)))(
    '%s refuses %p with NOT_FINITE',
    (type, value) => {
      // Act
      const error = refusal(type, value);

      // Assess
      expect(error.code).toBe('NOT_FINITE');
      expect(error.path).toEqual(PATH);
    },
  );
});

describe('element writers: wrong JSON types', () => {
  it.each(NUMERIC)('%s refuses a string that looks like a number with WRONG_TYPE and the field path', (type) => {
    // Int64 and uint64 take decimal strings; "1.5" is not one.
    const value = type === 'int64' || type === 'uint64' ? '1.5' : '12';

    // Act
    const error = refusal(type, value);

    // Assess
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe('WRONG_TYPE');
    expect(error.path).toEqual(['instances', 2, 'age']);
    expect(error.message).toContain(`"${value}"`);
  });

  it.each<[TensorType, unknown]>([
    ['float32', null],
    ['float64', true],
    ['int32', [1]],
    ['int64', { value: 1 }],
    ['int64', ' 12'],
    ['int64', '0x10'],
    ['int64', '+5'],
    ['int64', '1e3'],
    ['uint64', ''],
    ['bool', 1],
    ['bool', 'true'],
    ['string', 5],
    ['string', null],
  ])('%s refuses %p with WRONG_TYPE', (type, value) => {
    // Act
    const error = refusal(type, value);

    // Assess
    expect(error.code).toBe('WRONG_TYPE');
    expect(error.path).toEqual(PATH);
  });
});

describe('int64 exactness', () => {
  it('round-trips 9007199254740993 sent as a string as the same string', () => {
    // Prepare
    const big = '9007199254740993';

    // Act
    const back = roundTrip('int64', big);

    // Assess
    expect(back).toBe('9007199254740993');
    expect(store('int64', big)).toBe(9007199254740993n);
  });

  it('refuses a JSON number beyond 2^53 with INEXACT_INTEGER instead of rounding it', () => {
    // Prepare: JSON.parse already turned the digits into the nearest double.
    const parsed = JSON.parse('{"id": 9007199254740993}') as { id: number };

    // Act
    const error = refusal('int64', parsed.id);

    // Assess
    expect(error.code).toBe('INEXACT_INTEGER');
    expect(error.message).toContain('decimal strings');
    expect(error.path).toEqual(PATH);
  });

  it('refuses a uint64 JSON number beyond 2^53 too', () => {
    expect(refusal('uint64', 2 ** 60).code).toBe('INEXACT_INTEGER');
  });

  it.each<[TensorType, unknown, unknown]>([
    ['int64', 42, 42],
    ['int64', '42', 42],
    ['int64', -9007199254740991, -9007199254740991],
    ['int64', '-9007199254740992', '-9007199254740992'],
    ['int64', '9223372036854775807', '9223372036854775807'],
    ['uint64', '18446744073709551615', '18446744073709551615'],
  ])('%s %p comes back as %p (numbers while exact, strings beyond 2^53)', (type, value, expected) => {
    expect(roundTrip(type, value)).toBe(expected);
  });
});

describe('tensor elements to JSON', () => {
  it('renders bools as booleans and strings as strings', () => {
    expect(roundTrip('bool', true)).toBe(true);
    expect(roundTrip('bool', false)).toBe(false);
    expect(roundTrip('string', 'a"b')).toBe('a"b');
  });

  it.each(['float16', 'float32', 'float64'] as const)(
    'renders non-finite %s outputs as the strings "NaN", "Infinity", "-Infinity", and reads them back',
    (type) => {
      // Prepare: the values written from JSON, so float16 holds its bit patterns
      const data = allocate(type, 4);
      const write = elementWriter(type);
      ['NaN', 'Infinity', '-Infinity', 2].forEach((v, i) => write(data as unknown as { [i: number]: unknown }, i, v, () => PATH));

      // Act
      const text = `[${elementsText({ type, shape: [4], data } as TensorData, 0, 4)}]`;

      // Assess
      expect(text).toBe('["NaN","Infinity","-Infinity",2]');
    },
  );

  it.each(['nan', 'inf', '+Infinity', '-inf', 'null'])(
    'refuses the string %p in a float tensor with WRONG_TYPE naming the convention',
    (value) => {
      const error = refusal('float32', value);
      expect(error.code).toBe('WRONG_TYPE');
      expect(error.message).toContain('"NaN", "Infinity", "-Infinity"');
    },
  );

  it('prints float32 with the shortest digits that read back as the same float32, float64 with all of its own', () => {
    const f32: TensorData = { type: 'float32', shape: [2], data: new Float32Array([0.1, 1 / 3]) };
    const f64: TensorData = { type: 'float64', shape: [2], data: new Float64Array([0.1, 1 / 3]) };
    expect(elementsText(f32, 0, 2)).toBe('0.1,0.33333334');
    expect(elementsText(f64, 0, 2)).toBe('0.1,0.3333333333333333');
  });

  it('slices a row-major tensor into nested arrays of the given shape', () => {
    // Prepare: [2, 2, 3]
    const tensor: TensorData = { type: 'int32', shape: [2, 2, 3], data: Int32Array.from({ length: 12 }, (_, i) => i) };

    // Act
    const second = JSON.parse(nestedText(tensor, 6, [2, 3])) as unknown;
    const scalar = JSON.parse(nestedText(tensor, 11, [])) as unknown;

    // Assess
    expect(second).toEqual([
      [6, 7, 8],
      [9, 10, 11],
    ]);
    expect(scalar).toBe(11);
  });

  it('flattens int64 values with exact strings beyond 2^53', () => {
    // Prepare
    const tensor: TensorData = { type: 'int64', shape: [2], data: new BigInt64Array([5n, 2n ** 62n]) };

    // Act / Assess
    expect(JSON.parse(`[${elementsText(tensor, 0, 2)}]`)).toEqual([5, '4611686018427387904']);
  });
});
