/**
 * The batch core (issue 11, the batch function): one batch of records from a Step Functions
 * Distributed Map → predictions in the API's own shape, each with its input row number. Talks to
 * ports only (`ModelRegistry`, `ModelRuntime`), like the serving core.
 *
 * What a batch looks like (the Distributed Map's ItemBatcher, items shaped by its ItemSelector):
 *
 * ```json
 * { "Items": [ { "row": 0, "record": { "sepal_length_cm": "5.1", ... } }, ... ],
 *   "BatchInput": { "model": "iris", "version": "3", "format": "csv" } }
 * ```
 *
 * Row numbers: ItemBatcher gives no index, so the workflow's ItemSelector wraps each item as
 * `{ "row.$": "$$.Map.Item.Index", "record.$": "$$.Map.Item.Value" }`; the ASL applies
 * ItemSelector to each item before it batches them. `row` is the zero-based index of the record
 * among the input's records (a CSV header row is not a record). The local runner gives the same.
 *
 * Records: a JSON object per item. `jsonl` and `parquet` records carry JSON values and are decoded
 * as the predict route decodes an instance. `csv` records carry strings (Step Functions treats
 * every CSV field as a string, and fills a short row with empty strings); each field the model
 * takes is turned into the JSON value its text spells ({@link csvCellValue}) and then goes through
 * the same element writer as a JSON value, so `"abc"`, `""` and `"NaN"` are refused exactly as
 * `"abc"` or a non-finite number in a JSON body is.
 *
 * Fields the model does not take (an id column, the label of a scored data set) are ignored: a
 * record is read for the model's features (or input names) only, and a missing one is the record's
 * error. A record that cannot be decoded becomes an error record `{ row, code, message, path }`
 * with the predict route's codes and bounded excerpts; the rest of its batch is predicted. Every
 * decodable record of a batch goes into one `session.run`.
 */
import { BATCH_FORMATS, type BatchFormat } from './batch-contract.js';
import { RecentPromises } from './recent-promises.js';
import { AppError, NotFoundError, ServiceUnavailableError, ValidationError, type FieldPath } from './errors.js';
import type { ModelVersion, TensorType } from './model.js';
import type { ModelRegistry, ModelRuntime, OnlineFeatureStore } from './ports.js';
import { NO_FEATURE_STORE, assembleFeeds, readFeatures, type OnlinePlan } from './features/online.js';
import { served } from './predict.js';
import { decodeRecords, type DecodedInputs, type RecordLayout } from './codec/decode.js';
import { recordPredictionTexts } from './codec/encode.js';
import { checkRowCount, codecLimits, excerpt, type CodecLimits } from './codec/limits.js';
import { NO_TRACING, SPAN, type Tracing } from './observability.js';
import { isObject } from './codec/request.js';

export { BATCH_FORMATS, type BatchFormat } from './batch-contract.js';

/** The job's fixed part of every batch (ItemBatcher `BatchInput`). */
export interface BatchInput {
  readonly model: string;
  /** The version pinned for the whole job (recorded at submission). */
  readonly version: string;
  readonly format: BatchFormat;
}

/** One record and its row number, as the ItemSelector above shapes it. */
export interface BatchItem {
  readonly row: number;
  readonly record: unknown;
}

export interface BatchEvent {
  readonly Items: readonly BatchItem[];
  readonly BatchInput: BatchInput;
}

/** A record predicted: its row number and the predict route's prediction for it. */
export interface RowPrediction {
  readonly row: number;
  /** The row's prediction as JSON text, exactly as the predict route would answer it. */
  readonly json: string;
}

/** A record that could not be decoded: the predict route's code, message and path (within the record). */
export interface RowError {
  readonly row: number;
  readonly code: string;
  readonly message: string;
  readonly path: FieldPath;
}

export interface BatchResult {
  readonly model: string;
  readonly modelVersion: string;
  /** Records in the batch (`predicted + failed`). */
  readonly rows: number;
  readonly predicted: number;
  readonly failed: number;
  /** In the batch's order. */
  readonly predictions: RowPrediction[];
  /** In the batch's order. */
  readonly errors: RowError[];
}

