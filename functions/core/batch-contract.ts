/**
 * Batch jobs: the shapes every part of a job agrees on (the job API, the workflow's steps, the
 * batch function, the local emulation of Step Functions, `modelctl`), and the ports the batch
 * cores talk to. No logic lives here.
 *
 * How a job runs (the state machine of `lib/batch-jobs.ts`; `local/batch-runner.ts` emulates it):
 *
 * 1. **Plan** (`functions/batch-steps`, step `plan`): reads the input once, streaming, and writes
 *    the job's *splits* as JSON Lines to `<job folder>/_plan/splits.jsonl`: each split is a run of
 *    whole records of one input file (a byte range of CSV or JSON Lines, a row range of Parquet)
 *    with the row number of its first record. Row numbers are zero-based and count records across
 *    the input's files in key order (a CSV header is not a record; every JSON line is one).
 * 2. **PredictSplits**, a Distributed Map: its ItemReader reads the splits file (JSONL), its
 *    ItemBatcher groups `splitsPerBatch` splits, its item processor is the batch function
 *    (`functions/batch`), which reads the records of its splits, predicts them in one
 *    `session.run`, writes one part per split (`<job folder>/_parts/<split index>.jsonl`, a line
 *    per record: its prediction or its error), adds its counts to the job's progress and returns
 *    a summary. A batch that fails as a whole (after the workflow's retries) counts against the
 *    tolerated failure percentage; the ResultWriter writes the children's results under
 *    `<job folder>/_map/`.
 * 3. **Assemble** (`functions/batch-steps`, step `assemble`): concatenates the parts in split
 *    order into `predictions.jsonl` and `errors.jsonl` (the rows of a failed batch become error
 *    records with the batch's error), writes `manifest.json`, judges the row failure rate
 *    against the job's tolerance, and records the job's end.
 *
 * Why splits rather than an ItemReader over the input itself: every record's fate is then ours.
 * Step Functions' CSV reader hands every field over as a string and its JSON Lines reader must
 * parse each line itself, so a line that is not JSON could not become an error record with its
 * row number; a split is read by our own reader, whose malformed lines become error records.
 *
 * Replays (`functions/core/replay/`, `POST /v1/models/{model}/replays`) are jobs of format
 * `capture` on the same workflow and functions: the plan keeps the window's captured requests,
 * the batch function replays and compares them (`comparisons.jsonl` in place of
 * `predictions.jsonl`, a line per request), and the assembly also writes `replay.json`.
 */
import type { FieldPath } from './errors.js';

/** Input formats (the job's `format`). */
export const BATCH_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type BatchFormat = (typeof BATCH_FORMATS)[number];
/**
 * The input format of a replay (`functions/core/replay/`): capture records, JSON Lines as data
 * capture writes them (`functions/core/capture.ts`). Only `POST /v1/models/{model}/replays` makes
 * jobs of it (the batch-job API takes the {@link BATCH_FORMATS}); its splits are byte ranges as
 * for `jsonl`, its batches go to the replay worker, its assembly writes `replay.json` too.
 */
export const CAPTURE_FORMAT = 'capture';
/** Every format a job's input may have. */
export const JOB_FORMATS = [...BATCH_FORMATS, CAPTURE_FORMAT] as const;
export type JobFormat = (typeof JOB_FORMATS)[number];

