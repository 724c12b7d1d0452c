/**
 * Timing loops and summaries. Every loop is bounded twice, by a count and by a time budget, and
 * cases that are compared run in alternating blocks in the same loop, so a noisy neighbour slows
 * all of them alike and the ratios between them survive.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Median, tail and spread of a set of durations, in milliseconds. */
export interface Stat {
  readonly samples: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly minMs: number;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('no samples');
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  const a = sorted[low] ?? 0;
  const b = sorted[high] ?? a;
  return a + (b - a) * (position - low);
}

export function summarize(samples: readonly number[]): Stat {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    medianMs: precise(quantile(sorted, 0.5)),
    p99Ms: precise(quantile(sorted, 0.99)),
    meanMs: precise(sorted.reduce((sum, x) => sum + x, 0) / sorted.length),
    minMs: precise(sorted[0] ?? 0),
  };
}

export function median(values: readonly number[]): number {
  return quantile(
    [...values].sort((a, b) => a - b),
    0.5,
  );
}

/** How long and how often to sample a group of cases. */
export interface Budget {
  /** Untimed calls per case before sampling. */
  readonly warmup: number;
  /** Samples per case the loop always takes, whatever the time. */
  readonly minSamples: number;
  /** Samples per case after which the loop stops. */
  readonly maxSamples: number;
  /** Wall time for the whole group after which the loop stops (once minSamples are in). */
  readonly maxMs: number;
  /** Consecutive calls of one case before switching to the next. @default 20 */
  readonly blockSize?: number;
  /**
   * Untimed pause after each block, ms: ONNX Runtime's pool threads spin for a while after a run,
   * and without a pause they would take CPU from the next case's first calls. @default 2
   */
  readonly pauseMs?: number;
}

export interface CaseSamples {
  /** Wall time of each call, ms. */
  readonly times: number[];
  /** Process CPU time (user + system, every thread) in this case's blocks and the pauses after them, ms per call. */
  readonly cpuMsPerCall: number;
}

/**
 * Calls each case in turn, `blockSize` calls at a time, alternating the order every round
 * (ABC, CBA, ...), until every case has `maxSamples` or the time budget is spent. `afterBlock`
 * runs after each of a case's blocks (and after its warm-up), untimed but counted in its CPU:
 * work a case leaves behind (queued writes) ends there instead of in the next case's block.
 * `beforeBlock` runs before each of a case's blocks (and before its warm-up), untimed and not
 * counted in its CPU: it sets up what the case needs (when cases share one handler and differ
 * by a setting, it switches the setting).
 */
export async function sampleInBlocks<K extends string>(
  cases: Readonly<Record<K, () => Promise<unknown>>>,
  budget: Budget,
  afterBlock: Partial<Readonly<Record<K, () => Promise<void>>>> = {},
  beforeBlock: Partial<Readonly<Record<K, () => Promise<void>>>> = {},
): Promise<Record<K, CaseSamples>> {
  const names = Object.keys(cases) as K[];
  const blockSize = Math.max(1, budget.blockSize ?? 20);
  const pause = budget.pauseMs ?? 2;
  for (const name of names) {
    await beforeBlock[name]?.();
    for (let i = 0; i < budget.warmup; i++) await cases[name]();
    await afterBlock[name]?.();
  }
  const times = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  const cpu = Object.fromEntries(names.map((n) => [n, 0])) as Record<K, number>;
  const started = performance.now();
  for (let round = 0; ; round++) {
    const done = names.every((n) => times[n].length >= budget.maxSamples);
    const enough = names.every((n) => times[n].length >= budget.minSamples);
    if (done || (enough && performance.now() - started > budget.maxMs)) break;
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const run = cases[name];
      const into = times[name];
      await beforeBlock[name]?.();
      const cpuBefore = process.cpuUsage();
      for (let i = 0; i < blockSize && into.length < budget.maxSamples; i++) {
        const t0 = performance.now();
        await run();
        into.push(performance.now() - t0);
      }
      await afterBlock[name]?.();
      if (pause > 0) await sleep(pause);
      const used = process.cpuUsage(cpuBefore);
      cpu[name] += (used.user + used.system) / 1000;
    }
  }
  return Object.fromEntries(names.map((n) => [n, { times: times[n], cpuMsPerCall: cpu[n] / Math.max(1, times[n].length) }])) as Record<
    K,
    CaseSamples
  >;
}

/**
 * Process CPU time per call when calls come one at a time with `gapMs` between them (as requests
 * do at low load), everything the process does in the gaps included.
 */
export async function cpuPerIsolatedCall(fn: () => Promise<unknown>, calls: number, gapMs: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    await fn();
    await sleep(gapMs);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / calls;
}

/** Calls `fn` one call at a time until `maxCalls` calls or `maxMs` ms; returns the calls made. */
export async function repeatFor(fn: () => Promise<unknown>, maxCalls: number, maxMs: number): Promise<number> {
  const started = performance.now();
  let calls = 0;
  while (calls < maxCalls && performance.now() - started < maxMs) {
    await fn();
    calls++;
  }
  return calls;
}

/** Rows per second for `rows` rows taking `ms`. */
export function rowsPerSecond(rows: number, ms: number): number {
  return rows / (ms / 1000);
}

/** Six significant digits: enough for any figure here, and a JSON file a person can read. */
export function precise(value: number): number {
  return Number.isFinite(value) ? Number(value.toPrecision(6)) : value;
}
