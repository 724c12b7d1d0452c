/**
 * The statistics of `functions/core/experiments/statistics.ts` (issue 14), checked three ways:
 *
 * 1. Simulated outcomes, with a known effect and with none, for conversions and for values: every
 *    p-value and interval equals an independent computation written out here, to 1e-9 absolute
 *    (the issue's acceptance).
 * 2. Published examples, to the digits published.
 * 3. Degenerate cases, finiteness, and refused input.
 *
 * The independent computation: the textbook formulas in a different algebraic arrangement from
 * the module's, with the normal distribution from jStat (`jStat.normal.cdf`/`inv`, checked below
 * against Abramowitz & Stegun's tables). jStat's Student t is not accurate enough for 1e-9: its
 * incomplete beta stops its continued fraction at a relative change of 3e-7 and its log-gamma is
 * Numerical Recipes' 6-term Lanczos (about 2e-10), so `studentt.cdf`/`inv` are off by up to about
 * 5e-8. The t distribution is therefore computed here by numerical integration instead, with no
 * special function at all: substituting x = √ν·tan φ in the density gives
 *
 *     P(|T| > t) = ∫_θ^{π/2} cos^{ν−1}φ dφ / ∫_0^{π/2} cos^{ν−1}φ dφ,   θ = atan(t/√ν)
 *
 * (the normalising constant is the same integral, so no gamma function is needed), integrated by
 * composite 20-point Gauss–Legendre; the quantile is Newton's method on that CDF, started from
 * jStat's `studentt.inv`. The route is itself checked against the closed forms for ν = 1, 2, 3.
 */
import { seededRandom } from '../../scripts/sample-model.js';
import { createRequire } from 'node:module';
import {
  meanEstimate,
  proportionEstimate,
  RunningMoments,
  twoProportionZTest,
  welchTTest,
  type Comparison,
  type Interval,
} from '../../functions/core/experiments/statistics.js';

interface JStat {
  normal: { cdf(x: number, mean: number, sd: number): number; inv(p: number, mean: number, sd: number): number };
  studentt: { cdf(x: number, dof: number): number; inv(p: number, dof: number): number };
}
// jstat is CommonJS without type declarations: required, and typed by the part used here.
const { jStat } = createRequire(import.meta.url)('jstat') as { jStat: JStat };

const TOLERANCE = 1e-9;
/** The largest difference seen by `expectClose` against the independent computation. */
let largestDifference = 0;

function expectClose(actual: number | null | undefined, expected: number, tolerance = TOLERANCE): void {
  if (typeof actual !== 'number' || !Number.isFinite(actual) || !Number.isFinite(expected)) {
    throw new Error(`expected finite numbers, got ${actual} and ${expected}`);
  }
  const difference = Math.abs(actual - expected);
  if (tolerance === TOLERANCE) largestDifference = Math.max(largestDifference, difference);
  if (!(difference <= tolerance)) throw new Error(`expected ${actual} to be within ${tolerance} of ${expected} (difference ${difference})`);
}

function expectIntervalClose(actual: Interval, expected: Interval): void {
  expectClose(actual.low, expected.low);
  expectClose(actual.high, expected.high);
}

/** `actual` rounds to `published`, which was printed with `decimals` decimals. */
function expectPublished(actual: number | null | undefined, published: number, decimals: number): void {
  expectClose(actual, published, 0.5 * 10 ** -decimals + 1e-15);
}

// Seeded simulation -------------------------------------------------------------------------------

/** Conversions of `n` units converting with probability `rate`: the count of successes. */
function simulateConversions(random: () => number, n: number, rate: number): { successes: number; n: number } {
  let successes = 0;
  for (let i = 0; i < n; i += 1) if (random() < rate) successes += 1;
  return { successes, n };
}

/** `n` draws from N(mean, sd²) by the Box–Muller transform. */
function simulateValues(random: () => number, n: number, mean: number, sd: number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const radius = Math.sqrt(-2 * Math.log(1 - random())); // 1 − U in (0, 1]: the logarithm is finite
    const angle = 2 * Math.PI * random();
    out.push(mean + sd * radius * Math.cos(angle));
    if (out.length < n) out.push(mean + sd * radius * Math.sin(angle));
  }
  return out;
}

function runningSummary(values: readonly number[]): { n: number; mean: number; variance: number } {
  const moments = new RunningMoments();
  for (const x of values) moments.add(x);
  return { n: moments.n, mean: moments.mean, variance: moments.variance };
}