export interface BatchConfig {
  /**
   * Most records per batch, and so per `session.run` (`MAX_ROWS`, the predict route's bound).
   * The workflow's ItemBatcher `MaxItemsPerBatch` must not exceed it. @default 1000
   */
  readonly maxRows: number;
  /** Most characters in one string (BYTES) element (`MAX_STRING_CHARS`). @default 65,536 */
  readonly maxStringChars?: number;
}

export interface BatchDeps {
  readonly registry: ModelRegistry;
  readonly runtime: ModelRuntime;
  readonly config: BatchConfig;
  /** Spans around registry lookups and runs. @default none */
  readonly tracing?: Tracing;
  /** Where versions with `onlineFeatures` read them: their rows carry keys. @default none: such a batch fails with 503 `FEATURE_STORE_UNAVAILABLE` */
  readonly features?: OnlineFeatureStore;
  /** Wall clock in epoch ms, for the staleness of stored features. @default Date.now */
  readonly now?: () => number;
}

/** Registry records kept per process, most recently used last (a job pins one version). */
const VERSION_RECORDS_KEPT = 8;

/**
 * Predicts batches of a job.
 *
 * @example
 * const predictor = new BatchPredictor({ registry, runtime, config: { maxRows: 1000 } });
 * const { predictions, errors } = await predictor.predict(event);
 */
export class BatchPredictor {
  private readonly versions = new RecentPromises<ModelVersion>(VERSION_RECORDS_KEPT);
  private readonly tracing: Tracing;
  private readonly limits: CodecLimits;

  constructor(private readonly deps: BatchDeps) {
    this.tracing = deps.tracing ?? NO_TRACING;
    const { maxRows, maxStringChars } = deps.config;
    this.limits = codecLimits({ maxRows, ...(maxStringChars === undefined ? {} : { maxStringChars }) });
  }

  /**
   * Predicts one batch. Throws (the whole batch fails, for the workflow to retry or count) only
   * when the batch itself is wrong or our side fails: 400 `INVALID_BATCH` (not the shape above),
   * 413 `TOO_MANY_ROWS` (more than `maxRows` items, before any is read), 404 `VERSION_NOT_FOUND`,
   * 503 `REGISTRY_UNAVAILABLE`, and the runtime's 5xx. A bad record never throws.
   */
  async predict(event: unknown): Promise<BatchResult> {
    const { items, input } = parseBatch(event, this.limits.maxRows);
    const empty = { model: input.model, modelVersion: input.version, rows: 0, predicted: 0, failed: 0, predictions: [], errors: [] };
    if (items.length === 0) return empty;
    const version = await this.version(input.model, input.version);
    const lease = await this.deps.runtime.load(version);
    try {
      const target = served(version, lease);
      // A version with online features: rows carry entity keys and request-time features.
      const layout = target.online ? target.online.requestLayout : target.layout;
      const records = items.map((item) => modelFields(layout, item.record, input.format === 'csv'));
      const batch = decodeBatch(layout, records, this.limits);
      const { errors } = batch;
      let { kept, decoded } = batch;
      if (decoded && target.online) ({ kept, decoded } = await this.lookUp(target.online, decoded, kept, errors));
      const predictions: RowPrediction[] = [];
      if (decoded) {
        const feeds = decoded.feeds;
        const outputs = await this.tracing.span(SPAN.run, () => lease.run(feeds));
        const rows = recordPredictionTexts(outputs, decoded.rows, target.classifier);
        kept.forEach((i, k) => predictions.push({ row: (items[i] as BatchItem).row, json: rows[k] as string }));
      }
      const errorRecords: RowError[] = [];
      for (const [i, error] of [...errors].sort((a, b) => a[0] - b[0])) {
        errorRecords.push({ row: (items[i] as BatchItem).row, code: error.code, message: error.message, path: error.path });
      }
      return {
        ...empty,
        rows: items.length,
        predicted: predictions.length,
        failed: errorRecords.length,
        predictions,
        errors: errorRecords,
      };
    } finally {
      lease.release();
    }
  }

