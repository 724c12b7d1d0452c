/**
 * The statistics of an experiment's analysis (issue 14; the caller is `analysis.ts`), as pure
 * functions: no I/O, no clock, no randomness.
 *
 * - A conversion rate with Wilson's score interval (`proportionEstimate`), and two rates compared
 *   by the two-proportion z-test (`twoProportionZTest`).
 * - A mean with Student's t interval (`meanEstimate`), its moments accumulated one value at a time
 *   (`RunningMoments`), and two means compared by Welch's t-test (`welchTTest`).
 *
 * The formulas are written here from their published definitions (each docstring names its
 * source). The distribution functions are not: the standard normal and Student's t CDFs and
 * quantiles are stdlib's (`@stdlib/stats-base-dists-*`, ports of the Boost/Cephes algorithms,
 * accurate to a few units in the last place).
 *
 * Conventions:
 * - `alpha` is the two-sided level: intervals are at confidence 1 − alpha, and a p-value is the
 *   two-sided tail probability, to be compared with alpha by the caller.
 * - A comparison's `difference` is treatment − control.
 * - Every number returned is finite (the analysis is sent as JSON, which has no Infinity or NaN);
 *   the degenerate cases (zero standard error) are defined in each docstring rather than left to
 *   0/0. A statistic that would be infinite is `null`.
 * - Input is checked, never repaired: a count that is not an integer, successes outside 0..n, a
 *   non-finite mean or value, a negative variance, alpha outside (0, 1) throw a plain `Error`
 *   saying what is wrong. Callers validate what people send before this point, so reaching one
 *   of these is a programming error, not a request to refuse with a 400.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** A closed interval [low, high], low ≤ high. */
export interface Interval {
  readonly low: number;
  readonly high: number;
}

/** Two groups compared: the test, the difference (treatment − control), its interval and p-value. */
export interface Comparison {
  readonly test: 'two-proportion z-test' | "Welch's t-test";
  /** treatment − control */
  readonly difference: number;
  /** interval of the difference at confidence 1 − alpha */
  readonly ci: Interval;
  /** z or t; null when it is not finite (zero standard error with a nonzero difference) */
  readonly statistic: number | null;
  /** Welch–Satterthwaite degrees of freedom (t-test only) */
  readonly degreesOfFreedom?: number;
  /** two-sided */
  readonly pValue: number;
}

// ---------------------------------------------------------------------------------------------
// Proportions

/**
 * A rate with Wilson's score interval at confidence 1 − alpha (Wilson 1927; Newcombe 1998 method 3).
 *
 * With p̂ = successes / n and z = Φ⁻¹(1 − alpha/2), the interval is the set of p whose score test
 * does not reject, |p̂ − p| ≤ z·√(p(1 − p)/n), solved for p:
 *
 *     centre = (p̂ + z²/(2n)) / (1 + z²/n)
 *     half   = z / (1 + z²/n) · √(p̂(1 − p̂)/n + z²/(4n²))
 *     [low, high] = [centre − half, centre + half]
 *
 * E. B. Wilson, "Probable inference, the law of succession, and statistical inference", JASA 22
 * (1927) 209–212; R. G. Newcombe, "Two-sided confidence intervals for the single proportion:
 * comparison of seven methods", Statistics in Medicine 17 (1998) 857–872, method 3 (no continuity
 * correction). Unlike the Wald interval p̂ ± z·√(p̂(1 − p̂)/n) it never has zero width and stays
 * inside [0, 1]; A. Agresti & B. A. Coull, "Approximate is better than 'exact' for interval
 * estimation of binomial proportions", The American Statistician 52 (1998) 119–126, recommend it.
 *
 * Edges: with 0 successes the low end is exactly 0, with n successes the high end is exactly 1
 * (algebraically so; set so rather than left to rounding), and both ends are clamped to [0, 1].
 *
 * @param successes integer, 0 ≤ successes ≤ n.
 * @param n trials, an integer ≥ 1.
 * @param alpha in (0, 1).
 * @returns `{ n, successes, mean: p̂, ci }`.
 * @throws Error on invalid input.
 */
export function proportionEstimate(
  successes: number,
  n: number,
  alpha: number,
): { readonly n: number; readonly successes: number; readonly mean: number; readonly ci: Interval } {
  checkCounts('proportionEstimate', { successes, n });
  const z = normalCritical('proportionEstimate', alpha);
  const p = successes / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z / (1 + z2n)) * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n));
  const low = successes === 0 ? 0 : clamp(centre - half, 0, 1);
  const high = successes === n ? 1 : clamp(centre + half, 0, 1);
  return { n, successes, mean: p, ci: { low, high } };
}

