/**
 * Tensors as the raw bytes of the Open Inference Protocol's binary tensor data extension, and
 * their elements as JSON values. Pure (typed arrays and `DataView` only), so the CLI, the tests
 * and any handler can share it.
 *
 * The raw layout (the extension's "Raw Binary Request/Response" section, as KServe and Triton
 * document it): elements in row-major order, little-endian, no padding; BOOL is one byte, 0 or
 * 1; FP16 is IEEE 754 binary16; a BYTES element is a 4-byte little-endian unsigned length
 * followed by that many bytes (UTF-8 for strings).
 *
 * The JSON convention for elements (both ways): float values are JSON numbers, and the non-finite
 * ones the strings `"NaN"`, `"Infinity"` and `"-Infinity"`; 64-bit integers are numbers while
 * they are safe integers (|v| ≤ 2^53 − 1) and decimal strings beyond; BOOL is `true`/`false`;
 * BYTES is a string.
 */
import {
  float16BitsToNumber,
  float16Json,
  float32Json,
  floatToJsonValue,
  nonFiniteFromJson,
  numberToFloat16Bits,
  roundsToFloat16Infinity,
  roundsToFloat32Infinity,
} from './numbers.js';

/** The protocol's datatypes, as the binary extension carries them. */
export const WIRE_DATATYPES = [
  'FP16',
  'FP32',
  'FP64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'BOOL',
  'BYTES',
] as const;
export type WireDatatype = (typeof WIRE_DATATYPES)[number];

/** The datatypes whose elements all have one size. */
export type FixedDatatype = Exclude<WireDatatype, 'BYTES'>;

/** Bytes per element of each fixed-size datatype. */
export const ELEMENT_BYTES: Readonly<Record<FixedDatatype, number>> = {
  FP16: 2,
  FP32: 4,
  FP64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  BOOL: 1,
};

/** Bytes of the length before each BYTES element. */
export const BYTES_LENGTH_PREFIX = 4;

/** A tensor in the binary extension's form: its datatype, shape and raw bytes. */
export interface RawTensor {
  readonly datatype: WireDatatype;
  readonly shape: readonly number[];
  /** The elements' raw bytes, laid out as the module's documentation says. */
  readonly data: Uint8Array;
}

/** Raw bytes or JSON values that do not make the tensor they claim to; the message says why. */
export class TensorBytesError extends Error {
  override readonly name = 'TensorBytesError';
}

export function isWireDatatype(value: unknown): value is WireDatatype {
  return typeof value === 'string' && (WIRE_DATATYPES as readonly string[]).includes(value);
}

/**
 * The number of elements of `shape` (1 for `[]`). Each dimension must be a whole number from 0;
 * a product past 2^53 − 1 is refused rather than rounded.
 */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) throw new TensorBytesError(`A dimension must be a whole number from 0, not ${String(dim)}.`);
    count *= dim;
    if (!Number.isSafeInteger(count))
      throw new TensorBytesError(`The shape [${shape.join(', ')}] has more elements than can be counted exactly.`);
  }
  return count;
}

/**
 * Checks that `tensor.data` holds exactly the elements its shape says: `count × size` bytes for
 * a fixed-size datatype, `count` length-prefixed elements and nothing after them for BYTES.
 */
export function checkRawTensor(tensor: RawTensor): void {
  const count = elementCount(tensor.shape);
  if (tensor.datatype === 'BYTES') {
    bytesElements(tensor.data, count);
    return;
  }
  const expected = count * ELEMENT_BYTES[tensor.datatype];
  if (tensor.data.byteLength !== expected) {
    throw new TensorBytesError(
      `${tensor.datatype} data of shape [${tensor.shape.join(', ')}] takes ${expected} bytes, not ${tensor.data.byteLength}.`,
    );
  }
}

/**
 * The elements of BYTES raw data, as views into it (no copy). With `count`, exactly that many
 * elements and no byte after them; a length that runs past the end is refused before anything
 * is read there.
 */
export function bytesElements(data: Uint8Array, count?: number): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const elements: Uint8Array[] = [];
  let offset = 0;
  while (offset < data.byteLength && (count === undefined || elements.length < count)) {
    if (offset + BYTES_LENGTH_PREFIX > data.byteLength)
      throw new TensorBytesError(`BYTES element ${elements.length} is cut off in its 4-byte length at offset ${offset}.`);
    const length = view.getUint32(offset, true);
    offset += BYTES_LENGTH_PREFIX;
    if (length > data.byteLength - offset) {
      throw new TensorBytesError(
        `BYTES element ${elements.length} says it has ${length} bytes, but only ${data.byteLength - offset} follow.`,
      );
    }
    elements.push(data.subarray(offset, offset + length));
    offset += length;
  }
  if (count !== undefined && elements.length < count)
    throw new TensorBytesError(`The BYTES data holds ${elements.length} elements; the shape says ${count}.`);
  if (offset !== data.byteLength)
    throw new TensorBytesError(`The BYTES data has ${data.byteLength - offset} bytes after its ${elements.length} elements.`);
  return elements;
}

