/**
 * The replay's batch work (issue 13, item 5): a batch of capture records (the items of a
 * replay job's splits, read by the batch function) → each rebuilt as the request it was → run on
 * the job's target version → one comparison line per request (`compare.ts`), or an error line
 * saying why it cannot be replayed. Talks to ports only (`ModelRegistry`, `ModelRuntime`), like
 * the batch core; `functions/core/batch-worker.ts` reads the splits and writes the parts.
 *
 * ## Rebuilding a request
 *
 * A capture record keeps the decoded inputs of its request (`functions/core/capture.ts`):
 * - for a target whose declared features fill one `[N, F]` input (the record forms' `columns`
 *   layout), each captured row becomes a record `{<feature>: <value>}` of the target's features,
 *   decoded as the predict route decodes `instances` (features the target does not take are
 *   left out);
 * - for any other target, each of its inputs becomes a v2 tensor: a captured feature column (an
 *   input of one value per row) as `[rows]` or `[rows, 1]` in the target's datatype, a captured
 *   input tensor as it was; decoded as the predict route decodes the Open Inference Protocol.
 *
 * Only the rows the record kept are replayed (a record over its size bound keeps its first
 * rows; its comparison says `truncated`). Requests whose inputs share their per-row shape run
 * together, in one `session.run` per batch (at most `maxRows` rows each).
 *
 * ## Requests that cannot be replayed
 *
 * Each becomes an error line `{row, code, message, path, requestId, sourceVersion}` with one of
 * these codes, never a throw:
 * - `FEATURE_DROPPED`: the target takes a feature (or input) that capture's redaction dropped;
 * - `FEATURE_HASHED`: ... that was captured as `sha256:` pseudonyms;
 * - `FEATURE_MISSING`: ... that the record does not hold at all (another version's inputs);
 * - `INPUT_NOT_CAPTURED`: an input tensor whose data the record dropped to fit its size bound;
 * - `RECORD_TRUNCATED`: a record that kept none of its rows;
 * - `INPUT_NOT_ACCEPTED`: the target's decoder refuses the rebuilt request (another datatype or
 *   shape, a value out of its range): the message carries the decoder's code and message;
 * - `INVALID_CAPTURE_RECORD`: a line that is JSON but not a capture record of this model.
 * A batch fails as a whole only as the batch core's do: a wrong envelope, the target version
 * gone, our side's faults.
 */
import type { BatchResult, RowError, RowPrediction } from '../batch.js';
import { invalidBatch } from '../batch.js';
import { CAPTURE_FORMAT } from '../batch-contract.js';
import { captureRecordOf, type CaptureRecord } from '../capture.js';
import { AppError, NotFoundError, ServiceUnavailableError, type FieldPath } from '../errors.js';
import type { ModelVersion } from '../model.js';
import type { ModelRegistry, ModelRuntime } from '../ports.js';
import { served, type Served } from '../predict.js';
import { RecentPromises } from '../recent-promises.js';
import { allocate, type TensorData, type TensorMap } from '../tensor.js';
import { decodeRecords, decodeV2, V2_DATATYPES, type DecodedInputs } from '../codec/decode.js';
import { classifierView, type ClassifierView } from '../codec/encode.js';
import { checkRowCount, codecLimits, excerpt, type CodecLimits } from '../codec/limits.js';
import { isObject } from '../codec/request.js';
import { compareRequest } from './compare.js';

export interface ReplayWorkerConfig {
  /** Most rows in one `session.run` (the batch function's `MAX_ROWS`). */
  readonly maxRows: number;
  /** Most characters in one string element (`MAX_STRING_CHARS`). @default 65,536 */
  readonly maxStringChars?: number;
}

export interface ReplayWorkerDeps {
  readonly registry: ModelRegistry;
  readonly runtime: ModelRuntime;
  readonly config: ReplayWorkerConfig;
}

/** An error line of a replay: the batch core's error record with the request it was. */
export interface ReplayError extends RowError {
  readonly requestId?: string;
  readonly sourceVersion?: string;
}