/**
 * Pooled-variance z for the test and p-value; unpooled (Wald) standard error for the interval of the difference.
 *
 * With p̂c = xc/nc (control), p̂t = xt/nt (treatment), d = p̂t − p̂c, the pooled rate
 * p̄ = (xc + xt)/(nc + nt) and z_{α/2} = Φ⁻¹(1 − alpha/2):
 *
 *     SE₀ = √(p̄(1 − p̄)(1/nc + 1/nt))            z = d / SE₀,  p = 2·Φ(−|z|)
 *     SE  = √(p̂c(1 − p̂c)/nc + p̂t(1 − p̂t)/nt)    ci = d ± z_{α/2}·SE, clamped to [−1, 1]
 *
 * The test's standard error is the one under its null hypothesis (equal rates, so estimated from
 * the pooled sample); z² is Pearson's χ² of the 2×2 table without continuity correction
 * (A. Agresti, *Categorical Data Analysis*, 3rd ed., Wiley 2013, §2.1 and §3.1; J. L. Fleiss,
 * B. Levin & M. C. Paik, *Statistical Methods for Rates and Proportions*, 3rd ed., Wiley 2003,
 * ch. 2). The interval is the Wald interval, method 1 of R. G. Newcombe, "Interval estimation for
 * the difference between independent proportions: comparison of eleven methods", Statistics in
 * Medicine 17 (1998) 873–890. Its coverage falls short with small samples or rates near 0 or 1
 * (Newcombe 1998; A. Agresti & B. Caffo, "Simple and effective confidence intervals for
 * proportions and differences of proportions result from adding two successes and two failures",
 * The American Statistician 54 (2000) 280–288); the analysis only declares a result after a
 * minimum sample per variant, where it is adequate.
 *
 * Degenerate cases: SE₀ = 0 exactly when both rates are 0 or both are 1, so d = 0: the statistic
 * is 0 and p = 1 (nothing distinguishes the groups). SE₀ is positive whenever d ≠ 0, so the
 * statistic is always finite here (the `null` of `Comparison` is for the t-test). SE = 0 (each
 * rate 0 or 1, e.g. 0/50 against 50/50) gives the zero-width interval [d, d].
 *
 * @param control `{ successes, n }`, integers with n ≥ 1 and 0 ≤ successes ≤ n.
 * @param treatment the same.
 * @param alpha in (0, 1).
 * @throws Error on invalid input.
 */
export function twoProportionZTest(
  control: { successes: number; n: number },
  treatment: { successes: number; n: number },
  alpha: number,
): Comparison {
  checkCounts('twoProportionZTest (control)', control);
  checkCounts('twoProportionZTest (treatment)', treatment);
  const critical = normalCritical('twoProportionZTest', alpha);
  const pc = control.successes / control.n;
  const pt = treatment.successes / treatment.n;
  const difference = pt - pc;
  const pooled = (control.successes + treatment.successes) / (control.n + treatment.n);
  const pooledSe = Math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n));
  const se = Math.sqrt((pc * (1 - pc)) / control.n + (pt * (1 - pt)) / treatment.n);
  const ci = { low: clamp(difference - critical * se, -1, 1), high: clamp(difference + critical * se, -1, 1) };
  const { statistic, pValue } = twoSided(difference, pooledSe, (x) => normalCdf(x, 0, 1));
  return { test: 'two-proportion z-test', difference, ci, statistic, pValue };
}

// ---------------------------------------------------------------------------------------------
// Means

/**
 * A mean with Student's t interval, df = n − 1, at confidence 1 − alpha.
 *
 *     ci = mean ± t_{1−alpha/2, n−1} · √(variance / n)
 *
 * "Student" (W. S. Gosset), "The probable error of a mean", Biometrika 6 (1908) 1–25; in any
 * textbook, e.g. G. Casella & R. L. Berger, *Statistical Inference*, 2nd ed., Duxbury 2002, §9.2.
 * A variance of 0 gives the zero-width interval [mean, mean].
 *
 * @param summary `n`, an integer ≥ 2; `mean`, finite; `variance`, the sample variance (n − 1
 *   denominator), finite and ≥ 0 (e.g. from `RunningMoments`).
 * @param alpha in (0, 1).
 * @returns the summary with `ci`.
 * @throws Error on invalid input, or when the interval is too wide to represent (a tiny alpha
 *   with few observations).
 */
