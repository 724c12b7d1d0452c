/**
 * The job API's core (issue 11): submit, read, list and cancel batch jobs, and presigned uploads
 * of input files. Talks to ports only: the registry, the job table, S3 objects and the workflow
 * runner (Step Functions on AWS, its emulation locally). The shapes are in `batch-contract.ts`.
 *
 * A submission checks everything it can before any work starts, in this order, each refusal a
 * 4xx with a stable code: the options' bounds (400 `INVALID_BATCH_JOB`), the locations (403
 * `BATCH_LOCATION_NOT_ALLOWED`: input and output must lie under the model's allowed S3
 * prefixes, `BATCH_LOCATIONS`), the version (404 `VERSION_NOT_FOUND` / `NO_PRODUCTION_VERSION`),
 * the input (404 `INPUT_NOT_FOUND`, 400 `TOO_MANY_INPUT_FILES`, 400 `UNKNOWN_FORMAT`), its first
 * bytes (400 `INPUT_UNREADABLE`, `EMPTY_INPUT`) and that its columns carry the model's features
 * (400 `MISSING_FEATURES`, naming them). Columns the model does not take are recorded as
 * `input.ignoredColumns` and read past.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  BATCH_FORMATS,
  FINAL_STATES,
  JOB_FILES,
  type BatchFormat,
  type BatchJob,
  type BatchJobStore,
  type DataObjects,
  type InputFile,
  type JobOptions,
  type JobRunner,
  type JobState,
  type ObjectRef,
  type WorkflowInput,
} from './batch-contract.js';
import { AppError, clip, ConflictError, NotFoundError, ServiceUnavailableError, ValidationError, type FieldPath } from './errors.js';
import { recordLayout } from './codec/decode.js';
import { checkNoStoredFeatures, onlinePlan } from './features/online.js';
import { excerpt, UNPAIRED_SURROGATE } from './codec/limits.js';
import type { ModelVersion } from './model.js';
import type { ModelRegistry } from './ports.js';
import { newTimeSortedId } from './names.js';

/**
 * Where a model's jobs may read and write: S3 URIs of prefixes (`s3://bucket/prefix/`), by model
 * name, or under `*` for every model without an entry of its own.
 */
export interface BatchLocation {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}
export type BatchLocations = Readonly<Record<string, BatchLocation>>;

/** What a caller submits (the job API's body, parsed). */
export interface SubmitJobRequest {
  readonly model: string;
  readonly input: { readonly uri: string; readonly format?: BatchFormat };
  readonly output: { readonly uri: string };
  readonly version?: string;
  readonly rowsPerBatch?: number;
  readonly maxConcurrency?: number;
  readonly toleratedFailurePercentage?: number;
  readonly clientToken?: string;
  /** Who submits (the token's subject). */
  readonly caller: string;
}

export interface BatchJobsConfig {
  /** Largest `rowsPerBatch` (the batch function's MAX_ROWS). */
  readonly maxRowsPerBatch: number;
  /** Largest `maxConcurrency` a job may ask for (`BATCH_MAX_CONCURRENCY`). @default 100 */
  readonly maxConcurrency: number;
  /** Most input files under a prefix. @default 1000 */
  readonly maxInputFiles?: number;
  /** Seconds a presigned link (upload, result download) stays valid. @default 3600 */
  readonly linkSeconds?: number;
}

