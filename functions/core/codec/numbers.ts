/**
 * Pure number functions for the codec: the shortest JSON text of float32 and float16 values,
 * IEEE 754 binary16 (float16) conversion, and the one JSON convention for NaN and ±Infinity.
 *
 * Shortest digits. `float32Json` and `float16Json` print the decimal with the fewest significant
 * digits that, read as a double (`Number`, `JSON.parse`) and rounded to the element type, is the
 * same value again; among the decimals of that length that do, the one nearest to the value. They
 * are 9 digits at most for float32 and 5 for float16 (1 + ⌈p·log10 2⌉ for a p-bit significand,
 * 24 and 11 bits; IEEE 754-2019, 5.12.2), instead of the up to 17 of a double: `0.1` rather than
 * `0.10000000149011612` for `Math.fround(0.1)`. The text is laid out exactly as JavaScript's own
 * `String(number)` lays out that decimal (ECMA-262, Number::toString), so it is valid JSON
 * number text, with an exponent (`1e-7`, `3.4028235e+38`) where JavaScript would use one.
 *
 * How (no tables of digits, no big integers): the value is scaled by a power of ten to a 9-digit
 * (5 for float16) number `s` in double arithmetic, with the half-gaps to its neighbouring values
 * of the type scaled alike; then, from the finest grid up, the multiples of 1, 10, 100, … next to
 * `s` are tried while one of them still lies inside the value's rounding interval. Rounding
 * errors of the scaling are below 4e-7 units of `s`'s last digit; a candidate within 1e-6 units
 * of an interval end is decided exactly by reading its text back (`Number`, then rounding to
 * the type), so the answer is exact, and the double rounding decimal → double → float32 is the
 * one that decides. Correctness is shown by test (`test/unit/numbers.test.ts`): a million
 * random float32 bit patterns and edge values, and every float16 value.
 *
 * Zero prints as `0`, also for −0, as `JSON.stringify` does. Non-finite values print as the
 * JSON strings `"NaN"`, `"Infinity"` and `"-Infinity"` (`NON_FINITE_JSON`).
 */

// The globals used per element, bound once. In plain Node this changes nothing; in a vm context
// (jest runs each test file in one) every global lookup is a call into the context's
// interceptor, which made this module's exhaustive tests about a hundred times slower.
const { abs, floor, fround, clz32 } = Math;
const { isFinite: isFiniteNumber, POSITIVE_INFINITY, NEGATIVE_INFINITY, NaN: NOT_A_NUMBER } = Number;
const toNumber = Number;

/** The largest finite float16, (2 − 2^−10) · 2^15. */
export const FLOAT16_MAX = 65504;

/**
 * Magnitudes from here on round to ±Infinity as float16: 65520 lies halfway between
 * `FLOAT16_MAX` and 2^16, and ties go to the even significand, which is 2^16's (IEEE 754-2019,
 * 4.3.1: an infinitely precise result at least this large rounds to infinity).
 */
export const FLOAT16_OVERFLOW = 65520;

/** The largest finite float32, (2 − 2^−23) · 2^127. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Magnitudes from here on round to ±Infinity as float32 (`Math.fround`): 2^128 − 2^103, halfway
 * between `FLOAT32_MAX` and 2^128. Note that `FLOAT32_MAX`'s own shortest text,
 * `3.4028235e+38`, reads back as a double above `FLOAT32_MAX` yet below this bound.
 */
export const FLOAT32_OVERFLOW = 3.4028235677973366e38;

/**
 * Whether a JSON number meant for a float16 element is finite but would round to ±Infinity
 * (|v| ≥ 65520). The codec refuses such a number as OUT_OF_RANGE rather than storing an
 * infinity the caller did not write; the largest it can store is ±`FLOAT16_MAX`.
 */
export function roundsToFloat16Infinity(v: number): boolean {
  return isFiniteNumber(v) && abs(v) >= FLOAT16_OVERFLOW;
}

/**
 * Whether a JSON number meant for a float32 element is finite but would round to ±Infinity
 * (|v| ≥ `FLOAT32_OVERFLOW`). Compare with this rather than with `FLOAT32_MAX`: numbers a little
 * above `FLOAT32_MAX`, such as `3.4028235e+38` (what `float32Json` prints for it), round to it.
 */
