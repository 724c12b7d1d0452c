/**
 * An experiment's analysis (issue 14, item 3): per variant, the requests it served, the units
 * (distinct assignment keys) it served, the outcomes recorded, the metric's mean with its
 * confidence interval; per treatment, the difference to the control with its interval and
 * p-value; and a winner only when the difference is significant and every variant has reached
 * the minimum sample. Pure: the service reads the study's log records and outcomes and passes
 * them in.
 *
 * ## What is measured
 * - `conversion`: the unit is the observation. A variant's sample is the units it served; a unit
 *   converted when any of its outcomes is 1 (an outcome for a request counts for that request's
 *   unit). Units never given an outcome count as not converted. Rate with Wilson's interval,
 *   compared by the two-proportion z-test (`statistics.ts`).
 * - `value`: the outcome is the observation. A variant's sample is the outcomes recorded for the
 *   units it served. Mean with Student's t interval, compared by Welch's t-test.
 * Outcomes of units a variant never served (in the prediction log's retention) are not counted,
 * in either metric: `unmatchedOutcomes` says how many.
 *
 * ## The decision
 * With k treatments, each is compared with the control at level α / k (Bonferroni's correction,
 * so the chance of any false winner stays at most α; Dunn, "Multiple comparisons among means",
 * JASA 1961), and the intervals of the differences are at confidence 1 − α / k. Nothing is
 * declared before every variant has `minimumSample` observations (looking early and often at a
 * fixed-level test inflates false positives; the minimum sample is the guard the user sets).
 * Then, for `goal: maximize` (mirrored for `minimize`): the winner is the treatment with the best
 * mean among those significantly better than the control; if none is better and every treatment
 * is significantly worse, the control wins; otherwise there is no winner.
 */
import type { Experiment, ExperimentState, RecordedOutcome } from './experiment.js';
import {
  proportionEstimate,
  meanEstimate,
  RunningMoments,
  twoProportionZTest,
  welchTTest,
  type Comparison,
  type Interval,
} from './statistics.js';

/** One request of the experiment, as its prediction-log item records it. */
export interface Exposure {
  readonly variant: string;
  readonly unit: string;
}

export interface VariantAnalysis {
  readonly name: string;
  readonly version: string;
  readonly weight: number;
  /** Requests served (in the prediction log still: its items expire after the log's retention). */
  readonly requests: number;
  /** Distinct units served. */
  readonly units: number;
  /** Outcomes recorded for units the variant served (the others are in `unmatchedOutcomes`). */
  readonly outcomes: number;
  /** The observations the metric is computed over: units (conversion) or outcomes (value). */
  readonly sample: number;
  /** Conversion: units converted. */
  readonly conversions?: number;
  /** The conversion rate or the mean value; `null` with no observation. */
  readonly mean: number | null;
  /** Its confidence interval at 1 − α / k; `null` when it cannot be computed (too few observations). */
  readonly ci: Interval | null;
  /** Treatments: the comparison with the control; `null` when it cannot be made yet. */
  readonly comparison?: (Comparison & { readonly significant: boolean }) | null;
}

export interface ExperimentAnalysis {
  readonly experiment: Experiment & { readonly state: ExperimentState };
  readonly metric: Experiment['metric'];
  readonly goal: Experiment['goal'];
  /** The level each comparison is judged at: α / k. */
  readonly comparisonLevel: number;
  readonly variants: readonly VariantAnalysis[];
  /** The variant declared better, or `null`. */
  readonly winner: { readonly variant: string; readonly version: string } | null;
  /** Why there is, or is not, a winner, in one sentence. */
  readonly decision: string;
  /** Outcomes not counted: for units their variant never served (in the log still), or of a variant the experiment does not have. */
  readonly unmatchedOutcomes: number;
  /** Whether the log records or the outcomes read were capped (the analysis covers the oldest). */
  readonly capped: boolean;
  readonly analyzedAt: string;
}

export interface AnalysisInput {
  readonly experiment: Experiment;
  readonly state: ExperimentState;
  readonly exposures: Iterable<Exposure>;
  readonly outcomes: Iterable<RecordedOutcome>;
  readonly capped: boolean;
  readonly now: Date;
}

