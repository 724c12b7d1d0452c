/**
 * Drift reports and the canary's distribution gate (issue 13): live values compared with a
 * version's reference profile (`driftReport`), and a canary's predictions compared with the
 * stable version's on the same window (`canaryShift`). Pure: no I/O, no clock; the same inputs
 * give the same report.
 *
 * ## What is compared, per column (an input feature or a prediction column)
 *
 * - **Values.** Numeric columns: the Population Stability Index over the reference's ten decile
 *   bins (`populationStabilityIndex` of `statistics.ts`: the reference's `binProportions` against
 *   the live values' shares of the same bins, a value equal to an edge in the bin above, each
 *   share floored at `epsilon`), and the two-sample Kolmogorov–Smirnov test between the
 *   reference's `sample` and every live value (`twoSampleKolmogorovSmirnov`: D and its p-value).
 *   Categorical columns: the PSI over the reference's categories (a live category the reference
 *   did not keep counts under `__other__`, as `profile.ts` pools) and Pearson's chi-squared test
 *   of homogeneity on the same counts (`chiSquaredTest`).
 * - **Completeness.** Missing values (`isMissing` of `profile.ts`: null, NaN, "", "NA", "NaN")
 *   and invalid ones (a live value of another kind than the reference's: a string that is not a
 *   number in a numeric column, an object or array anywhere) are left out of the above and
 *   counted apart: the shares missing / invalid / valid, live against the reference's (which has
 *   no invalid values by construction), by the same PSI and chi-squared test.
 *
 * ## The decision rule
 *
 * A comparison is *significant* when its test's p-value is below `pValue` (default 0.01: KS for
 * numeric values, chi-squared for categories and for completeness). Its severity is then `major`
 * when its PSI is at least `psiMajor` (0.25), `minor` when at least `psiMinor` (0.1), else `none`;
 * a comparison that is not significant is `none` whatever its PSI. A column's severity is the
 * worse of its two comparisons, and it has **drifted** when that is `major`. A column with fewer
 * than `minRows` live rows (default 30) is not judged (`too few rows`), nor are values when fewer
 * than `minRows` of them are valid.
 *
 * Why both a PSI and a test, each alone being a common rule:
 * - The PSI bands 0.1 / 0.25 are the credit-scoring convention (N. Siddiqi, *Credit Risk
 *   Scorecards*, Wiley, 2006). They measure how far a distribution moved, not whether the move
 *   is more than chance: B. Yurdakul (*Statistical Properties of Population Stability Index*,
 *   PhD dissertation, Western Michigan University, 2018) shows that with no shift at all the PSI
 *   of k bins is about (1/n + 1/m)·χ²_{k−1}, so its expectation is (k − 1)(1/n + 1/m): 0.084 for a
 *   120-row reference and 1,000 live rows, but 0.375 for 30 live rows, past the 0.25 band. A PSI
 *   rule alone flags noise in small windows; the test stops that. Ties make the PSI jumpy too: a
 *   reference whose values sit on a decile edge (rounded measurements) moves whole bins' worth of
 *   share across the edge when live values carry a little noise, a change the KS test, which
 *   compares distribution functions, sees as small. (On the sample model's profile, 1,000 rows
 *   drawn from its 120 training rows with noise of sd 0.05 cm reach PSIs of 0.4 while no KS test
 *   rejects at 1%.)
 * - A test alone flags a shift of no practical size once the window is large (with 10⁶ live rows
 *   a 1% move of a mean is "significant"); the PSI band asks for a move that matters, the usual
 *   pairing of statistical and practical significance (R. E. Kirk, "Practical significance: a
 *   concept whose time has come", Educational and Psychological Measurement 56(5), 1996).
 * - The 1% level (R. A. Fisher's conventional stricter level, *Statistical Methods for Research
 *   Workers*, 1925) bounds the false alarms of one column in one run by 1% under no shift, less
 *   with the PSI condition on top; the Smirnov test is conservative with tied values, so it stays
 *   below. A feature shifted by one standard deviation has D ≈ 0.38 for a normal feature
 *   (2Φ(½) − 1), a p-value below 10⁻¹⁰ with 120 reference and 1,000 live rows (below 0.01 from
 *   about 30 live rows), and a PSI near 1: it is flagged.
 *
 * The canary gate (`canaryShift`) applies the same rule (PSI ≥ `psiThreshold`, 0.25, and p-value
 * < `pValue`) between two live windows, with bins from the stable side's deciles
 * (`populationStabilityIndexOfSamples`) and categories over the union of both sides.
 */
