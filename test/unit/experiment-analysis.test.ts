/**
 * The experiment analysis's counting and decision rules (`functions/core/experiments/analysis.ts`):
 * which observations each metric counts, Bonferroni over treatments, the minimum sample, the goal,
 * and no winner without significance. The statistics themselves are checked against an
 * independent computation in `experiment-statistics.test.ts`.
 */
import { analyzeExperiment, type Exposure } from '../../functions/core/experiments/analysis.js';
import { assignVariant, assignmentDraw, unitId } from '../../functions/core/experiments/assignment.js';
import type { Experiment, RecordedOutcome } from '../../functions/core/experiments/experiment.js';
import { twoProportionZTest, welchTTest } from '../../functions/core/experiments/statistics.js';

const NOW = new Date('2026-11-30T12:00:00.000Z');

function experiment(overrides: Partial<Experiment> = {}): Experiment {
  return {
    id: 'exp-1',
    model: 'iris',
    variants: [
      { name: 'control', version: '1', weight: 50 },
      { name: 'treatment', version: '2', weight: 50 },
    ],
    assignmentKey: { source: 'subject' },
    metric: 'conversion',
    goal: 'maximize',
    significanceLevel: 0.05,
    minimumSample: 100,
    startsAt: '2026-11-30T00:00:00.000Z',
    createdAt: '2026-11-30T00:00:00.000Z',
    createdBy: 'alice',
    ...overrides,
  };
}

/** `n` units of `variant`, each served `requests` times, the first `converted` of them converted. */
function units(variant: string, n: number, converted: number, requests = 1): { exposures: Exposure[]; outcomes: RecordedOutcome[] } {
  const exposures: Exposure[] = [];
  const outcomes: RecordedOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const unit = `${variant}-${i}`;
    for (let r = 0; r < requests; r++) exposures.push({ variant, unit });
    if (i < converted)
      outcomes.push({ identity: `key:${unit}:`, variant, unit, value: 1, recordedAt: NOW.toISOString(), recordedBy: 'shop' });
  }
  return { exposures, outcomes };
}

function analyze(exp: Experiment, ...groups: Array<{ exposures: Exposure[]; outcomes: RecordedOutcome[] }>) {
  return analyzeExperiment({
    experiment: exp,
    state: 'running',
    exposures: groups.flatMap((g) => g.exposures),
    outcomes: groups.flatMap((g) => g.outcomes),
    capped: false,
    now: NOW,
  });
}