/** BYTES raw data from its elements: each one's 4-byte little-endian length, then its bytes. */
export function joinBytesElements(elements: readonly Uint8Array[]): Uint8Array {
  const total = elements.reduce((sum, e) => sum + BYTES_LENGTH_PREFIX + e.byteLength, 0);
  const data = new Uint8Array(total);
  const view = new DataView(data.buffer);
  let offset = 0;
  for (const element of elements) {
    view.setUint32(offset, element.byteLength, true);
    data.set(element, offset + BYTES_LENGTH_PREFIX);
    offset += BYTES_LENGTH_PREFIX + element.byteLength;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Raw bytes ⇄ JSON values
// ---------------------------------------------------------------------------------------------

/** A JSON element, as the module's convention gives it. */
export type JsonElement = number | string | boolean;

const UTF8 = new TextDecoder('utf-8');
const UTF8_ENCODER = new TextEncoder();

function bigToJson(value: bigint): JsonElement {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}

/**
 * The first `limit` elements of a raw tensor (all by default) as JSON values, in row-major
 * order. float32 and binary16 values are the shortest decimals that round back to them
 * (`numbers.ts`'s `float32Json`, `float16Json`). BYTES
 * elements are decoded as UTF-8 (a byte sequence that is not UTF-8 shows U+FFFD).
 */
export function rawToJson(tensor: RawTensor, limit = Number.POSITIVE_INFINITY): JsonElement[] {
  const { datatype, data } = tensor;
  if (datatype === 'BYTES')
    return bytesElements(data)
      .slice(0, limit)
      .map((e) => UTF8.decode(e));
  const size = ELEMENT_BYTES[datatype];
  const count = Math.min(Math.floor(data.byteLength / size), limit);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const read: (offset: number) => JsonElement = {
    FP16: (o: number) => JSON.parse(float16Json(float16BitsToNumber(view.getUint16(o, true)))) as JsonElement,
    FP32: (o: number) => JSON.parse(float32Json(view.getFloat32(o, true))) as JsonElement,
    FP64: (o: number) => floatToJsonValue(view.getFloat64(o, true)),
    INT8: (o: number) => view.getInt8(o),
    INT16: (o: number) => view.getInt16(o, true),
    INT32: (o: number) => view.getInt32(o, true),
    INT64: (o: number) => bigToJson(view.getBigInt64(o, true)),
    UINT8: (o: number) => view.getUint8(o),
    UINT16: (o: number) => view.getUint16(o, true),
    UINT32: (o: number) => view.getUint32(o, true),
    UINT64: (o: number) => bigToJson(view.getBigUint64(o, true)),
    BOOL: (o: number) => view.getUint8(o) !== 0,
  }[datatype];
  const values = new Array<JsonElement>(count);
  for (let i = 0; i < count; i += 1) values[i] = read(i * size);
  return values;
}

const INTEGER_RANGES: Readonly<Record<'INT8' | 'INT16' | 'INT32' | 'UINT8' | 'UINT16' | 'UINT32', readonly [number, number]>> = {
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-(2 ** 31), 2 ** 31 - 1],
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 2 ** 32 - 1],
};
const BIG_RANGES = { INT64: [-(2n ** 63n), 2n ** 63n - 1n], UINT64: [0n, 2n ** 64n - 1n] } as const;
/** Decimal strings of a 64-bit integer: at most 20 digits and a sign. */
const DECIMAL_64 = /^-?(0|[1-9][0-9]{0,19})$/;

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * Raw bytes of `values` (flat, row-major) as `datatype`, checking each value: a float is a number
 * or one of `"NaN"`, `"Infinity"`, `"-Infinity"` (a finite value past float32's or binary16's
 * range is refused, not turned into an infinity); an integer is a whole number in the type's
 * range, or for INT64/UINT64 also a decimal string; BOOL is `true`/`false`; BYTES a string.
 * A bad value throws a TensorBytesError naming its index.
 */
