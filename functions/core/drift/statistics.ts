/**
 * The statistics of drift detection, as pure functions (no I/O, no AWS): they compare a feature's
 * (or a prediction's) distribution in a recent window with its reference distribution.
 *
 * - **Population Stability Index** (`populationStabilityIndex`, `populationStabilityIndexOfSamples`)
 *   over bins, with bin edges taken from reference quantiles (`quantileBinEdges`, `binCounts`), for
 *   numeric and categorical features alike.
 * - **Two-sample Kolmogorov–Smirnov** (`twoSampleKolmogorovSmirnov`) for numeric features: the
 *   exact statistic and its asymptotic p-value.
 * - **Pearson's chi-squared test of homogeneity** (`chiSquaredTest`) for categorical features.
 *
 * Inputs are refused, never silently repaired: an empty sample, a NaN or infinite value, a negative
 * count throw a `StatisticsInputError` with a sentence saying what is wrong. Missing values are the
 * caller's to count (as a missing rate) and drop before calling. The drift service decides what an
 * input error means for its callers (it is not an HTTP error of its own).
 *
 * Every formula is written here from its published definition; the docstrings name the source.
 */

/** A caller passed input a statistic is not defined on (empty, NaN, negative counts, ...). */
export class StatisticsInputError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = 'StatisticsInputError';
  }
}

// ---------------------------------------------------------------------------------------------
// Population Stability Index

/**
 * PSI at or above which a distribution has moved a little ("minor shift, monitor"). The 0.1 / 0.25
 * rule of thumb is the credit-scoring industry's, as given by N. Siddiqi, *Credit Risk Scorecards:
 * Developing and Implementing Intelligent Credit Scoring* (Wiley, 2006), and discussed by
 * B. Yurdakul, *Statistical Properties of Population Stability Index* (PhD dissertation, Western
 * Michigan University, 2018), who shows it is a convention, not a significance level.
 */
export const PSI_MINOR_SHIFT = 0.1;

/** PSI at or above which a distribution has moved significantly (same source as `PSI_MINOR_SHIFT`). */
export const PSI_MAJOR_SHIFT = 0.25;

/** The default floor of a bin's proportion in the PSI (see `populationStabilityIndex`). */
export const DEFAULT_PSI_EPSILON = 1e-4;

/** The default number of reference-quantile bins (deciles, the usual choice for PSI). */
export const DEFAULT_PSI_BINS = 10;

/**
 * The Population Stability Index of a current binned distribution against a reference one:
 *
 *     PSI = Σ_i (c_i − r_i) · ln(c_i / r_i)
 *
 * where r_i and c_i are the proportions of bin i (each input divided by its own total, so counts
 * and proportions are both accepted). It is Jeffreys' symmetric divergence KL(c‖r) + KL(r‖c)
 * (H. Jeffreys, "An invariant form for the prior probability in estimation problems", Proc. R. Soc.
 * A 186, 1946); as a scorecard stability measure see Siddiqi (2006) and Yurdakul (2018), cited at
 * `PSI_MINOR_SHIFT`. It is 0 for identical distributions and grows without bound as they separate.
 *
 * Empty bins: ln(c/r) is undefined when either proportion is 0, so each proportion is floored at
 * `epsilon` (p ← max(p, epsilon)) before the sum, without renormalizing. The floor bounds a bin's
 * contribution; with the default 1e-4, a bin holding 10% on one side and nothing on the other adds
 * (0.1 − 0.0001) · ln(1000) ≈ 0.69.
 *
 * @param reference bin counts or proportions of the reference, length k ≥ 1, each ≥ 0 and finite,
 *   with a positive total.
 * @param current the same bins (same order, same length) for the window being judged.
 * @param epsilon the proportion floor, in (0, 1); default `DEFAULT_PSI_EPSILON` (1e-4).
 * @returns the PSI, ≥ 0 (dimensionless).
 * @throws StatisticsInputError on different lengths, an empty array, a negative / non-finite
 *   entry, a zero total, or an epsilon outside (0, 1).
 *
 * @example
 * populationStabilityIndex([50, 50], [0.6, 0.4]); // 0.1·ln(1.2) − 0.1·ln(0.8) ≈ 0.0405
 */
