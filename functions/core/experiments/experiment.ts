/**
 * Experiments (issue 14): an A/B test of model versions on live traffic, with sticky assignment
 * (`assignment.ts`), outcomes recorded per request or per unit, and an analysis per variant
 * (`analysis.ts`). Shadow tests (`../shadow/`) are the other study of live traffic. This module
 * holds the vocabulary (no zod: the endpoint function imports it); `schemas.ts` the request
 * schemas; `service.ts` the operations.
 *
 * An experiment's life: `scheduled` (before `startsAt`), `running`, then `ended` (at `endsAt`)
 * or `stopped` (by a person, or by promoting its winner). While it runs, every request to the
 * model that carries an assignment key is served by the version of the variant the key is
 * assigned to, and the prediction log records the experiment, the variant and the unit (a hash
 * of the key). A request without a key is served as if no experiment ran, and is not counted.
 */
import { ConflictError } from '../errors.js';
import type { ModelRecord } from '../model.js';
import type { ExperimentVariant } from './assignment.js';

export type { ExperimentVariant } from './assignment.js';

/** Where a request's assignment key comes from. */
export type AssignmentKeySource =
  /** The token's subject (the authorizer's principal): one unit per caller. */
  | { readonly source: 'subject' }
  /** A request header naming the unit (a user, a session, a device), lower-case. */
  | { readonly source: 'header'; readonly header: string };

/** What an outcome measures, and so which test compares the variants. */
export type OutcomeMetric =
  /**
   * 0 or 1 per unit: the share of units with an outcome of 1 among the units served (a unit
   * served and never given an outcome counts as 0); two-proportion z-test.
   */
  | 'conversion'
  /** Any finite number per outcome: the mean over the outcomes recorded; Welch's t-test. */
  | 'value';

/** Which way is better. */
export type MetricGoal = 'maximize' | 'minimize';

/** What the model's record carries while an experiment is set (read with the production pointer). */
export interface ActiveExperiment {
  readonly id: string;
  /** Two to {@link MAX_VARIANTS}; the first is the control the others are compared with. */
  readonly variants: readonly ExperimentVariant[];
  readonly assignmentKey: AssignmentKeySource;
  /** ISO-8601 UTC: requests from then on are assigned. */
  readonly startsAt: string;
  /** ISO-8601 UTC: requests from then on are not; absent: until stopped. */
  readonly endsAt?: string;
}

/** An experiment as stored and served. */
export interface Experiment extends ActiveExperiment {
  readonly model: string;
  /** A person's name for it. */
  readonly name?: string;
  readonly description?: string;
  readonly metric: OutcomeMetric;
  readonly goal: MetricGoal;
  /** The test's level α (a winner needs p < α, Bonferroni-corrected over the treatments). */
  readonly significanceLevel: number;
  /** Observations every variant needs before a winner may be declared (units for conversions, outcomes for values). */
  readonly minimumSample: number;
  readonly createdAt: string;
  readonly createdBy: string;
  /** Set when stopped before its end. */
  readonly stoppedAt?: string;
  readonly stoppedBy?: string;
  readonly stopReason?: string;
}

export type ExperimentState = 'scheduled' | 'running' | 'ended' | 'stopped';

/** Smallest weight of a variant, in percent of the units. */
export const MIN_WEIGHT = 0.001;
/** Longest assignment key an outcome may name (a request header's value can be as long). */
export const MAX_KEY_CHARS = 8_192;
/**
 * The magnitudes an outcome's value may have besides 0: from 1e-100 (DynamoDB stores numbers
 * down to 1e-130) to 2^53 − 1 (the largest the document client writes exactly).
 */
export const MIN_OUTCOME_MAGNITUDE = 1e-100;
export const MAX_OUTCOME_MAGNITUDE = Number.MAX_SAFE_INTEGER;
/** Most variants in one experiment. */
export const MAX_VARIANTS = 10;
/** Longest experiment: a year. */
export const MAX_EXPERIMENT_DAYS = 366;
/** Default level of the tests. */
export const DEFAULT_SIGNIFICANCE_LEVEL = 0.05;
/** Default minimum sample per variant. */
export const DEFAULT_MINIMUM_SAMPLE = 100;
export const EXPERIMENT_ID_PATTERN = /^exp-[0-9]{8}t[0-9]{9}z-[0-9a-z]{8}$/;

/** The state of `experiment` at `now` (epoch ms). */
export function experimentState(experiment: Pick<Experiment, 'startsAt' | 'endsAt' | 'stoppedAt'>, now: number): ExperimentState {
  if (experiment.stoppedAt !== undefined) return 'stopped';
  if (Date.parse(experiment.startsAt) > now) return 'scheduled';
  if (experiment.endsAt !== undefined && Date.parse(experiment.endsAt) <= now) return 'ended';
  return 'running';
}

/** Whether requests at `now` are assigned (the experiment has started and not ended). */
export function assigning(experiment: Pick<ActiveExperiment, 'startsAt' | 'endsAt'>, now: number): boolean {
  return Date.parse(experiment.startsAt) <= now && (experiment.endsAt === undefined || Date.parse(experiment.endsAt) > now);
}

/** One recorded outcome, as stored. */
export interface RecordedOutcome {
  /** `request:<requestId>` or `key:<unit>:<outcomeId>`: one outcome per identity (idempotency). */
  readonly identity: string;
  readonly variant: string;
  /** The unit's hash (`unitId`), when known (always for a key; for a request id, its log's). */
  readonly unit?: string;
  readonly requestId?: string;
  readonly value: number;
  readonly recordedAt: string;
  readonly recordedBy: string;
}

/**
 * A model has one study of live traffic at a time (an experiment or a shadow test): the id of
 * the active experiment a new study may replace (one that has ended), or `undefined` when none
 * is set.
 *
 * @throws ConflictError 409 `SHADOW_RUNNING`, `EXPERIMENT_RUNNING` (running or scheduled), path `model`
 */
export function checkNoStudy(record: ModelRecord, now: number): string | undefined {
  if (record.shadow) {
    throw new ConflictError(
      'SHADOW_RUNNING',
      `Model "${record.model}" has shadow test ${record.shadow.id} running (candidate version ${record.shadow.version}); a model has one experiment or shadow test at a time. Stop it first (DELETE /v1/models/${record.model}/shadow).`,
      ['model'],
    );
  }
  const active = record.experiment;
  if (!active) return undefined;
  const state = experimentState(active, now);
  if (state === 'ended') return active.id;
  throw new ConflictError(
    'EXPERIMENT_RUNNING',
    `Model "${record.model}" has experiment ${active.id} ${state === 'scheduled' ? `scheduled to start at ${active.startsAt}` : 'running'}; a model has one experiment or shadow test at a time. Stop it first (POST /v1/models/${record.model}/experiments/${active.id}/stop).`,
    ['model'],
  );
}
