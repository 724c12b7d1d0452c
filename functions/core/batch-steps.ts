/**
 * The workflow's own steps around the Distributed Map (issue 11, item 3): `plan` (the input →
 * its splits), `assemble` (the parts → the job's output files, its manifest and its end in the
 * job table) and `fail` (a plan that failed → the job FAILED with the reason). One Lambda
 * function (`functions/batch-steps`) runs them on AWS; the local runner calls the same code.
 *
 * Assembly reads the plan's splits in order and, for each, its part (written by the batch
 * function): its predictions go to `predictions.jsonl`, its error records to `errors.jsonl`. A
 * split without a part was never predicted: its batch failed after the workflow's retries (the
 * ResultWriter's FAILED results name the error), or the Map stopped at its tolerance before
 * running it; each of its rows becomes an error record with that reason. So every input row
 * ends in exactly one of the two files, in input order, and the counts are checked: rows =
 * predicted + failed, or the job fails with `ROW_COUNT_MISMATCH` rather than lose a row.
 *
 * The job SUCCEEDS when the failed rows are at most `toleratedFailurePercentage` of its rows and
 * the Map did not fail; else it FAILS with the counts and a sample of its error records.
 */
import {
  CAPTURE_FORMAT,
  FINAL_STATES,
  JOB_FILES,
  partKey,
  type BatchJobStore,
  type DataObjects,
  type InputFile,
  type BatchFormat,
  type JobManifest,
  type ObjectRef,
  type PlanResult,
  type ReplayPlanSummary,
  type ReplaySpec,
  type RowError,
  type Split,
  type WorkflowInput,
} from './batch-contract.js';
import { ERROR_SAMPLE_SIZE, s3Uri } from './batch-jobs.js';
import { errorsPartKey } from './batch-worker.js';
import { AppError, clip, ConflictError, ValidationError } from './errors.js';

/** Plans a job's splits (`batch-input.ts` `planSplits`). */
export type SplitPlanner = (
  objects: DataObjects,
  input: { files: readonly InputFile[]; format: BatchFormat; rowsPerBatch: number },
  write: (split: Split) => void | Promise<void>,
) => Promise<{ rows: number; splitCount: number; splitsPerBatch: number; columns: string[] }>;

/**
 * What replays (jobs of format `capture`) need of the steps: their plan, which keeps the
 * window's captured requests (`replay/plan.ts` `planReplaySplits`), and their report, written
 * from the assembled outputs before the job's end is recorded (`replay/report.ts`).
 */
export interface ReplaySteps {
  readonly plan: (
    objects: DataObjects,
    input: { files: readonly InputFile[]; rowsPerBatch: number; replay: ReplaySpec },
    write: (split: Split) => void | Promise<void>,
  ) => Promise<{ rows: number; splitCount: number; splitsPerBatch: number; columns: string[]; replay: ReplayPlanSummary }>;
  readonly report: (
    objects: DataObjects,
    input: { job: WorkflowInput; plan: PlanResult; comparisons: ObjectRef; errors: ObjectRef },
  ) => Promise<unknown>;
}

export interface BatchStepsDeps {
  readonly objects: DataObjects;
  readonly jobs: BatchJobStore;
  readonly planSplits: SplitPlanner;
  /** Replays; without them a replay's plan fails (`INVALID_STEP`). */
  readonly replays?: ReplaySteps;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

/** The Distributed Map's output (`$.map`) or its caught error (`$.mapError`), as Step Functions gives them. */
export interface MapOutcome {
  readonly map?: { readonly ResultWriterDetails?: { readonly Bucket?: string; readonly Key?: string } };
  readonly mapError?: { readonly Error?: string; readonly Cause?: string };
}

export interface AssembleResult {
  readonly state: 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
  readonly rows: number;
  readonly predicted: number;
  readonly failed: number;
}

/** Why a split's rows were not predicted. */
interface SplitFailure {
  readonly code: string;
  readonly message: string;
}

export class BatchSteps {
  private readonly now: () => Date;