/** Analyzes an experiment (see the module's doc). */
export function analyzeExperiment(input: AnalysisInput): ExperimentAnalysis {
  const { experiment } = input;
  const names = experiment.variants.map((v) => v.name);
  const requests = new Map(names.map((n) => [n, 0]));
  const units = new Map(names.map((n) => [n, new Set<string>()]));
  for (const exposure of input.exposures) {
    const count = requests.get(exposure.variant);
    if (count === undefined) continue;
    requests.set(exposure.variant, count + 1);
    units.get(exposure.variant)?.add(exposure.unit);
  }
  const outcomeCounts = new Map(names.map((n) => [n, 0]));
  const converted = new Map(names.map((n) => [n, new Set<string>()]));
  const moments = new Map(names.map((n) => [n, new RunningMoments()]));
  let unmatched = 0;
  for (const outcome of input.outcomes) {
    const count = outcomeCounts.get(outcome.variant);
    // Only outcomes of units the variant served count: a key never served (a typo, a user who
    // never saw a prediction) says nothing about the variant.
    if (count === undefined || outcome.unit === undefined || !units.get(outcome.variant)?.has(outcome.unit)) {
      unmatched++;
      continue;
    }
    outcomeCounts.set(outcome.variant, count + 1);
    if (experiment.metric === 'value') moments.get(outcome.variant)?.add(outcome.value);
    else if (outcome.value === 1) converted.get(outcome.variant)?.add(outcome.unit);
  }

  const k = experiment.variants.length - 1;
  const level = experiment.significanceLevel / k;
  const summaries = experiment.variants.map((variant) => {
    const served = units.get(variant.name)?.size ?? 0;
    const base = {
      name: variant.name,
      version: variant.version,
      weight: variant.weight,
      requests: requests.get(variant.name) ?? 0,
      units: served,
      outcomes: outcomeCounts.get(variant.name) ?? 0,
    };
    if (experiment.metric === 'conversion') {
      const successes = converted.get(variant.name)?.size ?? 0;
      const estimate = served > 0 ? proportionEstimate(successes, served, level) : null;
      return {
        ...base,
        sample: served,
        conversions: successes,
        mean: estimate?.mean ?? null,
        ci: estimate?.ci ?? null,
        stats: { successes, n: served },
      };
    }
    const m = moments.get(variant.name) ?? new RunningMoments();
    const estimate = m.n >= 2 ? meanEstimate({ n: m.n, mean: m.mean, variance: m.variance }, level) : null;
    return {
      ...base,
      sample: m.n,
      mean: m.n > 0 ? m.mean : null,
      ci: estimate?.ci ?? null,
      stats: { n: m.n, mean: m.mean, variance: m.variance },
    };
  });

  const [control, ...treatments] = summaries;
  if (!control) throw new Error('An experiment has two variants or more.');
  const better = (difference: number) => (experiment.goal === 'maximize' ? difference > 0 : difference < 0);
  const variants: VariantAnalysis[] = [strip(control)];
  const judged: Array<{ name: string; version: string; mean: number; comparison: Comparison & { significant: boolean } }> = [];
  for (const treatment of treatments) {
    let comparison: (Comparison & { significant: boolean }) | null = null;
    if (experiment.metric === 'conversion') {
      const c = control.stats as { successes: number; n: number };
      const t = treatment.stats as { successes: number; n: number };
      if (c.n > 0 && t.n > 0) {
        const result = twoProportionZTest(c, t, level);
        comparison = { ...result, significant: result.pValue < level };
      }
    } else {
      const c = control.stats as { n: number; mean: number; variance: number };
      const t = treatment.stats as { n: number; mean: number; variance: number };
      if (c.n >= 2 && t.n >= 2) {
        const result = welchTTest(c, t, level);
        comparison = { ...result, significant: result.pValue < level };
      }
    }
    variants.push({ ...strip(treatment), comparison });
    if (comparison && treatment.mean !== null)
      judged.push({ name: treatment.name, version: treatment.version, mean: treatment.mean, comparison });
  }

  const short = summaries.filter((s) => s.sample < experiment.minimumSample);
  let winner: ExperimentAnalysis['winner'] = null;
  let decision: string;
  if (short.length > 0) {
    decision = `No winner yet: the minimum sample of ${experiment.minimumSample} ${experiment.metric === 'conversion' ? 'units' : 'outcomes'} per variant is not reached (${short.map((s) => `${s.name} has ${s.sample}`).join(', ')}).`;
  } else if (judged.length < treatments.length) {
    decision = 'No winner yet: not every treatment can be compared with the control (too few observations on one side).';
  } else {
    const winners = judged.filter((j) => j.comparison.significant && better(j.comparison.difference));
    const best = winners.sort((a, b) => (experiment.goal === 'maximize' ? b.mean - a.mean : a.mean - b.mean))[0];
    if (best) {
      winner = { variant: best.name, version: best.version };
      decision = `${best.name} is ${experiment.goal === 'maximize' ? 'better' : 'lower'} than ${control.name}: difference ${formatNumber(best.comparison.difference)}, p = ${formatNumber(best.comparison.pValue)} < ${formatNumber(level)}.`;
    } else if (judged.every((j) => j.comparison.significant && !better(j.comparison.difference))) {
      winner = { variant: control.name, version: control.version };
      decision = `${control.name} is better than every treatment (each p < ${formatNumber(level)}).`;
    } else {
      decision = `No winner: no difference to ${control.name} is significant at ${formatNumber(level)}${k > 1 ? ` (α = ${experiment.significanceLevel} over ${k} comparisons)` : ''}.`;
    }
  }

  return {
    experiment: { ...experiment, state: input.state },
    metric: experiment.metric,
    goal: experiment.goal,
    comparisonLevel: level,
    variants,
    winner,
    decision,
    unmatchedOutcomes: unmatched,
    capped: input.capped,
    analyzedAt: input.now.toISOString(),
  };
}

function strip<T extends { stats: unknown }>(summary: T): Omit<T, 'stats'> {
  const { stats: _stats, ...rest } = summary;
  return rest;
}

function formatNumber(x: number): string {
  return Math.abs(x) >= 1e-4 || x === 0 ? String(Math.round(x * 1e6) / 1e6) : x.toExponential(3);
}
