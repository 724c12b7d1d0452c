/**
 * Replays (issue 13, item 5): `POST /v1/models/{model}/replays` re-runs the captured requests of
 * a window against any registered version and reports agreement. A replay is a batch job of
 * format `capture` (`functions/core/batch-contract.ts`): the same job record, table, workflow
 * (plan → Distributed Map of splits → assemble), progress, cancel and `GET` routes, so it
 * scales as a batch job does. What differs: its input is the capture files of the window,
 * listed here at submission; its plan keeps the window's records (`plan.ts`); its worker replays
 * and compares (`worker.ts`, `compare.ts`); its assembly writes `replay.json` (`report.ts`).
 *
 * Its files go to the capture bucket, under `replays/<model>/<jobId>/`: beside the records they
 * are made of, under the same access and retention, and whatever the model's batch locations.
 *
 * A submission checks, each refusal a 4xx: the window (400 `INVALID_WINDOW`: `since` a duration
 * such as `1h` or an ISO-8601 time with its zone, not in the future; `until` after it; at most
 * {@link MAX_REPLAY_WINDOW_DAYS} days), the target and source versions (404 `MODEL_NOT_FOUND`,
 * `VERSION_NOT_FOUND`), the bounds (400 `INVALID_REPLAY`), then lists the capture files of the
 * window's UTC days for each source version: none is 404 `NO_CAPTURED_REQUESTS` (a window whose
 * files hold no record inside it is no refusal: that replay ends with an empty report), more
 * than {@link MAX_CAPTURE_FILES} is 400 `TOO_MANY_CAPTURE_FILES`.
 */
import {
  CAPTURE_FORMAT,
  FINAL_STATES,
  JOB_FILES,
  type BatchJob,
  type BatchJobStore,
  type DataObjects,
  type InputFile,
  type ObjectRef,
  type ReplaySpec,
} from '../batch-contract.js';
import { newJobId, parseS3Uri, s3Uri } from '../batch-jobs.js';
import { capturePrefix, utcDays } from '../capture.js';
import { AppError, InternalError, NotFoundError, ServiceUnavailableError, ValidationError } from '../errors.js';
import type { ModelVersion } from '../model.js';
import type { ModelRegistry } from '../ports.js';
import { excerpt } from '../codec/limits.js';
import type { ReplayReport } from './compare.js';

/** Where replays write, in the capture bucket. */
export const REPLAY_ROOT = 'replays/';
/** Most captured requests one replay re-runs (the default of `maxRequests`). */
export const MAX_REPLAY_REQUESTS = 100_000;
/** Longest window, in days: the capture bucket's default retention is 30. */
export const MAX_REPLAY_WINDOW_DAYS = 31;
/**
 * Most capture files one replay reads: their list travels in the workflow's input, under Step
 * Functions' 256 KiB (the batch jobs' bound too).
 */
export const MAX_CAPTURE_FILES = 1_000;
/** Characters of the file list as JSON, at most. */
const MAX_FILE_LIST_CHARS = 160_000;
/** Listings in flight at once (one per source version and day). */
const LIST_CONCURRENCY = 8;
const DAY_MS = 86_400_000;
/** Units of a `since` duration, in ms. */
const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: DAY_MS };
const DURATION = /^([1-9][0-9]{0,5})([smhd])$/;
/** ISO-8601 date and time with its zone (`Z` or `±hh:mm`); seconds and fractions optional. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** A replay as submitted (the route's body, parsed, and the caller). */
export interface ReplayRequest {
  readonly model: string;
  /** The target version. */
  readonly version: string;
  /** `1h`, `30m`, `2d`, `90s` back from now, or an ISO-8601 time with its zone. */
  readonly since: string;
  /** ISO-8601 time with its zone. @default now */
  readonly until?: string;
  /** @default every version of the model with captured files in the window */
  readonly sourceVersions?: readonly string[];
  /** 1 to {@link MAX_REPLAY_REQUESTS}. @default {@link MAX_REPLAY_REQUESTS} */
  readonly maxRequests?: number;
  readonly rowsPerBatch?: number;
  readonly maxConcurrency?: number;
  readonly caller: string;
}

