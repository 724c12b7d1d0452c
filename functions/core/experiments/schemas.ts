/**
 * The request bodies of the experiments API (`POST /v1/models/{model}/experiments`, its outcomes)
 * as zod schemas, apart from the vocabulary in `experiment.ts` so that the endpoint function, which
 * reads experiments but never parses these bodies, does not bundle them.
 */
import * as z from 'zod';
import {
  DEFAULT_MINIMUM_SAMPLE,
  DEFAULT_SIGNIFICANCE_LEVEL,
  MAX_KEY_CHARS,
  MAX_OUTCOME_MAGNITUDE,
  MAX_VARIANTS,
  MIN_OUTCOME_MAGNITUDE,
  MIN_WEIGHT,
} from './experiment.js';

const VARIANT_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
/** An HTTP header name (RFC 9110 token), read case-insensitively. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Headers that carry credentials or routing, never a unit. */
const RESERVED_HEADERS = new Set(['authorization', 'cookie', 'host', 'content-length', 'content-type', 'x-api-key']);

/** A model version as text or number, kept as the registry writes it ("3"). */
export const VersionField = z
  .union([z.string(), z.number()], { error: 'must be a version number such as "3"' })
  .transform((v) => String(v))
  .refine((v) => /^[1-9][0-9]{0,9}$/.test(v), 'must be a version number such as "3"');

/**
 * Whether `text` is a UTC time `YYYY-MM-DDTHH:MM[:SS[.mmm]]Z` that exists: `Date.parse` rolls
 * 2027-02-30 over to March 2, so the fields are compared with the time they make.
 */
function isUtcTime(text: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?Z$/.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second = '0'] = match.slice(1).map((part) => Number(part ?? '0'));
  const time = new Date(Date.UTC(year as number, (month as number) - 1, day, hour, minute, second as number));
  return (
    time.getUTCFullYear() === year &&
    time.getUTCMonth() === (month as number) - 1 &&
    time.getUTCDate() === day &&
    time.getUTCHours() === hour &&
    time.getUTCMinutes() === minute &&
    time.getUTCSeconds() === second
  );
}

const isoTime = (what: string) =>
  z
    .string({ error: `must be an ISO-8601 UTC time such as "2026-12-01T09:00:00Z" (${what})` })
    .refine(isUtcTime, `must be an ISO-8601 UTC time that exists, such as "2026-12-01T09:00:00Z" (${what})`);

const VariantSchema = z.strictObject({
  name: z
    .string({ error: 'must be a name such as "control"' })
    .regex(VARIANT_NAME, 'must be 1-40 of a-z, 0-9, "-" and "_", starting with a letter or digit'),
  version: VersionField,
  weight: z
    .number({ error: 'must be a percent of the units, above 0 and below 100' })
    .min(MIN_WEIGHT, `must be at least ${MIN_WEIGHT} (percent of the units)`)
    .lt(100, 'must be below 100 (an experiment needs two variants or more)'),
});

const AssignmentKeySchema = z.discriminatedUnion(
  'source',
  [
    z.strictObject({ source: z.literal('subject') }),
    z.strictObject({
      source: z.literal('header'),
      header: z
        .string({ error: 'must be a header name such as "x-user-id"' })
        .regex(HEADER_NAME, 'must be a header name such as "x-user-id"')
        .transform((h) => h.toLowerCase())
        .refine(
          (h) => !RESERVED_HEADERS.has(h),
          'names a header that carries credentials or routing, not a unit; use a header of your own such as "x-user-id"',
        ),
    }),
  ],
  { error: 'must be {"source": "subject"} (the token\'s subject) or {"source": "header", "header": "x-user-id"}' },
);

