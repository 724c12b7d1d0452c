/**
 * The prediction half of a reference profile (issue 13, item 2: "and the distribution of its own
 * predictions on that data"): the training rows are run through the model, the outputs turned
 * into prediction columns (`predictions.ts`, the same columns drift detection later derives from
 * captured outputs), and those columns profiled as `profile.ts` profiles features. The result is
 * a `ReferenceProfile`'s `predictions`.
 *
 * Rows go through the serving path itself (`predictRecordTexts` of `predict.ts`, the record form
 * `{"instances": [...]}`), so a row is decoded exactly as a request carrying it would be, in
 * batches of at most `maxRows`. Talks to the `ModelRuntime` port only.
 *
 * ## Values
 *
 * Rows may come from CSV, where every value is text. A row's value for a model column (a
 * declared feature of a `[N, F]` input, else an input name: `recordLayout` of `codec/decode.ts`)
 * is converted before decoding, by the type of the input it fills:
 * - numeric inputs (floats and integers): a decimal number text becomes that number (`numberOf`
 *   of `profile.ts`: `-1.5`, `.5`, `2e-3`; surrounding blanks ignored); for 64-bit integers
 *   beyond 2^53 the text is kept, which the decoder reads exactly;
 * - float inputs: a missing value (`isMissing` of `profile.ts`: empty, `NA`, `NaN`, null,
 *   undefined, the number NaN) becomes NaN, as a request would send it (`"NaN"`); the model's
 *   answer to it is profiled like any other (NaN probabilities count as missing predictions);
 * - bool inputs: `true` / `false` (any case) become booleans;
 * - anything else is passed as it is, so a value the model cannot take is refused as a request
 *   carrying it would be.
 * Other keys of a row (a target column, an id) are ignored.
 *
 * ## Errors
 *
 * A row the model cannot take: the decoder's ValidationError 400 (`WRONG_TYPE`, `NOT_FINITE`,
 * `OUT_OF_RANGE`, `MISSING_FEATURE`, …) with its message prefixed by the row's number (1-based,
 * and for CSV its line) and its path `["rows", index, name]`. From CSV: `PROFILE_MISSING_FEATURES`
 * when the header lacks a column the model takes, `PROFILE_INPUT_INVALID` for CSV that does not
 * parse; no rows at all is `PROFILE_INPUT_INVALID`, more than 20 million prediction values
 * `PROFILE_TOO_LARGE` (`profile.ts`). The model failing to run is the runtime's 500
 * `MODEL_RUN_FAILED`.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CsvError, parse as parseCsvStream } from 'csv-parse';
import { AppError, ValidationError, clip, type FieldPath } from '../errors.js';
import type { ModelMetadata, ModelVersion, TensorType } from '../model.js';
import type { ModelRuntime } from '../ports.js';
import { predictRecordTexts, served, type Served } from '../predict.js';
import { checkDeclarations } from '../declarations.js';
import { rewriteZipMap, servedClassLabels } from '../onnx/zipmap.js';
import type { RecordLayout } from '../codec/decode.js';
import { predictionColumns, type PredictionColumns, type PredictionValue } from './predictions.js';
import { MAX_CSV_RECORD_BYTES, isMissing, numberOf, profileRows, type FeatureProfile } from './profile.js';

/** Rows run through the model at once unless told otherwise: the API's default `MAX_ROWS`. */
export const DEFAULT_PREDICTION_BATCH_ROWS = 1_000;

/** Characters of input an error message quotes. */
const QUOTE_CHARS = 64;

/**
 * The profile of the model's prediction columns on `rows` (see the module docstring).
 *
 * @param target the model as served (`served(version, session)` of `predict.ts`, or
 *   {@link openProfileTarget} for a file).
 * @param rows the data, one object per row, keyed by the model's column names; values may be
 *   numbers or CSV text.
 * @param maxRows rows per run of the model, a whole number ≥ 1.
 * @returns one entry per prediction column, in the order `predictionColumns` gives them (a
 *   classifier's `label`, its `probability[<label>]` columns in label order, then the other
 *   outputs'); `{}` when the model has no output `predictionColumns` profiles.
 * @throws RangeError when `maxRows` is not a whole number ≥ 1; the errors of the module docstring.
 *
 * @example
 * const profile = profileRows(rows, FEATURES);
 * const predictions = await predictionProfile(served(version, session), rows, 1000);
 * // { label: { kind: 'categorical', … }, 'probability[setosa]': { kind: 'numeric', … }, … }
 */
export async function predictionProfile(
  target: Served,
  rows: readonly Record<string, unknown>[],
  maxRows: number,
): Promise<Record<string, FeatureProfile>> {
  checkBatchRows(maxRows);
  const columns = new PredictionAccumulator(target);
  for (let offset = 0; offset < rows.length; offset += maxRows) {
    await columns.add(rows.slice(offset, offset + maxRows), offset);
  }
  return columns.finish();
}