export interface ReplayServiceDeps {
  readonly registry: ModelRegistry;
  readonly store: BatchJobStore;
  readonly objects: DataObjects;
  /** Starts a stored job's workflow (`BatchJobService.start`). */
  readonly start: (job: BatchJob) => Promise<BatchJob>;
  /** `CAPTURE_BUCKET`: the records read, and where replays write. */
  readonly captureBucket: string;
  readonly config: {
    /** Largest `rowsPerBatch` (the batch function's MAX_ROWS). */
    readonly maxRowsPerBatch: number;
    /** Largest `maxConcurrency` (`BATCH_MAX_CONCURRENCY`). */
    readonly maxConcurrency: number;
  };
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** Defaults of a replay's batch options: requests per batch (one `session.run`), batches in flight. */
export const DEFAULT_REPLAY_OPTIONS = { rowsPerBatch: 500, maxConcurrency: 10 } as const;

/**
 * Submits replays and reads their reports.
 *
 * @example
 * const job = await replays.submit({ model: 'iris', version: '2', since: '1h', caller: 'alice' });
 * // later, once job.state is SUCCEEDED: (await replays.report(job))?.labels?.share
 */
export class ReplayService {
  private readonly now: () => Date;

  constructor(private readonly deps: ReplayServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Stores the replay's job and starts its workflow; the job is answered RUNNING (or further on). */
  async submit(request: ReplayRequest): Promise<BatchJob> {
    const submittedAt = this.now();
    const window = replayWindow(request.since, request.until, submittedAt);
    const maxRequests = request.maxRequests ?? MAX_REPLAY_REQUESTS;
    if (!Number.isSafeInteger(maxRequests) || maxRequests < 1 || maxRequests > MAX_REPLAY_REQUESTS) {
      throw new ValidationError('INVALID_REPLAY', `"maxRequests" must be a whole number from 1 to ${MAX_REPLAY_REQUESTS}.`, [
        'maxRequests',
      ]);
    }
    const options = this.options(request);
    const { target, versions } = await this.versions(request);
    const files = await this.files(request.model, versions, window);
    if (files.length === 0) {
      throw new NotFoundError(
        'NO_CAPTURED_REQUESTS',
        `Model "${request.model}" has no captured requests of version${versions.length === 1 ? '' : 's'} ${versions.join(', ')} between ${window.since} and ${window.until}: turn capture on (PUT /v1/models/${request.model}/capture), or widen the window.`,
        ['since'],
      );
    }
    const sourceVersions = request.sourceVersions
      ? [...versions]
      : versions.filter((v) => files.some((f) => f.key.startsWith(capturePrefix(request.model, v))));
    const jobId = newJobId(submittedAt);
    const folder: ObjectRef = { bucket: this.deps.captureBucket, key: `${REPLAY_ROOT}${request.model}/${jobId}/` };
    const at = (file: string) => s3Uri({ ...folder, key: folder.key + file });
    const replay: ReplaySpec = { since: window.since, until: window.until, sourceVersions, maxRequests };
    const job: BatchJob = {
      jobId,
      model: request.model,
      modelVersion: target.version,
      state: 'SUBMITTED',
      input: {
        uri: s3Uri({ bucket: this.deps.captureBucket, key: capturePrefix(request.model) }),
        format: CAPTURE_FORMAT,
        files,
        columns: [],
        columnCount: 0,
        ignoredColumns: [],
        ignoredColumnCount: 0,
      },
      output: {
        uri: s3Uri(folder),
        predictions: at(JOB_FILES.comparisons),
        errors: at(JOB_FILES.errors),
        manifest: at(JOB_FILES.manifest),
        report: at(JOB_FILES.replayReport),
      },
      // Requests that cannot be replayed are part of the measurement (counted by code in the
      // report), not a failure of the job: every one is tolerated.
      options: { ...options, toleratedFailurePercentage: 100 },
      replay,
      progress: { rowsRead: 0, predicted: 0, failed: 0 },
      submittedBy: request.caller,
      submittedAt: submittedAt.toISOString(),
      revision: 1,
    };
    const stored = await this.deps.store.create(job);
    return this.deps.start(stored.job);
  }

  /**
   * A replay's agreement report, once its job has ended (`undefined` before, for other jobs, and
   * for a replay that ended before its assembly: a plan failure, a cancel).
   *
   * @throws InternalError 500 `STORED_OBJECT_INVALID` when `replay.json` is not JSON.
   */
  async report(job: BatchJob): Promise<ReplayReport | undefined> {
    if (job.input.format !== CAPTURE_FORMAT || !FINAL_STATES.includes(job.state) || !job.output.report) return undefined;
    const ref = parseS3Uri(job.output.report, []);
    const text = await this.deps.objects.text(ref);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as ReplayReport;
    } catch (error) {
      throw new InternalError('STORED_OBJECT_INVALID', `The replay report ${job.output.report} is not JSON.`, { cause: error });
    }
  }