describe('a conversion experiment', () => {
  it('counts units, not requests, and units never given an outcome as not converted', () => {
    const result = analyze(experiment(), units('control', 400, 40, 3), units('treatment', 400, 80, 2));
    expect(result.variants.map((v) => [v.name, v.requests, v.units, v.outcomes, v.sample, v.conversions, v.mean])).toEqual([
      ['control', 1_200, 400, 40, 400, 40, 0.1],
      ['treatment', 800, 400, 80, 400, 80, 0.2],
    ]);
    const expected = twoProportionZTest({ successes: 40, n: 400 }, { successes: 80, n: 400 }, 0.05);
    expect(result.variants[1]?.comparison).toEqual({ ...expected, significant: true });
    expect(result.winner).toEqual({ variant: 'treatment', version: '2' });
    expect(result.decision).toMatch(/^treatment is better than control: difference 0\.1, p = /);
  });

  it('counts a unit with several outcomes of 1 once, an explicit 0 as no conversion, and outcomes of units it never served as unmatched', () => {
    const control = units('control', 200, 20);
    const treatment = units('treatment', 200, 20);
    const extra: RecordedOutcome[] = [
      { identity: 'key:control-0:order-2', variant: 'control', unit: 'control-0', value: 1, recordedAt: '', recordedBy: '' },
      { identity: 'key:control-150:', variant: 'control', unit: 'control-150', value: 0, recordedAt: '', recordedBy: '' },
      { identity: 'key:stranger:', variant: 'treatment', unit: 'stranger', value: 1, recordedAt: '', recordedBy: '' },
      { identity: 'key:x:', variant: 'gone', unit: 'x', value: 1, recordedAt: '', recordedBy: '' },
    ];
    const result = analyze(experiment(), control, treatment, { exposures: [], outcomes: extra });
    expect(result.variants.map((v) => v.conversions)).toEqual([20, 20]);
    expect(result.variants.map((v) => v.outcomes)).toEqual([22, 20]);
    expect(result.unmatchedOutcomes).toBe(2);
  });

  it('declares nothing before every variant has the minimum sample, however large the effect', () => {
    const result = analyze(experiment({ minimumSample: 500 }), units('control', 499, 10), units('treatment', 600, 300));
    expect(result.variants[1]?.comparison?.significant).toBe(true);
    expect(result.winner).toBeNull();
    expect(result.decision).toBe('No winner yet: the minimum sample of 500 units per variant is not reached (control has 499).');
  });

  it('declares no winner when the difference is not significant', () => {
    const result = analyze(experiment(), units('control', 1_000, 100), units('treatment', 1_000, 110));
    expect(result.variants[1]?.comparison?.significant).toBe(false);
    expect(result.winner).toBeNull();
    expect(result.decision).toMatch(/^No winner: no difference to control is significant at 0\.05\.$/);
  });

  it('declares the control when it beats every treatment, and the lower mean for goal minimize', () => {
    expect(analyze(experiment(), units('control', 500, 150), units('treatment', 500, 50)).winner).toEqual({
      variant: 'control',
      version: '1',
    });
    const minimize = analyze(experiment({ goal: 'minimize' }), units('control', 500, 150), units('treatment', 500, 50));
    expect(minimize.winner).toEqual({ variant: 'treatment', version: '2' });
    expect(minimize.decision).toMatch(/^treatment is lower than control/);
  });

  it('judges k treatments at α / k (Bonferroni), with intervals at 1 − α / k', () => {
    const three = experiment({
      variants: [
        { name: 'control', version: '1', weight: 25 },
        { name: 'a', version: '2', weight: 25 },
        { name: 'b', version: '3', weight: 25 },
        { name: 'c', version: '4', weight: 25 },
      ],
    });
    // p ≈ 0.03 for a: significant at 0.05, not at 0.05 / 3.
    const result = analyze(three, units('control', 1_000, 100), units('a', 1_000, 130), units('b', 1_000, 100), units('c', 1_000, 100));
    const a = result.variants[1]?.comparison;
    expect(a?.pValue).toBeGreaterThan(0.05 / 3);
    expect(a?.pValue).toBeLessThan(0.05);
    expect(result.comparisonLevel).toBeCloseTo(0.05 / 3, 15);
    expect(a).toEqual({ ...twoProportionZTest({ successes: 100, n: 1_000 }, { successes: 130, n: 1_000 }, 0.05 / 3), significant: false });
    expect(result.winner).toBeNull();
    expect(result.decision).toContain('(α = 0.05 over 3 comparisons)');
  });

  it('picks the best of several significantly better treatments', () => {
    const three = experiment({
      variants: [
        { name: 'control', version: '1', weight: 34 },
        { name: 'a', version: '2', weight: 33 },
        { name: 'b', version: '3', weight: 33 },
      ],
    });
    const result = analyze(three, units('control', 1_000, 100), units('a', 1_000, 200), units('b', 1_000, 250));
    expect(result.winner).toEqual({ variant: 'b', version: '3' });
  });
});