/** The two-pass mean and sample variance, in floating point. */
function twoPassSummary(values: readonly number[]): { n: number; mean: number; variance: number } {
  const n = values.length;
  const mean = values.reduce((s, x) => s + x, 0) / n;
  const variance = values.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
}

// Independent computation: normal (jStat) ---------------------------------------------------------

function zCritical(alpha: number): number {
  return jStat.normal.inv(1 - alpha / 2, 0, 1);
}

function normalTwoSidedP(z: number): number {
  return 2 * (1 - jStat.normal.cdf(Math.abs(z), 0, 1));
}

// Independent computation: Student's t by integration ----------------------------------------------

/** Gauss–Legendre nodes and weights on [−1, 1], by Newton's method on Pₙ (Golub & Welsch would do too). */
function gaussLegendre(order: number): { nodes: number[]; weights: number[] } {
  const nodes: number[] = [];
  const weights: number[] = [];
  for (let i = 1; i <= order; i += 1) {
    let x = Math.cos((Math.PI * (i - 0.25)) / (order + 0.5));
    let derivative = 0;
    for (let iteration = 0; iteration < 100; iteration += 1) {
      // P_order(x) and its derivative by the three-term recurrence.
      let p0 = 1;
      let p1 = x;
      for (let k = 2; k <= order; k += 1) [p0, p1] = [p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k];
      derivative = (order * (x * p1 - p0)) / (x * x - 1);
      const step = p1 / derivative;
      x -= step;
      if (Math.abs(step) < 1e-16) break;
    }
    nodes.push(x);
    weights.push(2 / ((1 - x * x) * derivative * derivative));
  }
  return { nodes, weights };
}

const GL = gaussLegendre(20);

/** ∫_a^b f by composite 20-point Gauss–Legendre over `panels` equal panels. */
function integrate(f: (x: number) => number, a: number, b: number, panels: number): number {
  const width = (b - a) / panels;
  let total = 0;
  for (let j = 0; j < panels; j += 1) {
    const mid = a + (j + 0.5) * width;
    let sum = 0;
    GL.nodes.forEach((node, i) => {
      sum += (GL.weights[i] as number) * f(mid + (node * width) / 2);
    });
    total += (sum * width) / 2;
  }
  return total;
}

/**
 * ∫_a^b cos^{ν−1}φ dφ, 0 ≤ a < b = π/2, with panels a few times narrower than the peak's width
 * 1/√ν, the last one cut geometrically toward π/2, where cos^{ν−1} behaves as (π/2 − φ)^{ν−1}
 * and is not smooth for a non-integer ν (a graded mesh keeps Gauss–Legendre's accuracy there).
 */
function cosinePowerIntegral(a: number, b: number, nu: number, refine = 1): number {
  const f = (phi: number) => Math.exp((nu - 1) * Math.log(Math.cos(phi)));
  const panels = refine * Math.max(16, Math.ceil((b - a) * Math.sqrt(nu) * 8));
  const width = (b - a) / panels;
  let total = integrate(f, a, b - width, panels - 1);
  let end = b - width;
  for (let level = 0; level < 60 * refine; level += 1) {
    const next = b - (b - end) * 0.2;
    total += integrate(f, end, next, 1);
    end = next;
  }
  return total;
}

/** P(|T_ν| > t): the two-sided p-value of a t statistic. */
function tTwoSidedP(t: number, nu: number, refine = 1): number {
  const theta = Math.atan(Math.abs(t) / Math.sqrt(nu));
  return cosinePowerIntegral(theta, Math.PI / 2, nu, refine) / cosinePowerIntegral(0, Math.PI / 2, nu, refine);
}

/** The density of T_ν at t, normalised by the same integral. */
function tDensity(t: number, nu: number): number {
  return (1 + (t * t) / nu) ** (-(nu + 1) / 2) / (2 * Math.sqrt(nu) * cosinePowerIntegral(0, Math.PI / 2, nu));
}

/** t_{1−alpha/2, ν}: Newton's method on P(|T| > q) = alpha, started from jStat's approximation. */
function tCriticalValue(alpha: number, nu: number): number {
  let q = jStat.studentt.inv(1 - alpha / 2, nu);
  for (let iteration = 0; iteration < 50; iteration += 1) {
    const step = (tTwoSidedP(q, nu) - alpha) / (2 * tDensity(q, nu));
    q += step;
    if (Math.abs(step) <= 1e-15 * q) return q;
  }
  throw new Error(`t quantile did not converge (alpha ${alpha}, df ${nu})`);
}