export function roundsToFloat32Infinity(v: number): boolean {
  return isFiniteNumber(v) && abs(v) >= FLOAT32_OVERFLOW;
}

// ---------------------------------------------------------------------------------------------
// Non-finite values in JSON

/**
 * The JSON spellings of the float values JSON has no number for (RFC 8259, section 6: numeric
 * values such as Infinity and NaN "are not permitted"). They travel as these exact strings, both
 * ways, in float16, float32 and float64 tensors (FP16, FP32, FP64), in requests and responses.
 * Why these: JavaScript's `Number(s)` and Python's `float(s)` both read each of them as the value
 * it names, and they are the tokens Python's `json` module writes, bare, for `nan`, `inf` and
 * `-inf` (its default `allow_nan=True`), so a client turns the string back into its float with
 * one call. Only these spellings are accepted: `"nan"`, `"inf"`, `"+Infinity"` and every other
 * variant are refused, so that each value has one spelling.
 */
export const NON_FINITE_JSON = {
  nan: 'NaN',
  infinity: 'Infinity',
  negativeInfinity: '-Infinity',
} as const;

/** One of the strings of `NON_FINITE_JSON`. */
export type NonFiniteJson = (typeof NON_FINITE_JSON)[keyof typeof NON_FINITE_JSON];

/**
 * The value a JSON element stands for when it is one of the strings of `NON_FINITE_JSON`: NaN,
 * Infinity or -Infinity. `undefined` for anything else (other strings, numbers, null, …), which
 * the caller then treats as an ordinary element.
 */
export function nonFiniteFromJson(value: unknown): number | undefined {
  switch (value) {
    case NON_FINITE_JSON.nan:
      return NOT_A_NUMBER;
    case NON_FINITE_JSON.infinity:
      return POSITIVE_INFINITY;
    case NON_FINITE_JSON.negativeInfinity:
      return NEGATIVE_INFINITY;
    default:
      return undefined;
  }
}

/** The string of `NON_FINITE_JSON` for NaN, Infinity or -Infinity; `undefined` for a finite `v`. */
export function nonFiniteToJson(v: number): NonFiniteJson | undefined {
  if (v === POSITIVE_INFINITY) return NON_FINITE_JSON.infinity;
  if (v === NEGATIVE_INFINITY) return NON_FINITE_JSON.negativeInfinity;
  return v !== v ? NON_FINITE_JSON.nan : undefined;
}

/**
 * A float as a value for `JSON.stringify`: the number itself when finite (which `JSON.stringify`
 * prints with a double's shortest digits, and `0` for −0), else its string of `NON_FINITE_JSON`
 * (`JSON.stringify` alone would print `null`, losing which of the three it was).
 */
export function floatToJsonValue(v: number): number | NonFiniteJson {
  return nonFiniteToJson(v) ?? v;
}

/** JSON text of the non-finite strings, quotes included. */
const NAN_TEXT = '"NaN"';
const INFINITY_TEXT = '"Infinity"';
const NEGATIVE_INFINITY_TEXT = '"-Infinity"';

function nonFiniteText(v: number): string {
  return v !== v ? NAN_TEXT : v > 0 ? INFINITY_TEXT : NEGATIVE_INFINITY_TEXT;
}

// ---------------------------------------------------------------------------------------------
// float16 (IEEE 754 binary16: 1 sign bit, 5 exponent bits biased by 15, 10 fraction bits)

/** The quiet NaN `numberToFloat16Bits` gives for every NaN (sign clear, top fraction bit set). */
export const FLOAT16_NAN_BITS = 0x7e00;
const HALF_INFINITY_BITS = 0x7c00;
const HALF_SIGN = 0x8000;
/** 2^−14, the smallest normal float16. */
const HALF_MIN_NORMAL = 2 ** -14;
const TWO_POW_24 = 2 ** 24;
/** 2^(e − 25) for float16 biased exponents e = 0..31: the unit of a normal value's significand. */
const HALF_UNIT = Float64Array.from({ length: 32 }, (_, e) => 2 ** (e - 25));