/** Versions' registry records (and classifier views) kept per process. */
const VERSIONS_KEPT = 16;

/** A request ready to run: its rows' feeds, and what it is compared with. */
interface Rebuilt {
  readonly row: number;
  readonly record: CaptureRecord;
  readonly decoded: DecodedInputs;
}

/**
 * Replays batches of capture records on a target version.
 *
 * @example
 * const replays = new ReplayPredictor({ registry, runtime, config: { maxRows: 1000 } });
 * const { predictions, errors } = await replays.predict({ Items: [{ row: 0, record }], BatchInput: { model: 'iris', version: '3', format: 'capture' } });
 * // predictions[0].json: '{"row":0,"requestId":"…","sourceVersion":"1",…}'
 */
export class ReplayPredictor {
  private readonly versions = new RecentPromises<ModelVersion | undefined>(VERSIONS_KEPT);
  private readonly limits: CodecLimits;

  constructor(private readonly deps: ReplayWorkerDeps) {
    const { maxRows, maxStringChars } = deps.config;
    this.limits = codecLimits({ maxRows, ...(maxStringChars === undefined ? {} : { maxStringChars }) });
  }

  /**
   * Replays one batch: `Items` of `{row, record}` (a capture record each), `BatchInput` naming
   * the model and the target version. Each prediction's `json` is the whole comparison line.
   * Throws only as `BatchPredictor.predict` does: 400 `INVALID_BATCH`, 413 `TOO_MANY_ROWS`, 404
   * `VERSION_NOT_FOUND` (the target), 503 `REGISTRY_UNAVAILABLE`, the runtime's 5xx.
   */
  async predict(event: unknown): Promise<BatchResult> {
    const { items, model, version } = parseEvent(event, this.limits.maxRows);
    const predictions: RowPrediction[] = [];
    const errors: ReplayError[] = [];
    const result = (): BatchResult => ({
      model,
      modelVersion: version,
      rows: items.length,
      predicted: predictions.length,
      failed: errors.length,
      predictions,
      errors: errors.sort((a, b) => a.row - b.row),
    });
    if (items.length === 0) return result();
    const targetVersion = await this.version(model, version);
    if (!targetVersion)
      throw new NotFoundError(
        'VERSION_NOT_FOUND',
        `Model "${excerpt(model)}" has no version ${excerpt(version)}; the replay names a target that does not exist.`,
        ['BatchInput', 'version'],
      );
    const lease = await this.deps.runtime.load(targetVersion);
    try {
      const target = served(targetVersion, lease);
      const rebuilt: Rebuilt[] = [];
      for (const item of items) {
        const record = captureRecordOf(item.record);
        if (!record || record.model !== model) {
          errors.push(invalidRecord(item.row, item.record, model));
          continue;
        }
        const outcome = rebuild(record, target, this.limits);
        if ('error' in outcome)
          errors.push({ row: item.row, ...outcome.error, requestId: record.requestId, sourceVersion: record.modelVersion });
        else rebuilt.push({ row: item.row, record, decoded: outcome.decoded });
      }
      const views = await this.sourceViews(model, rebuilt);
      for (const run of runsOf(rebuilt, this.limits.maxRows)) {
        const feeds = concatenate(run.map((r) => r.decoded));
        const outputs = await lease.run(feeds.feeds);
        let offset = 0;
        for (const request of run) {
          const rows = request.decoded.rows;
          const mine = rowsOf(outputs, feeds.rows, offset, rows, run.length === 1);
          offset += rows;
          const comparison = compareRequest({ ...request.record, capturedRows: rows }, mine, {
            ...(views.get(request.record.modelVersion) ? { source: views.get(request.record.modelVersion) as ClassifierView } : {}),
            ...(target.classifier ? { target: target.classifier } : {}),
          });
          predictions.push({ row: request.row, json: JSON.stringify({ row: request.row, ...comparison }) });
        }
      }
      predictions.sort((a, b) => a.row - b.row);
      return result();
    } finally {
      lease.release();
    }
  }