export function meanEstimate(
  summary: { readonly n: number; readonly mean: number; readonly variance: number },
  alpha: number,
): { readonly n: number; readonly mean: number; readonly variance: number; readonly ci: Interval } {
  checkSummary('meanEstimate', summary);
  checkAlpha('meanEstimate', alpha);
  const { n, mean, variance } = summary;
  const half = variance === 0 ? 0 : tCritical('meanEstimate', alpha, n - 1) * Math.sqrt(variance / n);
  return { n, mean, variance, ci: finiteInterval('meanEstimate', mean - half, mean + half) };
}

/**
 * Welford's running mean and sample variance (Welford 1962), numerically stable.
 *
 * B. P. Welford, "Note on a method for calculating corrected sums of squares and products",
 * Technometrics 4 (1962) 419–420: after the k-th value x,
 *
 *     δ = x − mean_{k−1};   mean_k = mean_{k−1} + δ/k;   M2_k = M2_{k−1} + δ·(x − mean_k)
 *
 * and the sample variance is M2_n/(n − 1). The update runs on the values shifted by the first
 * one (y = x − x₁, mean = x₁ + mean_y), as T. F. Chan, G. H. Golub & R. J. LeVeque recommend in
 * "Algorithms for computing the sample variance: analysis and recommendations", The American
 * Statistician 37 (1983) 242–247: the error of Welford's update grows with the ratio of the mean
 * to the standard deviation, and the shift brings that ratio near 1. Values of 1e9 + noise of
 * standard deviation 1 keep about 14 significant digits of the variance this way (about 7
 * without the shift).
 *
 * Before two values the variance is 0, and before one the mean is 0 (finite, for JSON; a caller
 * reads `n` first).
 */
export class RunningMoments {
  #n = 0;
  #shift = 0;
  #mean = 0;
  #m2 = 0;