/**
 * The value of a float16 bit pattern (the low 16 bits of `bits`): exact, since every float16 is
 * a double. Subnormals (exponent field 0) are `fraction · 2^−24`; −0 stays −0; exponent field 31
 * is ±Infinity (fraction 0) or NaN (any other fraction; the payload is not kept).
 */
export function float16BitsToNumber(bits: number): number {
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  const sign = bits & HALF_SIGN ? -1 : 1;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * POSITIVE_INFINITY : NOT_A_NUMBER;
  return sign * (1024 + fraction) * (HALF_UNIT[exponent] as number);
}

/** Shared scratch to read a double's exponent field (no allocation per call). */
const F64 = new Float64Array(1);
const F64_WORDS = new Uint32Array(F64.buffer);
/** Which 32-bit word of a double holds its sign and exponent: 1 on little-endian machines. */
const F64_HIGH = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** `x` rounded to an integer, halves to the even one. */
function roundHalfEven(x: number): number {
  const whole = floor(x);
  const rest = x - whole;
  return rest > 0.5 || (rest === 0.5 && whole % 2 === 1) ? whole + 1 : whole;
}

/**
 * The float16 bit pattern nearest to `v` (IEEE 754 round to nearest, ties to even), as an
 * integer 0..0xffff. Magnitudes ≥ 65520 (`FLOAT16_OVERFLOW`) become ±Infinity (0x7c00 / 0xfc00);
 * magnitudes below 2^−14 become subnormals or ±0; −0 keeps its sign (0x8000); every NaN becomes
 * the quiet NaN 0x7e00 (`FLOAT16_NAN_BITS`). The rounding is from `v` itself, never through an
 * intermediate float32 (which could round twice).
 */
export function numberToFloat16Bits(v: number): number {
  if (v !== v) return FLOAT16_NAN_BITS; // NaN
  const sign = v < 0 || (v === 0 && 1 / v < 0) ? HALF_SIGN : 0;
  const a = abs(v);
  if (a >= FLOAT16_OVERFLOW) return sign | HALF_INFINITY_BITS;
  // Subnormal range: a multiple of 2^−24; scaling by a power of two is exact. A result of 1024
  // is 0x400, the smallest normal, as it should be.
  if (a < HALF_MIN_NORMAL) return sign | roundHalfEven(a * TWO_POW_24);
  F64[0] = a;
  const exponent = (((F64_WORDS[F64_HIGH] as number) >>> 20) & 0x7ff) - 1023; // -14..15
  const significand = roundHalfEven(a / (HALF_UNIT[exponent + 15] as number)); // 1024..2048, exact division
  // 2048 carries into the next exponent, with fraction 0: adding the bits does exactly that.
  return sign | (((exponent + 15) << 10) + significand - 1024);
}

// ---------------------------------------------------------------------------------------------
// Shortest digits

/** 10^i for i = −64..64, each the double nearest to it (`Number` parses correctly rounded). */
const POW10_OFFSET = 64;
const POW10 = Float64Array.from({ length: 2 * POW10_OFFSET + 1 }, (_, i) => Number(`1e${i - POW10_OFFSET}`));
const LOG10_2 = Math.log10(2);
/**
 * Candidates closer than this to an interval's end, in units of the scaled value's last digit,
 * are decided by reading their text back. The scaling's rounding errors stay below 4e-7 units:
 * a 9-digit value and the double nearest to a power of ten, each within 2^−53 relative, plus
 * the subtraction that measures the distance.
 */
const AMBIGUOUS = 1e-6;

/** float32 biased exponent field e → half the gap above a normal value there, 2^(e − 151). */
const FLOAT32_HALF_GAP = Float64Array.from({ length: 256 }, (_, e) => 2 ** (e - 151));
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

/** Which type's rounding decides a candidate read back (see `readsBack`). */
type Kind = typeof FLOAT32_KIND | typeof FLOAT16_KIND;
const FLOAT32_KIND = 32;
const FLOAT16_KIND = 16;

/**
 * Whether the decimal `digits · 10^exponent`, read as a double, rounds back to `target`
 * (the positive float32 value, or the positive float16 bit pattern). The exact test, used
 * for candidates too close to an interval's end to decide by arithmetic.
 */
