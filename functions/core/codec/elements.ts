/**
 * JSON ⇄ tensor elements, one rule per element type. Every incoming value is checked (type,
 * finiteness, range, exactness) before it is written; a bad value names its path.
 *
 * int64 / uint64 are exact: JSON numbers are accepted only while they are safe integers
 * (|v| ≤ 2^53 − 1), larger values travel as decimal strings both ways, never rounded. A decimal
 * string is at most 20 characters long (`DECIMAL_64_MAX_CHARS`), checked before it is parsed.
 *
 * Strings (BYTES) are at most `maxStringChars` long, and must survive the trip into ONNX
 * Runtime unchanged: a U+0000 (where ORT's strings end) or an unpaired surrogate (which becomes
 * U+FFFD on the way to UTF-8) is refused rather than silently altered.
 */
import { UNPAIRED_SURROGATE } from './limits.js';
import { ValidationError, type FieldPath } from '../errors.js';
import type { TensorType } from '../model.js';
import type { TensorData } from '../tensor.js';
import { DECIMAL_64_MAX_CHARS, DEFAULT_MAX_STRING_CHARS, excerpt } from './limits.js';

const FLOAT32_MAX = 3.4028234663852886e38;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const DECIMAL_INTEGER = /^-?(0|[1-9][0-9]*)$/;
const DIGITS = /^-?[0-9]+$/;
/** A surrogate half without its other half (what `String.prototype.isWellFormed` refuses). */

/** Flat element storage of any type (a typed array, or an array of strings). */
type Target = { [index: number]: unknown };

/**
 * The path of the element at `index` of the target, built only when an error needs it (one
 * function per row or tensor, never one per element).
 */
export type ElementPath = (index: number) => FieldPath;