/**
 * {@link predictionProfile} of CSV read as a stream of chunks (a file's bytes, UTF-8; RFC 4180,
 * header on line 1, as `profileCsvStream` reads it): only the model's columns of one batch of
 * rows are held at a time, and the prediction values.
 *
 * @throws ValidationError 400 `PROFILE_MISSING_FEATURES` (the header lacks a column the model
 *   takes), `PROFILE_INPUT_INVALID` (CSV that does not parse, a row with more or fewer fields
 *   than the header, a column named twice, no rows); the errors of {@link predictionProfile}.
 */
export async function predictionProfileCsv(
  target: Served,
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  maxRows: number,
): Promise<Record<string, FeatureProfile>> {
  checkBatchRows(maxRows);
  const columns = new PredictionAccumulator(target);
  const names = columns.names;
  const parser = Readable.from(source).pipe(
    parseCsvStream({
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
      record_delimiter: ['\r\n', '\n'],
      max_record_size: MAX_CSV_RECORD_BYTES,
      info: true,
    }),
  );
  let header: string[] | undefined;
  let indexes: number[] = [];
  let batch: Record<string, unknown>[] = [];
  let lines: number[] = [];
  let rows = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (!header) {
        header = record;
        indexes = columnIndexes(header, names);
        continue;
      }
      if (record.length !== header.length) {
        throw invalid(`Line ${info.lines} has ${record.length} field${record.length === 1 ? '' : 's'}; the header has ${header.length}.`);
      }
      batch.push(Object.fromEntries(names.map((name, j) => [name, record[indexes[j] as number]])));
      lines.push(info.lines);
      if (batch.length === maxRows) {
        await columns.add(batch, rows, lines);
        rows += batch.length;
        batch = [];
        lines = [];
      }
    }
  } catch (error) {
    parser.destroy();
    throw csvError(error);
  }
  if (!header) throw invalid('The CSV is empty: it has no header and no rows.');
  if (batch.length > 0) await columns.add(batch, rows, lines);
  return columns.finish();
}

/**
 * A model file opened to profile its predictions, as registration would serve it: a
 * scikit-learn ZipMap output rewritten to its probability tensor (`onnx/zipmap.ts`, its class
 * labels then the served ones), the declarations checked against the signature
 * (`checkDeclarations`: features that fit the input, class labels that fit the probabilities).
 * Give the session back with `release()` when done.
 *
 * @param metadata the features and class labels the version is (or will be) registered with:
 *   without `features`, rows are keyed by input name; without `classLabels`, no classifier
 *   columns (the raw outputs are profiled).
 * @throws ValidationError 400 as registration refuses the file or the metadata (`INVALID_MODEL`,
 *   `ZIPMAP_LABELS_MISMATCH`, the `checkDeclarations` codes).
 */
export async function openProfileTarget(
  runtime: Pick<ModelRuntime, 'open'>,
  bytes: Uint8Array,
  metadata: ModelMetadata = {},
  model = 'unregistered',
): Promise<{ readonly target: Served; release(): void }> {
  const zipMap = await rewriteZipMap(bytes);
  const declared = zipMap.classLabels
    ? { ...metadata, classLabels: servedClassLabels(metadata.classLabels, zipMap.classLabels) }
    : metadata;
  const session = await runtime.open(zipMap.bytes);
  try {
    checkDeclarations(session.signature, declared);
  } catch (error) {
    session.release();
    throw error;
  }
  const version: ModelVersion = {
    model,
    version: 'unregistered',
    stage: 'development',
    revision: 0,
    metadata: declared,
    signature: session.signature,
    artifact: { bucket: '', key: '', sha256: createHash('sha256').update(zipMap.bytes).digest('hex'), sizeBytes: zipMap.bytes.byteLength },
    registeredBy: '',
    registeredAt: '',
  };
  return { target: served(version, session), release: () => session.release() };
}

/**
 * The column names a row is read by (the layout's features, else its input names) and the
 * tensor type each fills.
 */
export function modelColumns(layout: RecordLayout): { readonly name: string; readonly type: TensorType }[] {
  if (layout.kind === 'columns') return layout.features.map((name) => ({ name, type: layout.input.type }));
  return layout.inputs.map((spec) => ({ name: spec.name, type: spec.type }));
}

// ---------------------------------------------------------------------------------------------

/** Prediction columns of batch after batch, then profiled. */
class PredictionAccumulator {
  readonly names: readonly string[];
  private readonly types: readonly TensorType[];
  private readonly columns = new Map<string, PredictionValue[]>();
  private rows = 0;

  constructor(private readonly target: Served) {
    const columns = modelColumns(target.layout);
    this.names = columns.map((c) => c.name);
    this.types = columns.map((c) => c.type);
  }

