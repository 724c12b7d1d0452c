/**
 * Micro-benchmark: the cost of printing float32 elements as JSON text, `float32Json(v)` (shortest
 * digits that read back as the same float32) against `String(v)` (a double's shortest digits,
 * what JSON.stringify prints today), in ns per element and characters per element.
 *
 * Run on its own: `npx tsx bench/float32-json.ts [elements]` (default 265,000, one text-recognition
 * output `[1, 40, 6625]`). Not part of `npm run bench`. Each dataset runs 7 rounds after 2 warm-up
 * rounds, the printers taking turns within a round; it reports medians, and the median of the
 * per-round ratios to String(v), which holds better than the ns when the machine is loaded.
 */
import { float32Json } from '../functions/core/codec/numbers.js';

const count = Number(process.argv[2] ?? 265_000);
if (!Number.isInteger(count) || count <= 0) throw new Error(`elements must be a positive integer, got ${process.argv[2]}`);

/** Seeded generator (mulberry32) in [0, 1), so every run prints the same values. */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function normal(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Softmax rows of 6625 classes over normal logits scaled by 4: many tiny probabilities. */
function softmax(n: number): Float32Array {
  const next = uniform(1);
  const out = new Float32Array(n);
  const width = 6625;
  for (let start = 0; start < n; start += width) {
    const end = Math.min(n, start + width);
    let sum = 0;
    for (let i = start; i < end; i++) sum += out[i] = Math.exp(4 * normal(next));
    for (let i = start; i < end; i++) out[i] = (out[i] as number) / sum;
  }
  return out;
}

function activations(n: number): Float32Array {
  const next = uniform(2);
  return Float32Array.from({ length: n }, () => normal(next));
}

/** Uniform bit patterns, finite only: every exponent from subnormals to 3.4e38. */
function bitPatterns(n: number): Float32Array {
  const next = uniform(3);
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; ) {
    const b = Math.floor(next() * 2 ** 32);
    if (((b >>> 23) & 0xff) !== 0xff) bits[i++] = b;
  }
  return out;
}

function integers(n: number): Float32Array {
  const next = uniform(4);
  return Float32Array.from({ length: n }, () => Math.floor(next() * 1000));
}

const DATASETS: ReadonlyArray<readonly [string, Float32Array]> = [
  ['softmax probabilities', softmax(count)],
  ['normal activations', activations(count)],
  ['all bit patterns', bitPatterns(count)],
  ['integers 0..999', integers(count)],
];

const PRINTERS: ReadonlyArray<readonly [string, (v: number) => string]> = [
  ['String(v)', (v) => String(v)],
  ['float32Json(v)', float32Json],
];

/** ns per element of one pass of `print` over `data`, and the characters it printed per element. */
function pass(data: Float32Array, print: (v: number) => string): { ns: number; chars: number } {
  let chars = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < data.length; i++) chars += print(data[i] as number).length;
  return { ns: Number(process.hrtime.bigint() - start) / data.length, chars: chars / data.length };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/**
 * Median ns per element of each printer, and the median of their per-round ratios to the first
 * printer: the printers take turns within each round, so a change in the machine's load between
 * rounds moves both sides of a ratio alike.
 */
function measure(data: Float32Array): Array<{ ns: number; chars: number; ratio: number }> {
  const ns = PRINTERS.map(() => [] as number[]);
  const ratios = PRINTERS.map(() => [] as number[]);
  const chars = PRINTERS.map(() => 0);
  for (let round = 0; round < 9; round++) {
    const results = PRINTERS.map(([, print]) => pass(data, print));
    if (round < 2) continue; // warm-up
    results.forEach((r, i) => {
      ns[i]?.push(r.ns);
      ratios[i]?.push(r.ns / (results[0] as { ns: number }).ns);
      chars[i] = r.chars;
    });
  }
  return PRINTERS.map((_, i) => ({ ns: median(ns[i] as number[]), chars: chars[i] as number, ratio: median(ratios[i] as number[]) }));
}

/** Every printed text reads back as its float32: the benchmark measures correct output. */
function check(data: Float32Array): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (Math.fround(Number(float32Json(v))) !== v) throw new Error(`float32Json(${v}) does not read back`);
  }
}

console.log(`float32 → JSON text, ${count.toLocaleString('en')} elements, node ${process.version}, median of 7 rounds`);
console.log(
  ['dataset'.padEnd(24), 'printer'.padEnd(16), 'ns/element'.padStart(10), 'chars/element'.padStart(14), 'vs String'.padStart(10)].join(' '),
);
for (const [name, data] of DATASETS) {
  check(data);
  measure(data).forEach(({ ns, chars, ratio }, i) => {
    const printer = (PRINTERS[i] as readonly [string, unknown])[0];
    console.log(
      [
        name.padEnd(24),
        printer.padEnd(16),
        ns.toFixed(1).padStart(10),
        chars.toFixed(2).padStart(14),
        `${ratio.toFixed(2)}×`.padStart(10),
      ].join(' '),
    );
  });
}