export interface BatchJobsDeps {
  readonly registry: ModelRegistry;
  readonly store: BatchJobStore;
  readonly objects: DataObjects;
  readonly runner: JobRunner;
  readonly locations: BatchLocations;
  /** Reads the beginning of the input: its columns (`batch-input.ts` `inspectInput`). */
  readonly inspect: (objects: DataObjects, files: readonly InputFile[], format: BatchFormat) => Promise<{ columns: string[] }>;
  readonly config: BatchJobsConfig;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Defaults of a job's options (`JobOptions`). */
export const DEFAULT_JOB_OPTIONS: JobOptions = { rowsPerBatch: 500, maxConcurrency: 10, toleratedFailurePercentage: 0 };

const DEFAULT_MAX_INPUT_FILES = 1_000;
/** Characters of the input's file list as JSON, at most (well under Step Functions' 256 KiB input). */
const MAX_FILE_LIST_CHARS = 160_000;
const DEFAULT_LINK_SECONDS = 3_600;
/** A job its workflow never started is read as FAILED after this long (ms). */
export const UNSTARTED_JOB_MS = 5 * 60_000;
/** The smallest tolerance but 0, in percent (one row in a hundred million). */
export const MIN_TOLERANCE = 0.000001;
/** Column names a job shows at most (of `columns` and of `ignoredColumns` each); the counts are complete. */
export const COLUMNS_SHOWN = 100;
/** Failed jobs show at most this many of their error records. */
export const ERROR_SAMPLE_SIZE = 10;
/** Names a message lists before "and N more". */
const NAMES_SHOWN = 10;

/** The format a file name's extension names, if any. */
export function formatOfKey(key: string): BatchFormat | undefined {
  const lower = key.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.parquet')) return 'parquet';
  return undefined;
}

/** Bucket names as S3 allows them (3-63 of a-z, 0-9, `.`, `-`); keys up to 1,024 bytes. */
const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/s;

/** `s3://bucket/key` → `{ bucket, key }`; 400 `INVALID_BATCH_JOB` at `path` otherwise. */
export function parseS3Uri(uri: string, path: FieldPath): ObjectRef {
  const match = S3_URI.exec(uri);
  const key = match?.[2] ?? '';
  // No control characters and no unpaired surrogates: S3 keys are UTF-8, which cannot spell one.
  if (!match || Buffer.byteLength(key) > 1_024 || /[\u0000-\u001f\u007f]/.test(key) || UNPAIRED_SURROGATE.test(key)) {
    throw new ValidationError(
      'INVALID_BATCH_JOB',
      `${JSON.stringify(excerpt(uri))} is not an S3 URI: write s3://<bucket>/<key> (or s3://<bucket>/<prefix>/ for every object under a prefix).`,
      path,
    );
  }
  // S3 keys are flat names, but "." and ".." segments and "//" mean a path to file systems and
  // S3-compatible servers alike: refused, so a location check cannot be walked around.
  const segments = key.split('/');
  if (
    segments.some(
      (segment, i) =>
        segment === '.' ||
        segment === '..' ||
        (segment === '' && i > 0 && i < segments.length - 1) ||
        (segment === '' && i === 0 && key !== ''),
    )
  ) {
    throw new ValidationError(
      'INVALID_BATCH_JOB',
      `${JSON.stringify(excerpt(uri))} has an empty, "." or ".." path segment; name the object or prefix as it is, without "//", "./" or "../".`,
      path,
    );
  }
  return { bucket: match[1] as string, key };
}

export function s3Uri(ref: ObjectRef): string {
  return `s3://${ref.bucket}/${ref.key}`;
}

/** Whether `ref` lies under one of `prefixes` (S3 URIs of prefixes). */
function allowedUnder(ref: ObjectRef, prefixes: readonly string[]): boolean {
  return prefixes.some((uri) => {
    const match = S3_URI.exec(uri);
    return match !== null && match[1] === ref.bucket && ref.key.startsWith(match[2] ?? '');
  });
}

/** A new job id: time-sortable to the millisecond (`job-20261130t120501123z-7f3k9q2m1x`), lower-case. */
export function newJobId(now: Date): string {
  return newTimeSortedId('job', now);
}

/**
 * Submits, reads, lists and cancels batch jobs.
 *
 * @example
 * const { job, created } = await jobs.submit({ model: 'iris', input: { uri: 's3://data/iris.csv' }, output: { uri: 's3://data/out/' }, caller: 'alice' });
 */
export class BatchJobService {
  private readonly now: () => Date;

