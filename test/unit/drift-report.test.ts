/**
 * Drift reports and the canary gate (`functions/core/drift/report.ts`). Each statistic is checked
 * against a computation written here without `statistics.ts`: PSI as the sum of the two
 * Kullback–Leibler divergences over bins found by a linear scan, KS D by evaluating both
 * empirical distribution functions at every point and its p-value by the Kolmogorov series
 * alone, chi-squared in Numerical Recipes' `chstwo` form with the closed-form p-value of even
 * degrees of freedom.
 */
import { readFileSync } from 'node:fs';
import {
  profileRows,
  type CategoricalFeatureProfile,
  type NumericFeatureProfile,
  type ReferenceProfile,
} from '../../functions/core/drift/profile.js';
import {
  DEFAULT_DRIFT_THRESHOLDS,
  canaryShift,
  driftReport,
  type CategoricalColumnDrift,
  type ColumnDrift,
  type DriftReport,
  type NumericColumnDrift,
} from '../../functions/core/drift/report.js';
import { seededRandom } from '../fixtures/models.js';

const TOLERANCE = 1e-9;
const IRIS_PROFILE = JSON.parse(readFileSync(new URL('../../models/iris/profile.json', import.meta.url), 'utf8')) as ReferenceProfile;

function expectNear(actual: number | null | undefined, expected: number, tolerance = TOLERANCE): void {
  expect(typeof actual).toBe('number');
  if (Math.abs((actual as number) - expected) > tolerance) {
    throw new Error(`expected ${actual} to be within ${tolerance} of ${expected}`);
  }
}

// Independent computations -------------------------------------------------------------------------

/** PSI as KL(c‖r) + KL(r‖c), each share floored at epsilon. */
function psiByDivergences(reference: readonly number[], current: readonly number[], epsilon = 1e-4): number {
  const rTotal = reference.reduce((s, v) => s + v, 0);
  const cTotal = current.reduce((s, v) => s + v, 0);
  let divergence = 0;
  reference.forEach((rv, i) => {
    const r = Math.max(rv / rTotal, epsilon);
    const c = Math.max((current[i] as number) / cTotal, epsilon);
    divergence += c * Math.log(c / r) + r * Math.log(r / c);
  });
  return divergence;
}

/** A value's bin: how many edges are at or below it, by a linear scan. */
function binsByScan(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) counts[edges.filter((e) => e <= v).length]! += 1;
  return counts;
}

/** KS D by evaluating both empirical CDFs at every point of both samples. */
function ksByBruteForce(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (const t of new Set([...a, ...b])) {
    const fa = a.filter((v) => v <= t).length / a.length;
    const fb = b.filter((v) => v <= t).length / b.length;
    d = Math.max(d, Math.abs(fa - fb));
  }
  return d;
}