function readsBack(kind: Kind, digits: number, exponent: number, target: number): boolean {
  const x = toNumber(`${digits}e${exponent}`);
  return kind === FLOAT32_KIND ? fround(x) === target : numberToFloat16Bits(x) === target;
}

/**
 * The shortest text of the positive value `a` of a type whose values next to `a` lie
 * `2 · below` under it and `2 · above` over it (so `a`'s rounding interval is
 * [a − below, a + above], ends included or not by the tie rule, which the exact test applies).
 *
 * @param k An estimate of ⌊log10 a⌋, correct or one too small.
 * @param digits 9 for float32, 5 for float16: that many significant digits always suffice.
 */
function shortestText(
  a: number,
  k: number,
  below: number,
  above: number,
  digits: number,
  kind: Kind,
  target: number,
  negative: boolean,
): string {
  const low = POW10[POW10_OFFSET + digits - 1] as number;
  let scale = POW10[POW10_OFFSET + digits - 1 - k] as number;
  let s = a * scale;
  if (s >= low * 10) {
    k++;
    scale = POW10[POW10_OFFSET + digits - 1 - k] as number;
    s = a * scale;
  } else if (s < low) {
    k--;
    scale = POW10[POW10_OFFSET + digits - 1 - k] as number;
    s = a * scale;
  }
  // s ≈ a · 10^(digits − 1 − k), in [10^(digits−1), 10^digits); candidates are c · 10^exponent.
  const exponent = k - digits + 1;
  const lo = below * scale;
  const hi = above * scale;
  let best = -1;
  for (let t = 1; t <= low; t *= 10) {
    // The multiples of t on either side of s: the nearer first (on a tie, the larger first, as
    // toPrecision does). Either may be the one inside when the interval is lopsided (a power of
    // two, whose gap below is half the gap above).
    const down = floor(s / t) * t;
    const up = down + t;
    const nearer = s - down < up - s ? down : up;
    const farther = nearer === down ? up : down;
    if (inside(nearer, s, lo, hi, exponent, kind, target)) best = nearer;
    else if (inside(farther, s, lo, hi, exponent, kind, target)) best = farther;
    // The grids are nested: when no multiple of t reads back, none of a coarser grid does.
    else break;
  }
  // Unreachable: `digits` significant digits always read back. Kept as a safe answer all the same.
  if (best < 0) return `${negative ? -a : a}`;
  let e = exponent;
  while (best % 10 === 0) {
    best /= 10;
    e++;
  }
  return decimalText(best, e, negative);
}

/** Whether the candidate `c` (units of s) lies inside [s − lo, s + hi] as the type rounds. */
function inside(c: number, s: number, lo: number, hi: number, exponent: number, kind: Kind, target: number): boolean {
  const d = c - s;
  const distance = d < 0 ? -d : d;
  const half = d < 0 ? lo : hi;
  if (distance < half - AMBIGUOUS) return true;
  if (distance > half + AMBIGUOUS) return false;
  return readsBack(kind, c, exponent, target);
}

/** 10^0 … 10^22, every one exactly a double (10^22 < 2^53 · 2^22 with 5^22 < 2^53). */
const EXACT_POW10: readonly number[] = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/**
 * `digits · 10^exponent` (digits a positive integer without trailing zeros) laid out as
 * ECMA-262's Number::toString lays out a number: plain up to 21 integer digits, `0.000001`
 * down to 6 leading zeros, else `d.ddde±x`.
 */
function decimalText(digits: number, exponent: number, negative: boolean): string {
  if (exponent >= -22 && exponent <= 22) {
    // The double nearest digits · 10^exponent, by one correctly rounded multiplication or
    // division by an exact power of ten; JavaScript prints a double in its shortest digits and
    // this layout, and no decimal shorter than `digits` (at most 9 significant digits) reads
    // back as the same double, so its text is exactly `digits · 10^exponent`.
    const x = exponent < 0 ? digits / (EXACT_POW10[-exponent] as number) : digits * (EXACT_POW10[exponent] as number);
    return `${negative ? -x : x}`;
  }
  const text = `${digits}`;
  const k = text.length;
  const n = k + exponent; // the decimal point's position after the first digit of `text`
  let out: string;
  if (exponent >= 0 && n <= 21) out = exponent === 0 ? text : text + '0'.repeat(exponent);
  else if (n > 0 && n <= 21) out = `${text.slice(0, n)}.${text.slice(n)}`;
  else if (n > -6 && n <= 0) out = `0.${'0'.repeat(-n)}${text}`;
  else {
    const e = n - 1;
    const mark = e < 0 ? 'e' : 'e+';
    out = k === 1 ? `${text}${mark}${e}` : `${text[0] as string}.${text.slice(1)}${mark}${e}`;
  }
  return negative ? `-${out}` : out;
}