  constructor(private readonly deps: BatchJobsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Submits a job, or returns the job its client token made already (`created: false`). */
  async submit(request: SubmitJobRequest): Promise<{ job: BatchJob; created: boolean }> {
    const options = this.options(request);
    const location = this.location(request.model);
    const inputRef = parseS3Uri(request.input.uri, ['input', 'uri']);
    const outputRef = parseS3Uri(request.output.uri, ['output', 'uri']);
    if (!outputRef.key.endsWith('/') && outputRef.key !== '') {
      throw new ValidationError(
        'INVALID_BATCH_JOB',
        'The output is a prefix: end it with "/" (s3://<bucket>/<prefix>/); the job writes its folder under it.',
        ['output', 'uri'],
      );
    }
    if (!allowedUnder(inputRef, location.inputs)) throw notAllowed(request.model, 'input', request.input.uri, location.inputs);
    if (!allowedUnder(outputRef, location.outputs)) throw notAllowed(request.model, 'output', request.output.uri, location.outputs);

    const digest = requestDigest(request, options);
    const tokenKey = request.clientToken === undefined ? undefined : tokenKeyOf(request.caller, request.model, request.clientToken);
    if (tokenKey) {
      const existing = await this.deps.store.findByToken(request.model, tokenKey);
      if (existing) return { job: await this.resumeSubmission(sameRequest(existing, digest)), created: false };
    }

    const version = await this.version(request.model, request.version);
    const files = await this.files(inputRef);
    const format = request.input.format ?? this.formatOf(files, inputRef);
    const { columns } = await this.deps.inspect(this.deps.objects, files, format);
    // A version with online features takes its entity keys and request-time features (the rest is read by key).
    const online = onlinePlan(version.signature, version.metadata);
    const names = (online?.requestLayout ?? recordLayout(version.signature, version.metadata)).index.names;
    const missing = names.filter((name) => !columns.includes(name));
    if (missing.length > 0) {
      const what = format === 'jsonl' ? 'first record' : format === 'csv' ? 'header' : 'schema';
      // A header read as one column that holds another separator: say which.
      const separator = format === 'csv' && columns.length === 1 ? /[;\t|]/.exec(columns[0] ?? '')?.[0] : undefined;
      const hint =
        separator === undefined
          ? ''
          : ` Its header is one column holding ${JSON.stringify(separator)}: only commas separate CSV fields here; write the file with commas.`;
      throw new ValidationError(
        'MISSING_FEATURES',
        `The input's ${what} lacks ${missing.length} of the ${names.length} fields model "${request.model}" v${version.version} takes: ${listed(missing)}. It has: ${listed(columns)}.${hint}`,
        ['input', 'uri'],
      );
    }

    if (online) {
      // A column the store fills would be ignored, its values silently replaced by the stored ones.
      const row = Object.fromEntries(columns.map((c) => [c, true]));
      try {
        checkNoStoredFeatures(online, { records: [row], pathOf: () => ['input'] });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        const what = format === 'jsonl' ? 'first record' : format === 'csv' ? 'header' : 'schema';
        throw new ValidationError(error.code, `The input's ${what} has a column this version fills itself. ${error.message}`, [
          'input',
          'uri',
        ]);
      }
    }
    const ignored = columns.filter((c) => !names.includes(c));

    const submittedAt = this.now();
    const jobId = newJobId(submittedAt);
    const folder: ObjectRef = { bucket: outputRef.bucket, key: `${outputRef.key}${jobId}/` };
    const job: BatchJob = {
      jobId,
      model: request.model,
      modelVersion: version.version,
      state: 'SUBMITTED',
      input: {
        uri: request.input.uri,
        format,
        files,
        columns: columns.slice(0, COLUMNS_SHOWN).map(excerpt),
        columnCount: columns.length,
        ignoredColumns: ignored.slice(0, COLUMNS_SHOWN).map(excerpt),
        ignoredColumnCount: ignored.length,
      },
      output: {
        uri: s3Uri(folder),
        predictions: s3Uri({ ...folder, key: folder.key + JOB_FILES.predictions }),
        errors: s3Uri({ ...folder, key: folder.key + JOB_FILES.errors }),
        manifest: s3Uri({ ...folder, key: folder.key + JOB_FILES.manifest }),
      },
      options,
      progress: { rowsRead: 0, predicted: 0, failed: 0 },
      submittedBy: request.caller,
      submittedAt: submittedAt.toISOString(),
      ...(request.clientToken === undefined ? {} : { clientToken: request.clientToken }),
      requestDigest: digest,
      revision: 1,
    };
    const stored = await this.deps.store.create(job, tokenKey);
    if (!stored.created) return { job: await this.resumeSubmission(sameRequest(stored.job, digest)), created: false };
    return { job: await this.start(stored.job), created: true };
  }

  /** A job; a RUNNING job whose workflow has ended without recording it is marked FAILED here. */
  async get(model: string, jobId: string): Promise<BatchJob> {
    const job = await this.deps.store.get(model, jobId);
    if (!job) throw new NotFoundError('JOB_NOT_FOUND', `Model "${model}" has no batch job ${JSON.stringify(excerpt(jobId))}.`, ['job']);
    return this.reconcile(job);
  }

  /** Presigned GET links to an ended job's outputs (valid `linkSeconds`). */
  async links(job: BatchJob): Promise<{ predictions: string; errors: string; manifest: string } | undefined> {
    if (job.state !== 'SUCCEEDED' && job.state !== 'FAILED') return undefined;
    const seconds = this.deps.config.linkSeconds ?? DEFAULT_LINK_SECONDS;
    const sign = (uri: string) => this.deps.objects.presignGet(parseS3Uri(uri, []), seconds);
    const [predictions, errors, manifest] = await Promise.all([
      sign(job.output.predictions),
      sign(job.output.errors),
      sign(job.output.manifest),
    ]);
    return { predictions, errors, manifest };
  }

  async list(
    model: string,
    options: { limit?: number; cursor?: string; state?: JobState },
  ): Promise<{ jobs: BatchJob[]; cursor?: string }> {
    return this.deps.store.list(model, {
      limit: options.limit ?? 20,
      ...(options.cursor ? { cursor: options.cursor } : {}),
      ...(options.state ? { state: options.state } : {}),
    });
  }

  /**
   * Cancels a job that has not ended: the job ends CANCELLED (one conditional write, so of
   * concurrent cancels exactly one succeeds and the others answer 409 `JOB_ALREADY_ENDED`), then
   * its workflow is stopped. A workflow step that ends meanwhile finds the job CANCELLED and
   * leaves it so.
   */
  async cancel(model: string, jobId: string, caller: string, reason?: string): Promise<BatchJob> {
    const job = await this.deps.store.get(model, jobId);
    if (!job) throw new NotFoundError('JOB_NOT_FOUND', `Model "${model}" has no batch job ${JSON.stringify(excerpt(jobId))}.`, ['job']);
    if (FINAL_STATES.includes(job.state)) throw alreadyEnded(job);
    let cancelled: BatchJob;
    try {
      cancelled = await this.deps.store.update(model, jobId, ['SUBMITTED', 'RUNNING'], {
        state: 'CANCELLED',
        endedAt: this.now().toISOString(),
        failure: { code: 'CANCELLED', message: `Cancelled by ${excerpt(caller)}${reason ? `: ${clip(reason, 200)}` : '.'}` },
      });
    } catch (error) {
      if (error instanceof ConflictError) throw alreadyEnded((await this.deps.store.get(model, jobId)) ?? job);
      throw error;
    }
    if (job.executionId) await this.deps.runner.stop(job.executionId, reason ?? `cancelled by ${caller}`);
    return cancelled;
  }

  /**
   * A presigned PUT for an input file, under the model's first allowed input location
   * (`<prefix>uploads/<uuid>/<fileName>`).
   */
  async createInputUpload(model: string, fileName: string): Promise<{ uploadUrl: string; uri: string; expiresAt: string }> {
    const location = this.location(model);
    const first = location.inputs[0];
    if (first === undefined) throw notAllowed(model, 'input', '', []);
    const base = parseS3Uri(first, []);
    const ref: ObjectRef = { bucket: base.bucket, key: `${base.key}uploads/${randomUUID()}/${fileName}` };
    const seconds = this.deps.config.linkSeconds ?? DEFAULT_LINK_SECONDS;
    const uploadUrl = await this.deps.objects.presignPut(ref, seconds);
    return { uploadUrl, uri: s3Uri(ref), expiresAt: new Date(this.now().getTime() + seconds * 1000).toISOString() };
  }

  private options(request: SubmitJobRequest): JobOptions {
    const { maxRowsPerBatch, maxConcurrency } = this.deps.config;
    const whole = (value: number | undefined, fallback: number, min: number, max: number, field: string, what: string): number => {
      if (value === undefined) return fallback;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        throw new ValidationError('INVALID_BATCH_JOB', `"${field}" must be a whole number from ${min} to ${max} (${what}).`, [field]);
      }
      return value;
    };
    const tolerance = request.toleratedFailurePercentage;
    if (
      tolerance !== undefined &&
      !(Number.isFinite(tolerance) && tolerance >= 0 && tolerance <= 100 && (tolerance === 0 || tolerance >= MIN_TOLERANCE))
    ) {
      throw new ValidationError(
        'INVALID_BATCH_JOB',
        `"toleratedFailurePercentage" must be 0, or a number from ${MIN_TOLERANCE} to 100 (percent of the input's rows that may fail).`,
        ['toleratedFailurePercentage'],
      );
    }
    return {
      rowsPerBatch: whole(
        request.rowsPerBatch,
        Math.min(DEFAULT_JOB_OPTIONS.rowsPerBatch, maxRowsPerBatch),
        1,
        maxRowsPerBatch,
        'rowsPerBatch',
        "records per batch, the function's MAX_ROWS at most",
      ),
      maxConcurrency: whole(
        request.maxConcurrency,
        Math.min(DEFAULT_JOB_OPTIONS.maxConcurrency, maxConcurrency),
        1,
        maxConcurrency,
        'maxConcurrency',
        "batches in flight at once, this deployment's BATCH_MAX_CONCURRENCY at most",
      ),
      toleratedFailurePercentage: tolerance ?? DEFAULT_JOB_OPTIONS.toleratedFailurePercentage,
    };
  }