import {
  DEFAULT_PSI_EPSILON,
  PSI_MAJOR_SHIFT,
  PSI_MINOR_SHIFT,
  binOf,
  chiSquaredTest,
  populationStabilityIndex,
  populationStabilityIndexOfSamples,
  twoSampleKolmogorovSmirnov,
} from './statistics.js';
import { MAX_CATEGORY_CHARS, OTHER_CATEGORY, isMissing, numberOf, type FeatureProfile, type ReferenceProfile } from './profile.js';

/** The thresholds of the decision rule (see the module docstring). */
export interface DriftThresholds {
  /** PSI from which a significant shift is `minor`. @default 0.1 (`PSI_MINOR_SHIFT`) */
  readonly psiMinor: number;
  /** PSI from which a significant shift is `major`, i.e. drifted. @default 0.25 (`PSI_MAJOR_SHIFT`) */
  readonly psiMajor: number;
  /** Significance level of the KS and chi-squared tests. @default 0.01 */
  readonly pValue: number;
  /** Fewest live rows (and valid values) a column is judged on. @default 30 */
  readonly minRows: number;
  /** The PSI's proportion floor. @default 1e-4 (`DEFAULT_PSI_EPSILON`) */
  readonly epsilon: number;
}

export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = Object.freeze({
  psiMinor: PSI_MINOR_SHIFT,
  psiMajor: PSI_MAJOR_SHIFT,
  pValue: 0.01,
  minRows: 30,
  epsilon: DEFAULT_PSI_EPSILON,
});

export type DriftSeverity = 'none' | 'minor' | 'major';
export type ColumnGroup = 'feature' | 'prediction';

/**
 * - `compared`: judged by the rule;
 * - `too-few-rows`: fewer than `minRows` live rows, statistics shown but not judged;
 * - `absent-in-live`: the reference has the column, the live data does not (not captured, or
 *   dropped by redaction);
 * - `absent-in-reference`: the live data has a column the reference profile does not.
 */
export type ColumnStatus = 'compared' | 'too-few-rows' | 'absent-in-live' | 'absent-in-reference';

export interface KolmogorovSmirnovSummary {
  /** D, the largest gap between the two empirical distribution functions, in [0, 1]. */
  readonly statistic: number;
  readonly pValue: number;
}

export interface ChiSquaredSummary {
  readonly statistic: number;
  readonly degreesOfFreedom: number;
  readonly pValue: number;
  /** The smallest expected count; below 5 the p-value is rough (Cochran 1954). */
  readonly minExpected: number;
}

/** The shares of missing, invalid and valid values, live against the reference. */
export interface CompletenessShift {
  /** Reference share of missing values, in [0, 1]. */
  readonly referenceMissingRate: number;
  readonly liveMissingRate: number;
  readonly liveInvalidRate: number;
  /** PSI over the three shares (missing, invalid, valid). */
  readonly psi: number;
  /** The chi-squared test's p-value on the same counts (1 when nothing differs in kind). */
  readonly pValue: number;
}

export interface ColumnCounts {
  readonly reference: { readonly rows: number; readonly missing: number };
  readonly live: { readonly rows: number; readonly missing: number; readonly invalid: number };
}

interface ColumnDriftBase {
  readonly name: string;
  readonly group: ColumnGroup;
  readonly status: ColumnStatus;
  readonly counts: ColumnCounts;
  /** PSI of the valid values' distribution; null when a side has none. */
  readonly psi: number | null;
  /** Null when the live data lacks the column, or the reference has no rows. */
  readonly completeness: CompletenessShift | null;
  readonly severity: DriftSeverity;
  readonly drifted: boolean;
  /** One sentence: what was found, with the numbers and thresholds behind it. */
  readonly reason: string;
}

export interface NumericColumnDrift extends ColumnDriftBase {
  readonly kind: 'numeric';
  readonly ks: KolmogorovSmirnovSummary | null;
}

export interface CategoricalColumnDrift extends ColumnDriftBase {
  readonly kind: 'categorical';
  readonly chiSquared: ChiSquaredSummary | null;
}

export type ColumnDrift = NumericColumnDrift | CategoricalColumnDrift;

