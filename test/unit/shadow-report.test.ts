/**
 * The shadow report (`functions/core/shadow/report.ts`): counts, failures by code, label
 * agreement, per-output sums, the distribution of per-request differences (type 7 quantiles and
 * buckets) and both latencies, each checked against values worked out by hand here; the requests
 * that differ most; the bounded sample past `maxSamples`; and results of the runner's own
 * comparison summed up.
 */
import { MOST_DIFFERENT } from '../../functions/core/replay/compare.js';
import { ShadowReportBuilder, quantile7, type ShadowLogRecord } from '../../functions/core/shadow/report.js';
import { shadowComparison, type ShadowComparison, type ShadowResult } from '../../functions/core/shadow/runner.js';
import type { TensorData } from '../../functions/core/tensor.js';

const numeric = (elements: number, differing: number, maxAbsDiff: number, meanAbsDiff: number) => ({
  kind: 'numeric' as const,
  elements,
  differing,
  maxAbsDiff,
  meanAbsDiff,
});

/** A compared record: one numeric output `p` of 3 elements whose largest difference is `d`. */
function compared(
  id: string,
  d: number,
  latencies: { primary: number; candidate: number } = { primary: 10, candidate: 1 },
  extra: Partial<ShadowComparison> = {},
  versions = { primary: '1', candidate: '2' },
): ShadowLogRecord {
  const comparison: ShadowComparison = { rows: 1, maxAbsDiff: d, outputs: { p: numeric(3, d === 0 ? 0 : 1, d, d / 3) }, ...extra };
  return {
    requestId: id,
    modelVersion: versions.primary,
    latencyMs: latencies.primary,
    timestamp: '2026-12-01T10:00:00.000Z',
    shadow: { version: versions.candidate, latencyMs: latencies.candidate, outputs: '[]', truncated: false, comparison },
  };
}
function failed(id: string, code: string): ShadowLogRecord {
  return {
    requestId: id,
    modelVersion: '1',
    latencyMs: 99,
    timestamp: '2026-12-01T10:00:00.000Z',
    shadow: { version: '2', error: { code, message: 'no' } },
  };
}

describe('quantile7', () => {
  it('interpolates between order statistics at h = (n − 1)p', () => {
    // Prepare
    const sorted = [1, 2, 4, 8];

    // Act, Assess: h = 3p
    expect(quantile7(sorted, 0)).toBe(1);
    expect(quantile7(sorted, 0.5)).toBe(3); // h = 1.5: 2 + 0.5 × (4 − 2)
    expect(quantile7(sorted, 0.9)).toBeCloseTo(6.8, 12); // h = 2.7: 4 + 0.7 × 4
    expect(quantile7(sorted, 1)).toBe(8);
    expect(quantile7([5], 0.99)).toBe(5);
  });
});

