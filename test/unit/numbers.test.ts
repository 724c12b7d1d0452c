/**
 * The codec's number functions (issue 12, items 3 and 6): shortest float32 and float16 JSON
 * text, float16 conversion, and the JSON spellings of NaN and ±Infinity.
 *
 * The references here are computed differently from the module: digits from the language's own
 * correctly rounded `toExponential`, float16 rounding by searching all 65,536 halves for the
 * nearest one. Failures are collected and compared with `[]` so one run names them all.
 */
import {
  FLOAT16_MAX,
  FLOAT16_NAN_BITS,
  FLOAT16_OVERFLOW,
  FLOAT32_MAX,
  FLOAT32_OVERFLOW,
  NON_FINITE_JSON,
  float16BitsToNumber,
  float16Json,
  float32Json,
  floatToJsonValue,
  nonFiniteFromJson,
  nonFiniteToJson,
  numberToFloat16Bits,
  roundsToFloat16Infinity,
  roundsToFloat32Infinity,
} from '../../functions/core/codec/numbers.js';

// Globals used in the hot loops, bound once: jest runs this file in a vm context, where every
// global lookup is a call into the context's interceptor (about a hundred times slower).
const { abs, fround, imul } = Math;
const toNumber = Number;
const toText = String;
const parseJson = JSON.parse;

/** Seeded 32-bit generator (mulberry32), so every run tries the same values. */
function random32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

function fromBits32(bits: number): number {
  U32[0] = bits >>> 0;
  return F32[0] as number;
}

function bits32(v: number): number {
  F32[0] = v;
  return U32[0] as number;
}

/** Significant digits of a decimal text: no sign, exponent, point, leading or trailing zeros. */
function significantDigits(text: string): number {
  const mantissa = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '');
  return mantissa.replace(/^0+/, '').replace(/0+$/, '').length;
}

/**
 * The two decimals of q significant digits next to v (the nearest one from `toExponential`,
 * which ECMA-262 defines as correctly rounded, then its neighbour on the other side of v), as
 * texts `Number` reads. Only the nearest one when it reads back as exactly v.
 */
function neighbours(v: number, q: number): string[] {
  const a = abs(v);
  const sign = v < 0 ? '-' : '';
  const [mantissa, exp] = a.toExponential(q - 1).split('e') as [string, string];
  const digits = toNumber(mantissa.replace('.', ''));
  const scale = toNumber(exp) - q + 1;
  const n = toNumber(`${digits}e${scale}`);
  const nearest = `${sign}${digits}e${scale}`;
  if (n === a) return [nearest];
  if (n < a) return [nearest, `${sign}${digits + 1}e${scale}`];
  // Below 10^(q−1) the grid one decade down is ten times finer.
  return [nearest, digits - 1 >= 10 ** (q - 1) ? `${sign}${digits - 1}e${scale}` : `${sign}${10 ** q - 1}e${scale - 1}`];
}

/**
 * What is wrong with `text` as the shortest JSON text of `v` (undefined when nothing):
 * (a) it reads back as v, (b) no decimal with fewer digits does, and it is the nearest decimal of
 * its length when that one reads back, (c) it is JSON, laid out as JavaScript lays out that number.
 *
 * (b) is checked at every shorter length q, or with `everyLength` false at length p − 1 only,
 * which implies the rest: a decimal of fewer digits is also on the grid of p − 1 digits (or
 * beyond a power of ten that is), and the values that read back as v form an interval around v,
 * so if any shorter decimal reads back, one of v's two neighbours of p − 1 digits does.
 */
function shortestFault(
  v: number,
  text: string,
  readsBack: (text: string) => boolean,
  maxDigits: number,
  everyLength = true,
): string | undefined {
  let parsed: unknown;
  try {
    parsed = parseJson(text);
  } catch {
    return 'not JSON';
  }
  if (typeof parsed !== 'number') return 'not a JSON number';
  if (!readsBack(text)) return 'does not read back';
  if (toText(parsed) !== text) return `not laid out as String(number) (${toText(parsed)})`;
  const p = significantDigits(text);
  if (p > maxDigits) return `${p} digits`;
  for (let q = everyLength ? 1 : p - 1; q >= 1 && q < p; q++) {
    const shorter = neighbours(v, q).find(readsBack);
    if (shorter !== undefined) return `${shorter} is shorter and reads back`;
  }
  const [nearest] = neighbours(v, p) as [string];
  if (readsBack(nearest) && toNumber(nearest) !== parsed) return `${nearest} is nearer`;
  return undefined;
}

