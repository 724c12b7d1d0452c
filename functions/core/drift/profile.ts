/**
 * Reference profiles: per-feature summaries of a model version's training data, the reference
 * that drift detection later compares live inputs with (issue 13, item 2). Pure: no I/O, no
 * clock, no randomness; the same rows give the same profile, byte for byte once serialized.
 *
 * ## Format (`profileVersion: 1`, plain JSON)
 *
 * ```json
 * { "profileVersion": 1, "rows": 150,
 *   "features": {
 *     "sepal_length_cm": { "kind": "numeric", "count": 150, "missing": 0, "min": 4.3, "max": 7.9,
 *       "mean": 5.84, "std": 0.83, "quantileEdges": [4.8, 5, …, 6.9], "binProportions": [0.0867, …],
 *       "sample": [4.3, 4.4, …] },
 *     "species": { "kind": "categorical", "count": 150, "missing": 0,
 *       "categories": { "setosa": 50, "versicolor": 50, "virginica": 50 } } } }
 * ```
 *
 * - `rows`: the data rows read. Per feature, `count` is the same number of rows (missing values
 *   included) and `missing` how many of them are missing: `undefined`, `null`, the number NaN,
 *   or a string that, trimmed, is empty or (case-insensitively) `NA` or `NaN`. The statistics
 *   below are of the `count - missing` present values.
 * - `kind` is `numeric` when every present value is a finite number: a JS number, or a string
 *   spelling a decimal number (`-1.5`, `.5`, `2e-3`; not `0x10`, `Infinity` or `1,5`). Anything
 *   else (another string, a boolean, ±Infinity) makes the feature `categorical`. A feature with
 *   no present value is `categorical` with no categories (there is nothing to tell a number by).
 * - numeric: `min`, `max`, `mean`, and `std`, the sample standard deviation (denominator n − 1,
 *   pandas' default; 0 for a single value). `quantileEdges`: the nine deciles, the quantiles at
 *   p = 0.1, 0.2, …, 0.9, by linear interpolation between order statistics: with the values
 *   sorted x[0] ≤ … ≤ x[n−1] and h = (n − 1)p, Q(p) = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋]).
 *   This is Hyndman & Fan's (1996) definition 7, the default of R's `quantile` and NumPy's
 *   `percentile`/`quantile` ("linear"). `binProportions`: the share of present values in each of
 *   the 10 bins the edges make, (−∞, e1), [e1, e2), …, [e9, +∞): a value equal to an edge goes
 *   to the bin above it. Equal edges (many tied values) leave bins between them empty.
 *   `sample`: at most {@link MAX_SAMPLE} (1,000) present values, sorted ascending, for the
 *   two-sample Kolmogorov–Smirnov test: all of them when there are at most 1,000, otherwise
 *   the evenly spaced order statistics x[round(i(n − 1)/999)], i = 0 … 999 (min and max
 *   included). It depends on the values only, not on their order in the file.
 * - categorical: `categories`, the count of each category (its text: a string as it is, a
 *   number or boolean as `String(value)`; text over {@link MAX_CATEGORY_CHARS} characters is cut
 *   to that length, so long values sharing a beginning count as one). At most
 *   {@link MAX_CATEGORIES} (100) are kept, the most frequent first (ties in code-unit order of
 *   the text); the others' counts are pooled under `"__other__"` ({@link OTHER_CATEGORY}), which
 *   also takes a category really named `__other__`. Distinct categories are tracked up to
 *   {@link MAX_TRACKED_CATEGORIES} (10,000); a category first seen after that goes straight to
 *   `__other__`, so with more distinct values the kept 100 are the most frequent of the first
 *   10,000 seen. Keys are listed most frequent first; the counts plus `missing` make `count`.
 *
 * ## Bounds
 *
 * Exact quantiles need every numeric value: they are held as 8-byte floats, so the data may
 * hold at most {@link MAX_PROFILE_VALUES} (20 million) values, rows × profiled features (160 MB
 * at worst), and at most {@link MAX_PROFILE_FEATURES} (1,000) features. CSV is streamed
 * ({@link profileCsvStream}): the file itself is never held whole; a record may be at most
 * {@link MAX_CSV_RECORD_BYTES} (1 MiB).
 *
 * ## Errors
 *
 * ValidationError 400 `PROFILE_MISSING_FEATURES` (features asked for that the data lacks: the
 * message names them; path `["features"]`), 400 `PROFILE_INPUT_INVALID` (no data rows, CSV that
 * does not parse, a row with more or fewer fields than the header, a header naming a column
 * twice, a value that is an object or array, a bad features list), 413 `PROFILE_TOO_LARGE`
 * (past the bounds above). Messages quote at most 64 characters of input.
 */