export interface DriftReport {
  /** Rows of the reference profile (`rows`). */
  readonly referenceRows: number;
  /** Live rows: the longest live column. */
  readonly liveRows: number;
  readonly thresholds: DriftThresholds;
  /** Whether any column drifted. */
  readonly drifted: boolean;
  readonly totals: {
    readonly features: number;
    readonly driftedFeatures: number;
    readonly predictions: number;
    readonly driftedPredictions: number;
    /** The largest values PSI among judged (`compared`) columns; null when none has one. */
    readonly maxPsi: number | null;
  };
  /** Worst first: drifted, then by PSI (the larger of values and completeness) descending. */
  readonly results: ColumnDrift[];
}

/** What `driftReport` compares with the reference: one value per live row and column. */
export interface LiveColumns {
  readonly features: Readonly<Record<string, readonly unknown[]>>;
  readonly predictions?: Readonly<Record<string, readonly unknown[]>>;
}

/**
 * Compares live values with a version's reference profile, column by column (see the module
 * docstring for the statistics and the decision rule).
 *
 * Prediction columns are compared when the profile has `predictions` and `live.predictions` is
 * given. A column one side lacks is reported (`absent-in-live` / `absent-in-reference`), never
 * judged, never an error: the live data may lack a feature because redaction dropped it. Drop
 * hashed (redacted) features from `live.features` before calling: their values are digests, not
 * the reference's categories.
 *
 * @param reference a profile as `parseReferenceProfile` accepts it (its invariants are assumed).
 * @param live the window's values per feature and prediction column (`predictions.ts`), any
 *   JSON values; missing and invalid ones are counted apart.
 * @param thresholds overrides of `DEFAULT_DRIFT_THRESHOLDS`.
 * @throws RangeError when a threshold is out of its range (psiMinor ≤ psiMajor, both ≥ 0;
 *   pValue and epsilon in (0, 1); minRows an integer ≥ 1).
 */
export function driftReport(reference: ReferenceProfile, live: LiveColumns, thresholds: Partial<DriftThresholds> = {}): DriftReport {
  const t = checkedThresholds(thresholds);
  const results: ColumnDrift[] = [];
  results.push(...compareGroup('feature', reference.features, live.features, reference.rows, t));
  if (reference.predictions && live.predictions)
    results.push(...compareGroup('prediction', reference.predictions, live.predictions, reference.rows, t));
  results.sort(worstFirst);
  const judgedPsi = results.filter((r) => r.status === 'compared' && r.psi !== null).map((r) => r.psi as number);
  const features = results.filter((r) => r.group === 'feature');
  const predictions = results.filter((r) => r.group === 'prediction');
  const liveRows = Math.max(
    0,
    ...Object.values(live.features).map((v) => v.length),
    ...Object.values(live.predictions ?? {}).map((v) => v.length),
  );
  return {
    referenceRows: reference.rows,
    liveRows,
    thresholds: t,
    drifted: results.some((r) => r.drifted),
    totals: {
      features: features.length,
      driftedFeatures: features.filter((r) => r.drifted).length,
      predictions: predictions.length,
      driftedPredictions: predictions.filter((r) => r.drifted).length,
      maxPsi: judgedPsi.length > 0 ? Math.max(...judgedPsi) : null,
    },
    results,
  };
}

function compareGroup(
  group: ColumnGroup,
  profiles: Readonly<Record<string, FeatureProfile>>,
  live: Readonly<Record<string, readonly unknown[]>>,
  referenceRows: number,
  t: DriftThresholds,
): ColumnDrift[] {
  const names = [...new Set([...Object.keys(profiles), ...Object.keys(live)])];
  return names.map((name) => {
    const profile = Object.hasOwn(profiles, name) ? profiles[name] : undefined;
    const values = Object.hasOwn(live, name) ? live[name] : undefined;
    if (profile === undefined) return notInReference(name, group, values ?? [], referenceRows);
    return compareColumn(name, group, profile, values, t);
  });
}

/** Live values sorted by what they are for a column of `kind`. */
interface SortedValues {
  readonly rows: number;
  readonly missing: number;
  readonly invalid: number;
  readonly numbers: number[];
  readonly categories: Map<string, number>;
}