function float32Fault(v: number, everyLength = true): string | undefined {
  return shortestFault(v, float32Json(v), (t) => fround(toNumber(t)) === v, 9, everyLength);
}

function collect<T>(values: Iterable<T>, fault: (value: T) => string | undefined, limit = 20): string[] {
  const faults: string[] = [];
  for (const value of values) {
    const why = fault(value);
    if (why !== undefined && faults.push(`${toText(value)}: ${why}`) >= limit) break;
  }
  return faults;
}

describe('float32Json', () => {
  it('prints what a float32 needs, not what a double needs', () => {
    // Act / Assess: known answers for the limits of the type.
    expect(float32Json(Math.fround(0.1))).toBe('0.1');
    expect(float32Json(Math.fround(-0.3))).toBe('-0.3');
    expect(float32Json(FLOAT32_MAX)).toBe('3.4028235e+38');
    expect(float32Json(-FLOAT32_MAX)).toBe('-3.4028235e+38');
    expect(float32Json(2 ** -149)).toBe('1e-45');
    expect(float32Json(2 ** -126)).toBe('1.1754944e-38');
    expect(float32Json(Math.fround(123456789))).toBe('123456790');
    expect(float32Json(Math.fround(1e-7))).toBe('1e-7');
    expect(float32Json(Math.fround(1e21))).toBe('1e+21');
    expect(float32Json(2 ** 24)).toBe('16777216');
  });

  it('prints 0 for both zeros, as JSON.stringify does', () => {
    expect(float32Json(0)).toBe('0');
    expect(float32Json(-0)).toBe(JSON.stringify(-0));
  });

  it('prints NaN and the infinities as the JSON strings of the convention', () => {
    expect(float32Json(Number.NaN)).toBe('"NaN"');
    expect(float32Json(Number.POSITIVE_INFINITY)).toBe('"Infinity"');
    expect(float32Json(Number.NEGATIVE_INFINITY)).toBe('"-Infinity"');
    expect(JSON.parse(float32Json(Number.NEGATIVE_INFINITY))).toBe(NON_FINITE_JSON.negativeInfinity);
  });

  it('rounds a value that is not a float32 first', () => {
    expect(float32Json(0.1)).toBe(float32Json(Math.fround(0.1)));
    expect(float32Json(1e39)).toBe('"Infinity"');
  });

  it('is shortest, nearest and JSON for a million random float32 bit patterns (every exponent)', () => {
    // Prepare: uniform bit patterns, so every exponent field 0..254 (subnormals too) is drawn.
    const next = random32(0x5eed_f32);
    const values = new Float32Array(1_000_000);
    for (let i = 0; i < values.length; ) {
      const bits = next();
      if (((bits >>> 23) & 0xff) !== 0xff) values[i++] = fromBits32(bits);
    }
    const everyLength = values.subarray(0, 100_000);
    const lengthBelow = values.subarray(100_000);
    // Act / Assess: every shorter length for the first 100,000, the length just below for the rest.
    expect(collect(everyLength, (v) => float32Fault(v))).toEqual([]);
    expect(collect(lengthBelow, (v) => float32Fault(v, false))).toEqual([]);
  });

  it('is shortest, nearest and JSON at the edges of the type', () => {
    // Prepare: the extremes, every power of two and of ten, and the float32 values next to them.
    const edges = new Set<number>([FLOAT32_MAX, 2 ** -149, fromBits32(0x007fffff), 2 ** -126, 1, 2 ** 24]);
    for (let e = -149; e <= 127; e++) edges.add(2 ** e);
    for (let k = -45; k <= 38; k++) edges.add(Math.fround(10 ** k));
    for (let k = -45; k <= 38; k++) for (let d = 1; d <= 9; d++) edges.add(Math.fround(Number(`${d}e${k}`)));
    const all = new Set<number>();
    for (const v of edges) {
      if (!Number.isFinite(v) || v === 0) continue;
      const b = bits32(v);
      for (const n of [b - 1, b, b + 1]) {
        const x = fromBits32(n);
        if (Number.isFinite(x) && x !== 0) {
          all.add(x);
          all.add(-x);
        }
      }
    }
    // Act / Assess
    expect(all.size).toBeGreaterThan(2000);
    expect(collect(all, float32Fault)).toEqual([]);
  });

  it('prints every integer up to 2^24 as its own digits, which are the shortest', () => {
    // Act / Assess: every one prints as String does...
    const faults: number[] = [];
    for (let n = 1; n <= 2 ** 24; n++) {
      if (float32Json(n) !== toText(n) && faults.push(n) >= 20) break;
    }
    expect(faults).toEqual([]);
    expect(float32Json(-(2 ** 24 - 1))).toBe('-16777215');
    // ...and no shorter decimal reads back: all up to 2^16, the last 2^16 before 2^24 (where the
    // gaps are widest), and every 101st in between.
    const sample: number[] = [];
    for (let n = 1; n <= 2 ** 16; n++) sample.push(n, 2 ** 24 + 1 - n);
    for (let n = 2 ** 16; n < 2 ** 24 - 2 ** 16; n += 101) sample.push(n);
    expect(collect(sample, (n) => float32Fault(n, false))).toEqual([]);
  });
});