  /** Each source version's classifier view (none when the version is not a classifier, or gone from the registry). */
  private async sourceViews(model: string, rebuilt: readonly Rebuilt[]): Promise<Map<string, ClassifierView | undefined>> {
    const views = new Map<string, ClassifierView | undefined>();
    for (const id of new Set(rebuilt.map((r) => r.record.modelVersion))) {
      const version = await this.version(model, id);
      views.set(id, version ? classifierView(version.signature, version.metadata) : undefined);
    }
    return views;
  }

  private version(model: string, id: string): Promise<ModelVersion | undefined> {
    return this.versions.get(`${model}@${id}`, async () => {
      try {
        return await this.deps.registry.getVersion(model, id);
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw new ServiceUnavailableError(
          'REGISTRY_UNAVAILABLE',
          `The model registry could not be read for "${excerpt(model)}" v${excerpt(id)}; retry shortly.`,
          { cause: error },
        );
      }
    });
  }
}

/** The batch's envelope: `{Items: [{row, record}], BatchInput: {model, version, format: "capture"}}`. */
function parseEvent(
  event: unknown,
  maxRows: number,
): { items: readonly { row: number; record: unknown }[]; model: string; version: string } {
  if (!isObject(event)) throw invalidBatch('The batch must be an object {"Items": [...], "BatchInput": {...}}.', []);
  const items = event['Items'];
  if (!Array.isArray(items)) throw invalidBatch('"Items" must be an array of {"row", "record"}.', ['Items']);
  checkRowCount(items.length, maxRows, ['Items']);
  const input = event['BatchInput'];
  if (!isObject(input)) throw invalidBatch('"BatchInput" must be {"model", "version", "format"}.', ['BatchInput']);
  const { model, version, format } = input;
  if (typeof model !== 'string' || model === '') throw invalidBatch('"BatchInput.model" must name the model.', ['BatchInput', 'model']);
  if (typeof version !== 'string' || !/^[1-9][0-9]*$/.test(version))
    throw invalidBatch('"BatchInput.version" must be the replay\'s target version, e.g. "3".', ['BatchInput', 'version']);
  if (format !== CAPTURE_FORMAT)
    throw invalidBatch(`"BatchInput.format" of a replay must be "${CAPTURE_FORMAT}".`, ['BatchInput', 'format']);
  items.forEach((item: unknown, i) => {
    if (!isObject(item) || !Number.isSafeInteger(item['row']) || (item['row'] as number) < 0 || !Object.hasOwn(item, 'record')) {
      throw invalidBatch('Each item must be {"row": <zero-based index>, "record": <a capture record>}.', ['Items', i]);
    }
  });
  return { items: items as { row: number; record: unknown }[], model, version };
}

function invalidRecord(row: number, value: unknown, model: string): ReplayError {
  const requestId = isObject(value) && typeof value['requestId'] === 'string' ? excerpt(value['requestId']) : undefined;
  const other = isObject(value) && typeof value['model'] === 'string' && value['model'] !== model ? excerpt(value['model']) : undefined;
  return {
    row,
    code: 'INVALID_CAPTURE_RECORD',
    message:
      other !== undefined
        ? `The line is a capture record of model "${other}", not "${excerpt(model)}": it lies in the wrong partition and is not replayed.`
        : 'The line is JSON but not a capture record (captureVersion 1 with requestId, model, modelVersion, timestamp, rows, capturedRows, outputs): it was written by something else.',
    path: [],
    ...(requestId === undefined ? {} : { requestId }),
  };
}

type RebuildError = { readonly code: string; readonly message: string; readonly path: FieldPath };

/**
 * The request a capture record was, as feeds for the target (see the module docstring), or why
 * it cannot be rebuilt.
 */