/** A job's life: SUBMITTED → RUNNING → SUCCEEDED | FAILED | CANCELLED. */
export const JOB_STATES = ['SUBMITTED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] as const;
export type JobState = (typeof JOB_STATES)[number];
/** States a job does not leave. */
export const FINAL_STATES: readonly JobState[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** An S3 object. */
export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
}

/** One input file of a job, as listed at submission (key order). */
export interface InputFile extends ObjectRef {
  /** Bytes. */
  readonly size: number;
  /** The object's ETag at submission; a file changed since is refused by the plan. */
  readonly etag?: string;
}

/** Options a job is submitted with (the job API's body, defaults applied). */
export interface JobOptions {
  /** Most records per batch, so per `session.run` (1 to the function's MAX_ROWS). @default 500 */
  readonly rowsPerBatch: number;
  /** Most batches in flight at once (Distributed Map MaxConcurrency, 1 to 10,000). @default 10 */
  readonly maxConcurrency: number;
  /**
   * Percent of the input's rows that may fail (error records, and the rows of batches that
   * failed whole) with the job still SUCCEEDED; 0 to 100. @default 0
   */
  readonly toleratedFailurePercentage: number;
}

/** An error record: a row that could not be predicted, in `errors.jsonl`. */
export interface RowError {
  /** Zero-based record number across the input (see above). */
  readonly row: number;
  readonly code: string;
  /** Bounded (excerpts of the caller's values only). */
  readonly message: string;
  /** Within the record (`["petal_length_cm"]`); `[]` for the record as a whole. */
  readonly path: FieldPath;
  /** One-based line in its file, for CSV and JSON Lines (a header counts as line 1). */
  readonly line?: number;
  /** The file's key, when the input is a prefix of several files. */
  readonly file?: string;
}

/** What a replay re-runs, fixed at submission (`BatchJob.replay`, `WorkflowInput.replay`). */
export interface ReplaySpec {
  /** Start of the window, inclusive: ISO-8601 UTC. */
  readonly since: string;
  /** End of the window, exclusive: ISO-8601 UTC. */
  readonly until: string;
  /** The model versions whose captured requests are replayed. */
  readonly sourceVersions: readonly string[];
  /** Most captured requests replayed: the newest of the window when it holds more. */
  readonly maxRequests: number;
}

/** What the replay's plan found in the capture files (`PlanResult.replay`, and the report). */
export interface ReplayPlanSummary {
  /** Capture records of the source versions whose timestamp lies in the window. */
  readonly inWindow: number;
  /** Of them, the ones replayed: all, or the newest `maxRequests`. */
  readonly selected: number;
  /** Lines of the files that are not capture records: each is replayed as an error line. */
  readonly unreadable: number;
  /** Capture records of the files outside the window (or of a version not replayed). */
  readonly outside: number;
}

/** A job as the API shows it and the job table stores it. */
export interface BatchJob {
  readonly jobId: string;
  readonly model: string;
  /** The version pinned for the whole job (the production version at submission when not given). */
  readonly modelVersion: string;
  readonly state: JobState;
  readonly input: {
    /** As submitted: `s3://bucket/key` or `s3://bucket/prefix/`. */
    readonly uri: string;
    readonly format: JobFormat;
    readonly files: readonly InputFile[];
    /**
     * Column names (CSV header, Parquet schema) or the first record's keys (JSON Lines): the
     * first 100, each an excerpt of at most 64 characters; `columnCount` counts them all.
     */
    readonly columns: readonly string[];
    readonly columnCount: number;
    /** Columns the model does not take (read, not predicted with, not an error): the first 100. */
    readonly ignoredColumns: readonly string[];
    readonly ignoredColumnCount: number;
  };
  readonly output: {
    /** The job's folder: `s3://bucket/<given prefix>/<jobId>/`. */
    readonly uri: string;
    readonly predictions: string;
    readonly errors: string;
    readonly manifest: string;
    /** A replay's agreement report (`replay.json`). */
    readonly report?: string;
  };
  readonly options: JobOptions;
  /** Set on replays (`input.format` is `capture`). */
  readonly replay?: ReplaySpec;
  /** Records read so far and their outcomes; exact once the job has ended. */
  readonly progress: { readonly rowsRead: number; readonly predicted: number; readonly failed: number };
  /** Records in the input, known once the plan has run. */
  readonly rows?: number;
  readonly submittedBy: string;
  readonly submittedAt: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  /** Why the job failed or was cancelled. */
  readonly failure?: { readonly code: string; readonly message: string; readonly errorSample?: readonly RowError[] };
  readonly clientToken?: string;
  /**
   * What the submission asked for, as a digest: a retry with the same client token must ask for
   * the same job (else 409 `CLIENT_TOKEN_REUSED`).
   */
  readonly requestDigest?: string;
  /** The workflow execution (a Step Functions execution ARN on AWS). */
  readonly executionId?: string;
  /** Raised by every change; conditional updates compare it. */
  readonly revision: number;
}

/** The job folder's layout, relative to `BatchJob.output.uri`. */
export const JOB_FILES = {
  predictions: 'predictions.jsonl',
  errors: 'errors.jsonl',
  manifest: 'manifest.json',
  /** A replay's comparison lines, one per replayed request (in place of `predictions.jsonl`). */
  comparisons: 'comparisons.jsonl',
  /** A replay's agreement report. */
  replayReport: 'replay.json',
  splits: '_plan/splits.jsonl',
  /** `_parts/00000042.jsonl`: the records of split 42, one line each. */
  partsPrefix: '_parts/',
  /** The Distributed Map's ResultWriter prefix. */
  mapResults: '_map',
} as const;

/** Digits of a split index in its part's key (`_parts/00000042.jsonl`). */
export const SPLIT_INDEX_DIGITS = 8;

export function partKey(jobFolderKey: string, splitIndex: number): string {
  return `${jobFolderKey}${JOB_FILES.partsPrefix}${String(splitIndex).padStart(SPLIT_INDEX_DIGITS, '0')}.jsonl`;
}

/** The state machine's input: what the job API hands the workflow (on AWS, StartExecution's input). */
export interface WorkflowInput {
  readonly jobId: string;
  readonly model: string;
  readonly version: string;
  readonly format: JobFormat;
  readonly files: readonly InputFile[];
  /** The job folder: bucket, and key prefix ending in `/`. */
  readonly output: { readonly bucket: string; readonly prefix: string };
  readonly options: JobOptions;
  /** Replays only. */
  readonly replay?: ReplaySpec;
}

/**
 * One split: whole records of one file. CSV and JSON Lines splits are byte ranges
 * `[start, end)` that begin at a record and end after one; Parquet splits are row ranges.
 */
export interface Split {
  /** Position in the plan, from 0; names the split's part. */
  readonly index: number;
  /** Index of the file in `WorkflowInput.files`. */
  readonly file: number;
  readonly bucket: string;
  readonly key: string;
  /** Row number (across the input) of the split's first record. */
  readonly firstRow: number;
  /** Records in the split. */
  readonly rows: number;
  /** CSV / JSON Lines: byte range in the file. */
  readonly start?: number;
  readonly end?: number;
  /** CSV / JSON Lines: one-based line of the first record in its file. */
  readonly firstLine?: number;
  /** Parquet: the first row within its file. */
  readonly fileRow?: number;
  /** The file's ETag when it was planned: a split reads only that version of its file. */
  readonly etag?: string;
}

/** The plan step's result (the state machine keeps it at `$.plan`). */
export interface PlanResult {
  /** Where the splits are: `<job folder>/_plan/splits.jsonl`. */
  readonly splits: ObjectRef;
  readonly splitCount: number;
  readonly rows: number;
  /** ItemBatcher MaxItemsPerBatch: splits per batch of the Distributed Map. */
  readonly splitsPerBatch: number;
  /** CSV: the header every file shares (fields are named by it); `[]` for the other formats. */
  readonly columns: readonly string[];
  /**
   * The ResultWriter's prefix, `<job folder>_map` (the state machine reads it from here, a plain
   * path, rather than building it with an intrinsic function).
   */
  readonly mapResultsPrefix: string;
  /** Replays only. */
  readonly replay?: ReplayPlanSummary;
}

/** What the ItemBatcher hands the batch function with every batch (`BatchInput`). */
export interface SplitBatchInput {
  readonly jobId: string;
  readonly model: string;
  readonly version: string;
  readonly format: JobFormat;
  readonly output: { readonly bucket: string; readonly prefix: string };
  /** CSV: the header. */
  readonly columns?: readonly string[];
}

/** The batch function's event in a job: a batch of splits. */
export interface SplitBatchEvent {
  readonly Items: readonly Split[];
  readonly BatchInput: SplitBatchInput;
}

/** The batch function's answer (kept small: Step Functions passes at most 256 KiB). */
export interface SplitBatchResult {
  readonly splits: readonly number[];
  readonly rows: number;
  readonly predicted: number;
  readonly failed: number;
}

/** One line of a part file, and of `predictions.jsonl` / `errors.jsonl` after assembly. */
export type PartLine = { readonly row: number; readonly prediction: unknown } | ({ readonly error: true } & RowError);

/** The job's `manifest.json`. */
export interface JobManifest {
  readonly jobId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  readonly input: { readonly uri: string; readonly format: JobFormat; readonly files: readonly InputFile[] };
  readonly rows: number;
  readonly predicted: number;
  readonly failed: number;
  /** Rows of batches that failed whole (included in `failed`). */
  readonly failedInBatches: number;
  readonly predictions: string;
  readonly errors: string;
  readonly startedAt?: string;
  readonly endedAt: string;
  readonly failure?: { readonly code: string; readonly message: string };
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

/** Objects in S3 (input, output, the job folder). Implemented over S3 (`functions/adapters/s3-data.ts`). */
export interface DataObjects {
  /** Size and ETag, or `undefined` when there is no such object. */
  head(ref: ObjectRef): Promise<{ size: number; etag?: string } | undefined>;
  /**
   * Objects under `prefix` in key order, at most `limit`; `more` when there are others after
   * them (known without reading further pages).
   */
  list(bucket: string, prefix: string, limit: number): Promise<{ files: InputFile[]; more: boolean }>;
  /**
   * Bytes `[start, end)` of an object. With `etag`, only of that version of it: another version
   * throws a 409 `OBJECT_CHANGED` (S3 checks `If-Match`; the answer's ETag is checked too).
   */
  range(ref: ObjectRef, start: number, end: number, etag?: string): Promise<Uint8Array>;
  /** The whole object as a stream of chunks. */
  stream(ref: ObjectRef): AsyncIterable<Uint8Array>;
  /** Writes a whole object. */
  put(ref: ObjectRef, body: string | Uint8Array, contentType: string): Promise<void>;
  /** Writes an object from a stream of chunks (multipart for large ones). */
  upload(ref: ObjectRef, body: AsyncIterable<string | Uint8Array>, contentType: string): Promise<void>;
  /** The object's text, or `undefined` when there is no such object. */
  text(ref: ObjectRef): Promise<string | undefined>;
  /** Keys under `prefix`, in key order (all of them). */
  keys(bucket: string, prefix: string): Promise<string[]>;
  presignGet(ref: ObjectRef, seconds: number): Promise<string>;
  presignPut(ref: ObjectRef, seconds: number, contentType?: string): Promise<string>;
}

/** The job table (`BatchJobs`). */
export interface BatchJobStore {
  /**
   * Stores a new job. With `tokenKey`, also records that the token made it, in one transaction:
   * when the token has made a job already, nothing is written and that job is returned with
   * `created: false`.
   */
  create(job: BatchJob, tokenKey?: string): Promise<{ created: boolean; job: BatchJob }>;
  get(model: string, jobId: string): Promise<BatchJob | undefined>;
  /** The job a token made (`create`'s `tokenKey`), if any. */
  findByToken(model: string, tokenKey: string): Promise<BatchJob | undefined>;
  /** Newest first. */
  list(model: string, options: { limit: number; cursor?: string; state?: JobState }): Promise<{ jobs: BatchJob[]; cursor?: string }>;
  /**
   * Applies `change` when the job is in one of `from` (ConflictError `JOB_STATE_CHANGED`
   * otherwise), removing the `remove` fields, raising its revision; returns the job as written.
   */
  update(
    model: string,
    jobId: string,
    from: readonly JobState[],
    change: JobChange,
    remove?: readonly ('failure' | 'endedAt')[],
  ): Promise<BatchJob>;
  /** Adds a batch's counts to `progress` (atomic counters). */
  addProgress(model: string, jobId: string, delta: { rowsRead: number; predicted: number; failed: number }): Promise<void>;
  /** Jobs in SUBMITTED or RUNNING, across models (the local runner resumes them at start). */
  listActive(): Promise<BatchJob[]>;
}

export type JobChange = Partial<Pick<BatchJob, 'state' | 'startedAt' | 'endedAt' | 'failure' | 'executionId' | 'rows' | 'progress'>>;

/** Runs a job's workflow: Step Functions on AWS, `local/batch-runner.ts` locally. */
export interface JobRunner {
  /** Starts the workflow; idempotent by `jobId` (a second start of the same job starts nothing). */
  start(input: WorkflowInput): Promise<{ executionId: string }>;
  /** Stops a running workflow (no-op when it has ended). */
  stop(executionId: string, reason: string): Promise<void>;
  /** Where the workflow is: RUNNING, or how it ended. */
  status(
    executionId: string,
  ): Promise<{ status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'UNKNOWN'; error?: string; cause?: string }>;
}

// ---------------------------------------------------------------------------------------------
// The workflow's fixed numbers: the state machine (lib/batch-jobs.ts) and its local emulation
// (local/batch-runner.ts) both read them from here, so the two cannot drift apart.
// ---------------------------------------------------------------------------------------------

/** Step Functions' payload quota: a task result, a state, a child's input (bytes of UTF-8 JSON). */
export const PAYLOAD_QUOTA_BYTES = 262_144;
/** ItemBatcher MaxInputBytesPerBatch: a child execution's input is at most the payload quota. */
export const MAX_INPUT_BYTES_PER_BATCH = PAYLOAD_QUOTA_BYTES;

/** Retry `ErrorEquals` of the Plan and RecordPlanFailure tasks: Lambda's own transient errors. */
export const PLAN_RETRY_ERRORS: readonly string[] = [
  'Lambda.ServiceException',
  'Lambda.TooManyRequestsException',
  'Lambda.SdkClientException',
];
/** Retry `ErrorEquals` of the Assemble tasks. */
export const ASSEMBLE_RETRY_ERRORS: readonly string[] = [...PLAN_RETRY_ERRORS, 'Lambda.AWSLambdaException'];
/**
 * Retry `ErrorEquals` of the item processor's task: Lambda's own errors, a batch function that
 * timed out (`Sandbox.Timedout`), and the batch function's own-side failures. A batch's retry
 * rewrites the same parts, so it never duplicates a row.
 */
export const BATCH_RETRY_ERRORS: readonly string[] = [
  ...ASSEMBLE_RETRY_ERRORS,
  'Sandbox.Timedout',
  'Batch.REGISTRY_UNAVAILABLE',
  'Batch.INTERNAL',
  'Batch.ARTIFACT_UNAVAILABLE',
];
/** Every Retry block: 3 more attempts, after 2 s, 4 s, 8 s. */
export const RETRY_TIMING = { maxAttempts: 3, intervalSeconds: 2, backoffRate: 2 } as const;
/** The Fail state's error when a job ends FAILED (plan failure, or the assemble step judged it). */
export const JOB_FAILED_ERROR = 'BatchJobFailed';
/** The Fail state's cause: where to read why. */
export const JOB_FAILED_CAUSE = 'The job ended FAILED; its record (GET /v1/models/{model}/batch-jobs/{job}) says why.';