export function populationStabilityIndex(
  reference: readonly number[],
  current: readonly number[],
  epsilon: number = DEFAULT_PSI_EPSILON,
): number {
  if (reference.length !== current.length) {
    throw new StatisticsInputError(`reference has ${reference.length} bins and current has ${current.length}; they must be the same bins`);
  }
  if (!(epsilon > 0 && epsilon < 1)) throw new StatisticsInputError(`epsilon must be in (0, 1), got ${epsilon}`);
  const r = proportions(reference, 'reference');
  const c = proportions(current, 'current');
  let psi = 0;
  for (let i = 0; i < r.length; i += 1) {
    const ri = Math.max(r[i] as number, epsilon);
    const ci = Math.max(c[i] as number, epsilon);
    psi += (ci - ri) * Math.log(ci / ri);
  }
  return psi;
}

/**
 * Interior bin edges at the reference's quantiles, for binning a numeric feature:
 * `bins − 1` cut points at probabilities 1/bins, 2/bins, ..., (bins−1)/bins (deciles by default).
 * Quantiles are R's and NumPy's default, type 7 of R. J. Hyndman & Y. Fan, "Sample quantiles in
 * statistical packages", The American Statistician 50(4), 1996: linear interpolation between order
 * statistics, Q(p) = x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎) with h = (n − 1)p (0-based).
 *
 * Ties: equal cut points are merged, so a reference with many equal values yields fewer bins
 * (a constant reference yields one edge, two bins: below it and from it up). See `binCounts` for
 * which bin a value falls in.
 *
 * @param referenceSamples the reference values, at least one, all finite.
 * @param bins the wanted number of bins, an integer ≥ 2; default 10.
 * @returns strictly increasing edges, 1 to `bins − 1` of them.
 * @throws StatisticsInputError on an empty sample, a non-finite value or a bad `bins`.
 */
export function quantileBinEdges(referenceSamples: readonly number[], bins: number = DEFAULT_PSI_BINS): number[] {
  if (!Number.isInteger(bins) || bins < 2) throw new StatisticsInputError(`bins must be an integer of at least 2, got ${bins}`);
  const sorted = sortedFinite(referenceSamples, 'reference');
  const n = sorted.length;
  const edges: number[] = [];
  for (let q = 1; q < bins; q += 1) {
    const h = ((n - 1) * q) / bins;
    const lo = Math.floor(h);
    const below = sorted[lo] as number;
    const above = sorted[Math.min(lo + 1, n - 1)] as number;
    const edge = below + (h - lo) * (above - below);
    if (edges.length === 0 || edge > (edges[edges.length - 1] as number)) edges.push(edge);
  }
  return edges;
}

/**
 * Counts of `samples` in the bins that `edges` cut the real line into: with edges e₁ < ... < e_k,
 * bin 0 is (−∞, e₁), bin i is [e_i, e_{i+1}), bin k is [e_k, +∞). So a value equal to an edge falls
 * in the bin above it, values below the first edge fall in the first bin and values above the last
 * edge in the last bin (the outer bins are open-ended: nothing is out of range).
 *
 * @param samples the values to count, finite (may be empty: all counts are then 0).
 * @param edges strictly increasing finite edges, at least one (as `quantileBinEdges` returns).
 * @returns `edges.length + 1` counts summing to `samples.length`.
 * @throws StatisticsInputError on a non-finite sample or edges that are empty, non-finite or not
 *   strictly increasing.
 */
export function binCounts(samples: readonly number[], edges: readonly number[]): number[] {
  if (edges.length === 0) throw new StatisticsInputError('edges must hold at least one value');
  for (let i = 0; i < edges.length; i += 1) {
    const edge = edges[i] as number;
    if (!Number.isFinite(edge)) throw new StatisticsInputError(`edges[${i}] is ${edge}; edges must be finite`);
    if (i > 0 && !(edge > (edges[i - 1] as number)))
      throw new StatisticsInputError(`edges must be strictly increasing; edges[${i}] is ${edge} after ${edges[i - 1]}`);
  }
  const counts = new Array<number>(edges.length + 1).fill(0);
  samples.forEach((x, index) => {
    if (!Number.isFinite(x)) throw new StatisticsInputError(`samples[${index}] is ${x}; values must be finite (drop missing values first)`);
    const bin = binOf(edges, x);
    counts[bin] = (counts[bin] as number) + 1;
  });
  return counts;
}

