/**
 * JSON Schema of tensor elements, both ways, from the codec's own rules (`functions/core/codec/
 * elements.ts`, `numbers.ts`, `limits.ts`): what a request may send for one element of each
 * type, and what an answer holds.
 *
 * Requests: floats are JSON numbers that do not round to ±Infinity in their type, or the strings
 * "NaN", "Infinity", "-Infinity"; integers are whole numbers in their type's range; int64 and
 * uint64 are whole numbers up to ±(2^53 − 1), or decimal strings anywhere in the type's range
 * (the pattern spells the range out); bool is true or false; string (BYTES) is text without
 * U+0000, at most `maxStringChars` UTF-16 code units long (`x-max-utf16-length`: JSON Schema's
 * `maxLength` counts code points, so it is the same bound only for text without astral
 * characters). Unpaired surrogates, which JSON can spell but Unicode cannot, are refused too;
 * JSON Schema has no word for them.
 */
import { DECIMAL_64_MAX_CHARS } from '../../core/codec/limits.js';
import { FLOAT16_OVERFLOW, FLOAT32_OVERFLOW, NON_FINITE_JSON } from '../../core/codec/numbers.js';
import type { TensorType } from '../../core/model.js';
import type { JsonSchema } from './schema.js';

/** The strings that stand for the float values JSON has no number for. */
const NON_FINITE: JsonSchema = {
  enum: Object.values(NON_FINITE_JSON),
  description: 'NaN, Infinity or -Infinity, as JSON cannot write them.',
};

/** The largest integer a JSON number carries exactly: 2^53 − 1. */
const SAFE = Number.MAX_SAFE_INTEGER;

const INTEGER_RANGES: Readonly<Partial<Record<TensorType, readonly [number, number]>>> = {
  int8: [-128, 127],
  int16: [-32_768, 32_767],
  int32: [-2_147_483_648, 2_147_483_647],
  uint8: [0, 255],
  uint16: [0, 65_535],
  uint32: [0, 4_294_967_295],
};

/**
 * A regular expression (no anchors) for the decimal numbers from 1 to `limit` (a string of
 * digits without leading zeros), written without leading zeros: every shorter length, then each
 * prefix of `limit` followed by a smaller digit and any digits, then `limit` itself.
 */
export function decimalsUpTo(limit: string): string {
  const n = limit.length;
  const parts: string[] = [];
  if (n > 1) parts.push(`[1-9][0-9]{0,${n - 2}}`);
  for (let i = 0; i < n; i++) {
    const digit = Number(limit[i]);
    const low = i === 0 ? 1 : 0;
    if (digit - 1 < low) continue;
    const smaller = digit - 1 === low ? String(low) : `[${low}-${digit - 1}]`;
    const rest = n - i - 1;
    parts.push(`${limit.slice(0, i)}${smaller}${rest > 0 ? `[0-9]{${rest}}` : ''}`);
  }
  parts.push(limit);
  return parts.join('|');
}

/** `^…$` for the decimal strings a 64-bit element takes: `-0`, `0`, and each nonzero value in range. */
function decimal64Pattern(type: 'int64' | 'uint64'): string {
  if (type === 'uint64') return `^(?:-?0|${decimalsUpTo((2n ** 64n - 1n).toString())})$`;
  return `^(?:-?0|${decimalsUpTo((2n ** 63n - 1n).toString())}|-(?:${decimalsUpTo((2n ** 63n).toString())}))$`;
}

/** What a request may send for one element of `type`. */
export function requestElement(type: TensorType, maxStringChars: number): JsonSchema {
  switch (type) {
    case 'float16':
    case 'float32': {
      const bound = type === 'float16' ? FLOAT16_OVERFLOW : FLOAT32_OVERFLOW;
      return {
        anyOf: [{ type: 'number', exclusiveMinimum: -bound, exclusiveMaximum: bound }, NON_FINITE],
        description: `A ${type} value: a number (one that rounds to ±Infinity in ${type} is refused), or "NaN", "Infinity", "-Infinity".`,
      };
    }
    case 'float64':
      return { anyOf: [{ type: 'number' }, NON_FINITE], description: 'A float64 value: a number, or "NaN", "Infinity", "-Infinity".' };
    case 'int64':
    case 'uint64':
      return {
        anyOf: [
          { type: 'integer', minimum: type === 'uint64' ? 0 : -SAFE, maximum: SAFE },
          { type: 'string', maxLength: DECIMAL_64_MAX_CHARS, pattern: decimal64Pattern(type) },
        ],
        description: `A ${type} value: a whole number up to ±(2^53 − 1), or a decimal string anywhere in the range of ${type} (exact, never rounded).`,
      };
    case 'bool':
      return { type: 'boolean' };
    case 'string':
      return {
        type: 'string',
        maxLength: maxStringChars,
        pattern: '^[^\\u0000]*$',
        'x-max-utf16-length': maxStringChars,
        description: `Text (BYTES) of at most ${maxStringChars} UTF-16 code units, without U+0000 or unpaired surrogates.`,
      };
    default: {
      const range = INTEGER_RANGES[type];
      if (!range) throw new Error(`no element rule for ${type}`);
      return { type: 'integer', minimum: range[0], maximum: range[1] };
    }
  }
}

/** What an answer holds for one element of `type` (see `functions/core/codec/encode.ts`). */
export function answerElement(type: TensorType): JsonSchema {
  switch (type) {
    case 'float16':
    case 'float32':
    case 'float64':
      return { anyOf: [{ type: 'number' }, NON_FINITE] };
    case 'int64':
    case 'uint64':
      return { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?[0-9]+$' }] };
    case 'bool':
      return { type: 'boolean' };
    case 'string':
      return { type: 'string' };
    default:
      return { type: 'integer' };
  }
}
