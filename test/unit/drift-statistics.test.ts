/**
 * The drift statistics of `functions/core/drift/statistics.ts`, each checked against a computation
 * done a different way here: PSI as the sum of the two Kullback–Leibler divergences, bins by a
 * linear scan, KS D by brute force over every sample point, the Kolmogorov distribution by its
 * alternating series alone, chi-squared by the `chstwo` form and p-values by closed forms (even
 * degrees of freedom) or tabulated critical values.
 */
import {
  alignCategoryCounts,
  binCounts,
  chiSquaredTest,
  kolmogorovSurvival,
  logGamma,
  populationStabilityIndex,
  populationStabilityIndexOfSamples,
  PSI_MAJOR_SHIFT,
  PSI_MINOR_SHIFT,
  quantileBinEdges,
  regularizedGammaQ,
  StatisticsInputError,
  twoSampleKolmogorovSmirnov,
} from '../../functions/core/drift/statistics.js';
import { seededRandom } from '../fixtures/models.js';

const TOLERANCE = 1e-6;

function expectNear(actual: number, expected: number, tolerance = TOLERANCE): void {
  expect(Number.isFinite(actual)).toBe(true);
  if (Math.abs(actual - expected) > tolerance) {
    throw new Error(`expected ${actual} to be within ${tolerance} of ${expected} (difference ${Math.abs(actual - expected)})`);
  }
}

/** `count` draws from N(mean, sd²) by the Box–Muller transform over a seeded generator. */
function normalSample(seed: number, count: number, mean = 0, sd = 1): number[] {
  const random = seededRandom(seed);
  const out: number[] = [];
  while (out.length < count) {
    const u1 = 1 - random(); // in (0, 1]: the logarithm stays finite
    const u2 = random();
    const radius = Math.sqrt(-2 * Math.log(u1));
    out.push(mean + sd * radius * Math.cos(2 * Math.PI * u2));
    if (out.length < count) out.push(mean + sd * radius * Math.sin(2 * Math.PI * u2));
  }
  return out;
}

function refusalOf(act: () => unknown): StatisticsInputError {
  try {
    act();
  } catch (error) {
    if (error instanceof StatisticsInputError) return error;
    throw error;
  }
  throw new Error('expected a StatisticsInputError');
}

// Independent computations ------------------------------------------------------------------------

/** PSI as KL(c‖r) + KL(r‖c), each proportion floored at epsilon. */
function psiByDivergences(reference: readonly number[], current: readonly number[], epsilon = 1e-4): number {
  const rTotal = reference.reduce((s, v) => s + v, 0);
  const cTotal = current.reduce((s, v) => s + v, 0);
  const r = reference.map((v) => Math.max(v / rTotal, epsilon));
  const c = current.map((v) => Math.max(v / cTotal, epsilon));
  let klCr = 0;
  let klRc = 0;
  r.forEach((ri, i) => {
    const ci = c[i] as number;
    klCr += ci * Math.log(ci / ri);
    klRc += ri * Math.log(ri / ci);
  });
  return klCr + klRc;
}

/** Type-7 quantile with the 1-based textbook index h = (n − 1)p + 1. */
function quantileType7(values: readonly number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  const h = (sorted.length - 1) * p + 1;
  const lower = sorted[Math.floor(h) - 1] as number;
  const upper = sorted[Math.min(Math.floor(h), sorted.length - 1)] as number;
  return lower + (h - Math.floor(h)) * (upper - lower);
}

/** Bin index = how many edges are ≤ x, by a linear scan. */
function countsByScan(samples: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const x of samples) {
    const bin = edges.filter((e) => e <= x).length;
    counts[bin] = (counts[bin] as number) + 1;
  }
  return counts;
}

/** D by evaluating both empirical CDFs at every point of both samples. */
function ksByBruteForce(a: readonly number[], b: readonly number[]): number {
  let d = 0;
  for (const t of [...a, ...b]) {
    const fa = a.filter((v) => v <= t).length / a.length;
    const fb = b.filter((v) => v <= t).length / b.length;
    d = Math.max(d, Math.abs(fa - fb));
  }
  return d;
}

