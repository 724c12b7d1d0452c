/**
 * JSON ⇄ tensor elements, one rule per element type. Every incoming value is checked (type,
 * finiteness, range, exactness) before it is written; a bad value names its path.
 *
 * Floats (float16, float32, float64) are JSON numbers, or the strings `"NaN"`, `"Infinity"` and
 * `"-Infinity"` for the values JSON has no number for (both ways; `numbers.ts`). float16
 * elements are stored as IEEE 754 binary16 bit patterns (`Uint16Array`), rounded to nearest
 * even; a finite number that would round to ±Infinity is refused. Outputs print float32 and
 * float16 values with the shortest digits that read back as the same value of their type.
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
import {
  FLOAT16_MAX,
  roundsToFloat32Infinity,
  float16BitsToNumber,
  float16Json,
  float32Json,
  nonFiniteFromJson,
  numberToFloat16Bits,
} from './numbers.js';

const FLOAT32_MAX = 3.4028234663852886e38;
/** float16 bit patterns of +Infinity and -Infinity. */
const HALF_INFINITY = 0x7c00;
const HALF_NEGATIVE_INFINITY = 0xfc00;
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
export type ElementWriter = (target: Target, index: number, value: unknown, path: ElementPath) => void;

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

/**
 * A float element: a JSON number, or one of the strings `"NaN"`, `"Infinity"`, `"-Infinity"`
 * (JSON has no literal for them; see `NON_FINITE_JSON`). A number too large for a double
 * (`1e999` parses to Infinity) is refused: send `"Infinity"` when that is meant.
 */
function floatNumber(value: unknown, type: string, path: () => FieldPath): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new ValidationError(
        'NOT_FINITE',
        `${value} is too large for a number (${type}); send the string "Infinity" or "-Infinity" when that is meant.`,
        path(),
      );
    }
    return value;
  }
  if (typeof value === 'string') {
    const special = nonFiniteFromJson(value);
    if (special !== undefined) return special;
  }
  throw wrongType(`a number or one of "NaN", "Infinity", "-Infinity" (${type})`, value, path());
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
  float16: (target, index, value, path) => {
    const v = floatNumber(value, 'float16', () => path(index));
    const bits = numberToFloat16Bits(v);
    // A finite number that rounds to ±Infinity (|v| ≥ 65,520) is outside the type, not infinite.
    if (Number.isFinite(v) && (bits === HALF_INFINITY || bits === HALF_NEGATIVE_INFINITY)) {
      throw new ValidationError('OUT_OF_RANGE', `${v} is outside the range of float16 (±${FLOAT16_MAX}).`, path(index));
    }
    target[index] = bits;
  },
  float32: (target, index, value, path) => {
    const v = floatNumber(value, 'float32', () => path(index));
    // Numbers just past the largest float32 that still round to it (our own `3.4028235e+38`) are in range.
    if (roundsToFloat32Infinity(v)) {
      throw new ValidationError('OUT_OF_RANGE', `${v} is outside the range of float32 (±${FLOAT32_MAX}).`, path(index));
    }
    target[index] = v;
  },
  float64: (target, index, value, path) => {
    target[index] = floatNumber(value, 'float64', () => path(index));
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

/** A float element's value as a number (float16 bit patterns widened). */
export function floatValue(tensor: TensorData, index: number): number {
  const v = tensor.data[index] as number;
  return tensor.type === 'float16' ? float16BitsToNumber(v) : v;
}

/**
 * A float value as JSON text: the shortest digits that read back as the same value of `type`
 * (`float32Json`, `float16Json`; float64 keeps JavaScript's own shortest digits), and the strings
 * `"NaN"`, `"Infinity"`, `"-Infinity"` for what JSON has no number for.
 */
export function floatText(type: TensorType, v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? '"NaN"' : v > 0 ? '"Infinity"' : '"-Infinity"';
  if (type === 'float32') return float32Json(v);
  if (type === 'float16') return float16Json(v);
  return String(v === 0 ? 0 : v);
}

/** One element of a tensor as JSON text (see the module's conventions). */
export function elementText(tensor: TensorData, index: number): string {
  return elementsText(tensor, index, 1);
}

/** Whether a 64-bit integer is exact as a JSON number (|v| ≤ 2^53 − 1). */
const SAFE = 9007199254740991n;

/**
 * Elements `[start, start + count)` of a tensor as JSON text, separated by commas (no
 * brackets): one loop per element type, no per-element dispatch.
 */
export function elementsText(tensor: TensorData, start: number, count: number): string {
  const end = start + count;
  let text = '';
  switch (tensor.type) {
    case 'float32': {
      const data = tensor.data;
      for (let i = start; i < end; i++) {
        const v = data[i] as number;
        text += `${i === start ? '' : ','}${Number.isFinite(v) ? float32Json(v) : floatText('float32', v)}`;
      }
      return text;
    }
    case 'float16':
    case 'float64':
      for (let i = start; i < end; i++) text += `${i === start ? '' : ','}${floatText(tensor.type, floatValue(tensor, i))}`;
      return text;
    case 'int64':
    case 'uint64': {
      const data = tensor.data;
      for (let i = start; i < end; i++) {
        const v = data[i] as bigint;
        text += `${i === start ? '' : ','}${v >= -SAFE && v <= SAFE ? v.toString() : `"${v.toString()}"`}`;
      }
      return text;
    }
    case 'bool': {
      const data = tensor.data;
      for (let i = start; i < end; i++) text += `${i === start ? '' : ','}${data[i] !== 0 ? 'true' : 'false'}`;
      return text;
    }
    case 'string': {
      const data = tensor.data;
      for (let i = start; i < end; i++) text += `${i === start ? '' : ','}${JSON.stringify(data[i])}`;
      return text;
    }
    default: {
      const data = tensor.data;
      for (let i = start; i < end; i++) text += `${i === start ? '' : ','}${String(data[i])}`;
      return text;
    }
  }
}