  /** Runs one batch (`offset`: the index of its first row in the data; `lines`: their CSV lines). */
  async add(batch: readonly Record<string, unknown>[], offset: number, lines?: readonly number[]): Promise<void> {
    const instances = batch.map((row) => {
      const record: Record<string, unknown> = {};
      this.names.forEach((name, j) => {
        if (Object.hasOwn(row, name)) record[name] = modelValue(row[name], this.types[j] as TensorType);
        else if (isFloat(this.types[j] as TensorType)) record[name] = 'NaN';
      });
      return record;
    });
    let outputs;
    try {
      ({ outputs } = await predictRecordTexts(this.target, { instances }, batch.length));
    } catch (error) {
      throw rowError(error, offset, lines);
    }
    this.append(predictionColumns(outputs, batch.length, this.target.classifier), batch.length);
  }

  finish(): Record<string, FeatureProfile> {
    if (this.rows === 0) throw invalid('There are no rows to profile.');
    if (this.columns.size === 0) return {};
    const names = [...this.columns.keys()];
    const columns = names.map((name) => this.columns.get(name) as PredictionValue[]);
    const rows = Array.from({ length: this.rows }, (_, r) =>
      Object.fromEntries(names.map((name, j) => [name, (columns[j] as PredictionValue[])[r]])),
    );
    return profileRows(rows, names).features;
  }

  /** A column first seen in a later batch is missing for the rows before; one a batch lacks, for its rows. */
  private append(batch: PredictionColumns, count: number): void {
    for (const [name, values] of Object.entries(batch)) {
      let column = this.columns.get(name);
      if (!column) {
        column = new Array<PredictionValue>(this.rows).fill(null);
        this.columns.set(name, column);
      }
      for (const value of values) column.push(value);
    }
    this.rows += count;
    for (const column of this.columns.values()) while (column.length < this.rows) column.push(null);
  }
}

const FLOAT_TYPES: ReadonlySet<TensorType> = new Set(['float16', 'float32', 'float64']);
const WIDE_INTEGER_TYPES: ReadonlySet<TensorType> = new Set(['int64', 'uint64']);

function isFloat(type: TensorType): boolean {
  return FLOAT_TYPES.has(type);
}

/** A row's value as a request would carry it into an input of `type` (see the module docstring). */
function modelValue(value: unknown, type: TensorType): unknown {
  if (type === 'string') return value;
  if (type === 'bool') {
    if (typeof value !== 'string') return value;
    const text = value.trim().toLowerCase();
    return text === 'true' ? true : text === 'false' ? false : value;
  }
  if (isMissing(value)) return isFloat(type) ? 'NaN' : value;
  if (typeof value !== 'string') return value;
  const number = numberOf(value);
  if (number === undefined) return value;
  // Beyond 2^53 a double loses the integer's last digits; the decoder reads the text exactly.
  if (WIDE_INTEGER_TYPES.has(type) && !Number.isSafeInteger(number)) return value.trim();
  return number;
}

function checkBatchRows(maxRows: number): void {
  if (!(Number.isSafeInteger(maxRows) && maxRows >= 1)) throw new RangeError(`maxRows must be a whole number ≥ 1, not ${maxRows}`);
}

/** For each model column, its index in the header; the header must have every one, once. */
function columnIndexes(header: readonly string[], names: readonly string[]): number[] {
  const seen = new Set<string>();
  for (const name of header) {
    if (seen.has(name)) throw invalid(`The header names ${quote(name)} more than once.`);
    seen.add(name);
  }
  const absent = names.filter((name) => !seen.has(name));
  if (absent.length > 0) {
    throw new ValidationError(
      'PROFILE_MISSING_FEATURES',
      `The CSV header lacks ${absent.length === 1 ? 'the column' : 'the columns'} ${quoteList(absent)} the model takes (it has ${quoteList(header)}).`,
      ['features'],
    );
  }
  return names.map((name) => header.indexOf(name));
}

/** A decoding refusal of one row, said with the row's number (and line) and path. */
function rowError(error: unknown, offset: number, lines: readonly number[] | undefined): unknown {
  if (!(error instanceof ValidationError)) return error;
  const [head, index, ...rest] = error.path;
  if (head !== 'instances' || typeof index !== 'number') return error;
  const line = lines?.[index];
  const path: FieldPath = ['rows', offset + index, ...rest];
  return new ValidationError(error.code, `Row ${offset + index + 1}${line === undefined ? '' : ` (line ${line})`}: ${error.message}`, path);
}

function csvError(error: unknown): unknown {
  if (error instanceof CsvError) {
    const reason =
      error.code === 'CSV_MAX_RECORD_SIZE' ? `a record is longer than ${MAX_CSV_RECORD_BYTES} bytes` : clip(error.message, QUOTE_CHARS * 2);
    return invalid(`The CSV cannot be read: ${reason}.`);
  }
  return error instanceof AppError || error instanceof Error ? error : new Error(String(error));
}

function invalid(message: string): ValidationError {
  return new ValidationError('PROFILE_INPUT_INVALID', message);
}

function quote(text: string): string {
  return JSON.stringify(clip(text, QUOTE_CHARS));
}

/** At most 10 names, quoted, then how many more. */
function quoteList(names: readonly string[]): string {
  const shown = names.slice(0, 10).map(quote).join(', ');
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}