/** Q_KS(λ) by the alternating series only, summed far past convergence. */
function kolmogorovByAlternatingSeries(lambda: number): number {
  if (lambda === 0) return 1;
  let sum = 0;
  for (let j = 1; j <= 20_000; j += 1) sum += (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
  return Math.min(1, Math.max(0, 2 * sum));
}

function ksPValueIndependently(d: number, n: number, m: number): number {
  const en = (n * m) / (n + m);
  return kolmogorovByAlternatingSeries((Math.sqrt(en) + 0.12 + 0.11 / Math.sqrt(en)) * d);
}

/** X² in Numerical Recipes' `chstwo` form for unequal totals R and S. */
function chiSquaredByChstwo(r: readonly number[], s: readonly number[]): number {
  const rTotal = r.reduce((x, v) => x + v, 0);
  const sTotal = s.reduce((x, v) => x + v, 0);
  let chi = 0;
  r.forEach((ri, i) => {
    const si = s[i] as number;
    if (ri + si === 0) return;
    chi += (Math.sqrt(sTotal / rTotal) * ri - Math.sqrt(rTotal / sTotal) * si) ** 2 / (ri + si);
  });
  return chi;
}

/** Chi-squared survival for even df = 2k: e^{−x/2} Σ_{i<k} (x/2)^i / i!. */
function chiSquaredSurvivalEvenDf(x: number, df: number): number {
  let term = 1;
  let sum = 1;
  for (let i = 1; i < df / 2; i += 1) {
    term *= x / 2 / i;
    sum += term;
  }
  return Math.exp(-x / 2) * sum;
}

// Population Stability Index ----------------------------------------------------------------------

describe('populationStabilityIndex', () => {
  it('equals KL(c‖r) + KL(r‖c) on counts and on proportions', () => {
    // Prepare
    const reference = [120, 300, 250, 180, 150];
    const current = [90, 260, 310, 200, 140];

    // Act
    const fromCounts = populationStabilityIndex(reference, current);
    const fromProportions = populationStabilityIndex(
      reference.map((v) => v / 1000),
      current.map((v) => v / 1000),
    );

    // Assess
    expectNear(fromCounts, psiByDivergences(reference, current), 1e-12);
    expectNear(fromProportions, fromCounts, 1e-12);
  });

  it('is 0 for identical distributions and symmetric in its arguments', () => {
    expect(populationStabilityIndex([1, 2, 3], [2, 4, 6])).toBe(0);
    expectNear(populationStabilityIndex([5, 1, 4], [2, 6, 2]), populationStabilityIndex([2, 6, 2], [5, 1, 4]), 1e-15);
  });

  it('floors empty bins at epsilon instead of returning Infinity', () => {
    // Prepare: the last bin is empty in the reference and holds 10% now
    const reference = [50, 50, 0];
    const current = [45, 45, 10];

    // Act
    const withDefault = populationStabilityIndex(reference, current);
    const withLargerFloor = populationStabilityIndex(reference, current, 0.01);

    // Assess
    expectNear(withDefault, psiByDivergences(reference, current, 1e-4), 1e-12);
    expectNear(withLargerFloor, psiByDivergences(reference, current, 0.01), 1e-12);
    expect(withLargerFloor).toBeLessThan(withDefault);
  });

  it('names the rule-of-thumb thresholds 0.1 and 0.25', () => {
    expect([PSI_MINOR_SHIFT, PSI_MAJOR_SHIFT]).toEqual([0.1, 0.25]);
  });

  it('refuses different bin counts, empty or zero-total inputs, negative counts and a bad epsilon', () => {
    expect(refusalOf(() => populationStabilityIndex([1, 2], [1, 2, 3])).message).toMatch(/same bins/);
    expect(refusalOf(() => populationStabilityIndex([], [])).message).toMatch(/no bins/);
    expect(refusalOf(() => populationStabilityIndex([0, 0], [1, 1])).message).toMatch(/reference sums to 0/);
    expect(refusalOf(() => populationStabilityIndex([1, -1], [1, 1])).message).toMatch(/reference\[1\] is -1/);
    expect(refusalOf(() => populationStabilityIndex([1, Number.NaN], [1, 1])).message).toMatch(/finite/);
    expect(refusalOf(() => populationStabilityIndex([1, 1], [1, 1], 0)).message).toMatch(/epsilon/);
  });
});

describe('quantileBinEdges and binCounts', () => {
  it('puts the edges at the type-7 deciles of the reference', () => {
    // Prepare
    const ones = Array.from({ length: 10 }, (_, i) => i + 1); // deciles of 1..10 are 1 + 9p
    const sample = normalSample(11, 777);

    // Act
    const onesEdges = quantileBinEdges(ones);
    const sampleEdges = quantileBinEdges(sample, 10);

    // Assess
    onesEdges.forEach((edge, i) => expectNear(edge, 1 + 0.9 * (i + 1), 1e-12));
    expect(sampleEdges).toHaveLength(9);
    sampleEdges.forEach((edge, i) => expectNear(edge, quantileType7(sample, (i + 1) / 10), 1e-12));
  });

  it('merges tied cut points, so a constant reference gives one edge', () => {
    expect(quantileBinEdges([3, 3, 3, 3])).toEqual([3]);
    // Quintiles of eight zeros, 1 and 2: 0, 0, 0 and 0.2 (h = 7.2 lies between the last 0 and the 1)
    const zeros = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
    const edges = quantileBinEdges(zeros, 5);
    expect(edges).toHaveLength(2);
    expect(edges[0]).toBe(0);
    expectNear(edges[1] as number, 0.2, 1e-12);
    expectNear(quantileType7(zeros, 0.8), 0.2, 1e-12);
  });

  it('counts a value on an edge in the bin above, and out-of-range values in the outer bins', () => {
    // Prepare
    const edges = [0, 1, 2];

    // Act
    const counts = binCounts([-100, -0.5, 0, 0.5, 1, 1.999, 2, 3, 1e9], edges);

    // Assess
    expect(counts).toEqual([2, 2, 2, 3]);
    expect(counts).toEqual(countsByScan([-100, -0.5, 0, 0.5, 1, 1.999, 2, 3, 1e9], edges));
  });

  it('agrees with a linear scan on seeded samples', () => {
    const reference = normalSample(1, 1000);
    const edges = quantileBinEdges(reference, 20);
    const current = normalSample(2, 600, 0.3, 1.2);
    expect(binCounts(current, edges)).toEqual(countsByScan(current, edges));
    expect(binCounts(reference, edges)).toEqual(countsByScan(reference, edges));
  });

  it('refuses bad bins, empty references, NaN samples and non-increasing edges', () => {
    expect(refusalOf(() => quantileBinEdges([1, 2, 3], 1)).message).toMatch(/bins must be an integer/);
    expect(refusalOf(() => quantileBinEdges([])).message).toMatch(/reference holds no values/);
    expect(refusalOf(() => binCounts([1, Number.NaN], [0])).message).toMatch(/samples\[1\] is NaN/);
    expect(refusalOf(() => binCounts([1], [1, 1])).message).toMatch(/strictly increasing/);
    expect(refusalOf(() => binCounts([1], [])).message).toMatch(/at least one/);
  });
});

describe('populationStabilityIndexOfSamples', () => {
  it('matches an independent binning and divergence sum, and separates drift from noise', () => {
    // Prepare
    const reference = normalSample(101, 5000);
    const same = normalSample(202, 2000);
    const shifted = normalSample(303, 2000, 0.5);

    // Act
    const noDrift = populationStabilityIndexOfSamples(reference, same);
    const drift = populationStabilityIndexOfSamples(reference, shifted);

    // Assess
    for (const [result, current] of [
      [noDrift, same],
      [drift, shifted],
    ] as const) {
      const edges = Array.from({ length: 9 }, (_, i) => quantileType7(reference, (i + 1) / 10));
      result.edges.forEach((edge, i) => expectNear(edge, edges[i] as number, 1e-12));
      expect(result.referenceCounts).toEqual(countsByScan(reference, result.edges));
      expect(result.currentCounts).toEqual(countsByScan(current, result.edges));
      expectNear(result.psi, psiByDivergences(countsByScan(reference, edges), countsByScan(current, edges)));
    }
    // For N(0,1) against N(δ,1) the unbinned PSI (Jeffreys divergence) is δ² = 0.25; deciles see a little less.
    expect(noDrift.psi).toBeLessThan(PSI_MINOR_SHIFT / 4);
    expect(drift.psi).toBeGreaterThan(PSI_MINOR_SHIFT);
    expect(drift.psi).toBeLessThan(PSI_MAJOR_SHIFT);
  });

  it('refuses an empty current sample', () => {
    expect(refusalOf(() => populationStabilityIndexOfSamples([1, 2, 3], [])).message).toMatch(/current holds no values/);
  });
});

// Kolmogorov–Smirnov ------------------------------------------------------------------------------

describe('kolmogorovSurvival', () => {
  it('matches the tabulated Kolmogorov distribution', () => {
    // Tabulated Q_KS values (Smirnov 1948; the 5% and 1% critical values 1.36 and 1.63).
    expectNear(kolmogorovSurvival(1.36), 0.049485876755377876, 1e-9);
    expectNear(kolmogorovSurvival(1.63), 0.009846364888486529, 1e-9);
    expectNear(kolmogorovSurvival(0.9), 0.3927307079406543, 1e-9);
    expectNear(kolmogorovSurvival(0.5), 0.9639452436648751, 1e-9);
    expect(kolmogorovSurvival(0)).toBe(1);
    expect(kolmogorovSurvival(-1)).toBe(1);
  });

  it('agrees with the alternating series alone on both sides of the switch at 1.18', () => {
    for (const lambda of [0.2, 0.35, 0.6, 1.0, 1.1799, 1.18, 1.3, 2, 3.5]) {
      expectNear(kolmogorovSurvival(lambda), kolmogorovByAlternatingSeries(lambda), 1e-12);
    }
  });
});

describe('twoSampleKolmogorovSmirnov', () => {
  it('matches brute force over every sample point, with the Stephens-corrected p-value', () => {
    // Prepare
    const a = normalSample(5, 400);
    const b = normalSample(6, 300, 0.1, 1.1);

    // Act
    const result = twoSampleKolmogorovSmirnov(a, b);

    // Assess
    expectNear(result.statistic, ksByBruteForce(a, b), 1e-12);
    expectNear(result.pValue, ksPValueIndependently(result.statistic, 400, 300));
    expectNear(result.effectiveSampleSize, (400 * 300) / 700, 1e-12);
  });

  it('handles ties within and across samples exactly', () => {
    // Prepare: values rounded to one decimal tie often, within and across the samples
    const a = normalSample(7, 500).map((v) => Math.round(v * 10) / 10);
    const b = normalSample(8, 350, 0.2).map((v) => Math.round(v * 10) / 10);
    const small = { a: [1, 2, 2, 3], b: [2, 2, 2, 4] };

    // Act
    const rounded = twoSampleKolmogorovSmirnov(a, b);
    const tiny = twoSampleKolmogorovSmirnov(small.a, small.b);

    // Assess
    expectNear(rounded.statistic, ksByBruteForce(a, b), 1e-12);
    expectNear(rounded.pValue, ksPValueIndependently(rounded.statistic, 500, 350));
    expectNear(tiny.statistic, ksByBruteForce(small.a, small.b), 1e-15);
    expect(tiny.statistic).toBe(0.25);
  });

  it('finds no difference between identical samples, and is symmetric', () => {
    const a = normalSample(9, 250);
    expect(twoSampleKolmogorovSmirnov(a, [...a].reverse())).toEqual({ statistic: 0, pValue: 1, effectiveSampleSize: 125 });
    const b = normalSample(10, 190);
    expect(twoSampleKolmogorovSmirnov(a, b).statistic).toBe(twoSampleKolmogorovSmirnov(b, a).statistic);
  });

  it('gives a large D and a tiny p-value for a shifted sample, a large p-value for the same distribution', () => {
    // Act
    const shifted = twoSampleKolmogorovSmirnov(normalSample(21, 1000), normalSample(22, 1000, 0.5));
    const same = twoSampleKolmogorovSmirnov(normalSample(23, 1000), normalSample(24, 1000));

    // Assess: a 0.5 sd shift moves the CDF by up to Φ(0.25) − Φ(−0.25) ≈ 0.197
    expect(shifted.statistic).toBeGreaterThan(0.15);
    expect(shifted.pValue).toBeLessThan(1e-6);
    expect(same.statistic).toBeLessThan(0.06);
    expect(same.pValue).toBeGreaterThan(0.05);
  });

  it('handles one value per side and samples that are all ties', () => {
    // Act
    const single = twoSampleKolmogorovSmirnov([1], [2]);
    const equalTies = twoSampleKolmogorovSmirnov([5, 5, 5], [5, 5]);
    const apartTies = twoSampleKolmogorovSmirnov([5, 5, 5], [6, 6]);

    // Assess
    expect(single.statistic).toBe(1);
    expectNear(single.pValue, ksPValueIndependently(1, 1, 1));
    expect(equalTies).toEqual({ statistic: 0, pValue: 1, effectiveSampleSize: 1.2 });
    expect(apartTies.statistic).toBe(1);
    expectNear(apartTies.pValue, ksPValueIndependently(1, 3, 2));
  });

  it('refuses empty samples and NaN or infinite values, and leaves its inputs unsorted', () => {
    expect(refusalOf(() => twoSampleKolmogorovSmirnov([], [1])).message).toMatch(/a holds no values/);
    expect(refusalOf(() => twoSampleKolmogorovSmirnov([1], [])).message).toMatch(/b holds no values/);
    expect(refusalOf(() => twoSampleKolmogorovSmirnov([1, Number.NaN], [1])).message).toMatch(/a\[1\] is NaN/);
    expect(refusalOf(() => twoSampleKolmogorovSmirnov([1], [Infinity])).message).toMatch(/b\[0\] is Infinity/);
    const input = [3, 1, 2];
    twoSampleKolmogorovSmirnov(input, [0]);
    expect(input).toEqual([3, 1, 2]);
  });
});

// Chi-squared ---------------------------------------------------------------------------------------

describe('regularizedGammaQ and logGamma', () => {
  it('gives the tabulated chi-squared critical values their tail probabilities', () => {
    // Upper-tail critical values of χ² (as in any statistics table, here to full double precision).
    const table: ReadonlyArray<[df: number, x: number, p: number]> = [
      [1, 3.8414588206941285, 0.05],
      [1, 6.634896601021217, 0.01],
      [3, 7.814727903251178, 0.05],
      [7, 24.321886347856854, 0.001],
      [10, 18.30703805327515, 0.05],
    ];
    for (const [df, x, p] of table) expectNear(regularizedGammaQ(df / 2, x / 2), p, 1e-9);
  });

  it('matches the closed form for even degrees of freedom, on both the series and continued-fraction sides', () => {
    for (const df of [2, 4, 10, 30]) {
      for (const x of [0.01, 0.5, 3, df - 1, df + 3, 2 * df, 60, 150]) {
        expectNear(regularizedGammaQ(df / 2, x / 2), chiSquaredSurvivalEvenDf(x, df), 1e-12);
      }
    }
    expect(regularizedGammaQ(3, 0)).toBe(1);
    expect(regularizedGammaQ(3, Infinity)).toBe(0);
  });

  it('computes ln Γ at integers and halves', () => {
    let factorial = 1;
    for (let n = 1; n <= 20; n += 1) {
      expectNear(logGamma(n), Math.log(factorial), 1e-12);
      factorial *= n;
    }
    expectNear(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13);
    expectNear(logGamma(0.25) - logGamma(1.25), -Math.log(0.25), 1e-12); // Γ(z+1) = zΓ(z)
  });

  it('refuses a ≤ 0 and x < 0', () => {
    expect(refusalOf(() => regularizedGammaQ(0, 1)).message).toMatch(/positive/);
    expect(refusalOf(() => regularizedGammaQ(1, -1)).message).toMatch(/x must be/);
    expect(refusalOf(() => logGamma(0)).message).toMatch(/z > 0/);
  });
});

describe('chiSquaredTest', () => {
  it('matches the chstwo form of X² and a p-value from the closed form', () => {
    // Prepare: 5 categories → 4 degrees of freedom, an even number with a closed-form tail
    const reference = [120, 300, 250, 180, 150];
    const current = [90, 260, 310, 200, 140];

    // Act
    const result = chiSquaredTest(reference, current);

    // Assess
    expectNear(result.statistic, chiSquaredByChstwo(reference, current), 1e-9);
    expect(result.degreesOfFreedom).toBe(4);
    expectNear(result.pValue, chiSquaredSurvivalEvenDf(result.statistic, 4), 1e-12);
  });

  it('aligns maps by category and counts a category seen on one side only', () => {
    // Prepare
    const reference = new Map([
      ['red', 500],
      ['green', 300],
      ['blue', 200],
    ]);
    const current = { blue: 40, red: 90, purple: 20, green: 50 };

    // Act
    const result = chiSquaredTest(reference, current);
    const aligned = alignCategoryCounts(reference, current);

    // Assess
    expect(aligned).toEqual({ categories: ['red', 'green', 'blue', 'purple'], reference: [500, 300, 200, 0], current: [90, 50, 40, 20] });
    expectNear(result.statistic, chiSquaredByChstwo([500, 300, 200, 0], [90, 50, 40, 20]), 1e-9);
    expect(result.degreesOfFreedom).toBe(3);
    expect(result.pValue).toBeLessThan(1e-6);
    expectNear(result.minExpected, (20 * 200) / 1200, 1e-12);
  });

  it('reproduces a worked 2×2 example: 50/50 against 30/70', () => {
    // X² = 2·(10²/40 + 10²/60) = 8.333…; with 1 df, p = P(|Z| > √X²)
    const result = chiSquaredTest({ yes: 50, no: 50 }, { yes: 30, no: 70 });
    expectNear(result.statistic, 25 / 3, 1e-12);
    expect(result.degreesOfFreedom).toBe(1);
    expect(result.pValue).toBeGreaterThan(0.001);
    expect(result.pValue).toBeLessThan(0.01); // 8.33 lies between the 1% (6.63) and 0.1% (10.83) critical values
  });

  it('finds nothing when the proportions are the same, and skips categories empty on both sides', () => {
    const result = chiSquaredTest([10, 0, 30], [20, 0, 60]);
    expect(result).toEqual({ statistic: 0, degreesOfFreedom: 1, pValue: 1, minExpected: 10 });
  });

  it('returns 0 degrees of freedom and p = 1 for a single category', () => {
    expect(chiSquaredTest({ a: 7 }, { a: 3 })).toEqual({ statistic: 0, degreesOfFreedom: 0, pValue: 1, minExpected: 3 });
  });

  it('refuses empty or zero-total sides, negative counts, unequal arrays and arrays mixed with maps', () => {
    expect(refusalOf(() => chiSquaredTest([], [])).message).toMatch(/no bins or categories/);
    expect(refusalOf(() => chiSquaredTest({ a: 1 }, { a: 0 })).message).toMatch(/current sums to 0/);
    expect(refusalOf(() => chiSquaredTest([1, -2], [1, 2])).message).toMatch(/reference\[1\] is -2/);
    expect(refusalOf(() => chiSquaredTest([1, 2], [1, 2, 3])).message).toMatch(/same length/);
    expect(refusalOf(() => chiSquaredTest([1, 2], { a: 1 })).message).toMatch(/both be arrays/);
  });
});