import { Readable } from 'node:stream';
import { CsvError, parse as parseCsvStream } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { PayloadTooLargeError, ValidationError, clip } from '../errors.js';

export const PROFILE_VERSION = 1;
/** Most raw values kept per numeric feature for the KS test. */
export const MAX_SAMPLE = 1_000;
/** Most categories kept per categorical feature; the rest are pooled. */
export const MAX_CATEGORIES = 100;
/** Distinct categories counted per feature before new ones go straight to `__other__`. */
export const MAX_TRACKED_CATEGORIES = 10_000;
/** Longest category text kept, in UTF-16 code units. */
export const MAX_CATEGORY_CHARS = 200;
/** The key the pooled categories are counted under. */
export const OTHER_CATEGORY = '__other__';
/** Most values (rows × features) a profile is computed from. */
export const MAX_PROFILE_VALUES = 20_000_000;
/** Most features a profile holds. */
export const MAX_PROFILE_FEATURES = 1_000;
/** Longest CSV record, line break included. */
export const MAX_CSV_RECORD_BYTES = 1024 * 1024;
/** The deciles' probabilities, in tenths: p = k / 10. */
const DECILES = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;
/** Characters of input an error message quotes. */
const QUOTE_CHARS = 64;

export interface NumericFeatureProfile {
  readonly kind: 'numeric';
  readonly count: number;
  readonly missing: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  /** Sample standard deviation (n − 1). */
  readonly std: number;
  /** The 0.1 … 0.9 quantiles (type 7), nine non-decreasing numbers. */
  readonly quantileEdges: number[];
  /** Shares of the present values in the 10 bins of `quantileEdges`; they sum to 1. */
  readonly binProportions: number[];
  /** At most 1,000 present values, sorted ascending. */
  readonly sample: number[];
}

export interface CategoricalFeatureProfile {
  readonly kind: 'categorical';
  readonly count: number;
  readonly missing: number;
  /** Count per category, most frequent first, the pooled rest under `__other__`. */
  readonly categories: Record<string, number>;
}

export type FeatureProfile = NumericFeatureProfile | CategoricalFeatureProfile;

export interface ReferenceProfile {
  readonly profileVersion: typeof PROFILE_VERSION;
  /** Data rows read. */
  readonly rows: number;
  /** Per feature, in the order of `features` as asked, else of the header (CSV) or first row. */
  readonly features: Record<string, FeatureProfile>;
  /** The prediction columns (`predictions.ts`) of the model on the same rows, when profiled. */
  readonly predictions?: Record<string, FeatureProfile>;
}

export interface ProfileOptions {
  /** The features to profile; the data must have them all. @default every column */
  readonly features?: readonly string[];
}

/**
 * The profile of in-memory rows: each row maps feature names to values. The features are
 * `features` when given (each must be a key of at least one row), else the first row's keys; a
 * row without a feature's key counts as a missing value for it.
 *
 * @throws ValidationError / PayloadTooLargeError as listed in the module's docstring.
 */