export function rebuild(record: CaptureRecord, target: Served, limits: CodecLimits): { decoded: DecodedInputs } | { error: RebuildError } {
  const rows = record.capturedRows;
  if (rows === 0) {
    return {
      error: {
        code: 'RECORD_TRUNCATED',
        message: `The record kept none of the request's ${record.rows} rows within its size bound (the capture settings' maxRecordBytes); raise the bound to replay such requests.`,
        path: [],
      },
    };
  }
  const version = target.version.version;
  const hashed = new Set(record.redaction?.hashed ?? []);
  const dropped = new Set(record.redaction?.dropped ?? []);
  const unavailable = (name: string, kind: 'feature' | 'input'): RebuildError | undefined => {
    const shown = JSON.stringify(excerpt(name));
    const path: FieldPath = [kind === 'feature' ? 'features' : 'inputs', excerpt(name)];
    if (hashed.has(name)) {
      return {
        code: 'FEATURE_HASHED',
        message: `${kind === 'feature' ? 'Feature' : 'Input'} ${shown} was captured as sha256 pseudonyms (capture's "hash"), and version ${version} needs its values; capture it unhashed to replay such requests.`,
        path,
      };
    }
    if (dropped.has(name)) {
      return {
        code: 'FEATURE_DROPPED',
        message: `${kind === 'feature' ? 'Feature' : 'Input'} ${shown} was dropped by capture's redaction ("drop"), and version ${version} takes it; capture it to replay such requests.`,
        path,
      };
    }
    return undefined;
  };
  const features = record.features ?? {};
  const tensors = record.inputs ?? {};
  const missing = (name: string, kind: 'feature' | 'input'): RebuildError => ({
    code: 'FEATURE_MISSING',
    message: `The record holds no ${kind} ${JSON.stringify(excerpt(name))}, which version ${version} takes (the source version's inputs differ).`,
    path: [kind === 'feature' ? 'features' : 'inputs', excerpt(name)],
  });
  try {
    if (target.layout.kind === 'columns') {
      const names = target.layout.features;
      for (const name of names) {
        const problem = unavailable(name, 'feature');
        if (problem) return { error: problem };
        const values = Object.hasOwn(features, name) ? features[name] : undefined;
        if (!values) return { error: missing(name, 'feature') };
        if (values.length !== rows) return { error: shortColumn(name, values.length, rows) };
      }
      const records = new Array<Record<string, unknown>>(rows);
      for (let r = 0; r < rows; r++) {
        const row: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
        for (const name of names) row[name] = (features[name] as readonly unknown[])[r];
        records[r] = row;
      }
      return { decoded: decodeRecords(target.layout, records, (r) => ['features', r], limits) };
    }
    const inputs: unknown[] = [];
    for (const spec of target.layout.inputs) {
      const problem = unavailable(spec.name, Object.hasOwn(tensors, spec.name) ? 'input' : 'feature');
      if (problem) return { error: problem };
      const column = Object.hasOwn(features, spec.name) ? features[spec.name] : undefined;
      const tensor = Object.hasOwn(tensors, spec.name) ? tensors[spec.name] : undefined;
      if (column) {
        if (column.length !== rows) return { error: shortColumn(spec.name, column.length, rows) };
        inputs.push({
          name: spec.name,
          datatype: V2_DATATYPES[spec.type],
          shape: spec.shape.length === 2 ? [rows, 1] : [rows],
          data: column,
        });
      } else if (tensor) {
        if (!tensor.data) {
          return {
            error: {
              code: 'INPUT_NOT_CAPTURED',
              message: `Input ${JSON.stringify(excerpt(spec.name))} was captured without its data: the record was over its size bound (maxRecordBytes); raise the bound to replay such requests.`,
              path: ['inputs', excerpt(spec.name)],
            },
          };
        }
        inputs.push({ name: spec.name, datatype: tensor.datatype, shape: tensor.shape, data: tensor.data });
      } else {
        return { error: missing(spec.name, 'input') };
      }
    }
    return { decoded: decodeV2(target.session.signature, inputs, limits) };
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    return {
      error: {
        code: 'INPUT_NOT_ACCEPTED',
        message: `Version ${version} does not take the captured request: ${error.code}: ${error.message}`,
        path: error.path,
      },
    };
  }
}

