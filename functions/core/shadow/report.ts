/**
 * The shadow report (issue 14, item 4): how a candidate version agrees with the versions that
 * answered, over the prediction-log records that carry a shadow result (`runner.ts`). Pure: no
 * I/O; records are added one at a time, in one pass, in bounded memory.
 *
 * ## What it says ({@link ShadowReport})
 *
 * - `requests`: records seen; `compared`: those with a comparison; `failed`: those whose shadow
 *   result is an error, counted by code.
 * - `labels` (classifiers on both sides): rows compared, rows whose labels are identical, and
 *   their share.
 * - `outputs`, `outputsNotCompared`, `maxAbsDiff` and `mostDifferent` are the replay report's
 *   sums (`ReplayReportBuilder` of `functions/core/replay/compare.ts`): per output, elements
 *   compared, differing elements, the largest absolute difference and the mean over every
 *   element compared (weighted by elements; elements where one side is not finite are counted in
 *   `nonFinite`, not in the mean); the {@link MOST_DIFFERENT} requests that differ most, in
 *   replay's order (largest `maxAbsDiff` first, then most differing labels, then most differing
 *   elements, then the earlier record).
 * - `differences`: the distribution of the compared requests' `maxAbsDiff` (over their numeric
 *   outputs; 0 for a request with none): quantiles p50, p90, p99 and the max, and counts in the
 *   buckets `0`, `(0, 1e-6]`, `(1e-6, 1e-3]`, `(1e-3, 0.1]` and `> 0.1`.
 * - `latencyMs`: over the compared requests, the primary's latency as its log record has it
 *   (the whole request) and the candidate's (decoding and running only): n, p50, p99 and mean, ms.
 * - `primaryVersions` and `candidateVersions` seen, sorted.
 *
 * ## Quantiles and memory
 *
 * Quantiles are type 7 of Hyndman & Fan ("Sample quantiles in statistical packages", The
 * American Statistician 50(4), 1996), R's and NumPy's default, as the bench's `quantile`
 * (`bench/lib/stats.ts`) and drift's deciles compute them: with the n values sorted,
 * Q(p) = x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎), h = (n − 1)p, 0-based.
 *
 * Each of the three series (maxAbsDiff, primary and candidate latency) keeps its values exactly
 * up to `maxSamples` (default {@link DEFAULT_MAX_SAMPLES}, 8 bytes each: 0.8 MB per series);
 * past that, a uniform random sample of `maxSamples` of them (J. S. Vitter, "Random sampling with
 * a reservoir", ACM TOMS 11(1), 1985, algorithm R), and the quantiles are those of the sample
 * (`exact: false`). Counts, buckets, means and maxima are always exact. So 1,000,000 records take
 * at most about 2.4 MB besides the {@link MOST_DIFFERENT} requests and the version and code names.
 */
import { MOST_DIFFERENT, ReplayReportBuilder, type NotComparedReason, type OutputAgreement } from '../replay/compare.js';
import type { ShadowResult } from './runner.js';

/** Values each series keeps exactly before it keeps a uniform sample of them. */
export const DEFAULT_MAX_SAMPLES = 100_000;

/** A prediction-log record with its shadow result, as the report reads it. */
export interface ShadowLogRecord {
  readonly requestId: string;
  /** The version that answered (the primary). */
  readonly modelVersion: string;
  /** The primary's latency, ms. */
  readonly latencyMs: number;
  /** ISO-8601 UTC. */
  readonly timestamp: string;
  readonly shadow: ShadowResult;
}

/** Quantiles of a series; `null` without values. */
export interface SeriesQuantiles {
  /** Values in the series. */
  readonly n: number;
  /** Whether the quantiles are over every value (false: over a uniform sample of `samples` of them). */
  readonly exact: boolean;
  readonly samples: number;
}

/** The buckets of the per-request `maxAbsDiff`, by their interval. */
export interface DifferenceBuckets {
  readonly '0': number;
  readonly '(0, 1e-6]': number;
  readonly '(1e-6, 1e-3]': number;
  readonly '(1e-3, 0.1]': number;
  readonly '> 0.1': number;
}

/** Upper bounds (inclusive) of the buckets after `0`; above the last is `> 0.1`. */
const BUCKETS: readonly [keyof DifferenceBuckets, number][] = [
  ['(0, 1e-6]', 1e-6],
  ['(1e-6, 1e-3]', 1e-3],
  ['(1e-3, 0.1]', 0.1],
];

export interface DifferenceDistribution extends SeriesQuantiles {
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  /** Exact, over every compared request. */
  readonly max: number | null;
  readonly buckets: DifferenceBuckets;
}