  /** Adds one value; throws Error when it is not a finite number. */
  add(x: number): void {
    if (!Number.isFinite(x)) throw new Error(`RunningMoments.add: a value must be a finite number, got ${x}`);
    if (this.#n === 0) this.#shift = x;
    this.#n += 1;
    const y = x - this.#shift;
    const delta = y - this.#mean;
    this.#mean += delta / this.#n;
    this.#m2 += delta * (y - this.#mean);
  }

  /** The values added. */
  get n(): number {
    return this.#n;
  }

  /** Their mean; 0 when none was added. */
  get mean(): number {
    return this.#n === 0 ? 0 : this.#shift + this.#mean;
  }

  /** sample variance, 0 when n < 2 */
  get variance(): number {
    return this.#n < 2 ? 0 : this.#m2 / (this.#n - 1);
  }
}

/**
 * Welch's unequal-variances t-test (Welch 1947), Welch–Satterthwaite df; interval of the difference with the same df.
 *
 * With vc = s²c/nc and vt = s²t/nt (squared standard errors of the two means) and d = mean_t − mean_c:
 *
 *     SE = √(vc + vt)        t = d / SE        p = 2·T_ν(−|t|)
 *     ν  = (vc + vt)² / (vc²/(nc − 1) + vt²/(nt − 1))
 *     ci = d ± t_{1−alpha/2, ν} · SE
 *
 * B. L. Welch, "The generalization of 'Student's' problem when several different population
 * variances are involved", Biometrika 34 (1947) 28–35; the degrees of freedom are
 * F. E. Satterthwaite's, "An approximate distribution of estimates of variance components",
 * Biometrics Bulletin 2 (1946) 110–114. ν is not an integer in general; T_ν and its quantile are
 * taken at the real ν. It lies between min(nc, nt) − 1 and nc + nt − 2. It is computed here as
 * 1 / (wc²/(nc − 1) + wt²/(nt − 1)) with w = v/(vc + vt), the same ratio without overflow or
 * underflow of the squares.
 *
 * Degenerate cases (both variances 0, so SE = 0 and ν = 0/0): ν is reported as nc + nt − 2, its
 * upper bound (Student's pooled degrees of freedom); the interval is [d, d]; with equal means
 * the statistic is 0 and p = 1, with different means the statistic is `null` (infinite) and
 * p = 0 — two groups each without spread and with different values differ for certain. A nonzero
 * SE so small that d / SE overflows is treated the same way (`null`, p = 0).
 *
 * @param control `{ n, mean, variance }`: n an integer ≥ 2, mean finite, variance the sample
 *   variance (n − 1 denominator), finite and ≥ 0.
 * @param treatment the same.
 * @param alpha in (0, 1).
 * @throws Error on invalid input, or when the difference or its interval is too large to
 *   represent.
 */
export function welchTTest(
  control: { n: number; mean: number; variance: number },
  treatment: { n: number; mean: number; variance: number },
  alpha: number,
): Comparison {
  checkSummary('welchTTest (control)', control);
  checkSummary('welchTTest (treatment)', treatment);
  checkAlpha('welchTTest', alpha);
  const difference = treatment.mean - control.mean;
  if (!Number.isFinite(difference))
    throw new Error(`welchTTest: the difference of the means overflows (${treatment.mean} − ${control.mean})`);
  const vc = control.variance / control.n;
  const vt = treatment.variance / treatment.n;
  // √(vc + vt) without overflowing the sum.
  const se = Math.hypot(Math.sqrt(vc), Math.sqrt(vt));
  let degreesOfFreedom: number;
  if (se === 0) {
    degreesOfFreedom = control.n + treatment.n - 2;
  } else {
    // The weights w = v/(vc + vt), from the ratios to the larger v so that nothing overflows.
    const larger = Math.max(vc, vt);
    const wc = vc / larger / (vc / larger + vt / larger);
    const wt = vt / larger / (vc / larger + vt / larger);
    degreesOfFreedom = 1 / ((wc * wc) / (control.n - 1) + (wt * wt) / (treatment.n - 1));
  }
  const half = se === 0 ? 0 : tCritical('welchTTest', alpha, degreesOfFreedom) * se;
  const ci = finiteInterval('welchTTest', difference - half, difference + half);
  const { statistic, pValue } = twoSided(difference, se, (x) => tCdf(x, degreesOfFreedom));
  return { test: "Welch's t-test", difference, ci, statistic, degreesOfFreedom, pValue };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * The statistic d / se and its two-sided p-value 2·F(−|statistic|) (the lower tail, accurate for
 * small p where 1 − F(|x|) would cancel). se = 0 with d = 0: statistic 0, p 1; a statistic that
 * is not finite (se = 0 with d ≠ 0, or an overflow): `null`, p 0.
 */
function twoSided(difference: number, se: number, cdf: (x: number) => number): { statistic: number | null; pValue: number } {
  if (difference === 0) return { statistic: 0, pValue: 1 };
  const statistic = difference / se;
  if (!Number.isFinite(statistic)) return { statistic: null, pValue: 0 };
  return { statistic, pValue: Math.min(1, 2 * cdf(-Math.abs(statistic))) };
}

/** z_{alpha/2} = −Φ⁻¹(alpha/2) (the lower quantile, accurate for small alpha). */
function normalCritical(caller: string, alpha: number): number {
  checkAlpha(caller, alpha);
  const z = -normalQuantile(alpha / 2, 0, 1);
  if (!Number.isFinite(z)) throw new Error(`${caller}: alpha ${alpha} is too small for a finite critical value`);
  return z;
}

/** t_{1−alpha/2, df} = −T⁻¹_df(alpha/2). */
function tCritical(caller: string, alpha: number, df: number): number {
  const t = -tQuantile(alpha / 2, df);
  if (!Number.isFinite(t))
    throw new Error(`${caller}: alpha ${alpha} is too small for a finite critical value at ${df} degrees of freedom`);
  return t;
}

function finiteInterval(caller: string, low: number, high: number): Interval {
  if (!Number.isFinite(low) || !Number.isFinite(high))
    throw new Error(`${caller}: the interval [${low}, ${high}] is not finite (values or alpha too extreme)`);
  return { low, high };
}

function checkAlpha(caller: string, alpha: number): void {
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha < 1)) throw new Error(`${caller}: alpha must be a number in (0, 1), got ${alpha}`);
}

function checkCounts(caller: string, counts: { successes: number; n: number }): void {
  const { successes, n } = counts;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${caller}: n must be an integer of at least 1, got ${n}`);
  if (!Number.isSafeInteger(successes) || successes < 0 || successes > n) {
    throw new Error(`${caller}: successes must be an integer from 0 to n (${n}), got ${successes}`);
  }
}

function checkSummary(caller: string, summary: { n: number; mean: number; variance: number }): void {
  const { n, mean, variance } = summary;
  if (!Number.isSafeInteger(n) || n < 2) throw new Error(`${caller}: n must be an integer of at least 2, got ${n}`);
  if (!Number.isFinite(mean)) throw new Error(`${caller}: mean must be a finite number, got ${mean}`);
  if (!Number.isFinite(variance) || variance < 0) throw new Error(`${caller}: variance must be a finite number ≥ 0, got ${variance}`);
}

function clamp(x: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, x));
}