/** Stephens' λ and the Kolmogorov survival function by its alternating series only. */
function ksPValue(d: number, n: number, m: number): number {
  const en = (n * m) / (n + m);
  const lambda = (Math.sqrt(en) + 0.12 + 0.11 / Math.sqrt(en)) * d;
  if (lambda === 0) return 1;
  let sum = 0;
  for (let j = 1; j <= 20_000; j += 1) sum += (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
  return Math.min(1, Math.max(0, 2 * sum));
}

/** X² in the `chstwo` form for unequal totals, over the categories with a count somewhere. */
function chiSquaredByChstwo(r: readonly number[], s: readonly number[]): { statistic: number; df: number } {
  const rTotal = r.reduce((x, v) => x + v, 0);
  const sTotal = s.reduce((x, v) => x + v, 0);
  let statistic = 0;
  let df = -1;
  r.forEach((ri, i) => {
    const si = s[i] as number;
    if (ri + si === 0) return;
    df += 1;
    statistic += (Math.sqrt(sTotal / rTotal) * ri - Math.sqrt(rTotal / sTotal) * si) ** 2 / (ri + si);
  });
  return { statistic, df };
}

/** P(χ²_df ≥ x) for even df: e^{−x/2} Σ_{i < df/2} (x/2)^i / i!. */
function chiSquaredPValueEvenDf(x: number, df: number): number {
  if (df % 2 !== 0) throw new Error(`df ${df} is odd; pick categories that make it even`);
  let term = 1;
  let sum = 1;
  for (let i = 1; i < df / 2; i += 1) {
    term *= x / 2 / i;
    sum += term;
  }
  return Math.exp(-x / 2) * sum;
}

// Data -----------------------------------------------------------------------------------------------

/** `count` draws from N(mean, sd²) by Box–Muller over a seeded generator. */
function normal(random: () => number, count: number, mean = 0, sd = 1): number[] {
  return Array.from({ length: count }, () => mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}

/** `count` draws of categories with the given weights. */
function categorical(random: () => number, count: number, weights: Readonly<Record<string, number>>): string[] {
  const entries = Object.entries(weights);
  const total = entries.reduce((s, [, w]) => s + w, 0);
  return Array.from({ length: count }, () => {
    let u = random() * total;
    for (const [name, w] of entries) {
      u -= w;
      if (u < 0) return name;
    }
    return (entries[entries.length - 1] as [string, number])[0];
  });
}

const COLORS = { red: 5, green: 3, blue: 2 };

/** A 120-row reference with two numeric features and a categorical one, and its values. */
function syntheticReference(): { profile: ReferenceProfile; x: number[]; y: number[]; color: string[] } {
  const random = seededRandom(11);
  const x = normal(random, 120, 10, 2);
  const y = normal(random, 120, 0, 1);
  const color = categorical(random, 120, COLORS);
  return { profile: profileRows(x.map((_, i) => ({ x: x[i], y: y[i], color: color[i] }))), x, y, color };
}

/** `count` live values drawn with replacement from `values`. */
function resample<T>(random: () => number, values: readonly T[], count: number): T[] {
  return Array.from({ length: count }, () => values[Math.floor(random() * values.length)] as T);
}

function result(report: DriftReport, name: string, group: 'feature' | 'prediction' = 'feature'): ColumnDrift {
  const found = report.results.find((r) => r.name === name && r.group === group);
  if (!found) throw new Error(`no result for ${group} ${name}`);
  return found;
}

function numericResult(report: DriftReport, name: string, group: 'feature' | 'prediction' = 'feature'): NumericColumnDrift {
  const found = result(report, name, group);
  expect(found.kind).toBe('numeric');
  return found as NumericColumnDrift;
}

function categoricalResult(report: DriftReport, name: string, group: 'feature' | 'prediction' = 'feature'): CategoricalColumnDrift {
  const found = result(report, name, group);
  expect(found.kind).toBe('categorical');
  return found as CategoricalColumnDrift;
}

/** Live iris features: `rows` rows drawn from the profile's own (complete) sample of each feature. */
function irisLive(seed: number, rows: number, noise = 0): Record<string, number[]> {
  const random = seededRandom(seed);
  return Object.fromEntries(
    Object.entries(IRIS_PROFILE.features).map(([name, feature]) => {
      const sample = (feature as NumericFeatureProfile).sample;
      return [name, resample(random, sample, rows).map((v) => v + (noise === 0 ? 0 : (normal(random, 1)[0] as number) * noise))];
    }),
  );
}

// Tests ----------------------------------------------------------------------------------------------

describe("driftReport on the sample model's profile", () => {
  it('reports no drift for 1,000 rows drawn from the reference itself, with or without a little noise', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      for (const noise of [0, 0.05]) {
        // Act
        const report = driftReport(IRIS_PROFILE, { features: irisLive(seed, 1000, noise) });

        // Assess
        expect(report.drifted).toBe(false);
        expect(report.totals.driftedFeatures).toBe(0);
        expect(report.results.map((r) => r.severity)).toEqual(['none', 'none', 'none', 'none']);
        expect(report.results.every((r) => r.status === 'compared')).toBe(true);
      }
    }
  });

  it('flags a feature shifted by one standard deviation, and only it, with PSI and KS as computed independently', () => {
    // Prepare
    const shifted = 'sepal_width_cm';
    const feature = IRIS_PROFILE.features[shifted] as NumericFeatureProfile;
    const live = irisLive(7, 1000);
    live[shifted] = (live[shifted] as number[]).map((v) => v + feature.std);

    // Act
    const report = driftReport(IRIS_PROFILE, { features: live });

    // Assess: only the shifted feature, first
    expect(report.results.filter((r) => r.drifted).map((r) => r.name)).toEqual([shifted]);
    expect(report.results[0]?.name).toBe(shifted);
    expect(report.totals).toEqual({
      features: 4,
      driftedFeatures: 1,
      predictions: 0,
      driftedPredictions: 0,
      maxPsi: report.results[0]?.psi,
    });
    expect(report.referenceRows).toBe(120);
    expect(report.liveRows).toBe(1000);
    expect(report.thresholds).toEqual(DEFAULT_DRIFT_THRESHOLDS);
    // Assess: the numbers, for every feature
    for (const [name, profile] of Object.entries(IRIS_PROFILE.features)) {
      const f = profile as NumericFeatureProfile;
      const values = live[name] as number[];
      const r = numericResult(report, name);
      expectNear(r.psi, psiByDivergences(f.binProportions, binsByScan(values, f.quantileEdges)));
      const d = ksByBruteForce(f.sample, values);
      expectNear(r.ks?.statistic, d);
      expectNear(r.ks?.pValue, ksPValue(d, f.sample.length, values.length));
    }
    const r = numericResult(report, shifted);
    expect(r.severity).toBe('major');
    expect(r.psi).toBeGreaterThan(0.25);
    expect(r.ks?.pValue).toBeLessThan(1e-10);
    expect(r.reason).toMatch(/^values shifted: PSI [\d.]+ ≥ 0\.25 and KS p-value [\d.e-]+ < 0\.01 \(D [\d.]+\)$/);
  });

  it('does not judge a window with too few rows, however shifted', () => {
    // Prepare: 20 rows, every feature moved far
    const live = Object.fromEntries(Object.entries(irisLive(3, 20)).map(([name, values]) => [name, values.map((v) => v + 10)]));

    // Act
    const report = driftReport(IRIS_PROFILE, { features: live });

    // Assess: statistics shown, nothing judged
    expect(report.drifted).toBe(false);
    for (const r of report.results) {
      expect(r).toMatchObject({ status: 'too-few-rows', severity: 'none', drifted: false });
      expect(r.reason).toBe('too few rows: 20 live, at least 30 needed to judge');
      expect(r.psi).toBeGreaterThan(1);
    }
    expect(report.totals.maxPsi).toBeNull();
    // Assess: a lower minRows judges them
    expect(driftReport(IRIS_PROFILE, { features: live }, { minRows: 10 }).totals.driftedFeatures).toBe(4);
  });
});

