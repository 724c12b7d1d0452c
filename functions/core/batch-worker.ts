/**
 * The batch function's work in a job (issue 11, item 2): a Distributed Map batch of splits →
 * their records read → one `session.run` for every decodable record of the batch (the
 * {@link BatchPredictor}) → one part file per split in the job folder, and the batch's counts
 * added to the job's progress. The answer is a small summary: predictions travel through S3, not
 * through Step Functions' 256 KiB state.
 *
 * Parts: `_parts/<split>.jsonl` holds the split's predictions, one line per predicted record
 * (`{"row", "prediction"}`; a replay's comparison lines, `{"row", "requestId", ...}`, built by
 * `replay/worker.ts`), and is written for every split, empty or not: its presence says the
 * split is done. `_parts/<split>.errors.jsonl` holds its error records, written first and only
 * when there are some. A retried batch writes the same keys again: parts never duplicate a row.
 */
import {
  CAPTURE_FORMAT,
  JOB_FORMATS,
  partKey,
  type BatchFormat,
  type DataObjects,
  type BatchJobStore,
  type RowError,
  type Split,
  type SplitBatchEvent,
  type SplitBatchInput,
  type SplitBatchResult,
} from './batch-contract.js';
import { invalidBatch, type BatchPredictor, type BatchItem, type RowPrediction } from './batch.js';
import { InternalError, PayloadTooLargeError, type FieldPath } from './errors.js';
import { isObject } from './codec/request.js';

/** One record of a split as its reader gives it: the record, or why it could not be read. */
export interface SplitEntry {
  readonly row: number;
  readonly line?: number;
  readonly record?: unknown;
  readonly error?: { readonly code: string; readonly message: string; readonly path: FieldPath };
}

/** Reads the records of one split (`batch-input.ts` `readSplit`). */
export type SplitReader = (objects: DataObjects, split: Split, format: BatchFormat, columns?: readonly string[]) => Promise<SplitEntry[]>;

export interface BatchWorkerDeps {
  readonly predictor: BatchPredictor;
  /**
   * Replays' batches (format `capture`, `replay/worker.ts` `ReplayPredictor`): each prediction's
   * `json` is the whole comparison line. Without it a replay's batch fails (500 `REPLAY_NOT_CONFIGURED`).
   */
  readonly replay?: Pick<BatchPredictor, 'predict'>;
  readonly objects: DataObjects;
  readonly jobs: BatchJobStore;
  readonly readSplit: SplitReader;
  /** Most records in one batch (MAX_ROWS). */
  readonly maxRows: number;
}

/** The suffix of a split's error part (next to its predictions part). */
export const ERRORS_PART_SUFFIX = '.errors.jsonl';

export function errorsPartKey(jobFolderKey: string, splitIndex: number): string {
  return partKey(jobFolderKey, splitIndex).replace(/\.jsonl$/, ERRORS_PART_SUFFIX);
}

/**
 * Runs a job's batches.
 *
 * @example
 * const summary = await worker.run({ Items: [split0, split1], BatchInput: { jobId, model: 'iris', version: '1', format: 'csv', output, columns } });
 */
export class BatchWorker {
  constructor(private readonly deps: BatchWorkerDeps) {}

  /**
   * Throws (the whole batch fails, for the workflow's Retry and tolerance) only when the batch
   * itself is wrong or our side fails: 400 `INVALID_BATCH`, 413 `TOO_MANY_ROWS`, 409
   * `INPUT_CHANGED` (the input changed since the plan), 404 `VERSION_NOT_FOUND`, and 5xx.
   */
  async run(event: unknown): Promise<SplitBatchResult> {
    const { Items: splits, BatchInput: input } = parseEvent(event, this.deps.maxRows);
    const replay = input.format === CAPTURE_FORMAT;
    const predictor = replay ? this.deps.replay : this.deps.predictor;
    if (!predictor) throw new InternalError('REPLAY_NOT_CONFIGURED', 'This batch function was built without the replay worker.');
    // Capture records are JSON Lines: read as such.
    const format: BatchFormat = input.format === CAPTURE_FORMAT ? 'jsonl' : input.format;
    const read = await Promise.all(splits.map((split) => this.deps.readSplit(this.deps.objects, split, format, input.columns)));
    const items: BatchItem[] = [];
    const unreadable: RowError[] = [];
    read.forEach((entries) => {
      for (const entry of entries) {
        if (entry.error) unreadable.push({ row: entry.row, ...entry.error });
        else items.push({ row: entry.row, record: entry.record });
      }
    });
    const result = await predictor.predict({
      Items: items,
      BatchInput: { model: input.model, version: input.version, format: input.format },
    });
    // An error record names its line and file: found through its split (entries are in row order).
    const located = (error: RowError): RowError => {
      const i = splits.findIndex((split) => error.row >= split.firstRow && error.row < split.firstRow + split.rows);
      const entry = read[i]?.[error.row - (splits[i] as Split).firstRow];
      return { ...error, ...(entry?.line === undefined ? {} : { line: entry.line }), file: (splits[i] as Split).key };
    };
    const errors = [...unreadable, ...result.errors].map(located);
    const rows = splits.reduce((n, split) => n + split.rows, 0);
    // The counts are progress, made exact by the assembly: they need not wait for the parts.
    await Promise.all([
      ...splits.map((split) => this.writeParts(input, split, result.predictions, errors)),
      this.deps.jobs.addProgress(input.model, input.jobId, { rowsRead: rows, predicted: result.predictions.length, failed: errors.length }),
    ]);
    return { splits: splits.map((split) => split.index), rows, predicted: result.predictions.length, failed: errors.length };
  }