function sortValues(values: readonly unknown[], kind: 'numeric' | 'categorical'): SortedValues {
  let missing = 0;
  let invalid = 0;
  const numbers: number[] = [];
  const categories = new Map<string, number>();
  for (const value of values) {
    if (isMissing(value)) {
      missing += 1;
    } else if (kind === 'numeric') {
      const number = numberOf(value);
      if (number === undefined) invalid += 1;
      else numbers.push(number);
    } else {
      const text = categoryText(value);
      if (text === undefined) invalid += 1;
      else categories.set(text, (categories.get(text) ?? 0) + 1);
    }
  }
  return { rows: values.length, missing, invalid, numbers, categories };
}

/** A category's text as `profile.ts` forms it; undefined for an object or array. */
function categoryText(value: unknown): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else return undefined;
  return text.length > MAX_CATEGORY_CHARS ? text.slice(0, MAX_CATEGORY_CHARS) : text;
}

/** Numeric when every present value is a finite number (as `profile.ts` decides); else categorical. */
function kindOf(...sides: readonly (readonly unknown[])[]): 'numeric' | 'categorical' {
  let any = false;
  for (const values of sides) {
    for (const value of values) {
      if (isMissing(value)) continue;
      if (numberOf(value) === undefined) return 'categorical';
      any = true;
    }
  }
  return any ? 'numeric' : 'categorical';
}

function compareColumn(
  name: string,
  group: ColumnGroup,
  profile: FeatureProfile,
  values: readonly unknown[] | undefined,
  t: DriftThresholds,
): ColumnDrift {
  const referenceCounts = { rows: profile.count, missing: profile.missing };
  if (values === undefined) {
    const base = {
      name,
      group,
      status: 'absent-in-live' as const,
      counts: { reference: referenceCounts, live: { rows: 0, missing: 0, invalid: 0 } },
      psi: null,
      completeness: null,
      severity: 'none' as const,
      drifted: false,
      reason: 'not in the live data (not captured, or dropped by redaction): not compared',
    };
    return profile.kind === 'numeric' ? { ...base, kind: 'numeric', ks: null } : { ...base, kind: 'categorical', chiSquared: null };
  }
  const live = sortValues(values, profile.kind);
  const counts: ColumnCounts = { reference: referenceCounts, live: { rows: live.rows, missing: live.missing, invalid: live.invalid } };
  const present = profile.count - profile.missing;
  const valid = live.numbers.length + sum(live.categories.values());

  // Values
  let psi: number | null = null;
  let test: { pValue: number; name: string; detail: string } | null = null;
  let ks: KolmogorovSmirnovSummary | null = null;
  let chiSquared: ChiSquaredSummary | null = null;
  if (present > 0 && valid > 0) {
    if (profile.kind === 'numeric') {
      psi = populationStabilityIndex(profile.binProportions, countInBins(live.numbers, profile.quantileEdges), t.epsilon);
      const result = twoSampleKolmogorovSmirnov(profile.sample, live.numbers);
      ks = { statistic: result.statistic, pValue: result.pValue };
      test = { pValue: ks.pValue, name: 'KS', detail: `D ${format(ks.statistic)}` };
    } else {
      const aligned = alignToReference(profile.categories, live.categories);
      psi = populationStabilityIndex(aligned.reference, aligned.live, t.epsilon);
      const result = chiSquaredTest(aligned.reference, aligned.live);
      chiSquared = {
        statistic: result.statistic,
        degreesOfFreedom: result.degreesOfFreedom,
        pValue: result.pValue,
        minExpected: result.minExpected,
      };
      test = {
        pValue: chiSquared.pValue,
        name: 'chi-squared',
        detail: `X² ${format(chiSquared.statistic)}, df ${chiSquared.degreesOfFreedom}`,
      };
    }
  }

  // Completeness: missing / invalid / valid
  let completeness: CompletenessShift | null = null;
  if (profile.count > 0 && live.rows > 0) {
    const referenceShares = [profile.missing, 0, present];
    const liveShares = [live.missing, live.invalid, valid];
    completeness = {
      referenceMissingRate: profile.missing / profile.count,
      liveMissingRate: live.missing / live.rows,
      liveInvalidRate: live.invalid / live.rows,
      psi: populationStabilityIndex(referenceShares, liveShares, t.epsilon),
      pValue: chiSquaredTest(referenceShares, liveShares).pValue,
    };
  }

  const invalidNote =
    live.invalid > 0
      ? `; ${live.invalid} live ${live.invalid === 1 ? `value is ${profile.kind === 'numeric' ? 'not a number' : 'an object or array'}` : `values are ${profile.kind === 'numeric' ? 'not numbers' : 'objects or arrays'}`} (${percent(live.invalid / live.rows)}), left out`
      : '';
  const base = { name, group, counts, psi, completeness };
  const withKind = (rest: { status: ColumnStatus; severity: DriftSeverity; reason: string }): ColumnDrift => {
    const common = { ...base, ...rest, drifted: rest.severity === 'major' };
    return profile.kind === 'numeric' ? { ...common, kind: 'numeric', ks } : { ...common, kind: 'categorical', chiSquared };
  };

  if (live.rows < t.minRows) {
    return withKind({
      status: 'too-few-rows',
      severity: 'none',
      reason: `too few rows: ${live.rows} live, at least ${t.minRows} needed to judge${invalidNote}`,
    });
  }
  const valuesGrade = psi !== null && test !== null && valid >= t.minRows ? grade(psi, test.pValue, t) : 'none';
  const completenessGrade = completeness ? grade(completeness.psi, completeness.pValue, t) : 'none';
  const severity = worse(valuesGrade, completenessGrade);
  const clauses: string[] = [];
  if (completenessGrade !== 'none' && completeness) {
    clauses.push(
      `${completenessGrade === 'major' ? 'missing or invalid values shifted' : 'minor change in missing or invalid values'}: ` +
        `${percent(completeness.liveMissingRate)} missing and ${percent(completeness.liveInvalidRate)} invalid live vs ${percent(completeness.referenceMissingRate)} missing in the reference ` +
        `(PSI ${format(completeness.psi)} ≥ ${completenessGrade === 'major' ? t.psiMajor : t.psiMinor}, chi-squared p-value ${formatP(completeness.pValue)} < ${t.pValue})`,
    );
  }
  if (psi === null || test === null) {
    clauses.push(present === 0 ? 'the reference has no values to compare with' : 'no valid live values to compare');
  } else if (valid < t.minRows) {
    clauses.push(`too few valid values: ${valid} live, at least ${t.minRows} needed to judge them (PSI ${format(psi)})`);
  } else if (valuesGrade !== 'none') {
    clauses.push(
      `${valuesGrade === 'major' ? 'values shifted' : 'minor shift of values'}: PSI ${format(psi)} ≥ ${valuesGrade === 'major' ? t.psiMajor : t.psiMinor} ` +
        `and ${test.name} p-value ${formatP(test.pValue)} < ${t.pValue} (${test.detail})`,
    );
  } else if (test.pValue < t.pValue) {
    clauses.push(`no material shift: PSI ${format(psi)} < ${t.psiMinor} (${test.name} p-value ${formatP(test.pValue)})`);
  } else {
    clauses.push(`no significant shift: ${test.name} p-value ${formatP(test.pValue)} ≥ ${t.pValue} (PSI ${format(psi)})`);
  }
  // The worse finding first.
  if (completenessGrade !== 'none' && rank(valuesGrade) > rank(completenessGrade)) clauses.reverse();
  return withKind({ status: 'compared', severity, reason: clauses.join('; ') + invalidNote });
}