  private options(request: ReplayRequest): { rowsPerBatch: number; maxConcurrency: number } {
    const { maxRowsPerBatch, maxConcurrency } = this.deps.config;
    const whole = (value: number | undefined, fallback: number, max: number, field: string, what: string): number => {
      if (value === undefined) return Math.min(fallback, max);
      if (!Number.isSafeInteger(value) || value < 1 || value > max)
        throw new ValidationError('INVALID_REPLAY', `"${field}" must be a whole number from 1 to ${max} (${what}).`, [field]);
      return value;
    };
    return {
      rowsPerBatch: whole(
        request.rowsPerBatch,
        DEFAULT_REPLAY_OPTIONS.rowsPerBatch,
        maxRowsPerBatch,
        'rowsPerBatch',
        "captured requests per batch, the batch function's MAX_ROWS at most",
      ),
      maxConcurrency: whole(
        request.maxConcurrency,
        DEFAULT_REPLAY_OPTIONS.maxConcurrency,
        maxConcurrency,
        'maxConcurrency',
        "batches in flight at once, this deployment's BATCH_MAX_CONCURRENCY at most",
      ),
    };
  }

  /** The target version and the source versions (given, or every registered one), all checked. */
  private async versions(request: ReplayRequest): Promise<{ target: ModelVersion; versions: string[] }> {
    const registry = this.deps.registry;
    try {
      if (!(await registry.getModel(request.model)))
        throw new NotFoundError('MODEL_NOT_FOUND', `No model named "${request.model}" is registered.`, ['model']);
      const target = await registry.getVersion(request.model, request.version);
      if (!target)
        throw new NotFoundError(
          'VERSION_NOT_FOUND',
          `Model "${request.model}" has no version ${excerpt(request.version)} to replay against.`,
          ['version'],
        );
      if (!request.sourceVersions) return { target, versions: (await registry.listVersions(request.model)).map((v) => v.version) };
      const versions: string[] = [];
      for (const [i, id] of request.sourceVersions.entries()) {
        if (versions.includes(id)) continue;
        if (!(await registry.getVersion(request.model, id)))
          throw new NotFoundError(
            'VERSION_NOT_FOUND',
            `Model "${request.model}" has no version ${excerpt(id)}; "sourceVersions" names versions whose captured requests are replayed.`,
            ['sourceVersions', i],
          );
        versions.push(id);
      }
      return { target, versions };
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError('REGISTRY_UNAVAILABLE', `The registry could not be read for "${request.model}".`, { cause: error });
    }
  }