  private async writeParts(
    input: SplitBatchInput,
    split: Split,
    predictions: readonly RowPrediction[],
    errors: readonly RowError[],
  ): Promise<void> {
    const inSplit = (row: number) => row >= split.firstRow && row < split.firstRow + split.rows;
    const errorLines = errors
      .filter((e) => inSplit(e.row))
      .sort((a, b) => a.row - b.row)
      .map((e) => JSON.stringify(e));
    const replay = input.format === CAPTURE_FORMAT;
    const predictionLines = predictions
      .filter((p) => inSplit(p.row))
      .map((p) => (replay ? p.json : `{"row":${p.row},"prediction":${p.json}}`));
    const { bucket, prefix } = input.output;
    if (errorLines.length > 0)
      await this.deps.objects.put(
        { bucket, key: errorsPartKey(prefix, split.index) },
        `${errorLines.join('\n')}\n`,
        'application/x-ndjson',
      );
    // Last: its presence marks the split done.
    await this.deps.objects.put(
      { bucket, key: partKey(prefix, split.index) },
      predictionLines.length > 0 ? `${predictionLines.join('\n')}\n` : '',
      'application/x-ndjson',
    );
  }
}

/** The batch's envelope, checked on its shape and size before anything is read. */
function parseEvent(event: unknown, maxRows: number): SplitBatchEvent {
  if (!isObject(event) || !Array.isArray(event['Items']))
    throw invalidBatch('The batch must be {"Items": [<split>, ...], "BatchInput": {...}} from the workflow\'s ItemBatcher.', []);
  const input = event['BatchInput'];
  if (!isObject(input)) throw invalidBatch('"BatchInput" must be the job\'s {jobId, model, version, format, output}.', ['BatchInput']);
  const { jobId, model, version, format, output, columns } = input;
  if (typeof jobId !== 'string' || typeof model !== 'string' || typeof version !== 'string')
    throw invalidBatch('"BatchInput" must name the job, model and version.', ['BatchInput']);
  if (typeof format !== 'string' || !(JOB_FORMATS as readonly string[]).includes(format))
    throw invalidBatch(`"BatchInput.format" must be one of ${JOB_FORMATS.join(', ')}.`, ['BatchInput', 'format']);
  if (!isObject(output) || typeof output['bucket'] !== 'string' || typeof output['prefix'] !== 'string')
    throw invalidBatch('"BatchInput.output" must be {bucket, prefix}.', ['BatchInput', 'output']);
  if (columns !== undefined && !(Array.isArray(columns) && columns.every((c) => typeof c === 'string')))
    throw invalidBatch('"BatchInput.columns" must be the CSV header.', ['BatchInput', 'columns']);
  let rows = 0;
  const splits = event['Items'] as unknown[];
  splits.forEach((split, i) => {
    if (
      !isObject(split) ||
      !isCount(split['index']) ||
      !isCount(split['file']) ||
      !isCount(split['firstRow']) ||
      !isCount(split['rows']) ||
      typeof split['bucket'] !== 'string' ||
      typeof split['key'] !== 'string'
    ) {
      throw invalidBatch("Each item must be a split of the job's plan ({index, file, bucket, key, firstRow, rows, ...}).", ['Items', i]);
    }
    rows += split['rows'] as number;
  });
  if (rows > maxRows) {
    throw new PayloadTooLargeError(
      'TOO_MANY_ROWS',
      `The batch holds ${rows} records; the batch function takes at most ${maxRows} (MAX_ROWS): lower the job's rowsPerBatch.`,
      ['Items'],
    );
  }
  return event as unknown as SplitBatchEvent;
}

function isCount(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