export interface LatencySummary extends SeriesQuantiles {
  readonly p50: number | null;
  readonly p99: number | null;
  /** Exact, over every value. */
  readonly mean: number | null;
}

/** A request among those that differ most. */
export interface ShadowDifferingRequest {
  readonly requestId: string;
  readonly primaryVersion: string;
  readonly candidateVersion: string;
  readonly timestamp: string;
  readonly maxAbsDiff: number;
  readonly differingLabels: number;
  readonly differingElements: number;
}

/** See the module docstring. */
export interface ShadowReport {
  readonly reportVersion: 1;
  readonly requests: number;
  readonly compared: number;
  readonly rowsCompared: number;
  readonly failed: { readonly total: number; readonly byCode: Readonly<Record<string, number>> };
  readonly labels?: { readonly rows: number; readonly identical: number; readonly share: number | null };
  /** Largest absolute difference of any numeric output of any request (0 with none). */
  readonly maxAbsDiff: number;
  readonly outputs: Readonly<Record<string, OutputAgreement>>;
  readonly outputsNotCompared: Readonly<Record<string, Readonly<Partial<Record<NotComparedReason, number>>>>>;
  readonly differences: DifferenceDistribution;
  readonly latencyMs: { readonly primary: LatencySummary; readonly candidate: LatencySummary };
  readonly mostDifferent: readonly ShadowDifferingRequest[];
  readonly primaryVersions: readonly string[];
  readonly candidateVersions: readonly string[];
}

export interface ShadowReportOptions {
  /** Values a series keeps exactly (see the module docstring). @default 100,000 */
  readonly maxSamples?: number;
  /** In [0, 1): draws the sample past `maxSamples`. @default Math.random */
  readonly random?: () => number;
}

/**
 * The type 7 quantile (see the module docstring) of `sorted` (ascending, at least one value) at
 * `p` in [0, 1].
 */
export function quantile7(sorted: ArrayLike<number>, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const below = sorted[lo] as number;
  const above = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return h === lo ? below : below + (h - lo) * (above - below);
}

/** A series of numbers: count, sum and max exact; the values exactly up to a cap, then a uniform sample. */
class Series {
  n = 0;
  sum = 0;
  max = -Infinity;
  private readonly values: number[] = [];

  constructor(
    private readonly cap: number,
    private readonly random: () => number,
  ) {}

  add(value: number): void {
    this.n++;
    this.sum += value;
    if (value > this.max) this.max = value;
    if (this.values.length < this.cap) this.values.push(value);
    else {
      // Algorithm R: the n-th value replaces a random kept one with probability cap / n.
      const at = Math.floor(this.random() * this.n);
      if (at < this.cap) this.values[at] = value;
    }
  }

  /** The quantiles at `ps`, `null` each without values. */
  quantiles(ps: readonly number[]): (number | null)[] {
    if (this.values.length === 0) return ps.map(() => null);
    const sorted = Float64Array.from(this.values).sort();
    return ps.map((p) => quantile7(sorted, p));
  }

  described(): SeriesQuantiles {
    return { n: this.n, exact: this.n === this.values.length, samples: this.values.length };
  }
}

/** A context `ReplayReportBuilder.report` wants; the shadow report takes only the sums from it. */
const NO_REPLAY_CONTEXT = {
  jobId: '',
  model: '',
  targetVersion: '',
  sourceVersions: [],
  window: { since: '', until: '' },
  capture: { inWindow: 0, replayed: 0, maxRequests: 0, capped: false, outsideWindow: 0, unreadableLines: 0 },
} as const;

/**
 * Sums shadow records into a {@link ShadowReport}, one at a time, in bounded memory.
 *
 * @example
 * const builder = new ShadowReportBuilder();
 * for (const record of records) if (record.shadow) builder.add(record);
 * const report = builder.build();
 */
export class ShadowReportBuilder {
  private readonly sums = new ReplayReportBuilder();
  private readonly differences: Series;
  private readonly primaryLatency: Series;
  private readonly candidateLatency: Series;
  private readonly buckets = { '0': 0, '(0, 1e-6]': 0, '(1e-6, 1e-3]': 0, '(1e-3, 0.1]': 0, '> 0.1': 0 };
  private requests = 0;
  private labelled = false;
  private labelRows = 0;
  private identical = 0;
  /** Candidate version of each record the replay sums keep among the most different, by its record number. */
  private readonly candidates = new Map<number, string>();
  private readonly primaryVersions = new Set<string>();
  private readonly candidateVersions = new Set<string>();

  constructor(options: ShadowReportOptions = {}) {
    const cap = options.maxSamples ?? DEFAULT_MAX_SAMPLES;
    const random = options.random ?? Math.random;
    this.differences = new Series(cap, random);
    this.primaryLatency = new Series(cap, random);
    this.candidateLatency = new Series(cap, random);
  }