  private location(model: string): BatchLocation {
    const locations = this.deps.locations;
    const location = Object.hasOwn(locations, model) ? locations[model] : Object.hasOwn(locations, '*') ? locations['*'] : undefined;
    if (!location || location.inputs.length === 0 || location.outputs.length === 0) {
      throw new AppError(
        403,
        'BATCH_LOCATION_NOT_ALLOWED',
        `Batch jobs of model "${model}" are not allowed on this deployment: its endpoint config names no batch input and output locations (endpoints[].batch.inputs / outputs).`,
        ['model'],
      );
    }
    return location;
  }

  private async version(model: string, requested: string | undefined): Promise<ModelVersion> {
    const registry = this.deps.registry;
    let versionId = requested;
    try {
      if (versionId === undefined) {
        const record = await registry.getModel(model);
        if (!record) throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is registered.`, ['model']);
        if (!record.productionVersion)
          throw new NotFoundError(
            'NO_PRODUCTION_VERSION',
            `Model "${model}" has no production version; name one with "version", or promote one first.`,
            ['version'],
          );
        versionId = record.productionVersion;
      }
      const version = await registry.getVersion(model, versionId);
      if (!version) throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${excerpt(versionId)}.`, ['version']);
      return version;
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError('REGISTRY_UNAVAILABLE', `The registry could not be read for "${model}".`, { cause: error });
    }
  }