function shortColumn(name: string, length: number, rows: number): RebuildError {
  return {
    code: 'INVALID_CAPTURE_RECORD',
    message: `The record's column ${JSON.stringify(excerpt(name))} holds ${length} values for its ${rows} captured rows.`,
    path: ['features', excerpt(name)],
  };
}

/**
 * The requests grouped by the per-row shape and type of their feeds (only such requests can be
 * stacked into one tensor), each group cut into runs of at most `maxRows` rows (a request with
 * more runs alone), in row order within a group.
 */
function runsOf(requests: readonly Rebuilt[], maxRows: number): Rebuilt[][] {
  const groups = new Map<string, Rebuilt[]>();
  for (const request of requests) {
    const key = stackKey(request.decoded.feeds, request.row);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(request);
  }
  const runs: Rebuilt[][] = [];
  for (const group of groups.values()) {
    let run: Rebuilt[] = [];
    let rows = 0;
    for (const request of group) {
      if (run.length > 0 && rows + request.decoded.rows > maxRows) {
        runs.push(run);
        run = [];
        rows = 0;
      }
      run.push(request);
      rows += request.decoded.rows;
    }
    if (run.length > 0) runs.push(run);
  }
  return runs;
}

/** What feeds must share to be stacked: each input's type and shape past the first axis (a scalar input never stacks). */
function stackKey(feeds: TensorMap, row: number): string {
  const parts: string[] = [];
  for (const name of Object.keys(feeds).sort()) {
    const tensor = feeds[name] as TensorData;
    if (tensor.shape.length === 0) return `alone:${row}`;
    parts.push(`${name}:${tensor.type}:${tensor.shape.slice(1).join('x')}`);
  }
  return parts.join('|');
}

/** The feeds of several requests stacked along the first axis (they share their per-row shapes). */
function concatenate(parts: readonly DecodedInputs[]): DecodedInputs {
  if (parts.length === 1) return parts[0] as DecodedInputs;
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const feeds: TensorMap = Object.create(null) as TensorMap;
  for (const name of Object.keys((parts[0] as DecodedInputs).feeds)) {
    const first = (parts[0] as DecodedInputs).feeds[name] as TensorData;
    const total = parts.reduce((n, p) => n + (p.feeds[name] as TensorData).data.length, 0);
    const data = allocate(first.type, total);
    let at = 0;
    for (const part of parts) {
      const piece = (part.feeds[name] as TensorData).data;
      if (Array.isArray(data)) for (let i = 0; i < piece.length; i++) data[at + i] = (piece as string[])[i] as string;
      else (data as Exclude<TensorData['data'], string[]>).set(piece as never, at);
      at += piece.length;
    }
    feeds[name] = { type: first.type, shape: [rows, ...first.shape.slice(1)], data } as TensorData;
  }
  return { feeds, rows };
}

/**
 * One request's rows `[offset, offset + rows)` of the run's outputs. An output whose first axis is
 * not the run's rows belongs to no single request: it is given whole when the run is this one
 * request, else left as it is (and then not compared: `not-per-row`).
 */
function rowsOf(outputs: TensorMap, runRows: number, offset: number, rows: number, alone: boolean): TensorMap {
  const mine: TensorMap = Object.create(null) as TensorMap;
  for (const [name, tensor] of Object.entries(outputs)) {
    if (alone || tensor.shape.length === 0 || tensor.shape[0] !== runRows) {
      mine[name] = tensor;
      continue;
    }
    const stride = runRows === 0 ? 0 : tensor.data.length / runRows;
    const data = Array.isArray(tensor.data)
      ? tensor.data.slice(offset * stride, (offset + rows) * stride)
      : (tensor.data as Exclude<TensorData['data'], string[]>).subarray(offset * stride, (offset + rows) * stride);
    mine[name] = { type: tensor.type, shape: [rows, ...tensor.shape.slice(1)], data } as TensorData;
  }
  return mine;
}