describe('ShadowReportBuilder', () => {
  it('counts requests, comparisons and failures by code, and gives quantiles, buckets and latencies worked out by hand', () => {
    // Prepare: maxAbsDiff sorted 0, 5e-7, 2e-4, 0.05, 0.3; primary latencies 10 … 50 ms, candidate 1 … 5 ms
    const builder = new ShadowReportBuilder();
    const records = [
      compared('r-1', 0.3, { primary: 50, candidate: 5 }),
      failed('r-2', 'MISSING_FEATURE'),
      compared('r-3', 0, { primary: 10, candidate: 1 }),
      compared('r-4', 2e-4, { primary: 30, candidate: 3 }),
      failed('r-5', 'SHADOW_QUEUE_FULL'),
      compared('r-6', 5e-7, { primary: 20, candidate: 2 }),
      compared('r-7', 0.05, { primary: 40, candidate: 4 }),
      failed('r-8', 'MISSING_FEATURE'),
    ];

    // Act
    for (const record of records) builder.add(record);
    const report = builder.build();

    // Assess
    expect(report.requests).toBe(8);
    expect(report.compared).toBe(5);
    expect(report.rowsCompared).toBe(5);
    expect(report.failed).toEqual({ total: 3, byCode: { MISSING_FEATURE: 2, SHADOW_QUEUE_FULL: 1 } });
    expect(report.labels).toBeUndefined();
    expect(report.maxAbsDiff).toBe(0.3);
    const { differences } = report;
    expect(differences.n).toBe(5);
    expect(differences.exact).toBe(true);
    expect(differences.p50).toBe(2e-4); // h = 2
    expect(differences.p90).toBeCloseTo(0.05 + 0.6 * 0.25, 15); // h = 3.6
    expect(differences.p99).toBeCloseTo(0.05 + 0.96 * 0.25, 15); // h = 3.96
    expect(differences.max).toBe(0.3);
    expect(differences.buckets).toEqual({ '0': 1, '(0, 1e-6]': 1, '(1e-6, 1e-3]': 1, '(1e-3, 0.1]': 1, '> 0.1': 1 });
    expect(report.latencyMs.primary).toEqual({ n: 5, exact: true, samples: 5, p50: 30, p99: 49.6, mean: 30 });
    expect(report.latencyMs.candidate).toEqual({ n: 5, exact: true, samples: 5, p50: 3, p99: 4.96, mean: 3 });
    expect(report.primaryVersions).toEqual(['1']);
    expect(report.candidateVersions).toEqual(['2']);
  });

  it('puts bucket edges in the bucket they close', () => {
    // Prepare
    const builder = new ShadowReportBuilder();

    // Act
    for (const [i, d] of [1e-6, 1e-3, 0.1, 0.1000001, 1e-300].entries()) builder.add(compared(`r-${i}`, d));

    // Assess
    expect(builder.build().differences.buckets).toEqual({ '0': 0, '(0, 1e-6]': 2, '(1e-6, 1e-3]': 1, '(1e-3, 0.1]': 1, '> 0.1': 1 });
  });

  it('gives label agreement over the classifier rows, and per output the mean weighted by elements', () => {
    // Prepare: 4 rows with 1 label changed, 6 rows all the same, and 2 rows of a request with no labels
    const builder = new ShadowReportBuilder();
    builder.add(compared('a', 0.3, undefined, { rows: 4, differingLabels: 1, outputs: { p: numeric(12, 3, 0.3, 0.05) } }));
    builder.add(
      compared('b', 0, undefined, {
        rows: 6,
        differingLabels: 0,
        outputs: { p: numeric(18, 0, 0, 0), label: { kind: 'exact', elements: 6, differing: 0 } },
      }),
    );
    builder.add(compared('c', 0.5, undefined, { rows: 2, outputs: { p: numeric(2, 2, 0.5, 0.5) }, notCompared: { extra: 'target-only' } }));

    // Act
    const report = builder.build();

    // Assess: p's absolute differences sum to 12 × 0.05 + 0 + 2 × 0.5 = 1.6 over 32 elements
    expect(report.rowsCompared).toBe(12);
    expect(report.labels).toEqual({ rows: 10, identical: 9, share: 0.9 });
    expect(report.outputs.p).toEqual({
      kind: 'numeric',
      requests: 3,
      elements: 32,
      differing: 5,
      maxAbsDiff: 0.5,
      meanAbsDiff: expect.closeTo(1.6 / 32, 15),
    });
    expect(report.outputs.label).toEqual({ kind: 'exact', requests: 1, elements: 6, differing: 0 });
    expect(report.outputsNotCompared).toEqual({ extra: { 'target-only': 1 } });
    expect(report.mostDifferent.map((r) => r.requestId)).toEqual(['c', 'a']);
    expect(report.mostDifferent[1]).toEqual({
      requestId: 'a',
      primaryVersion: '1',
      candidateVersion: '2',
      timestamp: '2026-12-01T10:00:00.000Z',
      maxAbsDiff: 0.3,
      differingLabels: 1,
      differingElements: 3,
    });
  });

  it('lists the 10 requests that differ most, in replay order, each with its own versions, and every version seen', () => {
    // Prepare: 100 differing requests with maxAbsDiff 0.001 … 0.1 in a shuffled order, each with its own candidate
    const builder = new ShadowReportBuilder();
    const diffOf = (i: number): number => (((i * 37) % 100) + 1) / 1000;
    for (let i = 0; i < 100; i++) {
      builder.add(compared(`r-${i}`, diffOf(i), undefined, {}, { primary: i % 2 === 0 ? '10' : '9', candidate: `c${i}` }));
      builder.add(compared(`same-${i}`, 0));
    }

    // Act
    const report = builder.build();

    // Assess
    const expected = Array.from({ length: 100 }, (_, i) => i)
      .sort((a, b) => diffOf(b) - diffOf(a))
      .slice(0, MOST_DIFFERENT)
      .map((i) => ({ id: `r-${i}`, candidate: `c${i}`, primary: i % 2 === 0 ? '10' : '9' }));
    const listed = report.mostDifferent.map((r) => ({ id: r.requestId, candidate: r.candidateVersion, primary: r.primaryVersion }));
    expect(diffOf(0)).toBe(0.001);
    expect(listed).toEqual(expected);
    expect(report.mostDifferent.map((r) => r.maxAbsDiff)).toEqual([0.1, 0.099, 0.098, 0.097, 0.096, 0.095, 0.094, 0.093, 0.092, 0.091]);
    expect(report.primaryVersions).toEqual(['1', '10', '9']);
    expect(report.candidateVersions).toHaveLength(101);
  });

  it('puts the more differing labels first when maxAbsDiff ties', () => {
    // Prepare
    const builder = new ShadowReportBuilder();
    builder.add(compared('one-label', 0.2, undefined, { differingLabels: 1 }));
    builder.add(compared('two-labels', 0.2, undefined, { differingLabels: 2 }));
    builder.add(compared('first', 0.2, undefined, { differingLabels: 1 }));

    // Act
    const report = builder.build();

    // Assess
    expect(report.mostDifferent.map((r) => r.requestId)).toEqual(['two-labels', 'one-label', 'first']);
  });

  it('keeps a uniform sample past maxSamples: counts, means and maxima stay exact', () => {
    // Prepare: 10 records; the draw keeps the first 3 values (random 0.99) or puts each new value at 0 (random 0)
    const keepFirst = new ShadowReportBuilder({ maxSamples: 3, random: () => 0.99 });
    const replaceFirst = new ShadowReportBuilder({ maxSamples: 3, random: () => 0 });

    // Act
    for (let i = 1; i <= 10; i++) {
      keepFirst.add(compared(`r-${i}`, i / 100, { primary: 10 * i, candidate: i }));
      replaceFirst.add(compared(`r-${i}`, i / 100, { primary: 10 * i, candidate: i }));
    }
    const first = keepFirst.build();
    const replaced = replaceFirst.build();

    // Assess: samples [10, 20, 30] and [100, 20, 30]
    expect(first.latencyMs.primary).toEqual({ n: 10, exact: false, samples: 3, p50: 20, p99: 29.8, mean: 55 });
    expect(replaced.latencyMs.primary).toEqual({ n: 10, exact: false, samples: 3, p50: 30, p99: 98.6, mean: 55 });
    expect(first.differences).toMatchObject({ n: 10, exact: false, samples: 3, p50: 0.02, max: 0.1 });
    expect(first.differences.buckets['(1e-3, 0.1]']).toBe(10);
  });

  it('says null for what has no values, and leaves latencies that are not numbers out', () => {
    // Prepare
    const empty = new ShadowReportBuilder().build();
    const builder = new ShadowReportBuilder();
    const record = compared('r-1', 0);
    builder.add({ ...record, latencyMs: Number.NaN, shadow: { ...record.shadow, latencyMs: undefined } as ShadowResult });

    // Act
    const report = builder.build();

    // Assess
    expect(empty.differences).toEqual({
      n: 0,
      exact: true,
      samples: 0,
      p50: null,
      p90: null,
      p99: null,
      max: null,
      buckets: { '0': 0, '(0, 1e-6]': 0, '(1e-6, 1e-3]': 0, '(1e-3, 0.1]': 0, '> 0.1': 0 },
    });
    expect(empty.latencyMs.primary).toEqual({ n: 0, exact: true, samples: 0, p50: null, p99: null, mean: null });
    expect(empty.mostDifferent).toEqual([]);
    expect(report.compared).toBe(1);
    expect(report.latencyMs.primary.n).toBe(0);
    expect(report.latencyMs.candidate.n).toBe(0);
  });

  it("sums the runner's own comparisons of real tensors", () => {
    // Prepare: a classifier whose second row the candidate labels otherwise
    const view = { probabilities: 'probabilities', labels: ['a', 'b', 'c'], binary: false };
    const tensor = (rows: number[][]): TensorData => ({ type: 'float32', shape: [rows.length, 3], data: Float32Array.from(rows.flat()) });
    const primary = {
      version: '1',
      outputs: {
        probabilities: tensor([
          [0.5, 0.25, 0.25],
          [0.5, 0.25, 0.25],
        ]),
      },
      rows: 2,
      timestamp: '2026-12-01T10:00:00.000Z',
      classifier: view,
    };
    const same = shadowComparison(
      { requestId: 'r-1', primary },
      {
        probabilities: tensor([
          [0.5, 0.25, 0.25],
          [0.5, 0.25, 0.25],
        ]),
      },
      view,
    );
    const other = shadowComparison(
      { requestId: 'r-2', primary },
      {
        probabilities: tensor([
          [0.5, 0.25, 0.25],
          [0.25, 0.5, 0.25],
        ]),
      },
      view,
    );
    const builder = new ShadowReportBuilder();

    // Act
    builder.add({
      requestId: 'r-1',
      modelVersion: '1',
      latencyMs: 4,
      timestamp: primary.timestamp,
      shadow: { version: '2', latencyMs: 2, comparison: same },
    });
    builder.add({
      requestId: 'r-2',
      modelVersion: '1',
      latencyMs: 6,
      timestamp: primary.timestamp,
      shadow: { version: '2', latencyMs: 3, comparison: other },
    });
    const report = builder.build();

    // Assess: 4 rows, 1 label changed; |0.5 − 0.25| on 2 of 12 elements
    expect(report.labels).toEqual({ rows: 4, identical: 3, share: 0.75 });
    expect(report.outputs.probabilities).toEqual({
      kind: 'numeric',
      requests: 2,
      elements: 12,
      differing: 2,
      maxAbsDiff: 0.25,
      meanAbsDiff: 0.5 / 12,
    });
    expect(report.differences.buckets).toEqual({ '0': 1, '(0, 1e-6]': 0, '(1e-6, 1e-3]': 0, '(1e-3, 0.1]': 0, '> 0.1': 1 });
    expect(report.mostDifferent).toEqual([
      {
        requestId: 'r-2',
        primaryVersion: '1',
        candidateVersion: '2',
        timestamp: primary.timestamp,
        maxAbsDiff: 0.25,
        differingLabels: 1,
        differingElements: 2,
      },
    ]);
    expect(report.latencyMs.candidate).toMatchObject({ n: 2, p50: 2.5, mean: 2.5 });
  });

  it('stays within its sample bound over 300,000 records', () => {
    // Prepare
    const builder = new ShadowReportBuilder({ maxSamples: 1_000 });

    // Act
    for (let i = 0; i < 300_000; i++) builder.add(compared(`r-${i}`, (i % 1000) / 1e6, { primary: 10 + (i % 7), candidate: 1 }));
    const report = builder.build();

    // Assess
    expect(report.compared).toBe(300_000);
    expect(report.differences).toMatchObject({ n: 300_000, exact: false, samples: 1_000, max: 999 / 1e6 });
    expect(report.latencyMs.primary).toMatchObject({ n: 300_000, exact: false, samples: 1_000 });
    expect(report.mostDifferent).toHaveLength(MOST_DIFFERENT);
  });
});