// Independent computation: the estimates and tests --------------------------------------------------

/** Wilson's interval in Newcombe's (1998) arrangement: (2np̂ + z² ± z√(z² + 4np̂q̂)) / (2(n + z²)). */
function wilsonByNewcombe(successes: number, n: number, alpha: number): Interval {
  const z = zCritical(alpha);
  const p = successes / n;
  const root = z * Math.sqrt(z * z + 4 * n * p * (1 - p));
  return { low: (2 * n * p + z * z - root) / (2 * (n + z * z)), high: (2 * n * p + z * z + root) / (2 * (n + z * z)) };
}

function zTestIndependently(control: { successes: number; n: number }, treatment: { successes: number; n: number }, alpha: number) {
  const [x1, n1, x2, n2] = [control.successes, control.n, treatment.successes, treatment.n];
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const z = (p2 - p1) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const half = zCritical(alpha) * Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2);
  return { difference: p2 - p1, z, pValue: normalTwoSidedP(z), ci: { low: p2 - p1 - half, high: p2 - p1 + half } };
}

function welchIndependently(
  control: { n: number; mean: number; variance: number },
  treatment: { n: number; mean: number; variance: number },
  alpha: number,
) {
  const s1 = control.variance;
  const s2 = treatment.variance;
  const [n1, n2] = [control.n, treatment.n];
  const se2 = s1 / n1 + s2 / n2;
  const df = se2 ** 2 / ((s1 / n1) ** 2 / (n1 - 1) + (s2 / n2) ** 2 / (n2 - 1));
  const difference = treatment.mean - control.mean;
  const t = difference / Math.sqrt(se2);
  const half = tCriticalValue(alpha, df) * Math.sqrt(se2);
  return { difference, t, df, pValue: tTwoSidedP(t, df), ci: { low: difference - half, high: difference + half } };
}

function studentIntervalIndependently(values: readonly number[], alpha: number): Interval {
  const { n, mean, variance } = twoPassSummary(values);
  const half = (tCriticalValue(alpha, n - 1) * Math.sqrt(variance)) / Math.sqrt(n);
  return { low: mean - half, high: mean + half };
}

/** JSON carries every number of a result unchanged (no Infinity or NaN turned into null). */
function expectJsonSafe(result: object): void {
  expect(JSON.parse(JSON.stringify(result))).toEqual(result);
}

// -------------------------------------------------------------------------------------------------

describe('the independent computation', () => {
  it('uses a normal distribution that matches Abramowitz & Stegun (1964), Tables 26.1 and 26.5', () => {
    // Φ(x) to 15 decimals (Table 26.1) and the upper 2.5% and 0.5% points (Table 26.5).
    expectClose(jStat.normal.cdf(1, 0, 1), 0.841344746068543, 1e-14);
    expectClose(jStat.normal.cdf(2, 0, 1), 0.977249868051821, 1e-14);
    expectClose(jStat.normal.cdf(3, 0, 1), 0.99865010196837, 1e-14);
    expectClose(zCritical(0.05), 1.959963984540054, 1e-12);
    expectClose(zCritical(0.01), 2.575829303548901, 1e-12);
  });

  it('integrates the t distribution to its closed forms at 1, 2 and 3 degrees of freedom', () => {
    for (const t of [0.1, 0.7, 1.96, 3.2, 12]) {
      // Cauchy: P(|T| > t) = 1 − 2·atan(t)/π.
      expectClose(tTwoSidedP(t, 1), 1 - (2 * Math.atan(t)) / Math.PI, 1e-13);
      // ν = 2: F(t) = 1/2 + t / (2√(2 + t²)).
      expectClose(tTwoSidedP(t, 2), 1 - t / Math.sqrt(2 + t * t), 1e-13);
      // ν = 3: F(t) = 1/2 + (1/π)(t/(√3(1 + t²/3)) + atan(t/√3)).
      const cdf3 = 0.5 + (t / (Math.sqrt(3) * (1 + (t * t) / 3)) + Math.atan(t / Math.sqrt(3))) / Math.PI;
      expectClose(tTwoSidedP(t, 3), 2 * (1 - cdf3), 1e-13);
    }
    // ν = 2 quantile: q = (2p − 1)·√(2 / (4p(1 − p))) at p = 1 − alpha/2.
    const p = 0.975;
    expectClose(tCriticalValue(0.05, 2), (2 * p - 1) * Math.sqrt(2 / (4 * p * (1 - p))), 1e-12);
  });

  it('is converged (doubling the panels changes nothing at 1e-13) and agrees with jStat to its accuracy', () => {
    for (const nu of [1.5, 9, 17.78, 120.4, 4297.3]) {
      for (const t of [0.05, 1, 2.2, 4]) {
        expectClose(tTwoSidedP(t, nu, 2), tTwoSidedP(t, nu), 1e-13);
        expectClose(2 * jStat.studentt.cdf(-t, nu), tTwoSidedP(t, nu), 1e-6);
      }
      expectClose(jStat.studentt.inv(0.975, nu), tCriticalValue(0.05, nu), 1e-6);
    }
  });
});