  /** The capture files of each version and UTC day of the window, in key order. */
  private async files(model: string, versions: readonly string[], window: { since: string; until: string }): Promise<InputFile[]> {
    const prefixes = versions.flatMap((version) => utcDays(window.since, window.until).map((day) => capturePrefix(model, version, day)));
    const listed: { files: InputFile[]; more: boolean }[] = new Array(prefixes.length);
    let next = 0;
    const worker = async () => {
      while (next < prefixes.length) {
        const i = next++;
        listed[i] = await this.deps.objects.list(this.deps.captureBucket, prefixes[i] as string, MAX_CAPTURE_FILES);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, prefixes.length) }, worker));
    const files = listed.flatMap((l) => l.files);
    if (listed.some((l) => l.more) || files.length > MAX_CAPTURE_FILES || JSON.stringify(files).length > MAX_FILE_LIST_CHARS) {
      throw new ValidationError(
        'TOO_MANY_CAPTURE_FILES',
        `The window holds more than ${MAX_CAPTURE_FILES} capture files of model "${model}" (${files.length} listed); a replay reads at most ${MAX_CAPTURE_FILES}: narrow the window (since, until) or name fewer "sourceVersions".`,
        ['since'],
      );
    }
    return files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

/**
 * The replay's window `[since, until)` as ISO-8601 UTC, checked (400 `INVALID_WINDOW`, path
 * `since` or `until`): `since` is a duration back from `now` (`90s`, `30m`, `1h`, `2d`) or a time
 * with its zone, not after `now`; `until` (default `now`) a time with its zone after `since`; the
 * window at most {@link MAX_REPLAY_WINDOW_DAYS} days.
 */
export function replayWindow(since: string, until: string | undefined, now: Date): { since: string; until: string } {
  const end = until === undefined ? now.getTime() : timeOf(until, 'until');
  let start: number;
  const duration = DURATION.exec(since);
  if (duration) start = now.getTime() - Number(duration[1]) * (UNITS[duration[2] as string] as number);
  else start = timeOf(since, 'since');
  if (start > now.getTime())
    throw new ValidationError('INVALID_WINDOW', `"since" (${excerpt(since)}) lies in the future; nothing has been captured there yet.`, [
      'since',
    ]);
  if (end <= start)
    throw new ValidationError(
      'INVALID_WINDOW',
      `"until" (${excerpt(until ?? '')}) must come after "since" (${new Date(start).toISOString()}).`,
      ['until'],
    );
  if (end - start > MAX_REPLAY_WINDOW_DAYS * DAY_MS)
    throw new ValidationError(
      'INVALID_WINDOW',
      `The window is longer than ${MAX_REPLAY_WINDOW_DAYS} days; replay a shorter one (captured records are kept 30 days by default).`,
      ['since'],
    );
  return { since: new Date(start).toISOString(), until: new Date(end).toISOString() };
}

function timeOf(text: string, field: 'since' | 'until'): number {
  if (ISO_TIME.test(text) && !onCalendar(text)) {
    throw new ValidationError(
      'INVALID_WINDOW',
      `"${field}" is not a valid time: ${JSON.stringify(excerpt(text))} names a day or an hour that does not exist.`,
      [field],
    );
  }
  const time = ISO_TIME.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(time)) {
    const what =
      field === 'since'
        ? 'a duration back from now (90s, 30m, 1h, 2d) or an ISO-8601 time with its zone (2026-11-30T12:00:00Z)'
        : 'an ISO-8601 time with its zone (2026-11-30T13:00:00Z)';
    throw new ValidationError('INVALID_WINDOW', `"${field}" must be ${what}, not ${JSON.stringify(excerpt(text))}.`, [field]);
  }
  return time;
}

/**
 * Whether the date and time an ISO-8601 text names exist (`Date.parse` rolls 2026-02-30 over to
 * March 2 and 24:00 to the next day rather than refusing them).
 */
function onCalendar(text: string): boolean {
  const [year, month, day, hour, minute, second = 0] = (text.match(/\d+/g) ?? []).slice(0, 6).map(Number) as number[];
  const at = new Date(Date.UTC(year as number, (month as number) - 1, day, hour, minute, second));
  return (
    at.getUTCFullYear() === year &&
    at.getUTCMonth() === (month as number) - 1 &&
    at.getUTCDate() === day &&
    at.getUTCHours() === hour &&
    at.getUTCMinutes() === minute &&
    at.getUTCSeconds() === second
  );
}