/**
 * The bin of `x` among non-decreasing `edges`: the number of edges at or below it, by binary
 * search (a value equal to an edge is in the bin above it; with repeated edges, the bins between
 * equal edges stay empty). 0 to `edges.length`.
 */
export function binOf(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((edges[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What `populationStabilityIndexOfSamples` found, with the bins so a report can show them. */
export interface SamplePsi {
  readonly psi: number;
  /** The interior edges, from the reference's quantiles (`quantileBinEdges`). */
  readonly edges: readonly number[];
  readonly referenceCounts: readonly number[];
  readonly currentCounts: readonly number[];
}

/**
 * PSI of two numeric samples: bins from the reference's quantiles (`quantileBinEdges`), both samples
 * counted in them (`binCounts`), then `populationStabilityIndex`.
 *
 * @param referenceSamples at least one finite value.
 * @param currentSamples at least one finite value.
 * @param options.bins wanted bins (default 10; fewer when reference values tie);
 *   options.epsilon the proportion floor (default 1e-4).
 * @throws StatisticsInputError as the functions it calls do.
 */
export function populationStabilityIndexOfSamples(
  referenceSamples: readonly number[],
  currentSamples: readonly number[],
  options: { readonly bins?: number; readonly epsilon?: number } = {},
): SamplePsi {
  if (currentSamples.length === 0) throw new StatisticsInputError('current holds no values; a PSI needs at least one on each side');
  const edges = quantileBinEdges(referenceSamples, options.bins ?? DEFAULT_PSI_BINS);
  const referenceCounts = binCounts(referenceSamples, edges);
  const currentCounts = binCounts(currentSamples, edges);
  const psi = populationStabilityIndex(referenceCounts, currentCounts, options.epsilon ?? DEFAULT_PSI_EPSILON);
  return { psi, edges, referenceCounts, currentCounts };
}

// ---------------------------------------------------------------------------------------------
// Two-sample Kolmogorov–Smirnov

/** The result of `twoSampleKolmogorovSmirnov`. */
export interface KolmogorovSmirnovResult {
  /** D = sup_x |F_a(x) − F_b(x)|, in [0, 1]. */
  readonly statistic: number;
  /** Asymptotic P(D′ ≥ D) under "both samples come from the same continuous distribution", in [0, 1]. */
  readonly pValue: number;
  /** n·m / (n + m). */
  readonly effectiveSampleSize: number;
}

/**
 * The two-sample Kolmogorov–Smirnov test (A. N. Kolmogorov, 1933; N. Smirnov, "Table for
 * estimating the goodness of fit of empirical distributions", Ann. Math. Statist. 19, 1948).
 *
 * Statistic: D = sup_x |F_a(x) − F_b(x)|, with F the empirical distribution functions
 * (F_a(x) = #{a_i ≤ x} / n). Both samples are sorted and merged in one pass, so it costs
 * O((n + m) log(n + m)); D is exact. Ties, within and across samples, are handled by moving past
 * every copy of a value on both sides before comparing, i.e. the functions are compared only at
 * their right-continuous values at each distinct point, which is where the supremum is attained.
 *
 * p-value: the asymptotic Kolmogorov distribution, Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²λ²}, at
 * λ = (√Nₑ + 0.12 + 0.11/√Nₑ) · D with Nₑ = n·m/(n + m) — the small-sample correction of
 * M. A. Stephens, "Use of the Kolmogorov–Smirnov, Cramér–von Mises and related statistics without
 * extensive tables", J. R. Statist. Soc. B 32, 1970, applied to two samples as in W. H. Press et
 * al., *Numerical Recipes*, 3rd ed. (Cambridge, 2007), §14.3 (`kstwo` / `probks` in earlier
 * editions). See `kolmogorovSurvival`. The approximation is good from Nₑ ≈ 4 up; below, and with
 * heavy ties (the test assumes continuous distributions; ties make it conservative), read the
 * p-value as a rough guide.
 *
 * NaN and infinite values are refused, not dropped: drop missing values first and count them.
 *
 * @param a a sample, at least one finite value (any order; not modified).
 * @param b the other sample, at least one finite value.
 * @throws StatisticsInputError on an empty sample or a non-finite value.
 *
 * @example
 * twoSampleKolmogorovSmirnov([1, 2, 3], [1, 2, 3]); // { statistic: 0, pValue: 1, effectiveSampleSize: 1.5 }
 */
export function twoSampleKolmogorovSmirnov(a: readonly number[], b: readonly number[]): KolmogorovSmirnovResult {
  const x = sortedFinite(a, 'a');
  const y = sortedFinite(b, 'b');
  const n = x.length;
  const m = y.length;
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const xi = x[i] as number;
    const yj = y[j] as number;
    const point = Math.min(xi, yj);
    while (i < n && x[i] === point) i += 1;
    while (j < m && y[j] === point) j += 1;
    const gap = Math.abs(i / n - j / m);
    if (gap > d) d = gap;
  }
  // Once one sample is used up its F is 1 and the other's only climbs toward 1: the gap after the
  // last comparison is the largest that remains, so the loop has seen the supremum.
  const effectiveSampleSize = (n * m) / (n + m);
  const root = Math.sqrt(effectiveSampleSize);
  const pValue = kolmogorovSurvival((root + 0.12 + 0.11 / root) * d);
  return { statistic: d, pValue, effectiveSampleSize };
}

/**
 * The survival function of the Kolmogorov distribution, Q_KS(λ) = P(K > λ) with K the limit of
 * √n · sup|F_n − F| (Kolmogorov 1933):
 *
 *     Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2 j² λ²}                          (λ ≥ 1.18)
 *     Q_KS(λ) = 1 − (√(2π) / λ) Σ_{j≥1} e^{−(2j−1)² π² / (8 λ²)}             (λ < 1.18)
 *
 * The two series are equal (a Jacobi theta-function identity); each is used where it converges in
 * a few terms, as Press et al., *Numerical Recipes* 3rd ed., recommend (§6.14). Q_KS(0) = 1,
 * Q_KS(1.36) ≈ 0.0495, Q_KS(1.63) ≈ 0.0098 (the usual 5% and 1% critical values).
 *
 * @param lambda λ ≥ 0 (a negative λ is treated as 0: the probability is 1).
 * @returns a probability in [0, 1].
 * @throws StatisticsInputError when lambda is NaN.
 */
export function kolmogorovSurvival(lambda: number): number {
  if (Number.isNaN(lambda)) throw new StatisticsInputError('lambda is NaN');
  if (lambda <= 0) return 1;
  if (lambda < 1.18) {
    // Terms fall as e^{−(2j−1)²·π²/(8λ²)}; at λ < 1.18 the first exponent is ≤ −0.88, so a dozen
    // terms reach double precision.
    const factor = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let sum = 0;
    for (let j = 1; j <= 40; j += 1) {
      const term = Math.exp(-(2 * j - 1) * (2 * j - 1) * factor);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return clampProbability(1 - (Math.sqrt(2 * Math.PI) / lambda) * sum);
  }
  let sum = 0;
  let sign = 1;
  for (let j = 1; j <= 100; j += 1) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += sign * term;
    if (term < 1e-17 * Math.abs(sum)) break;
    sign = -sign;
  }
  return clampProbability(2 * sum);
}

// ---------------------------------------------------------------------------------------------
// Chi-squared test of homogeneity

/**
 * Category counts: either aligned arrays (index i is the same category on both sides) or maps
 * from a category's name to its count (a `Map` or a plain object).
 */
export type CategoryCounts = readonly number[] | ReadonlyMap<string, number> | Readonly<Record<string, number>>;

/** Two sides' counts over the same categories. */
export interface AlignedCounts {
  /** The category names (for arrays, their indexes as strings), in first-seen order: reference first. */
  readonly categories: readonly string[];
  readonly reference: readonly number[];
  readonly current: readonly number[];
}

/**
 * Aligns two sides' category counts: the union of their categories, a category one side lacks
 * counting 0 there. Arrays must have the same length and are aligned by index. Useful for the PSI
 * of a categorical feature: `populationStabilityIndex(aligned.reference, aligned.current)`.
 *
 * @throws StatisticsInputError when arrays differ in length, or an array is mixed with a map.
 */
export function alignCategoryCounts(reference: CategoryCounts, current: CategoryCounts): AlignedCounts {
  if (Array.isArray(reference) || Array.isArray(current)) {
    if (!Array.isArray(reference) || !Array.isArray(current)) {
      throw new StatisticsInputError('reference and current must both be arrays (aligned by index) or both maps of category to count');
    }
    const r = reference as readonly number[];
    const c = current as readonly number[];
    if (r.length !== c.length) {
      throw new StatisticsInputError(
        `reference has ${r.length} categories and current has ${c.length}; aligned arrays must be the same length (or pass maps of category to count)`,
      );
    }
    return { categories: r.map((_, i) => String(i)), reference: [...r], current: [...c] };
  }
  const r = entriesOf(reference as ReadonlyMap<string, number> | Readonly<Record<string, number>>);
  const c = entriesOf(current as ReadonlyMap<string, number> | Readonly<Record<string, number>>);
  const categories = [...new Set([...r.keys(), ...c.keys()])];
  return { categories, reference: categories.map((k) => r.get(k) ?? 0), current: categories.map((k) => c.get(k) ?? 0) };
}

/** The result of `chiSquaredTest`. */
export interface ChiSquaredResult {
  /** Pearson's X² (dimensionless, ≥ 0). */
  readonly statistic: number;
  /** (categories observed on either side) − 1; 0 when there is only one. */
  readonly degreesOfFreedom: number;
  /** P(χ²_df ≥ X²), in [0, 1]; 1 when degreesOfFreedom is 0. */
  readonly pValue: number;
  /**
   * The smallest expected count. Below 5 the χ² approximation is poor (W. G. Cochran, "Some
   * methods for strengthening the common χ² tests", Biometrics 10, 1954); a report may flag it.
   */
  readonly minExpected: number;
}

/**
 * Pearson's chi-squared test of homogeneity on the 2×k table whose rows are the reference and
 * current counts (K. Pearson, Phil. Mag. 50, 1900; A. Agresti, *Categorical Data Analysis*, 3rd
 * ed., Wiley, 2013): are both samples drawn from the same categorical distribution?
 *
 *     X² = Σ_{rows s} Σ_{categories i} (O_si − E_si)² / E_si,   E_si = (row total_s)(column total_i) / N
 *
 * with df = k′ − 1, k′ the categories with a count on either side, and p = Q(df/2, X²/2), the
 * regularized upper incomplete gamma function (`regularizedGammaQ`). This is the homogeneity test
 * rather than goodness of fit against the reference's proportions: it counts the reference's own
 * sampling noise and stays defined for a category the reference never saw (its expected count is
 * positive as long as the current side has it). It is the same statistic as Numerical Recipes'
 * `chstwo` for two binned data sets of unequal totals (Press et al., 3rd ed., §14.3). A category
 * with no count on either side is left out (and does not count toward df).
 *
 * @param referenceCounts the reference's counts per category (see `CategoryCounts`), ≥ 0, finite,
 *   positive total; aligned arrays or maps (a category present on one side only counts 0 on the other).
 * @param currentCounts the window's counts, same rules.
 * @throws StatisticsInputError on a negative or non-finite count, a zero total on either side,
 *   arrays of different lengths, or an array mixed with a map.
 *
 * @example
 * chiSquaredTest({ red: 50, blue: 50 }, { red: 30, blue: 70 }); // { statistic ≈ 8.33, degreesOfFreedom: 1, pValue ≈ 0.0039, ... }
 */
export function chiSquaredTest(referenceCounts: CategoryCounts, currentCounts: CategoryCounts): ChiSquaredResult {
  const aligned = alignCategoryCounts(referenceCounts, currentCounts);
  const r = aligned.reference;
  const c = aligned.current;
  const rTotal = checkedTotal(r, 'reference');
  const cTotal = checkedTotal(c, 'current');
  const total = rTotal + cTotal;
  let statistic = 0;
  let observed = 0;
  let minExpected = Infinity;
  for (let i = 0; i < r.length; i += 1) {
    const ri = r[i] as number;
    const ci = c[i] as number;
    const column = ri + ci;
    if (column === 0) continue;
    observed += 1;
    const rExpected = (rTotal * column) / total;
    const cExpected = (cTotal * column) / total;
    minExpected = Math.min(minExpected, rExpected, cExpected);
    statistic += (ri - rExpected) ** 2 / rExpected + (ci - cExpected) ** 2 / cExpected;
  }
  const degreesOfFreedom = observed - 1;
  const pValue = degreesOfFreedom === 0 ? 1 : regularizedGammaQ(degreesOfFreedom / 2, statistic / 2);
  return { statistic, degreesOfFreedom, pValue, minExpected };
}

// ---------------------------------------------------------------------------------------------
// Special functions

/**
 * The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a) = 1 − P(a, x), so that
 * the chi-squared survival function is P(χ²_k ≥ x) = Q(k/2, x/2). Computed as in Press et al.,
 * *Numerical Recipes* 3rd ed. §6.2 (`gammq`): for x < a + 1 the series
 * P(a, x) = e^{−x} x^a / Γ(a) · Σ_{n≥0} x^n / (a (a+1) ⋯ (a+n)), otherwise the continued fraction
 * for Q (Abramowitz & Stegun 6.5.31), evaluated by the modified Lentz method (W. J. Lentz,
 * Applied Optics 15, 1976; Thompson & Barnett, J. Comput. Phys. 64, 1986). Relative accuracy
 * about 1e-14.
 *
 * @param a shape, > 0.
 * @param x ≥ 0 (Q(a, 0) = 1; Q(a, +∞) = 0).
 * @throws StatisticsInputError when a ≤ 0, x < 0, or either is NaN.
 */
export function regularizedGammaQ(a: number, x: number): number {
  if (!(a > 0) || !Number.isFinite(a)) throw new StatisticsInputError(`a must be a positive finite number, got ${a}`);
  if (!(x >= 0)) throw new StatisticsInputError(`x must be ≥ 0, got ${x}`);
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  const logPrefix = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n += 1) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return clampProbability(1 - sum * Math.exp(logPrefix));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i += 1) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return clampProbability(Math.exp(logPrefix) * h);
}

/**
 * ln Γ(z) for z > 0, by the Lanczos approximation (C. Lanczos, "A precise approximation of the
 * gamma function", SIAM J. Numer. Anal. B 1, 1964) with g = 7 and the nine coefficients published
 * by P. Godfrey (relative error about 1e-15), and the reflection formula
 * Γ(z)Γ(1−z) = π / sin(πz) below z = 0.5.
 */
export function logGamma(z: number): number {
  if (!(z > 0)) throw new StatisticsInputError(`logGamma needs z > 0, got ${z}`);
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const w = z - 1;
  let sum = LANCZOS[0] as number;
  for (let i = 1; i < LANCZOS.length; i += 1) sum += (LANCZOS[i] as number) / (w + i);
  const t = w + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (w + 0.5) * Math.log(t) - t + Math.log(sum);
}

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
] as const;