  /** The input's files: the object, or every object under the prefix (key order). */
  private async files(ref: ObjectRef): Promise<InputFile[]> {
    const objects = this.deps.objects;
    if (ref.key === '' || ref.key.endsWith('/')) {
      const limit = this.deps.config.maxInputFiles ?? DEFAULT_MAX_INPUT_FILES;
      const listed = await objects.list(ref.bucket, ref.key, limit);
      const more = listed.more;
      const files = listed.files.filter((file) => !file.key.endsWith('/'));
      if (files.length === 0)
        throw new NotFoundError('INPUT_NOT_FOUND', `No object lies under ${JSON.stringify(excerpt(s3Uri(ref)))}.`, ['input', 'uri']);
      if (more || files.length > limit) {
        throw new ValidationError(
          'TOO_MANY_INPUT_FILES',
          `More than ${limit} objects lie under ${JSON.stringify(excerpt(s3Uri(ref)))}; a job reads at most ${limit} files: merge them, or submit a job per sub-prefix.`,
          ['input', 'uri'],
        );
      }
      // The list travels in the workflow's input (Step Functions takes at most 256 KiB) and the job's record.
      if (JSON.stringify(files).length > MAX_FILE_LIST_CHARS) {
        throw new ValidationError(
          'TOO_MANY_INPUT_FILES',
          `The ${files.length} objects under ${JSON.stringify(excerpt(s3Uri(ref)))} have keys too long to list in one job (${MAX_FILE_LIST_CHARS} characters in all): submit a job per sub-prefix.`,
          ['input', 'uri'],
        );
      }
      return files;
    }
    const head = await objects.head(ref);
    if (!head) throw new NotFoundError('INPUT_NOT_FOUND', `There is no object ${JSON.stringify(excerpt(s3Uri(ref)))}.`, ['input', 'uri']);
    return [{ bucket: ref.bucket, key: ref.key, size: head.size, ...(head.etag ? { etag: head.etag } : {}) }];
  }