export function profileRows(rows: readonly Record<string, unknown>[], features?: readonly string[]): ReferenceProfile {
  const first = rows[0];
  if (first === undefined) throw invalid('There are no rows to profile.');
  const names = features === undefined ? Object.keys(first) : checkFeatureList(features);
  const builder = new ProfileBuilder(names);
  const seen = new Set<string>();
  for (const row of rows) {
    for (const name of names) {
      if (Object.hasOwn(row, name)) seen.add(name);
    }
    builder.add((name) => row[name]);
  }
  const absent = names.filter((name) => !seen.has(name));
  if (absent.length > 0) throw missingFeatures(absent, 'rows');
  return builder.finish();
}

/**
 * The profile of CSV text (RFC 4180; header on line 1; `\n` or `\r\n` line ends; a UTF-8 byte
 * order mark skipped; empty lines skipped). Every field is its text; see the module docstring
 * for how text becomes a number or a missing value.
 */
export function profileCsv(text: string, options: ProfileOptions = {}): ReferenceProfile {
  const csv = new CsvProfiler(options.features);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsvSync(text, { ...CSV_OPTIONS, info: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    throw csvError(error);
  }
  for (const { record, info } of records) csv.record(record, info.lines);
  return csv.finish();
}

/**
 * The profile of CSV read as a stream of chunks (a file's bytes, UTF-8), as {@link profileCsv}
 * reads text, holding only the numeric values and category counts, never the file.
 */
export async function profileCsvStream(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: ProfileOptions = {},
): Promise<ReferenceProfile> {
  const csv = new CsvProfiler(options.features);
  const parser = Readable.from(source).pipe(parseCsvStream({ ...CSV_OPTIONS, info: true }));
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      csv.record(record, info.lines);
    }
  } catch (error) {
    parser.destroy();
    throw csvError(error);
  }
  return csv.finish();
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/** Strict RFC 4180 (a stray quote is an error), field counts checked here, records bounded. */
const CSV_OPTIONS = {
  bom: true,
  relax_column_count: true,
  skip_empty_lines: true,
  record_delimiter: ['\r\n', '\n'],
  max_record_size: MAX_CSV_RECORD_BYTES,
};

/** Takes CSV records one by one: the first is the header, the others rows. */
class CsvProfiler {
  private header: string[] | undefined;
  private builder: ProfileBuilder | undefined;
  /** For each profiled feature, its column in the header. */
  private columns: number[] = [];

  constructor(private readonly features: readonly string[] | undefined) {
    if (features !== undefined) checkFeatureList(features);
  }

  record(fields: string[], line: number): void {
    if (!this.header) {
      this.start(fields);
      return;
    }
    if (fields.length !== this.header.length) {
      throw invalid(`Line ${line} has ${fields.length} field${fields.length === 1 ? '' : 's'}; the header has ${this.header.length}.`);
    }
    const columns = this.columns;
    this.builder?.add((_, index) => fields[columns[index] as number]);
  }

  finish(): ReferenceProfile {
    if (!this.builder) throw invalid('The CSV is empty: it has no header and no rows.');
    return this.builder.finish();
  }

  private start(header: string[]): void {
    const seen = new Set<string>();
    const twice = new Set<string>();
    for (const name of header) (seen.has(name) ? twice : seen).add(name);
    if (twice.size > 0) throw invalid(`The header names ${quoteList([...twice])} more than once.`);
    const names = this.features ?? header;
    const absent = names.filter((name) => !seen.has(name));
    if (absent.length > 0) throw missingFeatures(absent, 'header', header);
    this.header = header;
    this.columns = names.map((name) => header.indexOf(name));
    this.builder = new ProfileBuilder(names);
  }
}

function csvError(error: unknown): Error {
  if (error instanceof CsvError) {
    const line =
      typeof (error as { lines?: unknown }).lines === 'number' ? ` (near line ${(error as unknown as { lines: number }).lines})` : '';
    const reason =
      error.code === 'CSV_MAX_RECORD_SIZE' ? `a record is longer than ${MAX_CSV_RECORD_BYTES} bytes` : clip(error.message, QUOTE_CHARS * 2);
    return invalid(`The CSV cannot be read${line}: ${reason}.`);
  }
  return error instanceof Error ? error : new Error(String(error));
}