function notInReference(name: string, group: ColumnGroup, values: readonly unknown[], referenceRows: number): ColumnDrift {
  const kind = kindOf(values);
  const live = sortValues(values, kind);
  const base = {
    name,
    group,
    status: 'absent-in-reference' as const,
    counts: {
      reference: { rows: referenceRows, missing: referenceRows },
      live: { rows: live.rows, missing: live.missing, invalid: live.invalid },
    },
    psi: null,
    completeness: null,
    severity: 'none' as const,
    drifted: false,
    reason: 'not in the reference profile: not compared',
  };
  return kind === 'numeric' ? { ...base, kind, ks: null } : { ...base, kind, chiSquared: null };
}

/**
 * Counts per bin of the profile's edges, which may repeat: a value's bin is the number of edges
 * at or below it (so a value equal to an edge is in the bin above, and the bins between equal
 * edges stay empty), as `profile.ts` forms `binProportions`.
 */
function countInBins(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const x of values) {
    const bin = binOf(edges, x);
    counts[bin] = (counts[bin] as number) + 1;
  }
  return counts;
}

/**
 * Reference and live counts over the reference's categories, a live category the reference did
 * not keep counted under `__other__` (added when the reference lacks it and live has one).
 */
function alignToReference(
  reference: Readonly<Record<string, number>>,
  live: ReadonlyMap<string, number>,
): { reference: number[]; live: number[] } {
  const keys = Object.keys(reference);
  const index = new Map(keys.map((key, i) => [key, i]));
  const referenceCounts = keys.map((key) => reference[key] as number);
  const liveCounts = new Array<number>(keys.length).fill(0);
  let other = 0;
  for (const [key, count] of live) {
    const i = index.get(key);
    if (i === undefined) other += count;
    else liveCounts[i] = (liveCounts[i] as number) + count;
  }
  if (other > 0) {
    const i = index.get(OTHER_CATEGORY);
    if (i === undefined) {
      referenceCounts.push(0);
      liveCounts.push(other);
    } else {
      liveCounts[i] = (liveCounts[i] as number) + other;
    }
  }
  return { reference: referenceCounts, live: liveCounts };
}