describe('driftReport on categorical features, missing and invalid values', () => {
  it('flags a shifted categorical feature, pooling categories the reference lacks, with PSI and chi-squared as computed independently', () => {
    // Prepare: blue all but vanishes, a new category appears
    const { profile, x, y } = syntheticReference();
    const random = seededRandom(21);
    const color = categorical(random, 1000, { red: 5, green: 3, blue: 0.2, purple: 1.5 });
    const features = { x: resample(random, x, 1000), y: resample(random, y, 1000), color };

    // Act
    const report = driftReport(profile, { features });

    // Assess
    expect(report.results.filter((r) => r.drifted).map((r) => r.name)).toEqual(['color']);
    const r = categoricalResult(report, 'color');
    const reference = profile.features.color as CategoricalFeatureProfile;
    const keys = Object.keys(reference.categories);
    expect(keys).not.toContain('__other__');
    const count = (name: string): number => color.filter((c) => c === name).length;
    const referenceCounts = [...keys.map((k) => reference.categories[k] as number), 0];
    const liveCounts = [...keys.map(count), color.filter((c) => !keys.includes(c)).length];
    expectNear(r.psi, psiByDivergences(referenceCounts, liveCounts));
    const chi = chiSquaredByChstwo(referenceCounts, liveCounts);
    expect(chi.df).toBe(3);
    expectNear(r.chiSquared?.statistic, chi.statistic);
    expect(r.chiSquared?.degreesOfFreedom).toBe(3);
    expect(r.chiSquared?.pValue).toBeLessThan(1e-10);
    expect(r.reason).toMatch(/^values shifted: PSI [\d.]+ ≥ 0\.25 and chi-squared p-value [\d.e-]+ < 0\.01 \(X² [\d.]+, df 3\)$/);
  });

  it('gives the chi-squared p-value of an independent computation (even degrees of freedom)', () => {
    // Prepare: the three reference colors, shares moved a little (df 2)
    const { profile } = syntheticReference();
    const color = categorical(seededRandom(5), 600, { red: 4, green: 4, blue: 2 });

    // Act
    const r = categoricalResult(driftReport(profile, { features: { color } }), 'color');

    // Assess
    const reference = profile.features.color as CategoricalFeatureProfile;
    const keys = Object.keys(reference.categories);
    const referenceCounts = keys.map((k) => reference.categories[k] as number);
    const liveCounts = keys.map((k) => color.filter((c) => c === k).length);
    const chi = chiSquaredByChstwo(referenceCounts, liveCounts);
    expect(chi.df).toBe(2);
    expectNear(r.chiSquared?.statistic, chi.statistic);
    expectNear(r.chiSquared?.pValue, chiSquaredPValueEvenDf(chi.statistic, 2));
    expectNear(r.psi, psiByDivergences(referenceCounts, liveCounts));
  });

  it("does not flag categories drawn from the reference's own values, and counts a category the reference pooled under __other__", () => {
    // Prepare: a reference with more categories than profile.ts keeps
    const random = seededRandom(9);
    const words = Array.from({ length: 300 }, (_, i) => `w${i % 120}`);
    const profile = profileRows(words.map((w) => ({ word: w })));
    const reference = profile.features.word as CategoricalFeatureProfile;
    expect(reference.categories.__other__).toBe(40); // 20 of the 120 words, twice each
    const live = resample(random, words, 1000);

    // Act
    const r = categoricalResult(driftReport(profile, { features: { word: live } }), 'word');

    // Assess
    expect(r).toMatchObject({ drifted: false, severity: 'none', status: 'compared' });
    const keys = Object.keys(reference.categories);
    const liveCounts = keys.map((k) =>
      k === '__other__' ? live.filter((w) => !keys.includes(w)).length : live.filter((w) => w === k).length,
    );
    expectNear(
      r.psi,
      psiByDivergences(
        keys.map((k) => reference.categories[k] as number),
        liveCounts,
      ),
    );
  });

  it('flags a rise in missing values apart from the values, with its PSI as computed independently', () => {
    // Prepare: y's values are the reference's own, but 20% of them are missing, in each spelling
    const { profile, x, y } = syntheticReference();
    const random = seededRandom(31);
    const spellings = [null, Number.NaN, '', 'NA', ' nan '];
    const liveY: unknown[] = resample(random, y, 1000).map((v, i) => (i % 5 === 0 ? spellings[(i / 5) % spellings.length] : v));

    // Act
    const report = driftReport(profile, { features: { x: resample(random, x, 1000), y: liveY } });

    // Assess
    expect(report.results.filter((r) => r.drifted).map((r) => r.name)).toEqual(['y']);
    const r = numericResult(report, 'y');
    expect(r.counts).toEqual({ reference: { rows: 120, missing: 0 }, live: { rows: 1000, missing: 200, invalid: 0 } });
    expect(r.completeness?.liveMissingRate).toBe(0.2);
    expect(r.completeness?.referenceMissingRate).toBe(0);
    expectNear(r.completeness?.psi, psiByDivergences([0, 0, 120], [200, 0, 800]));
    expect(r.completeness?.pValue).toBeLessThan(0.01);
    expect(r.reason).toMatch(
      /^missing or invalid values shifted: 20% missing and 0% invalid live vs 0% missing in the reference \(PSI [\d.]+ ≥ 0\.25, chi-squared p-value [\d.e-]+ < 0\.01\); no significant shift: KS/,
    );
    // Assess: the present values are compared as they are (the reference's own): no shift there
    expect(r.ks?.pValue).toBeGreaterThan(0.01);
  });

  it("counts values of another kind than the reference's as invalid: reported, flagged once they are many", () => {
    // Prepare: x numeric in the reference; live has one stray string, then a third of them
    const { profile, x } = syntheticReference();
    const random = seededRandom(41);
    const few: unknown[] = resample(random, x, 1000);
    few[17] = 'ten';
    const many: unknown[] = resample(random, x, 1000).map((v, i) => (i % 3 === 0 ? 'n/a-ish' : i % 3 === 1 && i < 30 ? { v } : v));

    // Act
    const quiet = numericResult(driftReport(profile, { features: { x: few } }), 'x');
    const loud = numericResult(driftReport(profile, { features: { x: many } }), 'x');

    // Assess
    expect(quiet).toMatchObject({ drifted: false, counts: { live: { rows: 1000, missing: 0, invalid: 1 } } });
    expect(quiet.reason).toMatch(/; 1 live value is not a number \(0\.1%\), left out$/);
    expect(loud.drifted).toBe(true);
    expect(loud.counts.live.invalid).toBe(334 + 10);
    expectNear(loud.completeness?.psi, psiByDivergences([0, 0, 120], [0, 344, 656]));
    expect(loud.reason).toMatch(/^missing or invalid values shifted: 0% missing and 34% invalid live/);
    // A number in a categorical feature is its text, a valid category; an object is invalid
    const color = categoricalResult(
      driftReport(profile, { features: { color: ['red', 7, true, [1], ...Array<string>(40).fill('red')] } }),
      'color',
    );
    expect(color.counts.live).toEqual({ rows: 44, missing: 0, invalid: 1 });
  });

  it('reports a feature one side lacks without comparing it, and a kind mismatch is never a crash', () => {
    // Prepare
    const { profile, x } = syntheticReference();
    const random = seededRandom(51);

    // Act
    const report = driftReport(profile, {
      features: { x: resample(random, x, 100), extra: Array<string>(100).fill('z'), score: Array<number>(100).fill(1) },
    });

    // Assess
    expect(result(report, 'y')).toMatchObject({
      status: 'absent-in-live',
      kind: 'numeric',
      drifted: false,
      psi: null,
      ks: null,
      counts: { live: { rows: 0 } },
    });
    expect(result(report, 'color')).toMatchObject({ status: 'absent-in-live', kind: 'categorical', chiSquared: null });
    expect(result(report, 'extra')).toMatchObject({
      status: 'absent-in-reference',
      kind: 'categorical',
      drifted: false,
      reason: 'not in the reference profile: not compared',
    });
    expect(result(report, 'score')).toMatchObject({ status: 'absent-in-reference', kind: 'numeric' });
    expect(report.totals.features).toBe(5);
  });
});

