/**
 * Batch jobs as `modelctl` reads, waits for and prints them: `batch status`, `batch wait` and
 * `batch list`'s lines and tables, and waiting with a progress bar and an exit code that says
 * how the job ended. `replay --wait` waits the same way.
 */
import { FINAL_STATES, type BatchJob } from '../../functions/core/batch-contract.js';
import { seconds } from './args.js';
import { type CliIo, clean, formatBytes, pause, plural } from './common.js';
import { type Api, ApiError, transient } from './http.js';
import { modelPath } from './models.js';
import { fieldLines, jsonText, table } from './output.js';
import { Progress } from './uploads.js';

/** `GET /v1/models/{model}/batch-jobs/{job}` as the API answers it. */
export interface JobReply {
  readonly job: BatchJob;
  /** Presigned GET URLs of the job's files, once it has ended SUCCEEDED or FAILED. */
  readonly links?: JobFiles<string>;
}

/** Something for each of a job's result files. */
export interface JobFiles<T> {
  readonly predictions: T;
  readonly errors: T;
  readonly manifest: T;
}

export const RESULT_FILES = ['predictions', 'errors', 'manifest'] as const;

/** Seconds between two reads of a job while waiting for it (`--interval`). */
export const DEFAULT_JOB_POLL_SECONDS = 2;
/** Off a terminal, waiting writes a line per change of the job at most this often. */
const JOB_LINE_EVERY_MS = 5_000;
/** Characters of a model name on the progress bar. */
const BAR_LABEL_CHARS = 24;

/** How long to wait for a job, and how often to read it (milliseconds). */
export interface WaitOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number | undefined;
}

export function jobsPath(model: string): string {
  return `${modelPath(model)}/batch-jobs`;
}

export function jobPath(model: string, jobId: string): string {
  return `${jobsPath(model)}/${encodeURIComponent(jobId)}`;
}

/** `--interval SECONDS` while waiting: from 0.1, read as milliseconds. */
export const INTERVAL_SECONDS = seconds(0.1);
/** `--timeout SECONDS` while waiting: from 0, read as milliseconds. */
export const TIMEOUT_SECONDS = seconds(0);

/** `--interval` (default 2 s) and `--timeout` (default none), as parsed (milliseconds). */
export function waitOptions(opts: { readonly interval?: number; readonly timeout?: number }): WaitOptions {
  return { intervalMs: opts.interval ?? DEFAULT_JOB_POLL_SECONDS * 1_000, timeoutMs: opts.timeout };
}

/**
 * Reads the job every `intervalMs` until it ends (`ended: true`), `timeoutMs` passes or
 * `io.signal` aborts, drawing its progress on stderr. An unreachable, throttled or unavailable
 * API is read again (said once); any other refusal is thrown.
 */
export async function waitForJob(
  api: Api,
  io: CliIo,
  model: string,
  jobId: string,
  options: WaitOptions,
): Promise<{ reply: JobReply; ended: boolean }> {
  const now = io.now ?? Date.now;
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : now() + options.timeoutMs;
  const label = model.length > BAR_LABEL_CHARS ? `${model.slice(0, BAR_LABEL_CHARS - 1)}…` : model;
  // Made on the first answer: what it counts (rows, or a replay's requests) comes with the job.
  let progress: Progress | undefined;
  let reply: JobReply | undefined;
  let failing: ApiError | undefined;
  try {
    for (;;) {
      try {
        reply = (await api.call('GET', jobPath(model, jobId))) as JobReply;
        failing = undefined;
        const { job } = reply;
        progress ??= new Progress(io, label, undefined, { unit: jobUnit(job), lineEveryMs: JOB_LINE_EVERY_MS, now });
        progress.update(job.progress.rowsRead, job.rows, job.state);
        if (FINAL_STATES.includes(job.state)) return { reply, ended: true };
      } catch (error) {
        if (!transient(error)) throw error;
        if (!failing) {
          progress?.interrupt();
          io.err(`${error.message} Still waiting; reading the job again every ${options.intervalMs / 1_000} s.\n`);
        }
        failing = error;
      }
      const left = deadline - now();
      if (left <= 0 || io.signal?.aborted) {
        if (!reply) throw failing ?? new ApiError(`Job ${jobId} could not be read.`);
        return { reply, ended: false };
      }
      await pause(Math.min(options.intervalMs, left), io.signal);
    }
  } finally {
    progress?.finish();
  }
}