  private formatOf(files: readonly InputFile[], ref: ObjectRef): BatchFormat {
    const formats = new Set(files.map((file) => formatOfKey(file.key)));
    const [only] = formats;
    if (formats.size === 1 && only !== undefined) return only;
    throw new ValidationError(
      'UNKNOWN_FORMAT',
      `Cannot tell the format of ${JSON.stringify(excerpt(s3Uri(ref)))} from ${formats.size > 1 ? "its files' mixed extensions" : 'its extension'}: give "input.format" (${BATCH_FORMATS.join(', ')}).`,
      ['input', 'format'],
    );
  }

  /** Starts the workflow of a stored job, then records it RUNNING (unless it moved on already). */
  async start(job: BatchJob): Promise<BatchJob> {
    const input = workflowInputOf(job);
    let executionId: string;
    try {
      ({ executionId } = await this.deps.runner.start(input));
    } catch (error) {
      // The job stays SUBMITTED: a retry with its client token starts it; unstarted for
      // UNSTARTED_JOB_MS, it is read as FAILED (see reconcile).
      throw new ServiceUnavailableError('WORKFLOW_START_FAILED', `The workflow of job ${job.jobId} could not be started.`, {
        cause: error,
      });
    }
    try {
      return await this.deps.store.update(job.model, job.jobId, ['SUBMITTED'], {
        state: 'RUNNING',
        executionId,
        startedAt: this.now().toISOString(),
      });
    } catch (error) {
      // The workflow recorded its own progress first (a fast job): show what it wrote.
      if (error instanceof ConflictError) return (await this.deps.store.get(job.model, job.jobId)) ?? job;
      throw error;
    }
  }

  /**
   * A job found by its client token: started when its first submission never started it (the
   * workflow could not be started, or the process died in between), whatever its age.
   */
  private async resumeSubmission(job: BatchJob): Promise<BatchJob> {
    if (job.state === 'SUBMITTED' && job.executionId === undefined) return this.start(job);
    if (job.state === 'FAILED' && job.failure?.code === 'WORKFLOW_START_FAILED') {
      const again = await this.deps.store.update(job.model, job.jobId, ['FAILED'], { state: 'SUBMITTED' }, ['failure', 'endedAt']);
      return this.start(again);
    }
    return this.reconcile(job);
  }