// ---------------------------------------------------------------------------------------------
// Canary gate
// ---------------------------------------------------------------------------------------------

export interface CanaryShiftOptions {
  /** Fewest rows each side needs for a verdict (and valid values a column needs). @default 50 */
  readonly minRows?: number;
  /** PSI from which a significant difference is a shift. @default 0.25 (`PSI_MAJOR_SHIFT`) */
  readonly psiThreshold?: number;
  /** Significance level of the KS and chi-squared tests. @default 0.01 */
  readonly pValue?: number;
  /** The PSI's proportion floor. @default 1e-4 */
  readonly epsilon?: number;
  /** The stable version, named in the reason. */
  readonly stableVersion?: string;
  /** The canary version, named in the reason. */
  readonly canaryVersion?: string;
}

export interface CanaryColumnShift {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
  readonly stable: { readonly rows: number; readonly missing: number };
  readonly canary: { readonly rows: number; readonly missing: number };
  /** PSI of the present values; null when a side has none. */
  readonly psi: number | null;
  /** The KS test (numeric) or chi-squared test (categorical) of the present values. */
  readonly test: { readonly name: 'KS' | 'chi-squared'; readonly statistic: number; readonly pValue: number } | null;
  /** The shares of missing values: PSI and chi-squared p-value. */
  readonly missingShift: { readonly psi: number; readonly pValue: number } | null;
  /** Whether both sides had enough rows (and valid values) to judge the column. */
  readonly judged: boolean;
  readonly shifted: boolean;
  readonly reason: string;
}

export interface CanaryShiftVerdict {
  /** Whether any column shifted: a failure signal for the release. */
  readonly shifted: boolean;
  /** False when a side has fewer than `minRows` rows: no verdict. */
  readonly judged: boolean;
  /** The shifted column with the largest PSI, with its numbers; or why nothing was judged. */
  readonly reason?: string;
  readonly columns: CanaryColumnShift[];
}

/**
 * Compares the canary's prediction columns with the stable version's on the same window, with
 * no reference profile: numeric columns by the PSI over ten bins at the stable side's deciles and
 * the two-sample KS test; categorical ones by the PSI over the union of both sides' categories
 * and the chi-squared test of homogeneity; missing values (NaN probabilities, no label) by the
 * PSI and chi-squared test of their share. A column has shifted when a PSI is at least
 * `psiThreshold` and its test's p-value below `pValue` (the rule of the module docstring). A
 * column only one side has is listed, not judged.
 *
 * @param stable prediction columns of the stable version (`predictionColumns`).
 * @param canary the canary's, same window.
 * @throws RangeError on an option out of its range.
 *
 * @example
 * canaryShift({ label: stableLabels }, { label: Array(300).fill('setosa') }, { stableVersion: '1', canaryVersion: '2' });
 * // { shifted: true, judged: true, reason: 'prediction "label" shifted: PSI 6.1 between stable version 1 (300 rows) and canary version 2 (300 rows), threshold 0.25 (chi-squared p-value 2.6e-90 < 0.01)', ... }
 */