  /**
   * The stored features of a batch's decoded rows: a row a `refuse` policy refuses becomes that
   * row's error (as the predict route would answer it), the others are predicted. The store's
   * 5xx fails the batch (the workflow retries it).
   */
  private async lookUp(
    plan: OnlinePlan,
    decoded: DecodedInputs,
    kept: number[],
    errors: Map<number, AppError>,
  ): Promise<{ kept: number[]; decoded: DecodedInputs | undefined }> {
    const options = {
      store: this.deps.features ?? NO_FEATURE_STORE,
      now: (this.deps.now ?? Date.now)(),
      pathOf: (_row: number, entity: string) => [entity],
      maxStringChars: this.limits.maxStringChars,
    };
    const read = await this.tracing.span(SPAN.features, () => readFeatures(plan, decoded.feeds, decoded.rows, options));
    const keep = kept.flatMap((_, k) => (read.refusals.has(k) ? [] : [k]));
    for (const [k, error] of read.refusals) errors.set(kept[k] as number, error);
    if (keep.length === 0) return { kept: [], decoded: undefined };
    const feeds = assembleFeeds(plan, decoded.feeds, read, keep.length === kept.length ? undefined : keep, options);
    return { kept: keep.map((k) => kept[k] as number), decoded: { feeds, rows: keep.length } };
  }

  private version(model: string, versionId: string): Promise<ModelVersion> {
    return this.versions.get(`${model}@${versionId}`, () => this.fetchVersion(model, versionId));
  }

  private async fetchVersion(model: string, versionId: string): Promise<ModelVersion> {
    let version;
    try {
      version = await this.tracing.span(SPAN.registry, () => this.deps.registry.getVersion(model, versionId));
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError(
        'REGISTRY_UNAVAILABLE',
        `The model registry could not be read for "${excerpt(model)}" v${excerpt(versionId)}; retry shortly.`,
        { cause: error },
      );
    }
    if (!version)
      throw new NotFoundError(
        'VERSION_NOT_FOUND',
        `Model "${excerpt(model)}" has no version ${excerpt(versionId)}; the job names a version that does not exist.`,
        ['BatchInput', 'version'],
      );
    return version;
  }
}

/** The batch's envelope, checked on its shape only: the items' count first, then each `row`. */
function parseBatch(event: unknown, maxRows: number): { items: readonly BatchItem[]; input: BatchInput } {
  if (!isObject(event)) throw invalidBatch('The batch must be an object {"Items": [...], "BatchInput": {...}}.', []);
  const items = event['Items'];
  if (!Array.isArray(items)) throw invalidBatch('"Items" must be an array of {"row", "record"}.', ['Items']);
  checkRowCount(items.length, maxRows, ['Items']);
  const input = parseInput(event['BatchInput']);
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (!isObject(item) || !Number.isSafeInteger(item['row']) || (item['row'] as number) < 0 || !Object.hasOwn(item, 'record')) {
      throw invalidBatch(
        'Each item must be {"row": <zero-based index>, "record": <the record>} (ItemSelector {"row.$": "$$.Map.Item.Index", "record.$": "$$.Map.Item.Value"}).',
        ['Items', i],
      );
    }
  }
  return { items: items as BatchItem[], input };
}

function parseInput(value: unknown): BatchInput {
  const at: FieldPath = ['BatchInput'];
  if (!isObject(value)) throw invalidBatch('"BatchInput" must be {"model", "version", "format"}.', at);
  const { model, version, format } = value;
  if (typeof model !== 'string' || model === '') throw invalidBatch('"BatchInput.model" must name the model.', [...at, 'model']);
  if (typeof version !== 'string' || !/^[1-9][0-9]*$/.test(version))
    throw invalidBatch('"BatchInput.version" must be the job\'s model version, e.g. "3".', [...at, 'version']);
  if (typeof format !== 'string' || !(BATCH_FORMATS as readonly string[]).includes(format)) {
    throw invalidBatch(`"BatchInput.format" must be one of ${BATCH_FORMATS.join(', ')}.`, [...at, 'format']);
  }
  return { model, version, format: format as BatchFormat };
}

/** 400 `INVALID_BATCH`: a batch event that is not what the workflow hands the batch function. */
export function invalidBatch(message: string, path: FieldPath): ValidationError {
  return new ValidationError('INVALID_BATCH', message, path);
}

/**
 * Decodes the records that can be decoded into one batch. The common case, a clean batch, is
 * one `decodeRecords` call. When it fails, each record is decoded alone to find the bad ones
 * (their errors are those of the predict route for that record), and the rest are decoded
 * together; should they still disagree (a dynamic inner dimension fixed by the first row), the
 * row the error names is set aside and the rest decoded again, so every pass drops a record.
 * An error that names no row (a model that takes a fixed number of rows) fails the batch.
 */
