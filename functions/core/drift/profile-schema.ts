/**
 * Validation of an uploaded reference profile (with a registration's metadata, or
 * `PUT /v1/models/{m}/versions/{v}/profile`): the format `profile.ts` documents and writes, its
 * invariants checked so that drift reports (`report.ts`) can rely on them. What `profileRows`,
 * `profileCsv` and `modelctl profile` produce passes unchanged.
 *
 * Refusals are ValidationError 400 `INVALID_PROFILE`, the first problem found, with the field's
 * path (e.g. `["profile", "features", "x", "quantileEdges", 3]`) and a message naming the rule;
 * input quoted in a message or path is cut to 64 characters.
 */
import * as z from 'zod';
import { pathExcerpt } from '../codec/limits.js';
import { ValidationError, clip, formatPath, type FieldPath } from '../errors.js';
import { plainParse, refusalOf } from '../messages.js';
import {
  MAX_CATEGORIES,
  MAX_CATEGORY_CHARS,
  MAX_PROFILE_FEATURES,
  MAX_SAMPLE,
  OTHER_CATEGORY,
  PROFILE_VERSION,
  type CategoricalFeatureProfile,
  type FeatureProfile,
  type NumericFeatureProfile,
  type ReferenceProfile,
} from './profile.js';

/** How far the ten bin proportions may sum from 1 (they are shares written as doubles). */
export const BIN_PROPORTIONS_TOLERANCE = 1e-6;
/** Characters of input a message quotes. */
const QUOTE_CHARS = 64;
const HINT = 'A profile is what `modelctl profile` writes (format in functions/core/drift/profile.ts).';

const WHOLE = 'must be a whole number ≥ 0';
const FINITE = 'must be a finite number';
const wholeNumber = z.number({ error: WHOLE }).int({ error: WHOLE }).min(0, { error: WHOLE });
const finite = z.number({ error: FINITE });

const TopSchema = z.strictObject({
  profileVersion: z.literal(PROFILE_VERSION, { error: `must be ${PROFILE_VERSION}, the only profile version this server reads` }),
  rows: wholeNumber,
  features: z.unknown(),
  predictions: z.unknown().optional(),
});

const NumericSchema = z.strictObject({
  kind: z.literal('numeric'),
  count: wholeNumber,
  missing: wholeNumber,
  min: finite,
  max: finite,
  mean: finite,
  std: finite.min(0, { error: 'must be ≥ 0 (a standard deviation)' }),
  quantileEdges: z
    .array(finite, { error: 'must be an array of 9 numbers, the deciles' })
    .length(9, { error: 'must hold exactly 9 numbers, the deciles' }),
  binProportions: z
    .array(finite.min(0, { error: 'must be a share in [0, 1]' }).max(1, { error: 'must be a share in [0, 1]' }), {
      error: 'must be an array of 10 shares',
    })
    .length(10, { error: 'must hold exactly 10 shares, one per decile bin' }),
  sample: z
    .array(finite, { error: `must be an array of at most ${MAX_SAMPLE} numbers` })
    .min(1, { error: 'must hold at least one value (a numeric feature has present values)' })
    .max(MAX_SAMPLE, { error: `must hold at most ${MAX_SAMPLE} values` }),
});

const CategoricalSchema = z.strictObject({
  kind: z.literal('categorical'),
  count: wholeNumber,
  missing: wholeNumber,
  categories: z.unknown(),
});

/**
 * A reference profile as uploaded, checked and copied (plain JSON data, nothing else kept):
 *
 * - `profileVersion` 1; `rows` a whole number ≥ 0; no field the format does not have;
 * - `features` (and the optional `predictions`, the prediction columns' profiles) an object of
 *   at most 1,000 entries with non-empty names;
 * - each entry `kind` `numeric` or `categorical`, `count` and `missing` whole numbers ≥ 0 with
 *   `missing ≤ count`;
 * - numeric: `min ≤ max`, `mean`, `std ≥ 0` finite; `quantileEdges` 9 non-decreasing finite
 *   numbers; `binProportions` 10 shares in [0, 1] summing to 1 within 1e-6; `sample` 1 to 1,000
 *   finite numbers sorted ascending, no more than the `count − missing` present values;
 * - categorical: `categories` an object of at most 101 categories (100 kept and `__other__`),
 *   names at most 200 characters, counts whole numbers ≥ 0 summing to `count − missing`.
 *
 * @param body the profile (parsed JSON).
 * @param at where the profile sits in the request body, prefixed to error paths.
 * @returns the profile, fields in the format's order; category and feature order kept (a name
 *   such as `__proto__` stays an own key).
 * @throws ValidationError 400 `INVALID_PROFILE` on the first problem found.
 */
export function parseReferenceProfile(body: unknown, at: FieldPath = ['profile']): ReferenceProfile {
  const refuse = (path: FieldPath, problem: string): ValidationError => {
    const full = pathExcerpt([...at, ...path]);
    return new ValidationError('INVALID_PROFILE', `${formatPath(full) || 'The profile'} ${problem}. ${HINT}`, full);
  };
  if (!isObject(body)) throw refuse([], `must be a JSON object, not ${describe(body)}`);
  const top = parse(TopSchema, body, [], refuse);
  const features = parseColumns(top.features, ['features'], refuse);
  const predictions = top.predictions === undefined ? undefined : parseColumns(top.predictions, ['predictions'], refuse);
  return {
    profileVersion: top.profileVersion,
    rows: top.rows,
    features,
    ...(predictions === undefined ? {} : { predictions }),
  };
}