export function canaryShift(
  stable: Readonly<Record<string, readonly unknown[]>>,
  canary: Readonly<Record<string, readonly unknown[]>>,
  options: CanaryShiftOptions = {},
): CanaryShiftVerdict {
  const minRows = options.minRows ?? 50;
  const threshold = options.psiThreshold ?? PSI_MAJOR_SHIFT;
  const level = options.pValue ?? 0.01;
  const epsilon = options.epsilon ?? DEFAULT_PSI_EPSILON;
  if (!(Number.isInteger(minRows) && minRows >= 1)) throw new RangeError(`minRows must be an integer ≥ 1, got ${minRows}`);
  if (!(threshold >= 0 && Number.isFinite(threshold))) throw new RangeError(`psiThreshold must be a finite number ≥ 0, got ${threshold}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`pValue must be in (0, 1), got ${level}`);
  if (!(epsilon > 0 && epsilon < 1)) throw new RangeError(`epsilon must be in (0, 1), got ${epsilon}`);

  const stableRows = longest(stable);
  const canaryRows = longest(canary);
  const stableName = options.stableVersion === undefined ? 'the stable version' : `stable version ${options.stableVersion}`;
  const canaryName = options.canaryVersion === undefined ? 'the canary' : `canary version ${options.canaryVersion}`;
  const judged = stableRows >= minRows && canaryRows >= minRows;
  const sides = (a: number, b: number): string => `between ${stableName} (${a} rows) and ${canaryName} (${b} rows)`;

  const names = [...new Set([...Object.keys(stable), ...Object.keys(canary)])];
  const columns = names.map((name): CanaryColumnShift => {
    const a = Object.hasOwn(stable, name) ? stable[name] : undefined;
    const b = Object.hasOwn(canary, name) ? canary[name] : undefined;
    const kind = kindOf(a ?? [], b ?? []);
    const s = sortValues(a ?? [], kind);
    const c = sortValues(b ?? [], kind);
    const counts = { stable: { rows: s.rows, missing: s.missing }, canary: { rows: c.rows, missing: c.missing } };
    if (a === undefined || b === undefined) {
      return {
        name,
        kind,
        ...counts,
        psi: null,
        test: null,
        missingShift: null,
        judged: false,
        shifted: false,
        reason: `only ${a === undefined ? canaryName : stableName} has prediction ${JSON.stringify(name)}: not compared`,
      };
    }
    const sValid = s.rows - s.missing - s.invalid;
    const cValid = c.rows - c.missing - c.invalid;
    let psi: number | null = null;
    let test: CanaryColumnShift['test'] = null;
    if (sValid > 0 && cValid > 0) {
      if (kind === 'numeric') {
        psi = populationStabilityIndexOfSamples(s.numbers, c.numbers, { epsilon }).psi;
        const ks = twoSampleKolmogorovSmirnov(s.numbers, c.numbers);
        test = { name: 'KS', statistic: ks.statistic, pValue: ks.pValue };
      } else {
        const categories = [...new Set([...s.categories.keys(), ...c.categories.keys()])];
        const sCounts = categories.map((k) => s.categories.get(k) ?? 0);
        const cCounts = categories.map((k) => c.categories.get(k) ?? 0);
        psi = populationStabilityIndex(sCounts, cCounts, epsilon);
        const chi = chiSquaredTest(sCounts, cCounts);
        test = { name: 'chi-squared', statistic: chi.statistic, pValue: chi.pValue };
      }
    }
    let missingShift: CanaryColumnShift['missingShift'] = null;
    if (s.rows > 0 && c.rows > 0) {
      const sShares = [s.missing + s.invalid, sValid];
      const cShares = [c.missing + c.invalid, cValid];
      missingShift = { psi: populationStabilityIndex(sShares, cShares, epsilon), pValue: chiSquaredTest(sShares, cShares).pValue };
    }
    const columnJudged = s.rows >= minRows && c.rows >= minRows;
    const valuesShifted =
      columnJudged && sValid >= minRows && cValid >= minRows && psi !== null && test !== null && psi >= threshold && test.pValue < level;
    const missingShifted = columnJudged && missingShift !== null && missingShift.psi >= threshold && missingShift.pValue < level;
    const label = `prediction ${JSON.stringify(name)}`;
    let reason: string;
    if (!columnJudged) reason = `${label}: too few rows to judge ${sides(s.rows, c.rows)}, at least ${minRows} each needed`;
    else if (valuesShifted && psi !== null && test !== null) {
      reason = `${label} shifted: PSI ${format(psi)} ${sides(s.rows, c.rows)}, threshold ${threshold} (${test.name} p-value ${formatP(test.pValue)} < ${level})`;
    } else if (missingShifted && missingShift) {
      reason = `${label} shifted: ${percent((c.missing + c.invalid) / c.rows)} missing vs ${percent((s.missing + s.invalid) / s.rows)}, PSI ${format(missingShift.psi)} ${sides(s.rows, c.rows)}, threshold ${threshold} (chi-squared p-value ${formatP(missingShift.pValue)} < ${level})`;
    } else if (psi === null || test === null) reason = `${label}: no values to compare`;
    else reason = `${label} did not shift: PSI ${format(psi)}, ${test.name} p-value ${formatP(test.pValue)} ${sides(s.rows, c.rows)}`;
    return { name, kind, ...counts, psi, test, missingShift, judged: columnJudged, shifted: valuesShifted || missingShifted, reason };
  });

  if (!judged) {
    return {
      shifted: false,
      judged: false,
      reason: `too few rows to judge the canary: ${stableName} has ${stableRows} rows and ${canaryName} ${canaryRows}; at least ${minRows} each are needed`,
      columns,
    };
  }
  const shiftedColumns = columns.filter((c) => c.shifted);
  const worst = (list: readonly CanaryColumnShift[]): CanaryColumnShift | undefined =>
    [...list].sort((x, y) => Math.max(y.psi ?? -1, y.missingShift?.psi ?? -1) - Math.max(x.psi ?? -1, x.missingShift?.psi ?? -1))[0];
  if (shiftedColumns.length > 0) return { shifted: true, judged: true, reason: worst(shiftedColumns)?.reason, columns };
  const largest = worst(columns.filter((c) => c.psi !== null));
  const reason = largest
    ? `no prediction shifted ${sides(stableRows, canaryRows)}: the largest PSI is ${format(largest.psi as number)} (prediction ${JSON.stringify(largest.name)}), threshold ${threshold}`
    : 'no prediction columns to compare';
  return { shifted: false, judged: true, reason, columns };
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function checkedThresholds(overrides: Partial<DriftThresholds>): DriftThresholds {
  const t: DriftThresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...overrides };
  if (!(Number.isFinite(t.psiMinor) && t.psiMinor >= 0)) throw new RangeError(`psiMinor must be a finite number ≥ 0, got ${t.psiMinor}`);
  if (!(Number.isFinite(t.psiMajor) && t.psiMajor >= t.psiMinor))
    throw new RangeError(`psiMajor must be a finite number ≥ psiMinor (${t.psiMinor}), got ${t.psiMajor}`);
  if (!(t.pValue > 0 && t.pValue < 1)) throw new RangeError(`pValue must be in (0, 1), got ${t.pValue}`);
  if (!(Number.isInteger(t.minRows) && t.minRows >= 1)) throw new RangeError(`minRows must be an integer ≥ 1, got ${t.minRows}`);
  if (!(t.epsilon > 0 && t.epsilon < 1)) throw new RangeError(`epsilon must be in (0, 1), got ${t.epsilon}`);
  return Object.freeze(t);
}

/** Significant (p below the level) and how large (by the PSI bands); else none. */
function grade(psi: number, pValue: number, t: DriftThresholds): DriftSeverity {
  if (!(pValue < t.pValue)) return 'none';
  if (psi >= t.psiMajor) return 'major';
  return psi >= t.psiMinor ? 'minor' : 'none';
}

const RANK: Readonly<Record<DriftSeverity, number>> = { none: 0, minor: 1, major: 2 };
function rank(severity: DriftSeverity): number {
  return RANK[severity];
}
function worse(a: DriftSeverity, b: DriftSeverity): DriftSeverity {
  return rank(a) >= rank(b) ? a : b;
}

/** Drifted first, then severity, then the larger PSI (values or completeness), then group and name. */
function worstFirst(a: ColumnDrift, b: ColumnDrift): number {
  const key = (r: ColumnDrift): number => Math.max(r.psi ?? -1, r.completeness?.psi ?? -1);
  return (
    Number(b.drifted) - Number(a.drifted) ||
    rank(b.severity) - rank(a.severity) ||
    key(b) - key(a) ||
    (a.group === b.group ? 0 : a.group === 'feature' ? -1 : 1) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

function longest(columns: Readonly<Record<string, readonly unknown[]>>): number {
  return Math.max(0, ...Object.values(columns).map((values) => values.length));
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** Two significant digits: 3.2, 0.084, 12. */
function format(x: number): string {
  return x === 0 ? '0' : String(Number(x.toPrecision(2)));
}

/** A p-value: two significant digits, or 1.2e-14 below 0.001. */
function formatP(p: number): string {
  return p !== 0 && p < 1e-3 ? p.toExponential(1) : format(p);
}

function percent(share: number): string {
  return `${format(share * 100)}%`;
}