  constructor(private readonly deps: BatchStepsDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Writes the splits file, records the job's row count, and returns the plan (`$.plan`). */
  async plan(job: WorkflowInput): Promise<PlanResult> {
    const splits: string[] = [];
    const write = (split: Split) => {
      splits.push(JSON.stringify(split));
    };
    const {
      files,
      format,
      options: { rowsPerBatch },
    } = job;
    let planned: Awaited<ReturnType<SplitPlanner>> & { replay?: ReplayPlanSummary };
    if (format === CAPTURE_FORMAT) {
      if (!this.deps.replays || !job.replay)
        throw new ValidationError('INVALID_STEP', 'A replay (format "capture") needs its "replay" window, and steps that replay.', [
          'job',
          'replay',
        ]);
      planned = await this.deps.replays.plan(this.deps.objects, { files, rowsPerBatch, replay: job.replay }, write);
    } else {
      planned = await this.deps.planSplits(this.deps.objects, { files, format, rowsPerBatch }, write);
    }
    const ref: ObjectRef = { bucket: job.output.bucket, key: job.output.prefix + JOB_FILES.splits };
    await this.deps.objects.upload(ref, chunksOf(splits), 'application/x-ndjson');
    await this.deps.jobs.update(job.model, job.jobId, ['SUBMITTED', 'RUNNING'], { state: 'RUNNING', rows: planned.rows });
    return {
      splits: ref,
      splitCount: planned.splitCount,
      rows: planned.rows,
      splitsPerBatch: planned.splitsPerBatch,
      columns: planned.columns,
      mapResultsPrefix: job.output.prefix + JOB_FILES.mapResults,
      ...(planned.replay ? { replay: planned.replay } : {}),
    };
  }

  /** The plan failed: the job ends FAILED with the reason (a 4xx reason is shown as it is). */
  async fail(job: WorkflowInput, error: { Error?: string; Cause?: string }): Promise<{ state: 'FAILED' }> {
    const failure = failureOf(error, 'PLAN_FAILED', "The job's input could not be planned");
    await this.endJob(job, 'FAILED', { failure });
    return { state: 'FAILED' };
  }

  /**
   * Assembles the output files and records the job's end. A job that has ended already (cancelled,
   * or assembled by an earlier attempt of this step) is left as it is, its files untouched.
   */
  async assemble(job: WorkflowInput, plan: PlanResult, outcome: MapOutcome): Promise<AssembleResult> {
    const current = await this.deps.jobs.get(job.model, job.jobId);
    if (current && FINAL_STATES.includes(current.state)) {
      return {
        state: current.state as AssembleResult['state'],
        rows: current.rows ?? plan.rows,
        predicted: current.progress.predicted,
        failed: current.progress.failed,
      };
    }
    const { bucket, prefix } = job.output;
    // A replay's lines compare rather than predict: the same file, named for what it holds.
    const predictionsKey = prefix + (job.format === CAPTURE_FORMAT ? JOB_FILES.comparisons : JOB_FILES.predictions);
    const failedBatches = await this.failedSplits(job, outcome);
    const mapFailure = outcome.mapError ? failureOf(outcome.mapError, 'MAP_FAILED', 'The Distributed Map failed') : undefined;
    const notRun: SplitFailure = mapFailure ?? { code: 'NOT_PREDICTED', message: 'The split holding this row was not predicted.' };
    // A split's rows are its predictions and its error records: one with fewer predictions than
    // rows has an error part (found without listing the parts, which may be many).
    const withErrors = new Set<number>();
    const splits = await this.readSplits(plan.splits);
    const missing = new Set<number>();
    let predicted = 0;
    let failed = 0;
    const sample: RowError[] = [];
    const objects = this.deps.objects;

    // Pass 1: predictions, in split order (parts read a few ahead); notes the splits that have no part.
    async function* predictionLines(): AsyncGenerator<string> {
      for await (const [split, text] of readAhead(splits, (split) => objects.text({ bucket, key: partKey(prefix, split.index) }))) {
        if (text === undefined) {
          missing.add(split.index);
          continue;
        }
        const count = countLines(text);
        predicted += count;
        if (count < split.rows) withErrors.add(split.index);
        if (text !== '') yield text;
      }
    }
    await objects.upload({ bucket, key: predictionsKey }, predictionLines(), 'application/x-ndjson');

    // Pass 2: error records, in split order: a part's errors, or every row of a split never predicted.
    async function* errorLines(): AsyncGenerator<string> {
      const errorParts = readAhead(
        splits.filter((split) => withErrors.has(split.index)),
        (split) => objects.text({ bucket, key: errorsPartKey(prefix, split.index) }),
      );
      const texts = errorParts[Symbol.asyncIterator]();
      for (const split of splits) {
        if (missing.has(split.index)) {
          const why = failedBatches.get(split.index) ?? notRun;
          const lines: string[] = [];
          for (let i = 0; i < split.rows; i++) {
            const error: RowError = { row: split.firstRow + i, code: why.code, message: why.message, path: [], file: split.key };
            if (sample.length < ERROR_SAMPLE_SIZE) sample.push(error);
            lines.push(JSON.stringify(error));
          }
          failed += split.rows;
          if (lines.length > 0) yield `${lines.join('\n')}\n`;
          continue;
        }
        if (!withErrors.has(split.index)) continue;
        const text = ((await texts.next()).value as [Split, string | undefined] | undefined)?.[1] ?? '';
        failed += countLines(text);
        if (sample.length < ERROR_SAMPLE_SIZE) {
          for (const line of text.split('\n')) {
            if (line === '' || sample.length >= ERROR_SAMPLE_SIZE) continue;
            sample.push(JSON.parse(line) as RowError);
          }
        }
        if (text !== '') yield text;
      }
    }
    await objects.upload({ bucket, key: prefix + JOB_FILES.errors }, errorLines(), 'application/x-ndjson');

    const rows = plan.rows;
    let failure: { code: string; message: string; errorSample?: RowError[] } | undefined;
    if (predicted + failed !== rows) {
      failure = {
        code: 'ROW_COUNT_MISMATCH',
        message: `The outputs hold ${predicted} predictions and ${failed} error records for ${rows} input rows; the job is failed rather than trusted.`,
      };
    } else if (mapFailure) {
      failure = { ...mapFailure, errorSample: sample };
    } else if (rows > 0 && (failed * 100) / rows > job.options.toleratedFailurePercentage) {
      const percent = ((failed * 100) / rows).toFixed(2);
      failure = {
        code: 'TOO_MANY_FAILED_ROWS',
        message: `${failed} of ${rows} rows (${percent}%) could not be predicted; the job tolerates ${job.options.toleratedFailurePercentage}%. See errors.jsonl.`,
        errorSample: sample,
      };
    }
    if (job.format === CAPTURE_FORMAT && this.deps.replays) {
      await this.deps.replays.report(objects, {
        job,
        plan,
        comparisons: { bucket, key: predictionsKey },
        errors: { bucket, key: prefix + JOB_FILES.errors },
      });
    }
    const state = failure ? 'FAILED' : 'SUCCEEDED';
    const endedAt = this.now().toISOString();
    // The job's end first, then the manifest with the state the job has (CANCELLED when a cancel won).
    const ended = await this.endJob(
      job,
      state,
      { progress: { rowsRead: rows, predicted, failed }, ...(failure ? { failure } : {}) },
      endedAt,
    );
    const manifest: JobManifest = {
      jobId: job.jobId,
      model: job.model,
      modelVersion: job.version,
      state: ended,
      input: { uri: current?.input.uri ?? s3Uri(job.files[0] ?? { bucket, key: '' }), format: job.format, files: job.files },
      rows,
      predicted,
      failed,
      failedInBatches: [...missing].reduce((n, index) => n + (splits[index]?.rows ?? 0), 0),
      predictions: s3Uri({ bucket, key: predictionsKey }),
      errors: s3Uri({ bucket, key: prefix + JOB_FILES.errors }),
      ...(current?.startedAt ? { startedAt: current.startedAt } : {}),
      endedAt,
      ...(ended === 'CANCELLED'
        ? { failure: { code: 'CANCELLED', message: 'The job was cancelled while its outputs were assembled.' } }
        : failure
          ? { failure: { code: failure.code, message: failure.message } }
          : {}),
    };
    await objects.put({ bucket, key: prefix + JOB_FILES.manifest }, `${JSON.stringify(manifest, null, 2)}\n`, 'application/json');
    return { state: ended, rows, predicted, failed };
  }

  /** Records the job's end, unless it has ended already (cancelled meanwhile): returns the state it has. */
  private async endJob(
    job: WorkflowInput,
    state: 'SUCCEEDED' | 'FAILED',
    change: Parameters<BatchJobStore['update']>[3],
    endedAt = this.now().toISOString(),
  ): Promise<'SUCCEEDED' | 'FAILED' | 'CANCELLED'> {
    try {
      await this.deps.jobs.update(job.model, job.jobId, ['SUBMITTED', 'RUNNING'], { ...change, state, endedAt });
      return state;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
      const current = await this.deps.jobs.get(job.model, job.jobId);
      if (current && FINAL_STATES.includes(current.state)) return current.state as 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
      throw error;
    }
  }

  private async readSplits(ref: ObjectRef): Promise<Split[]> {
    const text = await this.deps.objects.text(ref);
    if (text === undefined) throw new AppError(500, 'PLAN_MISSING', `The job's splits file ${s3Uri(ref)} is gone.`);
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Split);
  }