// ---------------------------------------------------------------------------------------------
// Accumulation
// ---------------------------------------------------------------------------------------------

/** What one feature has seen so far. */
class FeatureAccumulator {
  count = 0;
  missing = 0;
  /** The present values while all are numbers; undefined once one is not. */
  private numbers: Float64Array | undefined = new Float64Array(64);
  private n = 0;
  private readonly categories = new Map<string, number>();
  private other = 0;

  add(value: unknown, name: string): void {
    this.count += 1;
    if (isMissing(value)) {
      this.missing += 1;
      return;
    }
    if (this.numbers) {
      const number = numberOf(value);
      if (number === undefined) this.numbers = undefined;
      else this.push(number);
    }
    this.countCategory(categoryOf(value, name));
  }

  finish(): FeatureProfile {
    const { count, missing } = this;
    if (this.numbers && this.n > 0) return { kind: 'numeric', count, missing, ...numericSummary(this.numbers.subarray(0, this.n).sort()) };
    return { kind: 'categorical', count, missing, categories: this.pooled() };
  }

  private push(value: number): void {
    let numbers = this.numbers as Float64Array;
    if (this.n === numbers.length) {
      const grown = new Float64Array(numbers.length * 2);
      grown.set(numbers);
      this.numbers = numbers = grown;
    }
    numbers[this.n] = value;
    this.n += 1;
  }

  private countCategory(key: string): void {
    if (key === OTHER_CATEGORY) {
      this.other += 1;
      return;
    }
    const known = this.categories.get(key);
    if (known !== undefined) this.categories.set(key, known + 1);
    else if (this.categories.size < MAX_TRACKED_CATEGORIES) this.categories.set(key, 1);
    else this.other += 1;
  }

  /** The 100 most frequent categories (ties by text), the rest pooled. */
  private pooled(): Record<string, number> {
    const ranked = [...this.categories].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0));
    const kept = ranked.slice(0, MAX_CATEGORIES);
    const other = this.other + ranked.slice(MAX_CATEGORIES).reduce((sum, [, c]) => sum + c, 0);
    // fromEntries defines own properties, so a category named "__proto__" stays a key.
    return Object.fromEntries(other > 0 ? [...kept, [OTHER_CATEGORY, other]] : kept);
  }
}

/** Rows in, a profile out; the features are fixed up front. */
class ProfileBuilder {
  private readonly accumulators: FeatureAccumulator[];
  private rows = 0;
  private readonly maxRows: number;

  constructor(private readonly names: readonly string[]) {
    if (names.length === 0) throw invalid('There are no features to profile.');
    if (names.length > MAX_PROFILE_FEATURES) {
      throw new PayloadTooLargeError(
        'PROFILE_TOO_LARGE',
        `There are ${names.length} features; a profile holds at most ${MAX_PROFILE_FEATURES}. Name the ones the model takes with --features.`,
        ['features'],
      );
    }
    this.accumulators = names.map(() => new FeatureAccumulator());
    this.maxRows = Math.floor(MAX_PROFILE_VALUES / names.length);
  }

  /** One row: `value(name, index)` is its value of feature `names[index]`. */
  add(value: (name: string, index: number) => unknown): void {
    if (this.rows === this.maxRows) {
      throw new PayloadTooLargeError(
        'PROFILE_TOO_LARGE',
        `The data has more than ${this.maxRows} rows; with ${this.names.length} features a profile reads at most ${this.maxRows} (${MAX_PROFILE_VALUES} values). Profile a random sample of the rows, or fewer features.`,
      );
    }
    this.rows += 1;
    this.names.forEach((name, index) => (this.accumulators[index] as FeatureAccumulator).add(value(name, index), name));
  }