  /** Adds one record. */
  add(record: ShadowLogRecord): void {
    const row = this.requests++;
    const { shadow } = record;
    this.primaryVersions.add(record.modelVersion);
    this.candidateVersions.add(shadow.version);
    const comparison = shadow.comparison;
    if (shadow.error || !comparison) {
      if (shadow.error) this.sums.notReplayable(shadow.error.code);
      return;
    }
    this.sums.compared({
      row,
      requestId: record.requestId,
      sourceVersion: record.modelVersion,
      timestamp: record.timestamp,
      rows: comparison.rows,
      truncated: false,
      maxAbsDiff: comparison.maxAbsDiff,
      ...(comparison.differingLabels !== undefined ? { differingLabels: comparison.differingLabels } : {}),
      outputs: comparison.outputs,
      ...(comparison.notCompared ? { notCompared: comparison.notCompared } : {}),
    });
    // Only a request that differs can be listed among those that differ most; of those, only the
    // ones the replay sums still list keep their candidate version.
    const differs =
      comparison.maxAbsDiff > 0 || (comparison.differingLabels ?? 0) > 0 || Object.values(comparison.outputs).some((o) => o.differing > 0);
    if (differs) {
      this.candidates.set(row, shadow.version);
      if (this.candidates.size > 4 * MOST_DIFFERENT) this.forgetCandidates();
    }
    if (comparison.differingLabels !== undefined) {
      this.labelled = true;
      this.labelRows += comparison.rows;
      this.identical += comparison.rows - comparison.differingLabels;
    }
    const d = comparison.maxAbsDiff;
    this.differences.add(d);
    this.buckets[bucketOf(d)]++;
    if (isLatency(record.latencyMs)) this.primaryLatency.add(record.latencyMs);
    if (isLatency(shadow.latencyMs)) this.candidateLatency.add(shadow.latencyMs);
  }

  build(): ShadowReport {
    const sums = this.sums.report(NO_REPLAY_CONTEXT);
    const [p50, p90, p99] = this.differences.quantiles([0.5, 0.9, 0.99]);
    return {
      reportVersion: 1,
      requests: this.requests,
      compared: sums.compared,
      rowsCompared: sums.rowsCompared,
      failed: sums.notReplayable,
      ...(this.labelled
        ? {
            labels: {
              rows: this.labelRows,
              identical: this.identical,
              share: this.labelRows === 0 ? null : this.identical / this.labelRows,
            },
          }
        : {}),
      maxAbsDiff: sums.maxAbsDiff,
      outputs: sums.outputs,
      outputsNotCompared: sums.outputsNotCompared,
      differences: {
        ...this.differences.described(),
        p50: p50 ?? null,
        p90: p90 ?? null,
        p99: p99 ?? null,
        max: this.differences.n === 0 ? null : this.differences.max,
        buckets: { ...this.buckets },
      },
      latencyMs: { primary: latency(this.primaryLatency), candidate: latency(this.candidateLatency) },
      mostDifferent: sums.mostDifferent.map((r) => ({
        requestId: r.requestId,
        primaryVersion: r.sourceVersion,
        candidateVersion: this.candidates.get(r.row) ?? '',
        timestamp: r.timestamp,
        maxAbsDiff: r.maxAbsDiff,
        differingLabels: r.differingLabels,
        differingElements: r.differingElements,
      })),
      primaryVersions: [...this.primaryVersions].sort(byText),
      candidateVersions: [...this.candidateVersions].sort(byText),
    };
  }

  /** Keeps the candidate versions of the records the replay sums list, drops the others. */
  private forgetCandidates(): void {
    const listed = new Set(this.sums.report(NO_REPLAY_CONTEXT).mostDifferent.map((r) => r.row));
    for (const row of this.candidates.keys()) if (!listed.has(row)) this.candidates.delete(row);
  }
}

/** A latency the report counts: a finite number of ms, not negative (a record without one is left out). */
function isLatency(ms: number | undefined): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;
}

function bucketOf(d: number): keyof DifferenceBuckets {
  if (d === 0) return '0';
  for (const [name, upTo] of BUCKETS) if (d <= upTo) return name;
  return '> 0.1';
}

/** n, p50, p99 and mean of a latency series, ms to 3 decimals. */
function latency(series: Series): LatencySummary {
  const [p50, p99] = series.quantiles([0.5, 0.99]).map((q) => (q === null ? null : round3(q)));
  return { ...series.described(), p50: p50 ?? null, p99: p99 ?? null, mean: series.n === 0 ? null : round3(series.sum / series.n) };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