/** Writes `value` at `index` of `target`, or throws a ValidationError naming `path(index)`. */
export type ElementWriter = (
  target: Target,
  index: number,
  value: unknown,
  path: ElementPath,
) => void;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(excerpt(value))}`;
  return `${typeof value} ${String(value)}`;
}

function wrongType(expected: string, value: unknown, path: FieldPath): ValidationError {
  return new ValidationError('WRONG_TYPE', `Expected ${expected}, got ${typeName(value)}.`, path);
}

function finiteNumber(value: unknown, type: string, path: () => FieldPath): number {
  if (typeof value !== 'number') throw wrongType(`a number (${type})`, value, path());
  if (!Number.isFinite(value)) {
    throw new ValidationError('NOT_FINITE', `Expected a finite number (${type}), got ${value}.`, path());
  }
  return value;
}

function integerWriter(type: TensorType, min: number, max: number): ElementWriter {
  return (target, index, value, path) => {
    const v = finiteNumber(value, type, () => path(index));
    if (!Number.isInteger(v)) throw wrongType(`an integer (${type})`, value, path(index));
    if (v < min || v > max) {
      throw new ValidationError('OUT_OF_RANGE', `${v} is outside the range of ${type} [${min}, ${max}].`, path(index));
    }
    target[index] = v;
  };
}

/** A decimal string as a 64-bit integer, its length checked before it is parsed. */
function decimal64(type: 'int64' | 'uint64', value: string, path: () => FieldPath): bigint {
  if (value.length > DECIMAL_64_MAX_CHARS) {
    // Only the excerpt is looked at: a string of millions of digits is never scanned or parsed.
    const head = value.slice(0, DECIMAL_64_MAX_CHARS + 1);
    if (!DIGITS.test(head)) throw wrongType(`an integer or a decimal string (${type})`, value, path());
    throw new ValidationError(
      'OUT_OF_RANGE',
      `A decimal string of ${value.length} characters is outside the range of ${type}: its values have at most ${DECIMAL_64_MAX_CHARS} characters (19 digits and a sign for int64, 20 digits for uint64).`,
      path(),
    );
  }
  if (!DECIMAL_INTEGER.test(value)) throw wrongType(`an integer or a decimal string (${type})`, value, path());
  return BigInt(value);
}

function bigIntWriter(type: 'int64' | 'uint64', min: bigint, max: bigint): ElementWriter {
  return (target, index, value, path) => {
    const at = (): FieldPath => path(index);
    let v: bigint;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        throw new ValidationError('NOT_FINITE', `Expected a finite integer (${type}), got ${value}.`, at());
      }
      if (!Number.isInteger(value)) throw wrongType(`an integer (${type})`, value, at());
      if (!Number.isSafeInteger(value)) {
        throw new ValidationError(
          'INEXACT_INTEGER',
          `${value} is beyond ±(2^53 − 1), where JSON numbers lose precision; send ${type} values this large as decimal strings, e.g. "9007199254740993".`,
          at(),
        );
      }
      v = BigInt(value);
    } else if (typeof value === 'string') {
      v = decimal64(type, value, at);
    } else {
      throw wrongType(`an integer or a decimal string (${type})`, value, at());
    }
    if (v < min || v > max) {
      throw new ValidationError('OUT_OF_RANGE', `${v} is outside the range of ${type}.`, at());
    }
    target[index] = v;
  };
}

/**
 * A string element: at most `maxStringChars` long (checked first), and one ONNX Runtime stores
 * as sent. Its strings end at U+0000, so `"a\u0000b"` would reach the model as `"a"`; an
 * unpaired surrogate (`"\ud800"`, valid JSON but not Unicode) would become U+FFFD.
 */
function stringWriter(maxStringChars: number): ElementWriter {
  return (target, index, value, path) => {
    if (typeof value !== 'string') throw wrongType('a string', value, path(index));
    if (value.length > maxStringChars) {
      throw new ValidationError(
        'STRING_TOO_LONG',
        `This string has ${value.length} characters; string (BYTES) elements take at most ${maxStringChars} here.`,
        path(index),
      );
    }
    const nul = value.indexOf('\u0000');
    if (nul >= 0) {
      throw new ValidationError(
        'NUL_IN_STRING',
        `This string holds U+0000 (NUL) at character ${nul}; ONNX Runtime would cut the string there. Remove it, or encode the bytes (e.g. as base64).`,
        path(index),
      );
    }
    const unpaired = UNPAIRED_SURROGATE.exec(value);
    if (unpaired) {
      throw new ValidationError(
        'UNPAIRED_SURROGATE',
        `This string holds an unpaired UTF-16 surrogate at character ${unpaired.index} (an escape like "\\ud800" without its pair), which is not Unicode; ONNX Runtime would replace it with U+FFFD. Send valid Unicode.`,
        path(index),
      );
    }
    target[index] = value;
  };
}

const WRITERS: Readonly<Record<Exclude<TensorType, 'string'>, ElementWriter>> = {
  float32: (target, index, value, path) => {
    const v = finiteNumber(value, 'float32', () => path(index));
    if (Math.abs(v) > FLOAT32_MAX) {
      throw new ValidationError('OUT_OF_RANGE', `${v} is outside the range of float32.`, path(index));
    }
    target[index] = v;
  },
  float64: (target, index, value, path) => {
    target[index] = finiteNumber(value, 'float64', () => path(index));
  },
  int8: integerWriter('int8', -128, 127),
  int16: integerWriter('int16', -32768, 32767),
  int32: integerWriter('int32', -2147483648, 2147483647),
  uint8: integerWriter('uint8', 0, 255),
  uint16: integerWriter('uint16', 0, 65535),
  uint32: integerWriter('uint32', 0, 4294967295),
  int64: bigIntWriter('int64', INT64_MIN, INT64_MAX),
  uint64: bigIntWriter('uint64', 0n, UINT64_MAX),
  bool: (target, index, value, path) => {
    if (typeof value !== 'boolean') throw wrongType('true or false (bool)', value, path(index));
    target[index] = value ? 1 : 0;
  },
};

const DEFAULT_STRING_WRITER = stringWriter(DEFAULT_MAX_STRING_CHARS);

/**
 * The writer for elements of `type`. String elements are bounded by `maxStringChars`
 * (default 65,536, `DEFAULT_MAX_STRING_CHARS`).
 */
export function elementWriter(type: TensorType, options: { readonly maxStringChars?: number } = {}): ElementWriter {
  if (type !== 'string') return WRITERS[type];
  const max = options.maxStringChars;
  return max === undefined || max === DEFAULT_MAX_STRING_CHARS ? DEFAULT_STRING_WRITER : stringWriter(max);
}

/** Whether a JSON value is a leaf (not an array) for shape purposes. */
export function isLeaf(value: unknown): boolean {
  return !Array.isArray(value);
}

/** One element of a tensor as JSON: exact integers, strings for unsafe 64-bit values. */
export function elementToJson(tensor: TensorData, index: number): unknown {
  switch (tensor.type) {
    case 'int64':
    case 'uint64': {
      const v = tensor.data[index] as bigint;
      return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v.toString();
    }
    case 'bool':
      return tensor.data[index] !== 0;
    case 'string':
      return tensor.data[index];
    case 'float32':
    case 'float64': {
      const v = tensor.data[index] as number;
      // JSON has no NaN or Infinity: a model that produces them reports null.
      return Number.isFinite(v) ? v : null;
    }
    default:
      return tensor.data[index];
  }
}

/**
 * The elements `[start, start + count)` of a tensor as a nested JSON array of `shape`
 * (a scalar when `shape` is empty).
 */
export function sliceToJson(tensor: TensorData, start: number, shape: readonly number[]): unknown {
  if (shape.length === 0) return elementToJson(tensor, start);
  const [first = 0, ...rest] = shape;
  let stride = 1;
  for (const d of rest) stride *= d;
  const out = new Array<unknown>(first);
  for (let i = 0; i < first; i++) out[i] = sliceToJson(tensor, start + i * stride, rest);
  return out;
}

/** All elements as a flat JSON array (the v2 protocol's row-major `data`). */
export function flatToJson(tensor: TensorData): unknown[] {
  const n = tensor.data.length;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = elementToJson(tensor, i);
  return out;
}