  /**
   * Split → why its batch failed, from the ResultWriter's FAILED result files (each child's
   * Input holds its splits; Error/Cause say why). Empty when the Map wrote no results.
   */
  private async failedSplits(job: WorkflowInput, outcome: MapOutcome): Promise<Map<number, SplitFailure>> {
    const failed = new Map<number, SplitFailure>();
    const objects = this.deps.objects;
    const details = outcome.map?.ResultWriterDetails;
    let manifests: ObjectRef[] = [];
    if (details?.Bucket && details.Key) {
      manifests = [{ bucket: details.Bucket, key: details.Key }];
    } else {
      // The Map failed: find what its ResultWriter wrote, if anything.
      const keys = await objects.keys(job.output.bucket, job.output.prefix + JOB_FILES.mapResults);
      manifests = keys.filter((key) => key.endsWith('manifest.json')).map((key) => ({ bucket: job.output.bucket, key }));
    }
    for (const ref of manifests) {
      const manifest = parseJson(await objects.text(ref)) as
        | { DestinationBucket?: string; ResultFiles?: { FAILED?: { Key?: string }[] } }
        | undefined;
      for (const file of manifest?.ResultFiles?.FAILED ?? []) {
        if (!file.Key) continue;
        const results = parseJson(await objects.text({ bucket: manifest?.DestinationBucket ?? ref.bucket, key: file.Key }));
        if (!Array.isArray(results)) continue;
        for (const result of results as { Input?: string; Error?: string; Cause?: string }[]) {
          const input = parseJson(result.Input) as { Items?: { index?: number }[] } | undefined;
          const why = failureOf(
            { ...(result.Error ? { Error: result.Error } : {}), ...(result.Cause ? { Cause: result.Cause } : {}) },
            'BATCH_FAILED',
            'The batch holding this row failed',
          );
          for (const item of input?.Items ?? []) if (typeof item.index === 'number') failed.set(item.index, why);
        }
      }
    }
    return failed;
  }
}

/**
 * A failure as the job shows it, from Step Functions' `{Error, Cause}`: `Batch.<CODE>` errors
 * (ours) keep their code and, when the Cause is Lambda's `{"errorMessage"}`, its message; other
 * errors (States.*, Lambda.*) are named as they are. Messages are bounded.
 */
export function failureOf(error: { Error?: string; Cause?: string }, fallbackCode: string, fallbackMessage: string): SplitFailure {
  const name = error.Error ?? fallbackCode;
  const code = name.startsWith('Batch.') ? name.slice('Batch.'.length) : name;
  const cause = parseJson(error.Cause);
  const message =
    typeof (cause as { errorMessage?: unknown } | undefined)?.errorMessage === 'string'
      ? (cause as { errorMessage: string }).errorMessage
      : typeof error.Cause === 'string' && error.Cause !== ''
        ? error.Cause
        : `${fallbackMessage} (${name}).`;
  return { code: clip(code, 64), message: clip(message, 500) };
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Parts read at once, ahead of the one being written out. */
const READ_AHEAD = 8;

/**
 * `[item, read(item)]` for each item, in order, with up to {@link READ_AHEAD} reads in flight: a
 * job's parts are many small objects, and reading them one after another would make the
 * assembly a chain of round trips.
 */
async function* readAhead<T, R>(items: readonly T[], read: (item: T) => Promise<R>): AsyncGenerator<[T, R]> {
  const pending: Array<Promise<R>> = [];
  let next = 0;
  const fill = () => {
    while (next < items.length && pending.length < READ_AHEAD) {
      const reading = read(items[next] as T);
      // Awaited in order below; a rejection is not left unhandled meanwhile.
      reading.catch(() => undefined);
      pending.push(reading);
      next++;
    }
  };
  for (let i = 0; i < items.length; i++) {
    fill();
    const value = await (pending.shift() as Promise<R>);
    yield [items[i] as T, value];
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Lines joined into chunks of about 1 MiB, for a streamed upload. */
async function* chunksOf(lines: readonly string[]): AsyncGenerator<string> {
  let chunk: string[] = [];
  let size = 0;
  for (const line of lines) {
    chunk.push(line);
    size += line.length + 1;
    if (size >= 1 << 20) {
      yield `${chunk.join('\n')}\n`;
      chunk = [];
      size = 0;
    }
  }
  if (chunk.length > 0) yield `${chunk.join('\n')}\n`;
}

/** Checks the steps' events (Lambda payloads built by the state machine). */
export function checkStepEvent(event: unknown): {
  step: 'plan' | 'assemble' | 'fail';
  job: WorkflowInput;
  plan?: PlanResult;
  outcome: MapOutcome;
  error?: { Error?: string; Cause?: string };
} {
  if (typeof event !== 'object' || event === null)
    throw new ValidationError('INVALID_STEP', 'The step event must be an object {"step", "job", ...}.');
  const { step, job, plan, map, mapError, error } = event as Record<string, unknown>;
  if (step !== 'plan' && step !== 'assemble' && step !== 'fail')
    throw new ValidationError('INVALID_STEP', '"step" must be plan, assemble or fail.', ['step']);
  if (typeof job !== 'object' || job === null || typeof (job as { jobId?: unknown }).jobId !== 'string')
    throw new ValidationError('INVALID_STEP', '"job" must be the workflow\'s input.', ['job']);
  const workflow = job as WorkflowInput & { plan?: PlanResult };
  return {
    step,
    job: workflow,
    ...(plan !== undefined || workflow.plan !== undefined ? { plan: (plan ?? workflow.plan) as PlanResult } : {}),
    outcome: { ...(map ? { map: map as MapOutcome['map'] } : {}), ...(mapError ? { mapError: mapError as MapOutcome['mapError'] } : {}) },
    ...(error ? { error: error as { Error?: string; Cause?: string } } : {}),
  };
}