describe('on simulated conversions', () => {
  const cases = [
    { name: 'a known effect (10% against 13%, 5,000 units each)', seed: 20250301, rates: [0.1, 0.13], significant: true },
    { name: 'no effect (12% against 12%, 5,000 units each)', seed: 20250302, rates: [0.12, 0.12], significant: false },
  ] as const;

  for (const c of cases) {
    describe(c.name, () => {
      const random = seededRandom(c.seed);
      const control = simulateConversions(random, 5000, c.rates[0]);
      const treatment = simulateConversions(random, 5000, c.rates[1]);

      it('gives the rates with Wilson intervals equal to the independent computation', () => {
        for (const alpha of [0.05, 0.05 / 3, 0.001]) {
          for (const group of [control, treatment]) {
            const estimate = proportionEstimate(group.successes, group.n, alpha);
            expect(estimate).toMatchObject({ n: group.n, successes: group.successes, mean: group.successes / group.n });
            expectIntervalClose(estimate.ci, wilsonByNewcombe(group.successes, group.n, alpha));
          }
        }
      });

      it('gives z, the p-value and the interval of the difference equal to the independent computation', () => {
        for (const alpha of [0.05, 0.05 / 3, 0.001]) {
          const result = twoProportionZTest(control, treatment, alpha);
          const expected = zTestIndependently(control, treatment, alpha);
          expect(result.test).toBe('two-proportion z-test');
          expect(result.degreesOfFreedom).toBeUndefined();
          expectClose(result.difference, expected.difference);
          expectClose(result.statistic, expected.z);
          expectClose(result.pValue, expected.pValue);
          expectIntervalClose(result.ci, expected.ci);
          expectJsonSafe(result);
        }
      });

      it(`is ${c.significant ? '' : 'not '}significant at 0.05, and its interval covers the true difference`, () => {
        const result = twoProportionZTest(control, treatment, 0.05);
        expect(result.pValue < 0.05).toBe(c.significant);
        const truth = c.rates[1] - c.rates[0];
        expect(result.ci.low).toBeLessThan(truth);
        expect(result.ci.high).toBeGreaterThan(truth);
        // The interval excludes 0 exactly when the effect is there (for this sample).
        expect(result.ci.low > 0).toBe(c.significant);
      });
    });
  }
});