/** The body of `POST /v1/models/{model}/experiments`. */
export const ExperimentRequestSchema = z.strictObject({
  name: z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters').optional(),
  description: z.string().max(1000, 'must be at most 1,000 characters').optional(),
  variants: z
    .array(VariantSchema, { error: 'must list the variants: [{"name": "control", "version": "1", "weight": 50}, ...]' })
    .min(2, 'must list two variants or more: the control first, then the treatments')
    .max(MAX_VARIANTS, `must list at most ${MAX_VARIANTS} variants`)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((v, i) => {
        if (seen.has(v.name)) ctx.addIssue({ code: 'custom', message: `names variant "${v.name}" twice`, path: [i, 'name'] });
        seen.add(v.name);
      });
      const total = list.reduce((sum, v) => sum + v.weight, 0);
      if (Math.abs(total - 100) > 1e-9)
        ctx.addIssue({
          code: 'custom',
          message: `must hold weights that sum to 100 (percent of the units); they sum to ${Math.round(total * 1e6) / 1e6}`,
          path: [],
        });
    }),
  assignmentKey: AssignmentKeySchema.default({ source: 'subject' }),
  metric: z
    .enum(['conversion', 'value'], { error: 'must be "conversion" (0/1 per unit) or "value" (a number per outcome)' })
    .default('conversion'),
  goal: z.enum(['maximize', 'minimize'], { error: 'must be "maximize" or "minimize"' }).default('maximize'),
  significanceLevel: z
    .number({ error: 'must be a number such as 0.05' })
    .min(1e-6, 'must be at least 0.000001')
    .max(0.5, 'must be at most 0.5')
    .default(DEFAULT_SIGNIFICANCE_LEVEL),
  minimumSample: z
    .number({ error: 'must be a whole number of observations per variant' })
    .min(2, 'must be at least 2 (a variance needs two observations)')
    .max(100_000_000, 'must be at most 100,000,000')
    .int('must be a whole number')
    .default(DEFAULT_MINIMUM_SAMPLE),
  startsAt: isoTime('when assignment starts; default now').optional(),
  endsAt: isoTime('when assignment ends; default: until stopped').optional(),
});
export type ExperimentRequest = z.output<typeof ExperimentRequestSchema>;
export const EXPERIMENT_HINT =
  'Send {"variants": [{"name": "control", "version": "1", "weight": 50}, {"name": "treatment", "version": "2", "weight": 50}], "metric": "conversion", "assignmentKey": {"source": "header", "header": "x-user-id"}}; only variants is required.';

/** The body of `POST /v1/models/{model}/experiments/{experiment}/outcomes`. */
export const OutcomeRequestSchema = z
  .strictObject({
    requestId: z
      .string({ error: 'must be the requestId of a prediction, as text' })
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters')
      .optional(),
    key: z
      .string({ error: "must be the unit's assignment key, as text" })
      .min(1, 'must not be empty')
      .max(MAX_KEY_CHARS, `must be at most ${MAX_KEY_CHARS} characters`)
      .optional(),
    outcomeId: z
      .string({ error: 'must be text, such as an order id' })
      .min(1, 'must not be empty')
      .max(200, 'must be at most 200 characters')
      .optional(),
    value: z
      .number({ error: 'must be a number: 0 or 1 for a conversion, any finite number for a value' })
      .refine(
        (v) => v === 0 || (Math.abs(v) >= MIN_OUTCOME_MAGNITUDE && Math.abs(v) <= MAX_OUTCOME_MAGNITUDE),
        `must be 0, or between ${MIN_OUTCOME_MAGNITUDE} and ${MAX_OUTCOME_MAGNITUDE} in magnitude (DynamoDB's number range, kept exact)`,
      ),
  })
  .superRefine((body, ctx) => {
    if ((body.requestId === undefined) === (body.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'must name either "requestId" (the request the outcome is for) or "key" (the unit\'s assignment key), one of them',
        path: [body.requestId === undefined ? 'requestId' : 'key'],
      });
    }
    if (body.outcomeId !== undefined && body.key === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'goes with "key" (a request id already names its outcome)',
        path: ['outcomeId'],
      });
    }
  });
export type OutcomeRequest = z.output<typeof OutcomeRequestSchema>;
export const OUTCOME_HINT =
  'Send {"requestId": "<the prediction\'s requestId>", "value": 1} or {"key": "<assignment key>", "value": 1}; add "outcomeId" to record more than one outcome per key.';