/** `batch wait` (and `batch submit --wait`): waits, prints the job (or its JSON), says how it ended; the exit code. */
export async function waitAndReport(
  api: Api,
  io: CliIo,
  model: string,
  jobId: string,
  options: WaitOptions,
  json: boolean,
): Promise<number> {
  io.err(
    `Waiting for job ${jobId} of ${model}${options.timeoutMs === undefined ? '' : ` for at most ${options.timeoutMs / 1_000} s`} (Ctrl+C stops waiting, not the job).\n`,
  );
  const { reply, ended } = await waitForJob(api, io, model, jobId, options);
  io.out(json ? jsonText(reply) : jobLines(reply));
  return verdict(io, reply.job, ended, options);
}

/**
 * How waiting ended, on stderr unless the job succeeded, as the exit code: 0 SUCCEEDED, 1 FAILED
 * or CANCELLED (with the reason), 2 still running when the wait stopped.
 */
export function verdict(io: CliIo, job: BatchJob, ended: boolean, options: WaitOptions): number {
  if (!ended) {
    const why =
      io.signal?.aborted || options.timeoutMs === undefined
        ? 'Stopped waiting'
        : `Stopped waiting after ${options.timeoutMs / 1_000} s (--timeout)`;
    io.err(`${why}: job ${job.jobId} is ${job.state} and keeps running. Wait again: modelctl batch wait ${job.model} ${job.jobId}\n`);
    return 2;
  }
  if (job.state === 'SUCCEEDED') return 0;
  const reason = job.failure ? `${job.failure.code}: ${clean(job.failure.message)}` : 'no reason recorded';
  io.err(`Job ${job.jobId} ${job.state === 'CANCELLED' ? 'was CANCELLED' : 'FAILED'}: ${reason}\n`);
  return 1;
}

/** `batch submit`'s answer: the job's id and state, where it reads and writes, how to follow it. */
export function submittedLines(job: BatchJob, existing: boolean): string {
  const head = existing
    ? `Job ${job.jobId} was submitted before with this client token: ${job.state}`
    : `Submitted job ${job.jobId}: ${job.state}`;
  return [
    head,
    `  model   ${job.model} v${job.modelVersion}`,
    `  input   ${clean(inputSummary(job))}`,
    `  output  ${clean(job.output.uri)}`,
    `Follow it: modelctl batch wait ${job.model} ${job.jobId}`,
    '',
  ].join('\n');
}

function inputSummary(job: BatchJob): string {
  const files = job.input.files;
  const bytes = files.reduce((sum, f) => sum + f.size, 0);
  return `${job.input.uri} (${job.input.format}, ${files.length} ${files.length === 1 ? 'file' : 'files'}, ${formatBytes(bytes)})`;
}

/** What a job's progress (`rowsRead`, `rows`) counts: rows, or a replay's captured requests. */
function jobUnit(job: Pick<BatchJob, 'input'>): 'rows' | 'requests' {
  return job.input.format === 'capture' ? 'requests' : 'rows';
}

function duration(fromIso: string, toIso: string): string {
  const ms = Date.parse(toIso) - Date.parse(fromIso);
  if (!Number.isFinite(ms)) return '';
  if (ms < 120_000) return ` (${(ms / 1_000).toFixed(1)} s)`;
  return ` (${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s)`;
}

/**
 * `batch status` (and the end of `batch wait`): the job, a field a line.
 *
 *     Job job-20261130t120501z-7f3k9q2m1x: FAILED
 *       model        iris v1
 *       rows         150 read of 150 (100%)
 *       predicted    140
 *       failed       10
 *       ...
 *       reason       ROW_FAILURES: 10 of 150 rows (6.67%) failed; the job tolerates 0%.
 *       error sample (10 of 10 failed rows):
 *         row 3, line 5: WRONG_TYPE: "wide" is not a number (at petal_length_cm)
 */