export function decodeBatch(
  layout: RecordLayout,
  records: readonly unknown[],
  limits: CodecLimits,
): { decoded: DecodedInputs | undefined; kept: number[]; errors: Map<number, AppError> } {
  const errors = new Map<number, AppError>();
  let kept = records.map((_, i) => i);
  let checkedAlone = false;
  while (kept.length > 0) {
    try {
      const decoded = decodeRecords(
        layout,
        kept.map((i) => records[i]),
        (k) => [k],
        limits,
      );
      return { decoded, kept, errors };
    } catch (error) {
      const row = recordError(error).path[0];
      if (typeof row !== 'number') throw error;
      if (!checkedAlone) {
        checkedAlone = true;
        kept = kept.filter((i) => {
          try {
            decodeRecords(layout, [records[i]], () => [], limits);
            return true;
          } catch (alone) {
            errors.set(i, recordError(alone));
            return false;
          }
        });
      } else {
        const i = kept[row] as number;
        const { code, message, path } = error as AppError;
        errors.set(i, new ValidationError(code, message, path.slice(1)));
        kept = kept.filter((k) => k !== i);
      }
    }
  }
  return { decoded: undefined, kept, errors };
}

/** The error when it is the record's (4xx), else rethrows it: our faults fail the batch. */
function recordError(error: unknown): AppError {
  if (error instanceof AppError && error.status < 500) return error;
  throw error;
}

/**
 * The fields of a record the model takes (its features, or its input names), the rest dropped;
 * with `csv`, each string turned into the JSON value its text spells ({@link csvCellValue}).
 * Not an object: returned as it is, for the codec to refuse.
 */
function modelFields(layout: RecordLayout, record: unknown, csv: boolean): unknown {
  if (!isObject(record)) return record;
  if (!csv && onlyModelFields(layout, record)) return record;
  const typeOf =
    layout.kind === 'columns'
      ? (): TensorType => layout.input.type
      : (name: string): TensorType => (layout.inputs[layout.index.indexOf(name) as number] as { type: TensorType }).type;
  const out: Record<string, unknown> = {};
  for (const key in record) {
    if (!Object.hasOwn(record, key) || !layout.index.has(key)) continue;
    const value = record[key];
    // A plain assignment: `__proto__` is never a declared name (registration refuses it).
    out[key] = csv && typeof value === 'string' ? csvCellValue(typeOf(key), value) : value;
  }
  return out;
}

/** Whether a JSON record holds the model's fields and nothing else (the common case: no copy). */
function onlyModelFields(layout: RecordLayout, record: Record<string, unknown>): boolean {
  let count = 0;
  for (const key in record) {
    if (!layout.index.has(key)) return false;
    count++;
  }
  return count === layout.index.size;
}

/** JSON's number grammar (RFC 8259 §6): no leading `+`, no leading zeros, no bare `.5` or `5.`. */
const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
/** How CSV writers spell the non-finite floats (NumPy `nan`/`inf`, pandas and R `NaN`/`Inf`). */
const NON_FINITE = /^([+-]?)(nan|inf|infinity)$/i;
/** Longest CSV cell read as a number: longer text is left a string, for the writer to refuse. */
const MAX_NUMBER_CHARS = 64;

/**
 * The JSON value a CSV cell's text spells for an element of `type`, handed to the same element
 * writer as a JSON body's value (which judges it with the same codes): for numeric types a JSON
 * number literal becomes that number, `NaN`/`Inf`/`-Infinity` become the non-finite number (so
 * the writer says `NOT_FINITE`), anything else stays a string (`WRONG_TYPE`). int64/uint64 keep
 * their decimal text, which the writer reads exactly; bool takes `true`/`false`; string cells
 * are the string itself.
 */
export function csvCellValue(type: TensorType, text: string): unknown {
  switch (type) {
    case 'string':
      return text;
    case 'bool':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'int64':
    case 'uint64':
      return text;
    default: {
      if (text.length > MAX_NUMBER_CHARS) return text;
      if (JSON_NUMBER.test(text)) return Number(text);
      const nonFinite = NON_FINITE.exec(text);
      if (nonFinite) return nonFinite[2]?.toLowerCase() === 'nan' ? Number.NaN : nonFinite[1] === '-' ? -Infinity : Infinity;
      return text;
    }
  }
}