  finish(): ReferenceProfile {
    if (this.rows === 0) throw invalid('There are no data rows to profile (only a header).');
    return {
      profileVersion: PROFILE_VERSION,
      rows: this.rows,
      features: Object.fromEntries(this.names.map((name, index) => [name, (this.accumulators[index] as FeatureAccumulator).finish()])),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Values and statistics
// ---------------------------------------------------------------------------------------------

const MISSING_TEXT = new Set(['', 'na', 'nan']);
/** A decimal number: optional sign, digits with an optional point (or a point and digits), optional exponent. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Whether a value counts as missing (see the module docstring). */
export function isMissing(value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'number') return Number.isNaN(value);
  return typeof value === 'string' && MISSING_TEXT.has(value.trim().toLowerCase());
}

/** The finite number a present value is, or undefined when it is not one. */
export function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (!DECIMAL.test(text)) return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : undefined;
}

function categoryOf(value: unknown, name: string): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else {
    const what = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
    throw invalid(`Feature ${quote(name)} has a value that is ${what}; a profile takes numbers, strings and booleans.`, ['features', name]);
  }
  return text.length > MAX_CATEGORY_CHARS ? text.slice(0, MAX_CATEGORY_CHARS) : text;
}

/**
 * The type 7 quantile of sorted values at p = tenths / 10 (tenths in 0 … 10, so h = (n − 1)p
 * is computed without the rounding of 0.1 × 3).
 */
function decile(sorted: Float64Array, tenths: number): number {
  const h = ((sorted.length - 1) * tenths) / 10;
  const lo = Math.floor(h);
  const below = sorted[lo] as number;
  const above = sorted[Math.min(lo + 1, sorted.length - 1)] as number;
  return below + (h - lo) * (above - below);
}

/** How many sorted values are below `edge`. */
function countBelow(sorted: Float64Array, edge: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < edge) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function numericSummary(sorted: Float64Array): Omit<NumericFeatureProfile, 'kind' | 'count' | 'missing'> {
  const n = sorted.length;
  let sum = 0;
  for (const x of sorted) sum += x;
  const mean = sum / n;
  let squares = 0;
  for (const x of sorted) squares += (x - mean) ** 2;
  const quantileEdges = DECILES.map((tenths) => decile(sorted, tenths));
  const below = [0, ...quantileEdges.map((edge) => countBelow(sorted, edge)), n];
  const binProportions = quantileEdges.concat(0).map((_, bin) => ((below[bin + 1] as number) - (below[bin] as number)) / n);
  const sample =
    n <= MAX_SAMPLE
      ? Array.from(sorted)
      : Array.from({ length: MAX_SAMPLE }, (_, i) => sorted[Math.round((i * (n - 1)) / (MAX_SAMPLE - 1))] as number);
  return {
    min: sorted[0] as number,
    max: sorted[n - 1] as number,
    mean,
    std: n > 1 ? Math.sqrt(squares / (n - 1)) : 0,
    quantileEdges,
    binProportions,
    sample,
  };
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

function invalid(message: string, path: readonly (string | number)[] = []): ValidationError {
  return new ValidationError('PROFILE_INPUT_INVALID', message, path);
}

function checkFeatureList(features: readonly string[]): readonly string[] {
  if (features.length === 0) throw invalid('The features list is empty.', ['features']);
  const seen = new Set<string>();
  for (const name of features) {
    if (name === '') throw invalid('The features list holds an empty name.', ['features']);
    if (seen.has(name)) throw invalid(`The features list names ${quote(name)} twice.`, ['features']);
    seen.add(name);
  }
  return features;
}

function missingFeatures(absent: readonly string[], where: 'header' | 'rows', header?: readonly string[]): ValidationError {
  const has = header ? ` (it has ${quoteList(header)})` : '';
  return new ValidationError(
    'PROFILE_MISSING_FEATURES',
    `The ${where === 'header' ? 'CSV header' : 'rows'} lack${where === 'header' ? 's' : ''} ${absent.length === 1 ? 'the feature' : 'the features'} ${quoteList(absent)}${has}.`,
    ['features'],
  );
}

function quote(text: string): string {
  return JSON.stringify(clip(text, QUOTE_CHARS));
}

/** At most 10 names, quoted, then how many more. */
function quoteList(names: readonly string[]): string {
  const shown = names.slice(0, 10).map(quote).join(', ');
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}