/**
 * The JSON text of a float32 value `v` (a double holding a float32, such as an element of a
 * `Float32Array`): the fewest significant digits (at most 9) that `Math.fround(Number(text))`
 * turns back into `v`, the nearest such decimal, laid out as `String(number)` does. `0` for ±0;
 * `"NaN"`, `"Infinity"`, `"-Infinity"` (JSON strings, quotes included) for non-finite values.
 * A `v` that is not a float32 is first rounded to one (`Math.fround`).
 *
 * @example float32Json(Math.fround(0.1)) // '0.1', where String gives '0.10000000149011612'
 * @example float32Json(Math.fround(3e38) * 2) // '"Infinity"'
 */
export function float32Json(v: number): string {
  F32[0] = v;
  const bits = F32_BITS[0] as number;
  const magnitude = bits & 0x7fffffff;
  if (magnitude === 0) return '0';
  const field = magnitude >>> 23;
  if (field === 0xff) return nonFiniteText(v);
  const a = abs(F32[0] as number);
  // Integers up to 2^24 are float32's exact integers, spaced 1 or closer: their own digits are
  // the shortest text (the tests check every one), and JavaScript prints them fastest.
  if (a <= TWO_POW_24 && floor(a) === a) return `${F32[0] as number}`;
  let above: number;
  let below: number;
  let e2: number; // ⌊log2 a⌋
  if (field === 0) {
    // Subnormal: a multiple of 2^−149, gaps 2^−149 on both sides.
    above = below = FLOAT32_HALF_GAP[1] as number;
    e2 = 31 - clz32(magnitude) - 149;
  } else {
    above = FLOAT32_HALF_GAP[field] as number;
    // A power of two above the smallest normal has half the gap below it.
    below = (magnitude & 0x7fffff) === 0 && field > 1 ? above / 2 : above;
    e2 = field - 127;
  }
  return shortestText(a, floor(e2 * LOG10_2), below, above, 9, FLOAT32_KIND, a, bits !== magnitude);
}

/**
 * The JSON text of a float16 value `v` (a number; from bits, `float16BitsToNumber`): the fewest
 * significant digits (at most 5) that `numberToFloat16Bits(Number(text))` turns back into the
 * same half, the nearest such decimal, laid out as `String(number)` does. `0` for ±0; `"NaN"`,
 * `"Infinity"`, `"-Infinity"` (JSON strings, quotes included) for non-finite values. A `v` that
 * is not a float16 value is first rounded to one (`numberToFloat16Bits`).
 *
 * @example float16Json(float16BitsToNumber(0x2e66)) // '0.1', the half nearest 0.1 (0.0999755859375)
 */
export function float16Json(v: number): string {
  const bits = numberToFloat16Bits(v);
  const magnitude = bits & 0x7fff;
  if (magnitude === 0) return '0';
  const field = magnitude >>> 10;
  if (field === 0x1f) return nonFiniteText(float16BitsToNumber(bits));
  const a = float16BitsToNumber(magnitude);
  let above: number;
  let below: number;
  let e2: number;
  if (field === 0) {
    above = below = 2 ** -25;
    e2 = 31 - clz32(magnitude) - 24;
  } else {
    above = (HALF_UNIT[field] as number) / 2;
    below = (magnitude & 0x3ff) === 0 && field > 1 ? above / 2 : above;
    e2 = field - 15;
  }
  return shortestText(a, floor(e2 * LOG10_2), below, above, 5, FLOAT16_KIND, magnitude, bits !== magnitude);
}