describe('driftReport on prediction columns', () => {
  it("compares the prediction columns with the profile's predictions, in their own group", () => {
    // Prepare: a reference with predictions; live where the label shifted and the score did not
    const random = seededRandom(61);
    const label = categorical(random, 120, { a: 1, b: 1 });
    const score = normal(random, 120, 0.5, 0.1);
    const base = profileRows(label.map((_, i) => ({ x: score[i] })));
    const profile: ReferenceProfile = { ...base, predictions: profileRows(label.map((l, i) => ({ label: l, score: score[i] }))).features };
    const live = {
      features: { x: resample(random, score, 500) },
      predictions: { label: categorical(random, 500, { a: 9, b: 1 }), score: resample(random, score, 500) },
    };

    // Act
    const report = driftReport(profile, live);

    // Assess
    expect(report.results.map((r) => [r.group, r.name, r.drifted])).toEqual([
      ['prediction', 'label', true],
      ...report.results.slice(1).map((r) => [r.group, r.name, false]),
    ]);
    expect(report.totals).toMatchObject({ features: 1, driftedFeatures: 0, predictions: 2, driftedPredictions: 1 });
    // Assess: without live predictions (or a profile without them), the group is left out
    expect(driftReport(profile, { features: live.features }).totals.predictions).toBe(0);
    expect(driftReport(base, live).totals.predictions).toBe(0);
  });

  it('sorts worst first: drifted, then by PSI', () => {
    // Prepare: three features shifted by different amounts
    const { profile, x, y } = syntheticReference();
    const random = seededRandom(71);
    const features = {
      x: resample(random, x, 1000).map((v) => v + 4),
      y: resample(random, y, 1000).map((v) => v + 1),
      color: categorical(random, 1000, COLORS),
    };

    // Act
    const report = driftReport(profile, { features });

    // Assess
    expect(report.results.map((r) => r.name)).toEqual(['x', 'y', 'color']);
    expect((report.results[0]?.psi as number) > (report.results[1]?.psi as number)).toBe(true);
  });

  it('refuses thresholds out of their range', () => {
    const { profile } = syntheticReference();
    expect(() => driftReport(profile, { features: {} }, { pValue: 0 })).toThrow(RangeError);
    expect(() => driftReport(profile, { features: {} }, { psiMajor: 0.05 })).toThrow(/psiMajor/);
    expect(() => driftReport(profile, { features: {} }, { minRows: 1.5 })).toThrow(/minRows/);
  });
});