  private async reconcile(job: BatchJob): Promise<BatchJob> {
    if (job.state === 'SUBMITTED' && !job.executionId && this.now().getTime() - Date.parse(job.submittedAt) > UNSTARTED_JOB_MS) {
      return this.deps.store
        .update(job.model, job.jobId, ['SUBMITTED'], {
          state: 'FAILED',
          endedAt: this.now().toISOString(),
          failure: {
            code: 'WORKFLOW_START_FAILED',
            message: "The job's workflow could not be started; submit it again (with its client token, this same job starts).",
          },
        })
        .catch((error: unknown) => {
          if (error instanceof ConflictError) return this.deps.store.get(job.model, job.jobId).then((current) => current ?? job);
          throw error;
        });
    }
    if (job.state !== 'RUNNING' || !job.executionId) return job;
    const { status, error, cause } = await this.deps.runner.status(job.executionId);
    if (status === 'RUNNING' || status === 'UNKNOWN' || status === 'SUCCEEDED') return job;
    try {
      return await this.deps.store.update(job.model, job.jobId, ['RUNNING'], {
        state: status === 'ABORTED' ? 'CANCELLED' : 'FAILED',
        endedAt: this.now().toISOString(),
        failure: {
          code: `WORKFLOW_${status}`,
          message: `The job's workflow ended ${status}${error ? ` (${excerpt(error)})` : ''}${cause ? `: ${clip(cause, 300)}` : ''}.`,
        },
      });
    } catch (conflict) {
      if (conflict instanceof ConflictError) return (await this.deps.store.get(job.model, job.jobId)) ?? job;
      throw conflict;
    }
  }
}

/** The state machine's input for a job. */
export function workflowInputOf(job: BatchJob): WorkflowInput {
  const folder = parseS3Uri(job.output.uri, []);
  return {
    jobId: job.jobId,
    model: job.model,
    version: job.modelVersion,
    format: job.input.format,
    files: job.input.files,
    output: { bucket: folder.bucket, prefix: folder.key },
    options: job.options,
    ...(job.replay ? { replay: job.replay } : {}),
  };
}

function notAllowed(model: string, which: 'input' | 'output', uri: string, allowed: readonly string[]): AppError {
  const where =
    allowed.length === 0
      ? 'none is configured'
      : `allowed: ${allowed
          .slice(0, NAMES_SHOWN)
          .map((a) => JSON.stringify(a))
          .join(', ')}`;
  return new AppError(
    403,
    'BATCH_LOCATION_NOT_ALLOWED',
    `Jobs of model "${model}" may not ${which === 'input' ? 'read' : 'write'} ${JSON.stringify(excerpt(uri))} (${where}).`,
    [which, 'uri'],
  );
}

function alreadyEnded(job: BatchJob): ConflictError {
  return new ConflictError('JOB_ALREADY_ENDED', `Job ${job.jobId} has ended ${job.state}; there is nothing to cancel.`, ['job']);
}

function listed(names: readonly string[]): string {
  const shown = names
    .slice(0, NAMES_SHOWN)
    .map((n) => JSON.stringify(excerpt(n)))
    .join(', ');
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown || '(none)';
}

/** The token's key in the job table: a digest, so tokens of any characters make a bounded key. */
function tokenKeyOf(caller: string, model: string, token: string): string {
  return createHash('sha256').update(`${caller}\u0000${model}\u0000${token}`).digest('hex');
}

/** What a request asks for, defaults filled in: a retry that writes them out asks for the same. */
function requestDigest(request: SubmitJobRequest, options: JobOptions): string {
  const format = request.input.format ?? formatOfKey(request.input.uri) ?? null;
  const asked = {
    input: { uri: request.input.uri, format },
    output: { uri: request.output.uri },
    version: request.version ?? null,
    options,
  };
  return createHash('sha256').update(JSON.stringify(asked)).digest('hex').slice(0, 32);
}

function sameRequest(job: BatchJob, digest: string): BatchJob {
  if (job.requestDigest !== undefined && job.requestDigest !== digest) {
    throw new ConflictError(
      'CLIENT_TOKEN_REUSED',
      `The client token made job ${job.jobId} with a different request; use a new token for a new job.`,
      ['clientToken'],
    );
  }
  return job;
}