describe('a value experiment', () => {
  it("takes each outcome as an observation and compares by Welch's t-test", () => {
    const outcome = (variant: string, i: number, value: number): RecordedOutcome => ({
      identity: `request:${variant}-${i}`,
      variant,
      unit: `${variant}-${i}`,
      requestId: `${variant}-${i}`,
      value,
      recordedAt: '',
      recordedBy: '',
    });
    const control = Array.from({ length: 150 }, (_, i) => outcome('control', i, 10 + (i % 7) - 3));
    const treatment = Array.from({ length: 120 }, (_, i) => outcome('treatment', i, 11 + (i % 5) - 2));
    // Outcomes for units never served are left out, however large.
    const stranger = { ...outcome('treatment', 999, 1e15), unit: 'never-served' };
    const exposures = [...control, ...treatment].map((o) => ({ variant: o.variant, unit: o.unit as string }));
    const result = analyzeExperiment({
      experiment: experiment({ metric: 'value' }),
      state: 'ended',
      exposures,
      outcomes: [...control, ...treatment, stranger],
      capped: true,
      now: NOW,
    });
    expect(result.unmatchedOutcomes).toBe(1);
    const moments = (xs: number[]) => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      return { n: xs.length, mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) };
    };
    const c = moments(control.map((o) => o.value));
    const t = moments(treatment.map((o) => o.value));
    expect(result.variants.map((v) => v.sample)).toEqual([150, 120]);
    expect(result.variants[0]?.mean).toBeCloseTo(c.mean, 12);
    const comparison = result.variants[1]?.comparison;
    const expected = welchTTest(c, t, 0.05);
    expect(comparison?.test).toBe("Welch's t-test");
    expect(Math.abs((comparison?.pValue ?? 1) - expected.pValue)).toBeLessThan(1e-12);
    expect(Math.abs((comparison?.difference ?? 0) - expected.difference)).toBeLessThan(1e-12);
    expect(result.capped).toBe(true);
    expect(result.experiment.state).toBe('ended');
  });

  it('says it cannot compare yet with fewer than two outcomes on a side', () => {
    const result = analyzeExperiment({
      experiment: experiment({ metric: 'value', minimumSample: 2 }),
      state: 'running',
      exposures: [
        { variant: 'control', unit: 'ua' },
        { variant: 'control', unit: 'ub' },
        { variant: 'treatment', unit: 'uc' },
      ],
      outcomes: [
        { identity: 'request:a', variant: 'control', unit: 'ua', value: 1, recordedAt: '', recordedBy: '' },
        { identity: 'request:b', variant: 'control', unit: 'ub', value: 2, recordedAt: '', recordedBy: '' },
        { identity: 'request:c', variant: 'treatment', unit: 'uc', value: 5, recordedAt: '', recordedBy: '' },
      ],
      capped: false,
      now: NOW,
    });
    expect(result.variants[1]).toMatchObject({ sample: 1, mean: 5, ci: null, comparison: null });
    expect(result.winner).toBeNull();
  });
});

describe('assignment', () => {
  const variants = [
    { name: 'control', version: '1', weight: 70 },
    { name: 'treatment', version: '2', weight: 30 },
  ];

  it('splits 10,000 keys within the 99% binomial bound of the weights, and the draw is uniform by decile', () => {
    const counts = { control: 0, treatment: 0 };
    const deciles = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      counts[assignVariant('exp-a', `user-${i}`, variants).name as 'control' | 'treatment']++;
      deciles[Math.floor(assignmentDraw('exp-a', `user-${i}`) * 10)]! += 1;
    }
    expect(Math.abs(counts.treatment - 3_000)).toBeLessThanOrEqual(2.5758293035489004 * Math.sqrt(10_000 * 0.3 * 0.7));
    // χ² over the deciles, 9 degrees of freedom: below 21.67 (its 99th percentile).
    const chi2 = deciles.reduce((sum, observed) => sum + (observed - 1_000) ** 2 / 1_000, 0);
    expect(chi2).toBeLessThan(21.67);
  });

  it('is the same for the same experiment and key, and independent across experiments', () => {
    expect(assignVariant('exp-a', 'user-7', variants)).toBe(assignVariant('exp-a', 'user-7', variants));
    let same = 0;
    for (let i = 0; i < 2_000; i++)
      if (assignVariant('exp-a', `u${i}`, variants).name === assignVariant('exp-b', `u${i}`, variants).name) same++;
    // Independent draws agree with probability 0.7² + 0.3² = 0.58.
    expect(Math.abs(same / 2_000 - 0.58)).toBeLessThan(0.04);
  });

  it('keeps a unit id of 32 hex digits that does not reveal the key', () => {
    expect(unitId('alice@example.com')).toMatch(/^[0-9a-f]{32}$/);
    expect(unitId('alice@example.com')).not.toBe(unitId('bob@example.com'));
  });
});