describe('canaryShift', () => {
  /** Prediction columns of `rows` rows of a classifier answering a, b, c in the given shares. */
  function predictions(seed: number, rows: number, weights: Readonly<Record<string, number>>): Record<string, unknown[]> {
    const random = seededRandom(seed);
    const label = categorical(random, rows, weights);
    return { label, 'probability[a]': label.map((l) => (l === 'a' ? 0.7 : 0.15) + 0.1 * random()) };
  }

  it('finds a canary that always answers one class shifted, naming the column and the numbers', () => {
    // Prepare
    const stable = predictions(1, 200, { a: 1, b: 1, c: 1 });
    const canary = { label: Array<string>(60).fill('a'), 'probability[a]': Array<number>(60).fill(0.99) };

    // Act
    const verdict = canaryShift(stable, canary, { stableVersion: '1', canaryVersion: '2' });

    // Assess
    expect(verdict.shifted).toBe(true);
    expect(verdict.judged).toBe(true);
    const label = verdict.columns.find((c) => c.name === 'label');
    const a = (stable.label as string[]).filter((l) => l === 'a').length;
    const b = (stable.label as string[]).filter((l) => l === 'b').length;
    expectNear(label?.psi, psiByDivergences([a, b, 200 - a - b], [60, 0, 0]));
    const chi = chiSquaredByChstwo([a, b, 200 - a - b], [60, 0, 0]);
    expectNear(label?.test?.statistic, chi.statistic);
    expectNear(label?.test?.pValue, chiSquaredPValueEvenDf(chi.statistic, 2));
    expect(verdict.reason).toMatch(
      /^prediction "(label|probability\[a\])" shifted: PSI [\d.]+ between stable version 1 \(200 rows\) and canary version 2 \(60 rows\), threshold 0\.25 \((chi-squared|KS) p-value [\d.e-]+ < 0\.01\)$/,
    );
  });

  it("does not find a canary drawn from the same distribution shifted, and computes the numeric PSI on the stable side's deciles", () => {
    // Prepare
    const stable = predictions(2, 300, { a: 1, b: 1, c: 1 });
    const canary = predictions(3, 300, { a: 1, b: 1, c: 1 });

    // Act
    const verdict = canaryShift(stable, canary, { stableVersion: '4', canaryVersion: '5' });

    // Assess
    expect(verdict).toMatchObject({ shifted: false, judged: true });
    expect(verdict.reason).toMatch(
      /^no prediction shifted between stable version 4 \(300 rows\) and canary version 5 \(300 rows\): the largest PSI is/,
    );
    const p = verdict.columns.find((c) => c.name === 'probability[a]');
    const s = stable['probability[a]'] as number[];
    const c = canary['probability[a]'] as number[];
    const sorted = [...s].sort((x, y) => x - y);
    const edges = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((k) => {
      const h = ((sorted.length - 1) * k) / 10;
      const lo = Math.floor(h);
      return (sorted[lo] as number) + (h - lo) * ((sorted[lo + 1] as number) - (sorted[lo] as number));
    });
    expectNear(p?.psi, psiByDivergences(binsByScan(s, edges), binsByScan(c, edges)));
    const d = ksByBruteForce(s, c);
    expectNear(p?.test?.statistic, d);
    expectNear(p?.test?.pValue, ksPValue(d, 300, 300));
  });

  it('finds a canary whose labels are all missing shifted', () => {
    const stable = predictions(4, 100, { a: 1, b: 1 });
    const verdict = canaryShift({ label: stable.label as unknown[] }, { label: Array<null>(100).fill(null) });
    expect(verdict.shifted).toBe(true);
    expect(verdict.reason).toMatch(
      /^prediction "label" shifted: 100% missing vs 0%, PSI [\d.]+ between the stable version \(100 rows\) and the canary \(100 rows\)/,
    );
  });

  it('does not judge with too few rows on either side', () => {
    // Prepare
    const stable = predictions(5, 200, { a: 1, b: 1, c: 1 });
    const canary = { label: Array<string>(40).fill('a') };

    // Act
    const verdict = canaryShift(stable, canary, { stableVersion: '1', canaryVersion: '2' });

    // Assess
    expect(verdict).toMatchObject({ shifted: false, judged: false });
    expect(verdict.reason).toBe(
      'too few rows to judge the canary: stable version 1 has 200 rows and canary version 2 40; at least 50 each are needed',
    );
    expect(verdict.columns.every((c) => !c.shifted)).toBe(true);
    expect(verdict.columns.find((c) => c.name === 'probability[a]')?.reason).toMatch(/^only stable version 1 has prediction/);
    // Assess: a lower minRows judges it
    expect(canaryShift(stable, canary, { minRows: 30 }).shifted).toBe(true);
  });
});