export function jsonToRaw(datatype: WireDatatype, values: readonly unknown[]): Uint8Array {
  const bad = (index: number, expected: string): TensorBytesError =>
    new TensorBytesError(`Element ${index} is ${describe(values[index])}; ${datatype} elements are ${expected}.`);
  if (datatype === 'BYTES') {
    return joinBytesElements(
      values.map((value, i) => {
        if (typeof value !== 'string') throw bad(i, 'strings');
        return UTF8_ENCODER.encode(value);
      }),
    );
  }
  const size = ELEMENT_BYTES[datatype];
  const data = new Uint8Array(values.length * size);
  const view = new DataView(data.buffer);
  const float = (value: unknown, i: number): number => {
    // A JSON number too large for a double (1e999) parses to Infinity: refused as the API refuses
    // it; an infinity is sent as the string "Infinity".
    if (typeof value === 'number' && !Number.isFinite(value)) throw bad(i, 'finite numbers, or the strings "NaN", "Infinity", "-Infinity"');
    const number = nonFiniteFromJson(value) ?? value;
    if (typeof number !== 'number') throw bad(i, 'numbers, "NaN", "Infinity" or "-Infinity"');
    return number;
  };
  for (let i = 0; i < values.length; i += 1) {
    const value = values[i];
    const offset = i * size;
    switch (datatype) {
      case 'FP16': {
        const number = float(value, i);
        if (roundsToFloat16Infinity(number)) throw bad(i, 'numbers within ±65504');
        view.setUint16(offset, numberToFloat16Bits(number), true);
        break;
      }
      case 'FP32': {
        const number = float(value, i);
        if (roundsToFloat32Infinity(number)) throw bad(i, 'numbers within ±3.4028235e38');
        view.setFloat32(offset, number, true);
        break;
      }
      case 'FP64':
        view.setFloat64(offset, float(value, i), true);
        break;
      case 'BOOL':
        if (typeof value !== 'boolean') throw bad(i, 'true or false');
        view.setUint8(offset, value ? 1 : 0);
        break;
      case 'INT64':
      case 'UINT64': {
        const [min, max] = BIG_RANGES[datatype];
        let big: bigint;
        if (typeof value === 'number' && Number.isSafeInteger(value)) big = BigInt(value);
        else if (typeof value === 'string' && DECIMAL_64.test(value)) big = BigInt(value);
        else throw bad(i, 'whole numbers up to 2^53 − 1, or decimal strings');
        if (big < min || big > max) throw bad(i, `from ${min} to ${max}`);
        if (datatype === 'INT64') view.setBigInt64(offset, big, true);
        else view.setBigUint64(offset, big, true);
        break;
      }
      default: {
        const [min, max] = INTEGER_RANGES[datatype];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
          throw bad(i, `whole numbers from ${min} to ${max}`);
        const set = {
          INT8: () => view.setInt8(offset, value),
          INT16: () => view.setInt16(offset, value, true),
          INT32: () => view.setInt32(offset, value, true),
          UINT8: () => view.setUint8(offset, value),
          UINT16: () => view.setUint16(offset, value, true),
          UINT32: () => view.setUint32(offset, value, true),
        }[datatype];
        set();
      }
    }
  }
  return data;
}

/** The deepest nesting {@link nestedToFlat} reads (the protocol's 64 dimensions, and one). */
const MAX_NESTING = 65;

/**
 * A nested JSON array as its shape and its elements in row-major order: `[[1, 2], [3, 4]]` is
 * shape `[2, 2]`, elements `[1, 2, 3, 4]`; a value that is not an array is a scalar, shape `[]`.
 * Every array at one depth must have the same length, and arrays and elements may not mix.
 */
export function nestedToFlat(value: unknown, maxRank = MAX_NESTING - 1): { shape: number[]; values: unknown[] } {
  const shape: number[] = [];
  for (let probe = value; Array.isArray(probe); probe = probe[0]) {
    if (shape.length >= maxRank) throw new TensorBytesError(`The array is nested deeper than ${maxRank} levels.`);
    shape.push(probe.length);
    if (probe.length === 0) break;
  }
  const values: unknown[] = [];
  const walk = (node: unknown, depth: number, at: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(node))
        throw new TensorBytesError(`${at || 'The value'} is an array where the shape [${shape.join(', ')}] has an element.`);
      values.push(node);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new TensorBytesError(
        `${at || 'The value'} is ${Array.isArray(node) ? `an array of ${node.length}` : 'not an array'}; the shape [${shape.join(', ')}] has ${shape[depth]} there.`,
      );
    }
    node.forEach((child: unknown, i) => walk(child, depth + 1, `${at}[${i}]`));
  };
  walk(value, 0, '');
  return { shape, values };
}