// ---------------------------------------------------------------------------------------------
// Helpers

/** A sorted copy of finite values; refuses an empty sample or a NaN / infinite value. */
function sortedFinite(values: readonly number[], name: string): Float64Array {
  if (values.length === 0) throw new StatisticsInputError(`${name} holds no values; the statistic needs at least one`);
  const sorted = new Float64Array(values.length);
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new StatisticsInputError(`${name}[${i}] is ${v}; values must be finite (drop missing values first)`);
    sorted[i] = v;
  });
  return sorted.sort();
}

/** The total of non-negative finite counts; refuses an empty list, a bad entry or a zero total. */
function checkedTotal(counts: readonly number[], name: string): number {
  if (counts.length === 0) throw new StatisticsInputError(`${name} holds no bins or categories`);
  let total = 0;
  counts.forEach((v, i) => {
    if (!(Number.isFinite(v) && v >= 0))
      throw new StatisticsInputError(`${name}[${i}] is ${v}; counts and proportions must be finite and ≥ 0`);
    total += v;
  });
  if (total === 0) throw new StatisticsInputError(`${name} sums to 0; it needs at least one observation`);
  return total;
}

function proportions(counts: readonly number[], name: string): number[] {
  const total = checkedTotal(counts, name);
  return counts.map((v) => v / total);
}

function entriesOf(counts: ReadonlyMap<string, number> | Readonly<Record<string, number>>): Map<string, number> {
  return counts instanceof Map ? new Map(counts) : new Map(Object.entries(counts));
}

function clampProbability(p: number): number {
  return Math.min(1, Math.max(0, p));
}
