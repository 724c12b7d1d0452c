/**
 * Shadow tests (issue 14, item 4): "what would the candidate have said?" with no risk to callers.
 * While a shadow test is set on a model, a sampled share of its requests also runs on the
 * candidate version after the caller has its answer (`runner.ts`); the request's prediction-log
 * item keeps both outputs and their comparison, and `report.ts` sums them up. The caller's answer
 * never waits for, changes with, or fails because of the candidate.
 */
import * as z from 'zod';
import { VersionField } from '../experiments/schemas.js';

/** What the model's record carries while a shadow test is set (read with the production pointer). */
export interface ActiveShadow {
  readonly id: string;
  /** The candidate version. */
  readonly version: string;
  /** Percent of requests also run on the candidate, in (0, 100]; each request drawn independently. */
  readonly samplePercent: number;
  readonly startedAt: string;
  readonly startedBy: string;
}

/** A shadow test as stored and served. */
export interface ShadowTest extends ActiveShadow {
  readonly model: string;
  readonly stoppedAt?: string;
  readonly stoppedBy?: string;
}

/** Smallest share shadowed: one request in 100,000. */
export const MIN_SHADOW_PERCENT = 0.001;

/** The body of `POST /v1/models/{model}/shadow`. */
export const ShadowRequestSchema = z.strictObject({
  version: VersionField,
  samplePercent: z
    .number({ error: 'must be a number of percent, above 0 and at most 100' })
    .min(
      MIN_SHADOW_PERCENT,
      `must be at least ${MIN_SHADOW_PERCENT} (one request in 100,000; DELETE /v1/models/{model}/shadow stops the test)`,
    )
    .max(100, 'must be at most 100')
    .default(100),
});
export type ShadowRequest = z.output<typeof ShadowRequestSchema>;
export const SHADOW_HINT = 'Send {"version": "2", "samplePercent": 10}; samplePercent defaults to 100.';