type Refuse = (path: FieldPath, problem: string) => ValidationError;

function parseColumns(value: unknown, path: FieldPath, refuse: Refuse): Record<string, FeatureProfile> {
  if (!isObject(value)) throw refuse(path, `must be an object of feature name to summary, not ${describe(value)}`);
  const entries = Object.entries(value);
  if (entries.length > MAX_PROFILE_FEATURES)
    throw refuse(path, `has ${entries.length} entries; a profile holds at most ${MAX_PROFILE_FEATURES}`);
  return Object.fromEntries(
    entries.map(([name, feature]) => {
      if (name === '') throw refuse(path, 'has a feature with an empty name; every feature needs one');
      return [name, parseFeature(feature, [...path, name], refuse)];
    }),
  );
}

function parseFeature(value: unknown, path: FieldPath, refuse: Refuse): FeatureProfile {
  if (!isObject(value)) throw refuse(path, `must be an object (a feature's summary), not ${describe(value)}`);
  if (value.kind === 'numeric') return parseNumeric(value, path, refuse);
  if (value.kind === 'categorical') return parseCategorical(value, path, refuse);
  throw refuse([...path, 'kind'], `must be "numeric" or "categorical", not ${describe(value.kind)}`);
}

function parseNumeric(value: Record<string, unknown>, path: FieldPath, refuse: Refuse): NumericFeatureProfile {
  const f = parse(NumericSchema, value, path, refuse);
  checkCounts(f.count, f.missing, path, refuse);
  const present = f.count - f.missing;
  if (f.min > f.max) throw refuse([...path, 'min'], `is ${f.min}, above max (${f.max})`);
  f.quantileEdges.forEach((edge, i) => {
    const previous = f.quantileEdges[i - 1];
    if (previous !== undefined && edge < previous) {
      throw refuse(
        [...path, 'quantileEdges', i],
        `is ${edge}, below quantileEdges[${i - 1}] (${previous}): the deciles must be non-decreasing`,
      );
    }
  });
  const total = f.binProportions.reduce((sum, share) => sum + share, 0);
  if (Math.abs(total - 1) > BIN_PROPORTIONS_TOLERANCE) {
    throw refuse(
      [...path, 'binProportions'],
      `sum to ${total}; the shares of the 10 bins must sum to 1 (within ${BIN_PROPORTIONS_TOLERANCE})`,
    );
  }
  if (f.sample.length > present) {
    throw refuse([...path, 'sample'], `holds ${f.sample.length} values, more than the ${present} present ones (count − missing)`);
  }
  f.sample.forEach((x, i) => {
    const previous = f.sample[i - 1];
    if (previous !== undefined && x < previous)
      throw refuse([...path, 'sample', i], `is ${x}, below sample[${i - 1}] (${previous}): the sample must be sorted ascending`);
  });
  return {
    kind: 'numeric',
    count: f.count,
    missing: f.missing,
    min: f.min,
    max: f.max,
    mean: f.mean,
    std: f.std,
    quantileEdges: f.quantileEdges,
    binProportions: f.binProportions,
    sample: f.sample,
  };
}

function parseCategorical(value: Record<string, unknown>, path: FieldPath, refuse: Refuse): CategoricalFeatureProfile {
  const f = parse(CategoricalSchema, value, path, refuse);
  checkCounts(f.count, f.missing, path, refuse);
  const at = [...path, 'categories'];
  if (!isObject(f.categories)) throw refuse(at, `must be an object of category to count, not ${describe(f.categories)}`);
  const entries = Object.entries(f.categories);
  if (entries.length > MAX_CATEGORIES + 1) {
    throw refuse(
      at,
      `has ${entries.length} categories; a profile keeps at most ${MAX_CATEGORIES} and pools the rest under "${OTHER_CATEGORY}"`,
    );
  }
  let total = 0;
  for (const [category, count] of entries) {
    if (category.length > MAX_CATEGORY_CHARS)
      throw refuse([...at, category], `is a category of ${category.length} characters; a profile cuts them to ${MAX_CATEGORY_CHARS}`);
    if (!(typeof count === 'number' && Number.isInteger(count) && count >= 0))
      throw refuse([...at, category], `${WHOLE}, not ${describe(count)}`);
    total += count;
  }
  if (total !== f.count - f.missing) {
    throw refuse(
      at,
      `sum to ${total}; the counts of the categories must sum to count − missing (${f.count} − ${f.missing} = ${f.count - f.missing})`,
    );
  }
  return { kind: 'categorical', count: f.count, missing: f.missing, categories: Object.fromEntries(entries) as Record<string, number> };
}

function checkCounts(count: number, missing: number, path: FieldPath, refuse: Refuse): void {
  if (missing > count) throw refuse([...path, 'missing'], `is ${missing}, more than count (${count})`);
}

/**
 * Parses with `schema`; the issue to report becomes an `INVALID_PROFILE` refusal at its path, in
 * plain words (`messages.ts`): what was sent and what would be right, an unknown field with the
 * closest field of the format.
 */
function parse<T>(schema: z.ZodType<T>, value: unknown, path: FieldPath, refuse: Refuse): T {
  const result = plainParse(schema, value);
  if (result.success) return result.data;
  const found = refusalOf(result.issues, value);
  throw refuse([...path, ...found.path], found.detail);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as a message names it, bounded: `null`, `an array`, `an object`, `"text…"`, `12`. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(clip(value, QUOTE_CHARS));
  return clip(String(value), QUOTE_CHARS);
}