describe('on simulated values', () => {
  const cases = [
    { name: 'a known effect (mean 10 against 10.5, sd 3, n 2,000 and 2,300)', seed: 1947, means: [10, 10.5], significant: true },
    { name: 'no effect (mean 10 against 10, sd 3, n 2,000 and 2,300)', seed: 1946, means: [10, 10], significant: false },
  ] as const;

  for (const c of cases) {
    describe(c.name, () => {
      const random = seededRandom(c.seed);
      const controlValues = simulateValues(random, 2000, c.means[0], 3);
      const treatmentValues = simulateValues(random, 2300, c.means[1], 3);
      const control = runningSummary(controlValues);
      const treatment = runningSummary(treatmentValues);

      it('gives the means with Student t intervals equal to the independent computation', () => {
        for (const alpha of [0.05, 0.05 / 3, 0.001]) {
          for (const values of [controlValues, treatmentValues]) {
            const summary = runningSummary(values);
            const estimate = meanEstimate(summary, alpha);
            expect(estimate).toMatchObject(summary);
            expectIntervalClose(estimate.ci, studentIntervalIndependently(values, alpha));
          }
        }
      });

      it('gives t, the Welch–Satterthwaite df, the p-value and the interval equal to the independent computation', () => {
        for (const alpha of [0.05, 0.05 / 3, 0.001]) {
          const result = welchTTest(control, treatment, alpha);
          const expected = welchIndependently(twoPassSummary(controlValues), twoPassSummary(treatmentValues), alpha);
          expect(result.test).toBe("Welch's t-test");
          expectClose(result.difference, expected.difference);
          expectClose(result.statistic, expected.t);
          expectClose(result.degreesOfFreedom, expected.df);
          expectClose(result.pValue, expected.pValue);
          expectIntervalClose(result.ci, expected.ci);
          expectJsonSafe(result);
        }
      });

      it(`is ${c.significant ? '' : 'not '}significant at 0.05, and its interval covers the true difference`, () => {
        const result = welchTTest(control, treatment, 0.05);
        expect(result.pValue < 0.05).toBe(c.significant);
        const truth = c.means[1] - c.means[0];
        expect(result.ci.low).toBeLessThan(truth);
        expect(result.ci.high).toBeGreaterThan(truth);
        expect(result.ci.low > 0).toBe(c.significant);
      });
    });
  }

  afterAll(() => {
    // Every comparison with the independent computation, both describe blocks: within 1e-9.
    expect(largestDifference).toBeGreaterThan(0);
    expect(largestDifference).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe('published examples', () => {
  it("reproduces R's Welch test of 1:10 against c(7:20, 200) (R documentation of stats::t.test, example)", () => {
    // R prints: t = -1.6329, df = 14.165, p-value = 0.1245,
    // 95 percent confidence interval: -47.242900 6.376233 (for x − y; here treatment − control).
    const control = runningSummary(Array.from({ length: 10 }, (_, i) => i + 1));
    const treatment = runningSummary([...Array.from({ length: 14 }, (_, i) => i + 7), 200]);
    const result = welchTTest(control, treatment, 0.05);
    expectPublished(result.statistic, 1.6329, 4);
    expectPublished(result.degreesOfFreedom, 14.165, 3);
    expectPublished(result.pValue, 0.1245, 4);
    expectPublished(result.ci.low, -6.376233, 6);
    expectPublished(result.ci.high, 47.2429, 6);
  });

  it("reproduces Student's sleep data (Cushny & Peebles 1905, in Student 1908), as R's t.test(extra ~ group, data = sleep)", () => {
    // R prints: t = -1.8608, df = 17.776, p-value = 0.07939,
    // 95 percent confidence interval: -3.3654832 0.2054832 (group 1 − group 2).
    const group1 = runningSummary([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]);
    const group2 = runningSummary([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]);
    const result = welchTTest(group1, group2, 0.05);
    expectPublished(result.difference, 1.58, 12);
    expectPublished(result.statistic, 1.8608, 4);
    expectPublished(result.degreesOfFreedom, 17.776, 3);
    expectPublished(result.pValue, 0.07939, 5);
    expectPublished(result.ci.low, -0.2054832, 7);
    expectPublished(result.ci.high, 3.3654832, 7);
  });

  it('reproduces the Wilson intervals of Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3', () => {
    const published: Array<[number, number, number, number]> = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [successes, n, low, high] of published) {
      const { ci } = proportionEstimate(successes, n, 0.05);
      expectPublished(ci.low, low, 4);
      expectPublished(ci.high, high, 4);
    }
  });

  it('reproduces the Wald intervals of Newcombe (1998), "Interval estimation for the difference between independent proportions", Table II, method 1', () => {
    // Examples (a)–(d): first proportion − second; here treatment − control.
    const published: Array<[[number, number], [number, number], number, number]> = [
      [[56, 70], [48, 80], 0.0575, 0.3425],
      [[9, 10], [3, 10], 0.2605, 0.9395],
      [[6, 7], [2, 7], 0.1481, 0.9947],
      [[5, 56], [0, 29], 0.0146, 0.164],
    ];
    for (const [[x1, n1], [x2, n2], low, high] of published) {
      const { ci } = twoProportionZTest({ successes: x2, n: n2 }, { successes: x1, n: n1 }, 0.05);
      expectPublished(ci.low, low, 4);
      expectPublished(ci.high, high, 4);
    }
  });
});

describe('RunningMoments', () => {
  /** The exact value of num/den (BigInt) as the nearest double. */
  function ratio(num: bigint, den: bigint): number {
    const negative = num < 0n !== den < 0n;
    const [a, b] = [num < 0n ? -num : num, den < 0n ? -den : den];
    const shift = Math.max(0, 90 - (a.toString(2).length - b.toString(2).length));
    const value = Number((a << BigInt(shift)) / b) / 2 ** shift;
    return negative ? -value : value;
  }

  /**
   * The two-pass mean and sample variance of the doubles given, in exact rational arithmetic:
   * every value is N_i / 2^k for integers N_i; the mean is ΣN/(n·2^k) and the variance
   * Σ(n·N_i − ΣN)² / (n²·(n − 1)·2^{2k}).
   */
  function exactTwoPass(values: readonly number[]): { mean: number; variance: number } {
    let k = 0;
    while (!values.every((x) => Number.isInteger(x * 2 ** k))) k += 1;
    const scaled = values.map((x) => BigInt(x * 2 ** k));
    const n = BigInt(values.length);
    const sum = scaled.reduce((s, x) => s + x, 0n);
    const squares = scaled.reduce((s, x) => s + (n * x - sum) ** 2n, 0n);
    const scale = 2n ** BigInt(k);
    return { mean: ratio(sum, n * scale), variance: ratio(squares, n * n * (n - 1n) * scale * scale) };
  }

  function expectRelative(actual: number, expected: number, tolerance: number): void {
    expectClose(actual, expected, tolerance * Math.abs(expected));
  }

  it('equals the two-pass mean and variance to 1e-12 on 10,000 values of 1e9 + noise', () => {
    // An absolute 1e-12 is below the spacing of doubles at 1e9 (1.2e-7), so relative.
    const random = seededRandom(62);
    const values = simulateValues(random, 10_000, 0, 1).map((x) => 1e9 + x);
    const moments = new RunningMoments();
    for (const x of values) moments.add(x);
    const exact = exactTwoPass(values);
    expect(moments.n).toBe(10_000);
    expectRelative(moments.mean, exact.mean, 1e-12);
    expectRelative(moments.variance, exact.variance, 1e-12);
    // The floating-point two-pass agrees too (a third route, and a check of the exact one).
    expectRelative(twoPassSummary(values).variance, exact.variance, 1e-9);
  });

  it('equals the two-pass mean and variance to 1e-12 (absolute) on 10,000 values of unit scale, and on 1e9 + small noise', () => {
    const random = seededRandom(63);
    const unit = simulateValues(random, 10_000, 0.3, 1);
    const small = simulateValues(random, 10_000, 0, 1e-3).map((x) => 1e9 + x);
    for (const values of [unit, small]) {
      const { mean, variance } = runningSummary(values);
      const exact = exactTwoPass(values);
      expectRelative(mean, exact.mean, 1e-12);
      expectClose(variance, exact.variance, 1e-12);
      expectRelative(variance, exact.variance, 1e-9);
    }
  });

  it('reports n, a mean of 0 and a variance of 0 before two values, and a constant sample exactly', () => {
    const moments = new RunningMoments();
    expect([moments.n, moments.mean, moments.variance]).toEqual([0, 0, 0]);
    moments.add(-4.5);
    expect([moments.n, moments.mean, moments.variance]).toEqual([1, -4.5, 0]);
    for (let i = 0; i < 99; i += 1) moments.add(-4.5);
    expect([moments.n, moments.mean, moments.variance]).toEqual([100, -4.5, 0]);
    moments.add(5.5);
    expect(moments.mean).toBeCloseTo(-4.5 + 10 / 101, 14);
    expectClose(moments.variance, twoPassSummary([...Array<number>(100).fill(-4.5), 5.5]).variance, 1e-13);
  });

  it('refuses a value that is not finite', () => {
    const moments = new RunningMoments();
    for (const x of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(() => moments.add(x)).toThrow(/RunningMoments\.add: a value must be a finite number/);
    }
    expect(moments.n).toBe(0);
  });
});

describe('degenerate cases', () => {
  it('gives 0 successes an interval from exactly 0, and n successes one to exactly 1', () => {
    const z = zCritical(0.05);
    const none = proportionEstimate(0, 20, 0.05);
    expect(none.ci.low).toBe(0);
    expectClose(none.ci.high, (z * z) / (20 + z * z));
    const all = proportionEstimate(20, 20, 0.05);
    expect(all.ci.high).toBe(1);
    expectClose(all.ci.low, 20 / (20 + z * z));
    expect(proportionEstimate(1, 1, 0.5).ci.high).toBe(1);
  });

  it('compares two groups that both never convert, or both always do, as equal: z 0, p 1', () => {
    for (const [control, treatment] of [
      [
        { successes: 0, n: 40 },
        { successes: 0, n: 70 },
      ],
      [
        { successes: 40, n: 40 },
        { successes: 70, n: 70 },
      ],
    ]) {
      const result = twoProportionZTest(control!, treatment!, 0.05);
      expect(result).toEqual({ test: 'two-proportion z-test', difference: 0, ci: { low: 0, high: 0 }, statistic: 0, pValue: 1 });
    }
  });

  it('compares 0/50 with 50/50 by the pooled z (finite) and a zero-width interval at the difference', () => {
    const result = twoProportionZTest({ successes: 0, n: 50 }, { successes: 50, n: 50 }, 0.05);
    // Pooled rate 1/2: SE₀ = √(¼ · 2/50) = 0.1, z = 10.
    expectClose(result.statistic, 10, 1e-12);
    expectClose(result.pValue, 2 * (1 - jStat.normal.cdf(10, 0, 1)), 1e-20);
    expect(result.pValue).toBeGreaterThan(0);
    expect(result.ci).toEqual({ low: 1, high: 1 });
    expectJsonSafe(result);
  });

  it('keeps the interval of a difference of proportions inside [−1, 1]', () => {
    const result = twoProportionZTest({ successes: 0, n: 2 }, { successes: 1, n: 2 }, 0.001);
    expect(result.ci.low).toBeGreaterThanOrEqual(-1);
    expect(result.ci.high).toBe(1);
  });

  it('gives a mean without spread a zero-width interval', () => {
    expect(meanEstimate({ n: 5, mean: 7, variance: 0 }, 0.05).ci).toEqual({ low: 7, high: 7 });
  });

  it('compares two samples without spread: equal means p 1; different means statistic null, p 0; df n₁ + n₂ − 2', () => {
    const equal = welchTTest({ n: 4, mean: 3, variance: 0 }, { n: 6, mean: 3, variance: 0 }, 0.05);
    expect(equal).toEqual({ test: "Welch's t-test", difference: 0, ci: { low: 0, high: 0 }, statistic: 0, degreesOfFreedom: 8, pValue: 1 });
    const different = welchTTest({ n: 4, mean: 3, variance: 0 }, { n: 6, mean: 3.5, variance: 0 }, 0.05);
    expect(different).toEqual({
      test: "Welch's t-test",
      difference: 0.5,
      ci: { low: 0.5, high: 0.5 },
      statistic: null,
      degreesOfFreedom: 8,
      pValue: 0,
    });
    expectJsonSafe(different);
  });

  it('reduces to the one-sample t interval when the control has no spread (df = n − 1 of the treatment)', () => {
    const treatment = runningSummary(simulateValues(seededRandom(5), 12, 2, 1));
    const result = welchTTest({ n: 30, mean: 1, variance: 0 }, treatment, 0.05);
    expectClose(result.degreesOfFreedom, 11, 1e-12);
    const oneSample = meanEstimate(treatment, 0.05).ci;
    expectClose(result.ci.low, oneSample.low - 1, 1e-12);
    expectClose(result.ci.high, oneSample.high - 1, 1e-12);
  });

  it('is antisymmetric: swapping control and treatment negates the difference, the statistic and the interval', () => {
    const a = { n: 40, mean: 2.5, variance: 1.7 };
    const b = { n: 25, mean: 3.1, variance: 4.2 };
    const check = (forward: Comparison, backward: Comparison) => {
      expect(backward.difference).toBeCloseTo(-forward.difference, 15);
      expect(backward.statistic).toBeCloseTo(-(forward.statistic as number), 12);
      expect(backward.pValue).toBeCloseTo(forward.pValue, 15);
      expect(backward.ci.low).toBeCloseTo(-forward.ci.high, 12);
      expect(backward.ci.high).toBeCloseTo(-forward.ci.low, 12);
    };
    check(welchTTest(a, b, 0.05), welchTTest(b, a, 0.05));
    check(
      twoProportionZTest({ successes: 30, n: 200 }, { successes: 45, n: 210 }, 0.05),
      twoProportionZTest({ successes: 45, n: 210 }, { successes: 30, n: 200 }, 0.05),
    );
  });

  it('keeps every number finite at extreme but valid input (a tiny p-value underflows to 0, not NaN)', () => {
    const result = welchTTest({ n: 1000, mean: 0, variance: 1e-6 }, { n: 1000, mean: 1e6, variance: 1e-6 }, 0.05);
    expect(result.pValue).toBe(0);
    expect(Number.isFinite(result.statistic)).toBe(true);
    expectJsonSafe(result);
    const tiny = welchTTest({ n: 3, mean: 0, variance: 1e-300 }, { n: 3, mean: 1, variance: 0 }, 0.05);
    expectJsonSafe(tiny);
    expect(tiny.pValue).toBeGreaterThanOrEqual(0);
  });
});

describe('invalid input', () => {
  it('refuses alpha outside (0, 1)', () => {
    for (const alpha of [0, 1, -0.1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => proportionEstimate(1, 10, alpha)).toThrow(/proportionEstimate: alpha must be a number in \(0, 1\)/);
      expect(() => meanEstimate({ n: 3, mean: 0, variance: 1 }, alpha)).toThrow(/alpha must be a number in \(0, 1\)/);
      expect(() => twoProportionZTest({ successes: 1, n: 2 }, { successes: 1, n: 2 }, alpha)).toThrow(/alpha must be/);
      expect(() => welchTTest({ n: 3, mean: 0, variance: 1 }, { n: 3, mean: 0, variance: 1 }, alpha)).toThrow(/alpha must be/);
    }
  });

  it('refuses counts that are not integers with 0 ≤ successes ≤ n and n ≥ 1', () => {
    const bad: Array<[number, number, RegExp]> = [
      [0, 0, /n must be an integer of at least 1, got 0/],
      [1, 2.5, /n must be an integer of at least 1, got 2.5/],
      [1, Number.NaN, /n must be an integer/],
      [-1, 10, /successes must be an integer from 0 to n \(10\), got -1/],
      [11, 10, /successes must be an integer from 0 to n \(10\), got 11/],
      [0.5, 10, /successes must be an integer/],
    ];
    for (const [successes, n, message] of bad) {
      expect(() => proportionEstimate(successes, n, 0.05)).toThrow(message);
      expect(() => twoProportionZTest({ successes: 1, n: 10 }, { successes, n }, 0.05)).toThrow(/twoProportionZTest \(treatment\)/);
      expect(() => twoProportionZTest({ successes, n }, { successes: 1, n: 10 }, 0.05)).toThrow(/twoProportionZTest \(control\)/);
    }
  });

  it('refuses a mean summary with n < 2, a non-integer n, a non-finite mean or a negative variance', () => {
    const bad: Array<[{ n: number; mean: number; variance: number }, RegExp]> = [
      [{ n: 1, mean: 0, variance: 0 }, /n must be an integer of at least 2, got 1/],
      [{ n: 2.5, mean: 0, variance: 1 }, /n must be an integer of at least 2/],
      [{ n: 5, mean: Number.NaN, variance: 1 }, /mean must be a finite number, got NaN/],
      [{ n: 5, mean: 0, variance: -1e-9 }, /variance must be a finite number ≥ 0/],
      [{ n: 5, mean: 0, variance: Number.POSITIVE_INFINITY }, /variance must be a finite number ≥ 0/],
    ];
    for (const [summary, message] of bad) {
      expect(() => meanEstimate(summary, 0.05)).toThrow(message);
      expect(() => welchTTest(summary, { n: 5, mean: 0, variance: 1 }, 0.05)).toThrow(/welchTTest \(control\)/);
      expect(() => welchTTest({ n: 5, mean: 0, variance: 1 }, summary, 0.05)).toThrow(/welchTTest \(treatment\)/);
    }
  });

  it('refuses an interval or a difference too large to represent, rather than returning Infinity', () => {
    expect(() => meanEstimate({ n: 2, mean: 0, variance: 1 }, 1e-320)).toThrow(
      /meanEstimate: alpha 1e-320 is too small for a finite critical value at 1 degrees of freedom/,
    );
    // t_{1 − 5e-141, 1} ≈ 6.4e139 times √(1e308 / 2) ≈ 7.1e153 is past the largest double.
    expect(() => meanEstimate({ n: 2, mean: Number.MAX_VALUE, variance: 1e308 }, 1e-140)).toThrow(
      /meanEstimate: the interval .* is not finite/,
    );
    expect(() => welchTTest({ n: 2, mean: -1.7e308, variance: 0 }, { n: 2, mean: 1.7e308, variance: 0 }, 0.05)).toThrow(
      /difference of the means overflows/,
    );
  });
});