describe('float16 conversion', () => {
  /** The value of a half, from its definition (IEEE 754-2019, 3.4), without the module. */
  function referenceHalf(bits: number): number {
    const sign = bits >= 0x8000 ? -1 : 1;
    const exponent = Math.floor((bits % 0x8000) / 1024);
    const fraction = bits % 1024;
    if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
    if (exponent === 0) return sign * fraction * 2 ** -24;
    return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  /** All positive halves in order of value, bits 0..0x7bff, then 2^16 standing for Infinity. */
  const ladder = Array.from({ length: 0x7c01 }, (_, b) => (b === 0x7c00 ? 65536 : referenceHalf(b)));

  /** The half nearest to x by looking at every positive half; ties to the even bit pattern. */
  function nearestHalf(x: number): number {
    const a = abs(x);
    let best = 0;
    let bestDistance = Infinity;
    for (let b = 0; b < ladder.length; b++) {
      const d = abs((ladder[b] as number) - a);
      if (d < bestDistance || (d === bestDistance && b % 2 === 0)) {
        best = b;
        bestDistance = d;
      }
    }
    return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | best;
  }

  it('reads every one of the 65,536 bit patterns as its value, and back to the same bits', () => {
    const faults: string[] = [];
    for (let bits = 0; bits <= 0xffff; bits++) {
      const v = float16BitsToNumber(bits);
      const expected = referenceHalf(bits);
      const back = numberToFloat16Bits(v);
      if (Number.isNaN(expected)) {
        if (!Number.isNaN(v) || back !== FLOAT16_NAN_BITS) faults.push(`${bits}: NaN read as ${v}, back as ${back}`);
      } else if (!Object.is(v, expected) || back !== bits) {
        faults.push(`${bits}: ${v} (expected ${expected}), back as ${back}`);
      }
    }
    expect(faults).toEqual([]);
  });

  it('keeps the signed zeros, the infinities and NaN', () => {
    expect(Object.is(float16BitsToNumber(0x8000), -0)).toBe(true);
    expect(numberToFloat16Bits(-0)).toBe(0x8000);
    expect(numberToFloat16Bits(0)).toBe(0);
    expect(numberToFloat16Bits(Infinity)).toBe(0x7c00);
    expect(numberToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(numberToFloat16Bits(NaN)).toBe(0x7e00);
    expect(numberToFloat16Bits(-NaN)).toBe(0x7e00);
    expect(Number.isNaN(float16BitsToNumber(0xfe01))).toBe(true);
    // Too small for the smallest subnormal's half: a zero of the same sign.
    expect(numberToFloat16Bits(5e-324)).toBe(0);
    expect(numberToFloat16Bits(-5e-324)).toBe(0x8000);
  });

  it('rounds every midpoint between neighbouring halves to the even one, and its neighbours away', () => {
    // Prepare: midpoints of consecutive positive halves (exact doubles), including the one
    // between 65504 and 2^16 (65520, which goes to Infinity) and the one between 0 and 2^−24.
    const faults: string[] = [];
    for (let b = 0; b < 0x7c00; b++) {
      const m = ((ladder[b] as number) + (ladder[b + 1] as number)) / 2;
      const even = b % 2 === 0 ? b : b + 1;
      const cases: Array<[number, number]> = [
        [m, even],
        [nextDouble(m, 1), b + 1],
        [nextDouble(m, -1), b],
      ];
      for (const [x, expected] of cases) {
        // Act / Assess: both signs.
        if (numberToFloat16Bits(x) !== expected) faults.push(`${x} → ${numberToFloat16Bits(x)}, expected ${expected}`);
        if (numberToFloat16Bits(-x) !== (0x8000 | expected)) faults.push(`${-x} → ${numberToFloat16Bits(-x)}`);
      }
    }
    expect(faults.slice(0, 20)).toEqual([]);
    expect(numberToFloat16Bits(65520)).toBe(0x7c00);
    expect(numberToFloat16Bits(65519.99)).toBe(0x7bff);
    expect(numberToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, 1 is even
    expect(numberToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, 1 + 2^−9 is even
  });

  it('rounds random doubles to the half an exhaustive search finds nearest', () => {
    // Prepare: magnitudes from 2^−27 (below every half) to 2^17 (beyond Infinity's threshold).
    const next = random32(0xf16);
    const xs: number[] = [];
    for (let i = 0; i < 3000; i++) {
      const magnitude = 2 ** ((next() % 45) - 27) * (1 + next() / 2 ** 32);
      xs.push(next() % 2 === 0 ? magnitude : -magnitude);
    }
    // Act / Assess
    const faults = xs
      .filter((x) => numberToFloat16Bits(x) !== nearestHalf(x))
      .map((x) => `${x}: ${numberToFloat16Bits(x)} ≠ ${nearestHalf(x)}`);
    expect(faults.slice(0, 20)).toEqual([]);
  });

  it('names the largest half and which finite numbers round past it', () => {
    expect(FLOAT16_MAX).toBe(float16BitsToNumber(0x7bff));
    expect(FLOAT16_OVERFLOW).toBe((FLOAT16_MAX + 65536) / 2);
    expect(roundsToFloat16Infinity(65504)).toBe(false);
    expect(roundsToFloat16Infinity(65519.99)).toBe(false);
    expect(roundsToFloat16Infinity(65520)).toBe(true);
    expect(roundsToFloat16Infinity(-1e10)).toBe(true);
    expect(roundsToFloat16Infinity(Infinity)).toBe(false);
    expect(roundsToFloat16Infinity(NaN)).toBe(false);
    // The predicate says exactly when a finite number becomes an infinite half.
    const next = random32(0xbeef);
    const disagree: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      const x = (next() / 2 ** 32) * 70000 * (i % 2 ? 1 : -1);
      if (roundsToFloat16Infinity(x) !== ((numberToFloat16Bits(x) & 0x7fff) === 0x7c00)) disagree.push(x);
    }
    expect(disagree).toEqual([]);
  });
});

describe('float16Json', () => {
  function float16Fault(bits: number): string | undefined {
    const v = float16BitsToNumber(bits);
    return shortestFault(v, float16Json(v), (t) => numberToFloat16Bits(toNumber(t)) === bits, 5);
  }

  it('is shortest, nearest and JSON for every finite half', () => {
    const finite: number[] = [];
    for (let bits = 1; bits <= 0xffff; bits++) if ((bits & 0x7c00) !== 0x7c00 && bits !== 0x8000) finite.push(bits);
    expect(collect(finite, float16Fault)).toEqual([]);
  });

  it('prints known answers, zeros and non-finite values', () => {
    expect(float16Json(FLOAT16_MAX)).toBe('65500');
    expect(float16Json(float16BitsToNumber(0x2e66))).toBe('0.1');
    expect(float16Json(2 ** -24)).toBe('6e-8');
    expect(float16Json(1 / 3)).toBe('0.3333');
    expect(float16Json(-0)).toBe('0');
    expect(float16Json(NaN)).toBe('"NaN"');
    expect(float16Json(70000)).toBe('"Infinity"');
    expect(float16Json(-Infinity)).toBe('"-Infinity"');
  });
});

describe('float32 range', () => {
  it('names the largest float32 and which finite numbers round past it', () => {
    expect(FLOAT32_MAX).toBe(fromBits32(0x7f7fffff));
    expect(FLOAT32_OVERFLOW).toBe(2 ** 128 - 2 ** 103);
    expect(Math.fround(FLOAT32_OVERFLOW)).toBe(Infinity);
    expect(Math.fround(nextDouble(FLOAT32_OVERFLOW, -1))).toBe(FLOAT32_MAX);
    expect(roundsToFloat32Infinity(FLOAT32_OVERFLOW)).toBe(true);
    expect(roundsToFloat32Infinity(-FLOAT32_OVERFLOW)).toBe(true);
    expect(roundsToFloat32Infinity(nextDouble(FLOAT32_OVERFLOW, -1))).toBe(false);
    // What float32Json prints for the largest float32 is above it as a double, and accepted.
    expect(Number(float32Json(FLOAT32_MAX))).toBeGreaterThan(FLOAT32_MAX);
    expect(roundsToFloat32Infinity(Number(float32Json(FLOAT32_MAX)))).toBe(false);
    expect(roundsToFloat32Infinity(Infinity)).toBe(false);
  });
});

describe('non-finite floats in JSON', () => {
  it('reads exactly "NaN", "Infinity" and "-Infinity"', () => {
    expect(NON_FINITE_JSON).toEqual({ nan: 'NaN', infinity: 'Infinity', negativeInfinity: '-Infinity' });
    expect(nonFiniteFromJson('NaN')).toBeNaN();
    expect(nonFiniteFromJson('Infinity')).toBe(Infinity);
    expect(nonFiniteFromJson('-Infinity')).toBe(-Infinity);
    // JavaScript reads the same spellings the same way.
    for (const text of Object.values(NON_FINITE_JSON)) expect(Object.is(Number(text), nonFiniteFromJson(text))).toBe(true);
  });

  it('refuses every other spelling and every non-string', () => {
    const others: unknown[] = [
      'nan',
      'NAN',
      '-NaN',
      '+NaN',
      'inf',
      '-inf',
      'Inf',
      '+Infinity',
      'infinity',
      '-infinity',
      ' NaN',
      'NaN ',
      'Infinity\n',
      '∞',
      '',
      '1e999',
      Infinity,
      -Infinity,
      NaN,
      0,
      null,
      undefined,
      ['NaN'],
      { NaN: 1 },
    ];
    expect(others.filter((value) => nonFiniteFromJson(value) !== undefined)).toEqual([]);
  });

  it('writes each non-finite value as its string, and finite values as themselves', () => {
    expect(nonFiniteToJson(NaN)).toBe('NaN');
    expect(nonFiniteToJson(Infinity)).toBe('Infinity');
    expect(nonFiniteToJson(-Infinity)).toBe('-Infinity');
    expect(nonFiniteToJson(FLOAT32_MAX)).toBeUndefined();
    expect(nonFiniteToJson(0)).toBeUndefined();
    // Through JSON.stringify and back, each of the three stays distinguishable.
    const sent = JSON.stringify([NaN, Infinity, -Infinity, 1.5, -0].map(floatToJsonValue));
    expect(sent).toBe('["NaN","Infinity","-Infinity",1.5,0]');
    const back = (JSON.parse(sent) as unknown[]).map((value) => nonFiniteFromJson(value) ?? value);
    expect(back).toEqual([NaN, Infinity, -Infinity, 1.5, 0]);
  });
});

/** The double next to x towards +∞ (direction 1) or −∞ (direction −1); x finite and positive. */
function nextDouble(x: number, direction: 1 | -1): number {
  const f = new Float64Array([x]);
  const words = new BigUint64Array(f.buffer);
  words[0] = (words[0] as bigint) + BigInt(direction);
  return f[0] as number;
}