export function jobLines(reply: JobReply): string {
  const { job } = reply;
  const { rowsRead, predicted, failed } = job.progress;
  // A replay's progress counts captured requests (one capture record each, whatever rows it holds).
  const replay = job.input.format === 'capture';
  const unit = jobUnit(job);
  const rows =
    job.rows === undefined
      ? `${rowsRead} read (the total is known once the job is planned)`
      : `${rowsRead} read of ${job.rows}${job.rows > 0 ? ` (${Math.floor((rowsRead / job.rows) * 100)}%)` : ''}`;
  const { rowsPerBatch, maxConcurrency, toleratedFailurePercentage } = job.options;
  const ignored = job.input.ignoredColumns;
  const more = job.input.ignoredColumnCount - ignored.length;
  const fields: [string, string][] = [
    ['model', `${job.model} v${job.modelVersion}`],
    [unit, rows],
    [replay ? 'compared' : 'predicted', String(predicted)],
    [replay ? 'unreplayable' : 'failed', String(failed)],
    ['submitted', `${job.submittedAt} by ${job.submittedBy}`],
    ['started', job.startedAt ?? '-'],
    ['ended', job.endedAt === undefined ? '-' : `${job.endedAt}${job.startedAt === undefined ? '' : duration(job.startedAt, job.endedAt)}`],
    ['input', inputSummary(job)],
    ...(ignored.length > 0
      ? [['ignored', `${ignored.join(', ')}${more > 0 ? ` and ${more} more` : ''} (columns the model does not take)`] as [string, string]]
      : []),
    ['output', job.output.uri],
    ['predictions', job.output.predictions],
    ['errors', job.output.errors],
    ['manifest', job.output.manifest],
    [
      'options',
      `${plural(rowsPerBatch, unit.slice(0, -1))} per batch, at most ${plural(maxConcurrency, 'batch', 'batches')} at once, ${toleratedFailurePercentage}% of the ${unit} may fail`,
    ],
    ...(reply.links ? [['downloads', `presigned links: modelctl batch status ${job.model} ${job.jobId} -o json`] as [string, string]] : []),
    ...(job.failure ? [['reason', `${job.failure.code}: ${job.failure.message}`] as [string, string]] : []),
  ];
  // The names padded to 12, as the widest ("unreplayable") is.
  const lines = [`Job ${job.jobId}: ${job.state}`, ...fields.map(([name, value]) => `  ${name.padEnd(12)} ${clean(value)}`)];
  const sample = job.failure?.errorSample ?? [];
  if (sample.length > 0) {
    lines.push(`  error sample (${sample.length} of ${failed} failed ${unit}):`);
    for (const error of sample) {
      // The file is named when the input is several files.
      const file = error.file !== undefined && job.input.files.length > 1 ? ` of ${error.file}` : '';
      const where = error.line === undefined ? file : `, line ${error.line}${file}`;
      const at = error.path.length > 0 ? ` (at ${error.path.join('.')})` : '';
      lines.push(`    ${clean(`row ${error.row}${where}: ${error.code}: ${error.message}${at}`)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `batch list` as a table, newest first:
 *
 *     ID                                  STATE      VERSION  ROWS  PREDICTED  FAILED  SUBMITTED
 *     job-20261130t120501z-7f3k9q2m1x     SUCCEEDED  1        150   150        0       2026-11-30T12:05:01.000Z
 */
export function jobsTable(jobs: readonly BatchJob[]): string {
  return table(
    ['ID', 'STATE', 'VERSION', 'ROWS', 'PREDICTED', 'FAILED', 'SUBMITTED'],
    jobs.map((job) => [
      job.jobId,
      job.state,
      job.modelVersion,
      job.rows === undefined ? '-' : String(job.rows),
      String(job.progress.predicted),
      String(job.progress.failed),
      job.submittedAt,
    ]),
  );
}

/** `batch run`'s result: how the job ended, its counts, where its files are. */
export function runSummary(job: BatchJob, files: JobFiles<string | undefined> | undefined): string {
  const { rowsRead, predicted, failed } = job.progress;
  const rows = job.rows === undefined ? `${rowsRead} rows read` : `${job.rows} rows`;
  const head = `Job ${job.jobId} of ${job.model} v${job.modelVersion} ${job.state}: ${rows}, ${predicted} predicted, ${failed} failed.`;
  if (!files) {
    const why = FINAL_STATES.includes(job.state) ? 'a cancelled job has no result files' : 'the job has not ended';
    return `${head}\nNothing downloaded: ${why}.\n`;
  }
  const lines = fieldLines(
    RESULT_FILES.map((name) => [name, files[name] ?? '(not written: the job failed before assembling its results)']),
  );
  return `${[head, ...lines].join('\n')}\n`;
}
