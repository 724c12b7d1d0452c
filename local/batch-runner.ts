/**
 * The batch-job workflow on one machine: an in-process emulation of the Step Functions state
 * machine that `lib/batch-jobs.ts` builds (described in functions/core/batch-contract.ts),
 * implementing the `JobRunner` port with the same two handlers the state machine invokes: the
 * batch-steps function (`plan`, `assemble`, `fail`) and the batch function (the Distributed Map's
 * item processor).
 *
 *   Plan ──(Catch States.ALL → $.error)──> RecordPlanFailure ─────────────> JobFailed
 *     └─> PredictSplits (Distributed Map) ──(Catch States.ALL → $.mapError)──┐
 *           └─> Assemble <──────────────────────────────────────────────────┘
 *                 └─> JobEnded? ($.result.state == "SUCCEEDED" → JobSucceeded, otherwise JobFailed)
 *
 * JobFailed is a Fail state with Error `BatchJobFailed` ({@link JOB_FAILED}); the job's record,
 * written by the fail or assemble step, says why.
 *
 * ## Step Functions semantics emulated
 * - **Data flow (JSONPath)**: the state is the `WorkflowInput`; Plan's result goes to `$.plan`, a
 *   plan failure to `$.error`, the Map's output to `$.map` (or its caught error to `$.mapError`),
 *   Assemble's result to `$.result`. Events are exactly the spec's: `{step:'plan', job}`,
 *   `{step:'assemble', job: <state>, plan, map | mapError}`, `{step:'fail', job: <state>, error}`.
 *   A path the definition reads that is missing from the state (`$.plan.columns`, say) is
 *   `States.Runtime`, as on AWS.
 * - **Lambda invocations**: every handler gets its event through JSON (its own copy, as over the
 *   wire) and its result is JSON-normalised. A throw becomes the task error `Error` = the error's
 *   `name` (Lambda's `errorType`; `Batch.<CODE>` from the batch function), `Cause` = Lambda's error
 *   payload as a JSON string (`{"errorType","errorMessage","trace"}`).
 * - **Payload quota**: a task result or a state above 262,144 bytes of UTF-8 JSON fails with
 *   `States.DataLimitExceeded`; it and `States.Runtime` are terminal (`States.ALL` does not catch
 *   them), so the execution fails without RecordPlanFailure / Assemble, as on AWS.
 * - **Retry**: the spec's `ErrorEquals` lists (Plan and RecordPlanFailure: Lambda.ServiceException,
 *   Lambda.TooManyRequestsException, Lambda.SdkClientException; Assemble: those and
 *   Lambda.AWSLambdaException; item processor: those four and Batch.REGISTRY_UNAVAILABLE,
 *   Batch.INTERNAL, Batch.ARTIFACT_UNAVAILABLE, States.Timeout) with IntervalSeconds 2,
 *   BackoffRate 2, MaxAttempts 3. MaxAttempts counts retries, as in ASL: up to 4 calls, waiting
 *   2, 4, 8 s between them (`retry` shortens them for tests). Locally no Lambda.* error occurs
 *   unless a handler throws one by that name, so Plan and Assemble are in practice called once.
 * - **ItemReader (JSONL)**: one item per non-blank line of the splits object; a line that is not
 *   JSON (or not UTF-8), or an object that cannot be read, fails the Map with
 *   `States.ItemReaderFailed`. Batches are read back by byte range, each response's ETag checked
 *   against the one the run started with (s3rver ignores `If-Match`), so a file replaced under a
 *   running job fails the Map the same way.
 * - **ItemBatcher**: `MaxItemsPerBatchPath` (`$.plan.splitsPerBatch`) and MaxInputBytesPerBatch
 *   262,144, counted on the child's whole input (`{"Items":[...],"BatchInput":{...}}`, compact
 *   JSON, UTF-8): a batch is closed before the item that would take it over either bound, so the
 *   batching is deterministic (the same file makes the same batches, which resume relies on).
 *   `BatchInput` is the spec's `{jobId, model, version, format, output, columns}`.
 * - **MaxConcurrencyPath** (`$.options.maxConcurrency`; 0 = no limit), further bounded by
 *   `concurrencyCap`: never more children in flight.
 * - **ToleratedFailurePercentagePath**: the failed *items* (every split of a batch that failed,
 *   after its retries) over all items of the run; once above the tolerance no new child starts,
 *   the in-flight ones finish, and the Map fails with `States.ExceedToleratedFailureThreshold`.
 * - **ResultWriter** (`s3:putObject`, Bucket `$.output.bucket`, Prefix
 *   `$.plan.mapResultsPrefix`): `<prefix>/<map run id>/manifest.json`
 *   (`{DestinationBucket, MapRunArn, ResultFiles: {FAILED, PENDING, SUCCEEDED: [{Key, Size}]}}`) and
 *   `SUCCEEDED_0.json` / `FAILED_0.json` / `PENDING_0.json` (only those with entries; JSON arrays of
 *   the children: `ExecutionArn, Input, InputDetails, Name, Output, OutputDetails` or
 *   `Error, Cause`, `RedriveCount, RedriveStatus, RedriveStatusReason, StartDate,
 *   StateMachineArn, Status, StopDate`), in the order of the batches. They are written when the
 *   Map Run failed or was aborted too (PENDING: batches never started), as the developer guide
 *   describes; the Map's output is `{MapRunArn, ResultWriterDetails: {Bucket, Key}}`. A write that
 *   fails is `States.ResultWriterFailed`.
 * - **StopExecution** (`stop`): the execution is ABORTED at once; no child starts, the children in
 *   flight (Express: they cannot be stopped) finish, the results are written, nothing else runs.
 * - **StartExecution idempotency**: one execution per job id (the execution name); a second start
 *   returns the first one's id and starts nothing.
 * - **Redrive of the Map Run** (`resume`): an execution that was RUNNING when the process died runs
 *   again from the state it was in; in PredictSplits the batches that had SUCCEEDED are not run
 *   again (their results are kept for the ResultWriter: the manifest lists the successes of every
 *   attempt and the failures of the last one, as after a redrive on AWS), the rest run. A Map Run
 *   that cannot go on (its splits file is gone or changed) fails with `States.ItemReaderFailed`,
 *   which Assemble then records as the job's failure.
 *
 * ## Not emulated, and why
 * - The execution history (and its 25,000-event quota), DescribeMapRun/ListMapRuns, CloudWatch
 *   metrics and logs: nothing in the product reads them, and the children are Express workflows,
 *   whose histories do not count against the parent's on AWS either.
 * - Lambda's own failures (throttling, `Lambda.ServiceException`, the 900 s timeout, so
 *   `States.Timeout`) and account quotas (the ramp-up of child starts, 10,000 children at once):
 *   the handlers run in this process, which does not fail that way.
 * - The ItemReader reads the whole splits file once before the first child starts (to count the
 *   items and make the batches); AWS reads as it goes, so there a malformed line half-way may fail
 *   the Map after some children ran, here before any does. A single item whose batch alone is
 *   above 262,144 bytes fails the Map with `States.ItemReaderFailed` (the plan never writes such
 *   a split).
 * - One result file per status (AWS starts `_1` after 5 GB); the shape of a PENDING entry is not
 *   documented: ours is `{Input, InputDetails, Status: "PENDING"}`.
 * - Redrive after an execution *ended* FAILED (RedriveExecution): not offered; `resume` only
 *   continues executions a stopped process cut short. The map's failure count starts again at
 *   0 on resume (failed batches are run again, as a redrive does).
 * - Durations and names: no one-year limit, and a job id keeps its execution for as long as the
 *   state folder does (not 90 days).
 * - Durability: the journal survives a kill of the process at any instant, not a power cut (its
 *   appends are not fsynced); a batch that succeeded in the instant before a kill, before its
 *   record was appended, runs again on resume (Express children are at-least-once on AWS too).
 *
 * ## Persistence
 * With `stateDir`, each execution has one file, `<stateDir>/<encoded job id>.jsonl`: its first line
 * is a snapshot of the execution (written whole: a temporary file, fsynced, renamed), the lines
 * after it are changes appended in order (`{"state": {...}}` for a step's outcome, `{"batch":
 * {...}}` for a batch that SUCCEEDED, keyed by the position of its first item in the splits file,
 * which is the split's index as the plan writes them). Appending keeps a run of 100,000 batches
 * linear (rewriting the whole record for each success would be quadratic); a line cut short by a
 * kill is the last one and is dropped when the file is loaded. The file is compacted back to one
 * snapshot line when it is loaded, on resume and when the execution ends. A file
 * whose snapshot cannot be read is reported and left alone (its execution is UNKNOWN); one whose
 * later lines cannot be read ends its execution FAILED (`Local.JournalUnreadable`). Without
 * `stateDir` everything lives in memory.
 *
 * @example
 * const runner = new LocalBatchRunner({ steps: stepsHandler, batch: batchHandler, s3: clients.s3, stateDir: path.join(dataDir, 'batch-executions') });
 * await runner.resume(); // executions a previous process left RUNNING
 * const { executionId } = await runner.start(workflowInput);
 * // ... at shutdown
 * await runner.close();
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { appendFile, open, rename } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  ASSEMBLE_RETRY_ERRORS,
  BATCH_RETRY_ERRORS as ITEM_RETRY_ERRORS,
  JOB_FAILED_CAUSE,
  JOB_FAILED_ERROR,
  MAX_INPUT_BYTES_PER_BATCH,
  PAYLOAD_QUOTA_BYTES,
  PLAN_RETRY_ERRORS,
  RETRY_TIMING,
  type JobRunner,
  type PlanResult,
  type SplitBatchEvent,
  type SplitBatchInput,
  type SplitBatchResult,
  type WorkflowInput,
} from '../functions/core/batch-contract.js';

export { MAX_INPUT_BYTES_PER_BATCH } from '../functions/core/batch-contract.js';

/** A Retry block's numbers. */
export interface RetryPolicy {
  /** IntervalSeconds, in ms. @default 2000 */
  readonly intervalMs: number;
  /** BackoffRate. @default 2 */
  readonly backoffRate: number;
  /** MaxAttempts: retries after the first call. @default 3 */
  readonly maxAttempts: number;
}
export const DEFAULT_RETRY: RetryPolicy = {
  intervalMs: RETRY_TIMING.intervalSeconds * 1000,
  backoffRate: RETRY_TIMING.backoffRate,
  maxAttempts: RETRY_TIMING.maxAttempts,
};

/**
 * The `JobFailed` Fail state's error and cause (as lib/batch-jobs.ts renders them): a plan
 * failure, and a job the assemble step judged FAILED, end there.
 */
export const JOB_FAILED = { error: JOB_FAILED_ERROR, cause: JOB_FAILED_CAUSE } as const;

/** A state's error, as Catch hands it on (`$.error`, `$.mapError`). */
export interface StatesErrorOutput {
  readonly Error: string;
  readonly Cause: string;
}

/** The Distributed Map's output with a ResultWriter (`$.map`). */
export interface MapOutput {
  readonly MapRunArn: string;
  readonly ResultWriterDetails: { readonly Bucket: string; readonly Key: string };
}

/** The events the batch-steps handler receives. */
export type BatchStepEvent =
  | { readonly step: 'plan'; readonly job: WorkflowInput }
  | {
      readonly step: 'assemble';
      readonly job: Record<string, unknown>;
      readonly plan: PlanResult;
      readonly map?: MapOutput;
      readonly mapError?: StatesErrorOutput;
    }
  | { readonly step: 'fail'; readonly job: Record<string, unknown>; readonly error: StatesErrorOutput };

export interface LocalBatchRunnerOptions {
  /** The batch-steps Lambda handler (events: {@link BatchStepEvent}). */
  readonly steps: (event: unknown) => Promise<unknown>;
  /** The batch function's handler (the item processor). */
  readonly batch: (event: SplitBatchEvent) => Promise<SplitBatchResult>;
  /** Reads the splits file (ItemReader), writes the result files (ResultWriter). */
  readonly s3: S3Client;
  /** Where executions persist (created if missing); in memory when omitted. */
  readonly stateDir?: string;
  /** ms since the epoch, for StartDate/StopDate. @default Date.now */
  readonly now?: () => number;
  /** Most children in flight per execution, whatever the job asks. @default 10 */
  readonly concurrencyCap?: number;
  /** Overrides every Retry block's numbers (tests shorten the intervals). @default {@link DEFAULT_RETRY} */
  readonly retry?: Partial<RetryPolicy>;
  /** The state machine's name in the ARNs. @default 'local-batch-jobs' */
  readonly stateMachineName?: string;
  /** Where unexpected problems are reported (a journal that cannot be written, say). @default stderr */
  readonly warn?: (text: string) => void;
}

type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
type Phase = 'Plan' | 'RecordPlanFailure' | 'PredictSplits' | 'Assemble' | 'Ended';

/** A child that SUCCEEDED or FAILED, keyed by the position of its first item. */
interface ChildRecord {
  readonly first: number;
  readonly name: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly startDate: string;
  readonly stopDate: string;
  /** SUCCEEDED: the output, JSON. */
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
}

interface MapRunRecord {
  readonly runId: string;
  readonly startDate: string;
  readonly etag: string | undefined;
  readonly items: number;
  readonly batches: number;
}

/** What the journal keeps of an execution. */
interface ExecutionSnapshot {
  readonly executionId: string;
  readonly jobId: string;
  readonly input: WorkflowInput;
  readonly startDate: string;
  status: ExecutionStatus;
  phase: Phase;
  stopDate?: string;
  error?: string;
  cause?: string;
  plan?: PlanResult;
  planError?: StatesErrorOutput;
  mapRun?: MapRunRecord;
  map?: MapOutput;
  mapError?: StatesErrorOutput;
  result?: unknown;
  /** Only in a compacted snapshot of a RUNNING execution. */
  succeeded?: ChildRecord[];
}

interface Execution extends ExecutionSnapshot {
  readonly file: string | undefined;
  /** Children that SUCCEEDED (every attempt) and FAILED (this attempt). */
  readonly done: Map<number, ChildRecord>;
  /** Journal writes, in order. */
  journal: Promise<void>;
  /** Aborted by `stop` and `close`: cuts a retry's wait short. */
  readonly interrupt: AbortController;
  /** The background run, while there is one. */
  running?: Promise<void>;
}

/**
 * A Map Run's items and batches, as the ItemReader read the splits file once (Step Functions
 * reads its items once too; a split is some 150 bytes, so a job of 100 million rows keeps some
 * 15 MB here).
 */
interface BatchLayout {
  readonly etag: string | undefined;
  /** Every item, as the plan wrote it. */
  readonly lines: readonly string[];
  readonly items: number;
  /** Per batch: the position of its first item. */
  readonly firsts: number[];
}

/** A state's failure: its error name and cause; `terminal` ones are not caught by `States.ALL`. */
class StatesError extends Error {
  constructor(
    readonly error: string,
    readonly causeText: string,
    readonly terminal = false,
  ) {
    super(`${error}: ${causeText}`);
  }

  get output(): StatesErrorOutput {
    return { Error: this.error, Cause: this.causeText };
  }
}

/** The call was given up because the execution was stopped or the runner closed. */
const INTERRUPTED = Symbol('interrupted');

export class LocalBatchRunner implements JobRunner {
  private readonly executions = new Map<string, Execution>();
  private readonly byJob = new Map<string, Execution>();
  private readonly retry: RetryPolicy;
  private readonly now: () => number;
  private readonly cap: number;
  private readonly machine: string;
  private closed = false;

  constructor(private readonly options: LocalBatchRunnerOptions) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.now = options.now ?? Date.now;
    this.cap = Math.max(1, Math.floor(options.concurrencyCap ?? 10));
    this.machine = options.stateMachineName ?? 'local-batch-jobs';
    if (options.stateDir) {
      mkdirSync(options.stateDir, { recursive: true });
      this.load(options.stateDir);
    }
  }

  /** Starts the job's execution in the background; a second start of the same job returns the same id. */
  async start(input: WorkflowInput): Promise<{ executionId: string }> {
    if (this.closed) throw new Error('The local batch runner is closed.');
    const existing = this.byJob.get(input.jobId);
    if (existing) {
      await existing.journal;
      return { executionId: existing.executionId };
    }
    const executionId = `arn:aws:states:local:000000000000:execution:${this.machine}:${input.jobId}`;
    const execution = this.track({
      executionId,
      jobId: input.jobId,
      input: JSON.parse(JSON.stringify(input)) as WorkflowInput,
      startDate: this.iso(),
      status: 'RUNNING',
      phase: 'Plan',
    });
    try {
      execution.journal = this.writeSnapshot(execution);
      await execution.journal;
    } catch (error) {
      this.executions.delete(executionId);
      this.byJob.delete(input.jobId);
      throw error;
    }
    this.launch(execution);
    return { executionId };
  }

  /** Aborts a running execution: no new batch starts, the batches in flight finish, Assemble does not run. */
  async stop(executionId: string, reason: string): Promise<void> {
    const execution = this.executions.get(executionId);
    if (execution?.status !== 'RUNNING') return;
    execution.status = 'ABORTED';
    execution.cause = reason;
    execution.stopDate = this.iso();
    execution.interrupt.abort();
    await this.append(execution, { state: { status: 'ABORTED', cause: reason, stopDate: execution.stopDate } });
    // A run in flight compacts the journal when it returns; an execution not resumed has none.
    if (!execution.running) await this.compact(execution);
  }

  async status(
    executionId: string,
  ): Promise<{ status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED' | 'UNKNOWN'; error?: string; cause?: string }> {
    const execution = this.executions.get(executionId);
    if (!execution) return { status: 'UNKNOWN' };
    return {
      status: execution.status,
      ...(execution.error !== undefined ? { error: execution.error } : {}),
      ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
    };
  }

  /**
   * Runs again every execution the state folder holds as RUNNING (a previous process stopped or
   * died under it), from the state it had reached; returns their ids. Calling it again does not
   * start them twice.
   */
  async resume(): Promise<string[]> {
    if (this.closed) throw new Error('The local batch runner is closed.');
    const resumed: string[] = [];
    for (const execution of this.executions.values()) {
      if (execution.status !== 'RUNNING' || execution.running) continue;
      await this.compact(execution);
      this.launch(execution);
      resumed.push(execution.executionId);
    }
    return resumed;
  }

  /** Resolves once the execution's background run has returned (ended, aborted, or interrupted by `close`). */
  async settled(executionId: string): Promise<void> {
    await this.executions.get(executionId)?.running;
  }

  /**
   * Stops scheduling (no batch, step or retry starts) and waits for the calls in flight. Executions
   * not ended stay RUNNING in the state folder, for `resume` in the next process.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const execution of this.executions.values()) execution.interrupt.abort();
    await Promise.all([...this.executions.values()].map((e) => e.running));
    await Promise.all([...this.executions.values()].map((e) => e.journal));
  }

  // -------------------------------------------------------------------------------------------
  // The state machine

  private launch(execution: Execution): void {
    const run = this.run(execution)
      .catch((error: unknown) => this.warn(`batch execution ${execution.executionId} stopped on an unexpected error: ${describe(error)}\n`))
      .then(() => (execution.status === 'RUNNING' ? undefined : this.compact(execution)))
      .finally(() => {
        if (execution.running === run) delete execution.running;
      });
    execution.running = run;
  }

  private async run(execution: Execution): Promise<void> {
    try {
      if (execution.phase === 'Plan') await this.planState(execution);
      if (this.halted(execution)) return;
      if (execution.phase === 'RecordPlanFailure') {
        await this.recordPlanFailure(execution);
        return;
      }
      if (execution.phase === 'PredictSplits') await this.predictSplitsState(execution);
      if (this.halted(execution)) return;
      if (execution.phase === 'Assemble') await this.assembleState(execution);
    } catch (error) {
      if (error === INTERRUPTED) return;
      // Terminal errors (States.Runtime, States.DataLimitExceeded) and failures of states without
      // a Catch (Assemble, RecordPlanFailure) end the execution.
      const failure = error instanceof StatesError ? error.output : lambdaError(error);
      await this.end(execution, 'FAILED', failure.Error, failure.Cause);
    }
  }

  private async planState(execution: Execution): Promise<void> {
    const job = execution.input;
    let plan: unknown;
    try {
      plan = await this.task(execution, { step: 'plan', job }, PLAN_RETRY_ERRORS);
    } catch (error) {
      if (error === INTERRUPTED || (error instanceof StatesError && error.terminal)) throw error;
      const planError = error instanceof StatesError ? error.output : lambdaError(error);
      execution.planError = planError;
      execution.phase = 'RecordPlanFailure';
      await this.append(execution, { state: { phase: 'RecordPlanFailure', planError } });
      return;
    }
    checkPayload({ ...job, plan }, 'the state after Plan');
    execution.plan = plan as PlanResult;
    execution.phase = 'PredictSplits';
    await this.append(execution, { state: { phase: 'PredictSplits', plan: execution.plan } });
  }

  private async recordPlanFailure(execution: Execution): Promise<void> {
    const error = execution.planError ?? { Error: 'States.Runtime', Cause: 'The plan failure was not recorded.' };
    const job = { ...execution.input, error };
    await this.task(execution, { step: 'fail', job, error }, PLAN_RETRY_ERRORS);
    await this.end(execution, 'FAILED', JOB_FAILED.error, JOB_FAILED.cause);
  }

  private async assembleState(execution: Execution): Promise<void> {
    const plan = execution.plan as PlanResult;
    const outcome = execution.map
      ? { map: execution.map }
      : { mapError: execution.mapError ?? { Error: 'States.Runtime', Cause: 'The map outcome was not recorded.' } };
    const job = { ...execution.input, plan, ...outcome };
    const result = await this.task(execution, { step: 'assemble', job, plan, ...outcome }, ASSEMBLE_RETRY_ERRORS);
    checkPayload({ ...job, result }, 'the state after Assemble');
    execution.result = result;
    const state = result !== null && typeof result === 'object' ? (result as { state?: unknown }).state : undefined;
    if (state === undefined) {
      throw new StatesError(
        'States.Runtime',
        "Invalid path '$.result.state': the choice state 'JobEnded?' could not find it in its input.",
        true,
      );
    }
    if (state === 'SUCCEEDED') await this.end(execution, 'SUCCEEDED');
    else await this.end(execution, 'FAILED', JOB_FAILED.error, JOB_FAILED.cause);
  }

  /** The Distributed Map, from its first child or, after a restart, redriven. */
  private async predictSplitsState(execution: Execution): Promise<void> {
    const plan = execution.plan;
    const state = { ...execution.input, plan };
    // The definition's paths, resolved as Step Functions would (a missing one is States.Runtime).
    const reader = { bucket: stringAt(state, '$.plan.splits.bucket'), key: stringAt(state, '$.plan.splits.key') };
    const maxItems = integerAt(state, '$.plan.splitsPerBatch', 1);
    const maxConcurrency = integerAt(state, '$.options.maxConcurrency', 0);
    const tolerance = numberAt(state, '$.options.toleratedFailurePercentage', 0, 100);
    const batchInput: SplitBatchInput = {
      jobId: valueAt(state, '$.jobId') as string,
      model: valueAt(state, '$.model') as string,
      version: valueAt(state, '$.version') as string,
      format: valueAt(state, '$.format') as SplitBatchInput['format'],
      output: valueAt(state, '$.output') as SplitBatchInput['output'],
      columns: valueAt(state, '$.plan.columns') as readonly string[],
    };
    const writer = { bucket: stringAt(state, '$.output.bucket'), prefix: stringAt(state, '$.plan.mapResultsPrefix') };
    const batchInputJson = JSON.stringify(batchInput);

    let outcome: { map?: MapOutput; mapError?: StatesErrorOutput } | undefined;
    let layout: BatchLayout | undefined;
    try {
      layout = await this.readLayout(reader, maxItems, batchInputJson);
      const run = execution.mapRun;
      if (run && (run.etag !== layout.etag || run.items !== layout.items || run.batches !== layout.firsts.length)) {
        throw new StatesError(
          'States.ItemReaderFailed',
          `The splits file s3://${reader.bucket}/${reader.key} changed since the Map Run started (it had ${run.items} items in ${run.batches} batches, ETag ${run.etag ?? 'none'}; it now has ${layout.items} in ${layout.firsts.length}, ETag ${layout.etag ?? 'none'}); the Map Run cannot be redriven.`,
        );
      }
      if (!run) {
        execution.mapRun = {
          runId: randomUUID(),
          startDate: this.iso(),
          etag: layout.etag,
          items: layout.items,
          batches: layout.firsts.length,
        };
        await this.append(execution, { state: { mapRun: execution.mapRun } });
      }
    } catch (error) {
      if (!(error instanceof StatesError) || error.terminal) throw error;
      layout = undefined;
      outcome = { mapError: error.output };
    }

    if (layout && execution.mapRun) {
      const run = execution.mapRun;
      const failure = await this.runChildren(execution, layout, batchInput, { maxConcurrency, tolerance });
      if (this.closed && execution.status === 'RUNNING') return; // resumed by the next process
      const mapRunArn = `arn:aws:states:local:000000000000:mapRun:${this.machine}/PredictSplits:${run.runId}`;
      try {
        const key = await this.writeResults(execution, reader, layout, batchInputJson, writer, mapRunArn);
        outcome = failure
          ? { mapError: failure }
          : { map: { MapRunArn: mapRunArn, ResultWriterDetails: { Bucket: writer.bucket, Key: key } } };
      } catch (error) {
        outcome = {
          mapError: failure ?? {
            Error: 'States.ResultWriterFailed',
            Cause: `The results could not be written to s3://${writer.bucket}/${writer.prefix}/: ${describe(error)}`,
          },
        };
      }
    } else {
      outcome ??= { mapError: { Error: 'States.ItemReaderFailed', Cause: 'The splits file could not be read.' } };
    }
    if (execution.status !== 'RUNNING') return;
    if (outcome.map) execution.map = outcome.map;
    if (outcome.mapError) execution.mapError = outcome.mapError;
    execution.phase = 'Assemble';
    await this.append(execution, { state: { phase: 'Assemble', ...outcome } });
  }

  /**
   * Runs the batches not yet SUCCEEDED, at most `maxConcurrency` (and the cap) at once; returns
   * the Map's failure, if it failed (tolerance exceeded, a batch that could not be read).
   */
  private async runChildren(
    execution: Execution,
    layout: BatchLayout,
    batchInput: SplitBatchInput,
    limits: { maxConcurrency: number; tolerance: number },
  ): Promise<StatesErrorOutput | undefined> {
    const limit = Math.min(this.cap, limits.maxConcurrency === 0 ? Number.POSITIVE_INFINITY : limits.maxConcurrency);
    const inFlight = new Set<Promise<void>>();
    let failedItems = 0;
    let failure: StatesErrorOutput | undefined;
    const stopped = () => failure !== undefined || execution.status !== 'RUNNING' || this.closed;
    for (const batch of layout.firsts.keys()) {
      if (stopped()) break;
      const first = layout.firsts[batch] as number;
      if (execution.done.get(first)?.status === 'SUCCEEDED') continue;
      while (inFlight.size >= limit) await Promise.race(inFlight);
      if (stopped()) break;
      const items = (layout.firsts[batch + 1] ?? layout.items) - first;
      const child = this.runChild(execution, layout, batch, batchInput).then((outcome) => {
        if (outcome === INTERRUPTED) return;
        if (outcome instanceof StatesError) {
          failure ??= outcome.output;
          return;
        }
        if (outcome.status === 'FAILED') {
          failedItems += items;
          if ((failedItems / layout.items) * 100 > limits.tolerance && !failure) {
            const percent = Math.round((failedItems / layout.items) * 10_000) / 100;
            failure = {
              Error: 'States.ExceedToleratedFailureThreshold',
              Cause: `The Map Run failed: ${failedItems} of its ${layout.items} items failed (${percent}%), above the tolerated ${limits.tolerance}%.`,
            };
          }
        }
      });
      const tracked = child.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
    return failure;
  }

  /** One child execution: its batch's items, the batch function invoked with the item processor's Retry, the outcome recorded. */
  private async runChild(
    execution: Execution,
    layout: BatchLayout,
    batch: number,
    batchInput: SplitBatchInput,
  ): Promise<ChildRecord | StatesError | typeof INTERRUPTED> {
    const first = layout.firsts[batch] as number;
    const count = (layout.firsts[batch + 1] ?? layout.items) - first;
    const startDate = this.iso();
    const items = layout.lines.slice(first, first + count).map((line) => JSON.parse(line) as unknown);
    // The runner passes the items on as the plan wrote them, as Step Functions does.
    const event = { Items: items, BatchInput: batchInput } as unknown as SplitBatchEvent;
    const name = randomUUID();
    let record: ChildRecord;
    try {
      const output = await this.invokeWithRetry(execution, this.options.batch, event, ITEM_RETRY_ERRORS);
      record = { first, name, status: 'SUCCEEDED', startDate, stopDate: this.iso(), output: JSON.stringify(output) };
    } catch (error) {
      if (error === INTERRUPTED) return INTERRUPTED;
      const failure = error instanceof StatesError ? error.output : lambdaError(error);
      record = { first, name, status: 'FAILED', startDate, stopDate: this.iso(), error: failure.Error, cause: failure.Cause };
    }
    execution.done.set(first, record);
    if (record.status === 'SUCCEEDED') await this.append(execution, { batch: record });
    return record;
  }

  /** A Task state's Lambda call with its Retry; Catch is the caller's. */
  private task(execution: Execution, event: BatchStepEvent, retryOn: readonly string[]): Promise<unknown> {
    return this.invokeWithRetry(execution, this.options.steps, event, retryOn);
  }

  private async invokeWithRetry<E, R>(
    execution: Execution,
    handler: (event: E) => Promise<R>,
    event: E,
    retryOn: readonly string[],
  ): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed || execution.status !== 'RUNNING') throw INTERRUPTED;
      try {
        return await invokeLambda(handler, event);
      } catch (error) {
        const name = error instanceof StatesError ? error.error : lambdaError(error).Error;
        if (attempt >= this.retry.maxAttempts || !retryOn.includes(name)) throw error;
        const waited = await pause(this.retry.intervalMs * this.retry.backoffRate ** attempt, execution.interrupt.signal);
        if (!waited) throw INTERRUPTED;
      }
    }
  }

  /** Ends the execution, unless it was stopped meanwhile (the journal is compacted once the run returns). */
  private async end(execution: Execution, status: 'SUCCEEDED' | 'FAILED', error?: string, cause?: string): Promise<void> {
    if (execution.status !== 'RUNNING') return;
    execution.status = status;
    execution.phase = 'Ended';
    execution.stopDate = this.iso();
    if (error !== undefined) execution.error = error;
    if (cause !== undefined) execution.cause = cause;
    await this.append(execution, {
      state: {
        status,
        phase: 'Ended',
        stopDate: execution.stopDate,
        ...(error !== undefined ? { error } : {}),
        ...(cause !== undefined ? { cause } : {}),
      },
    });
  }

  private halted(execution: Execution): boolean {
    return execution.status !== 'RUNNING' || this.closed;
  }

  // -------------------------------------------------------------------------------------------
  // ItemReader, ItemBatcher, ResultWriter

  /** Reads the splits file once: counts its items, checks each is JSON, and cuts the batches. */
  private async readLayout(reader: { bucket: string; key: string }, maxItems: number, batchInputJson: string): Promise<BatchLayout> {
    const object = await this.getObject(reader, undefined);
    const base = utf8Bytes(`{"Items":[],"BatchInput":${batchInputJson}}`);
    const firsts: number[] = [];
    const lines: string[] = [];
    let items = 0;
    let inBatch = 0;
    let bytes = base;
    for await (const line of jsonLines(object.body, 0)) {
      const itemBytes = utf8Bytes(JSON.stringify(parseItem(line, reader)));
      if (inBatch > 0 && (inBatch >= maxItems || bytes + 1 + itemBytes > MAX_INPUT_BYTES_PER_BATCH)) inBatch = 0;
      if (inBatch === 0) {
        if (base + itemBytes > MAX_INPUT_BYTES_PER_BATCH) {
          throw new StatesError(
            'States.ItemReaderFailed',
            `Item ${items} (line ${line.number}) of s3://${reader.bucket}/${reader.key} is ${itemBytes} bytes: with the BatchInput its batch would be above MaxInputBytesPerBatch (${MAX_INPUT_BYTES_PER_BATCH}).`,
          );
        }
        firsts.push(items);
        bytes = base + itemBytes;
      } else {
        bytes += 1 + itemBytes;
      }
      lines.push(line.text);
      inBatch += 1;
      items += 1;
    }
    return { etag: object.etag, lines, items, firsts };
  }

  private async getObject(
    reader: { bucket: string; key: string },
    etag: string | undefined,
    range?: string,
  ): Promise<{ body: AsyncIterable<Uint8Array>; etag: string | undefined; size: number }> {
    let response;
    try {
      response = await this.options.s3.send(
        new GetObjectCommand({
          Bucket: reader.bucket,
          Key: reader.key,
          ...(range ? { Range: range } : {}),
          ...(etag ? { IfMatch: etag } : {}),
        }),
      );
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const what =
        name === 'NoSuchKey' || name === 'NotFound'
          ? 'does not exist'
          : name === 'PreconditionFailed'
            ? 'changed since the Map Run started'
            : `could not be read (${describe(error)})`;
      throw new StatesError('States.ItemReaderFailed', `The splits file s3://${reader.bucket}/${reader.key} ${what}.`);
    }
    const body = response.Body as AsyncIterable<Uint8Array> | undefined;
    if (!body || !(Symbol.asyncIterator in body))
      throw new StatesError('States.ItemReaderFailed', `The splits file s3://${reader.bucket}/${reader.key} came back without a body.`);
    if (etag !== undefined && response.ETag !== etag) {
      (body as Partial<Readable>).destroy?.();
      throw new StatesError(
        'States.ItemReaderFailed',
        `The splits file s3://${reader.bucket}/${reader.key} changed since the Map Run started (ETag ${response.ETag ?? 'none'}, not ${etag}).`,
      );
    }
    return { body, etag: response.ETag, size: response.ContentLength ?? 0 };
  }

  /** Writes the result files and the manifest; returns the manifest's key. */
  private async writeResults(
    execution: Execution,
    reader: { bucket: string; key: string },
    layout: BatchLayout,
    batchInputJson: string,
    writer: { bucket: string; prefix: string },
    mapRunArn: string,
  ): Promise<string> {
    const runId = (execution.mapRun as MapRunRecord).runId;
    const folder = `${writer.prefix.endsWith('/') ? writer.prefix : `${writer.prefix}/`}${runId}/`;
    const counts = { SUCCEEDED: 0, FAILED: 0, PENDING: 0 };
    for (const first of layout.firsts) counts[execution.done.get(first)?.status ?? 'PENDING'] += 1;
    const files: Record<'FAILED' | 'PENDING' | 'SUCCEEDED', Array<{ Key: string; Size: number }>> = {
      FAILED: [],
      PENDING: [],
      SUCCEEDED: [],
    };
    for (const status of ['SUCCEEDED', 'FAILED', 'PENDING'] as const) {
      if (counts[status] === 0) continue;
      const key = `${folder}${status}_0.json`;
      let size = 0;
      const entries = this.resultEntries(execution, reader, layout, batchInputJson, status);
      async function* body(): AsyncGenerator<Buffer> {
        let separator = '[';
        for await (const entry of entries) {
          const chunk = Buffer.from(`${separator}${entry}`);
          separator = ',';
          size += chunk.length;
          yield chunk;
        }
        const end = Buffer.from(separator === '[' ? '[]' : ']');
        size += end.length;
        yield end;
      }
      await new Upload({
        client: this.options.s3,
        params: { Bucket: writer.bucket, Key: key, Body: Readable.from(body()), ContentType: 'application/json' },
      }).done();
      files[status].push({ Key: key, Size: size });
    }
    const manifestKey = `${folder}manifest.json`;
    const manifest = { DestinationBucket: writer.bucket, MapRunArn: mapRunArn, ResultFiles: files };
    await this.options.s3.send(
      new PutObjectCommand({ Bucket: writer.bucket, Key: manifestKey, Body: JSON.stringify(manifest), ContentType: 'application/json' }),
    );
    return manifestKey;
  }

  /** The result entries of one status, in batch order, reading the items back from the splits file. */
  private async *resultEntries(
    execution: Execution,
    reader: { bucket: string; key: string },
    layout: BatchLayout,
    batchInputJson: string,
    status: 'SUCCEEDED' | 'FAILED' | 'PENDING',
  ): AsyncGenerator<string> {
    const object = await this.getObject(reader, layout.etag);
    const stateMachineArn = `arn:aws:states:local:000000000000:stateMachine:${this.machine}/PredictSplits`;
    let batch = 0;
    let items: string[] = [];
    const flush = (): string | undefined => {
      const first = layout.firsts[batch] as number;
      const record = execution.done.get(first);
      const input = `{"Items":[${items.join(',')}],"BatchInput":${batchInputJson}}`;
      batch += 1;
      items = [];
      if ((record?.status ?? 'PENDING') !== status) return undefined;
      if (!record) return JSON.stringify({ Input: input, InputDetails: { Included: true }, Status: 'PENDING' });
      const common = {
        ExecutionArn: `arn:aws:states:local:000000000000:execution:${this.machine}/PredictSplits:${record.name}`,
        Input: input,
        InputDetails: { Included: true },
        Name: record.name,
      };
      const tail = {
        RedriveCount: 0,
        RedriveStatus: 'NOT_REDRIVABLE',
        RedriveStatusReason:
          record.status === 'SUCCEEDED' ? 'Execution is SUCCEEDED and cannot be redriven' : 'Execution is EXPRESS and cannot be redriven',
        StartDate: record.startDate,
        StateMachineArn: stateMachineArn,
        Status: record.status,
        StopDate: record.stopDate,
      };
      return JSON.stringify(
        record.status === 'SUCCEEDED'
          ? { ...common, Output: record.output, OutputDetails: { Included: true }, ...tail }
          : { ...common, Error: record.error, Cause: record.cause, ...tail },
      );
    };
    let position = 0;
    for await (const line of jsonLines(object.body, 0)) {
      items.push(JSON.stringify(parseItem(line, reader)));
      position += 1;
      if (position === (layout.firsts[batch + 1] ?? layout.items)) {
        const entry = flush();
        if (entry !== undefined) yield entry;
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The journal

  private track(snapshot: ExecutionSnapshot): Execution {
    const { succeeded, ...rest } = snapshot;
    const file = this.options.stateDir ? path.join(this.options.stateDir, `${encodeURIComponent(snapshot.jobId)}.jsonl`) : undefined;
    const execution: Execution = {
      ...rest,
      file,
      done: new Map((succeeded ?? []).map((r) => [r.first, r])),
      journal: Promise.resolve(),
      interrupt: new AbortController(),
    };
    this.executions.set(execution.executionId, execution);
    this.byJob.set(execution.jobId, execution);
    return execution;
  }

  private snapshot(execution: Execution): ExecutionSnapshot {
    const { file: _file, done, journal: _journal, interrupt: _interrupt, running: _running, ...snapshot } = execution;
    const succeeded = [...done.values()].filter((r) => r.status === 'SUCCEEDED');
    return execution.status === 'RUNNING' && succeeded.length > 0 ? { ...snapshot, succeeded } : snapshot;
  }

  /** Replaces the execution's file with one snapshot line: a temporary file, fsynced, renamed. */
  private async writeSnapshot(execution: Execution): Promise<void> {
    if (!execution.file) return;
    const temporary = `${execution.file}.${process.pid}.tmp`;
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(`${JSON.stringify(this.snapshot(execution))}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, execution.file);
  }

  /** Rewrites the journal as one snapshot line, after the writes before it; a failure is reported, not thrown. */
  private compact(execution: Execution): Promise<void> {
    if (!execution.file) return Promise.resolve();
    execution.journal = execution.journal
      .then(() => this.writeSnapshot(execution))
      .catch((error: unknown) => this.warnJournal(execution, error));
    return execution.journal;
  }

  /** Appends a change, after the writes before it; a failure is reported, not thrown (the run goes on). */
  private append(execution: Execution, change: { state: Partial<ExecutionSnapshot> } | { batch: ChildRecord }): Promise<void> {
    const file = execution.file;
    if (!file) return Promise.resolve();
    execution.journal = execution.journal
      .then(() => appendFile(file, `${JSON.stringify(change)}\n`))
      .catch((error: unknown) => this.warnJournal(execution, error));
    return execution.journal;
  }

  private load(directory: string): void {
    for (const name of readdirSync(directory)
      .filter((n) => n.endsWith('.jsonl'))
      .sort()) {
      const file = path.join(directory, name);
      let lines: string[];
      let snapshot: ExecutionSnapshot;
      try {
        const parts = readFileSync(file, 'utf8').split('\n');
        // What follows the last newline: nothing, or a line a kill cut short, which never happened.
        parts.pop();
        lines = parts.filter((line) => line !== '');
        snapshot = JSON.parse(lines[0] ?? '') as ExecutionSnapshot;
        if (typeof snapshot.executionId !== 'string' || typeof snapshot.jobId !== 'string')
          throw new Error('its first line is not an execution');
      } catch (error) {
        this.warn(`the batch execution journal ${file} cannot be read (${describe(error)}); that execution is not resumed\n`);
        continue;
      }
      const batches: ChildRecord[] = [];
      let unreadable: string | undefined;
      for (const [i, line] of lines.slice(1).entries()) {
        try {
          const change = JSON.parse(line) as { state?: Partial<ExecutionSnapshot>; batch?: ChildRecord };
          if (change.state) Object.assign(snapshot, change.state);
          if (change.batch) batches.push(change.batch);
        } catch {
          unreadable = `Line ${i + 2} of the execution's journal ${file} cannot be read; the execution cannot be resumed.`;
          break;
        }
      }
      const execution = this.track(snapshot);
      for (const record of batches) execution.done.set(record.first, record);
      if (unreadable && execution.status === 'RUNNING') {
        Object.assign(execution, {
          status: 'FAILED',
          phase: 'Ended',
          error: 'Local.JournalUnreadable',
          cause: unreadable,
          stopDate: this.iso(),
        });
        this.warn(`${unreadable}\n`);
      }
      try {
        if (unreadable || lines.length > 1) this.writeSnapshotSync(execution);
      } catch (error) {
        this.warnJournal(execution, error);
      }
    }
  }

  /** `writeSnapshot` for the constructor. */
  private writeSnapshotSync(execution: Execution): void {
    if (!execution.file) return;
    const temporary = `${execution.file}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, `${JSON.stringify(this.snapshot(execution))}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, execution.file);
  }

  private warnJournal(execution: Execution, error: unknown): void {
    this.warn(`could not write the journal of batch execution ${execution.executionId}: ${describe(error)}\n`);
  }

  private warn(text: string): void {
    (this.options.warn ?? ((t) => process.stderr.write(t)))(text);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** A Lambda invocation: the event and the result go through JSON; a result above the quota is States.DataLimitExceeded. */
async function invokeLambda<E, R>(handler: (event: E) => Promise<R>, event: E): Promise<unknown> {
  const payload = JSON.parse(JSON.stringify(event)) as E;
  const result = await Promise.resolve().then(() => handler(payload));
  const text = JSON.stringify(result) ?? 'null';
  if (utf8Bytes(text) > PAYLOAD_QUOTA_BYTES) {
    throw new StatesError(
      'States.DataLimitExceeded',
      `The task result is ${utf8Bytes(text)} bytes, above the ${PAYLOAD_QUOTA_BYTES}-byte quota.`,
      true,
    );
  }
  return JSON.parse(text) as unknown;
}

/** A handler's throw as Step Functions reports a Lambda function error. */
function lambdaError(error: unknown): StatesErrorOutput {
  const errorType = error instanceof Error ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  const trace = error instanceof Error && error.stack ? error.stack.split('\n') : [];
  return { Error: errorType, Cause: JSON.stringify({ errorType, errorMessage, trace }) };
}

function checkPayload(state: unknown, what: string): void {
  const bytes = utf8Bytes(JSON.stringify(state));
  if (bytes > PAYLOAD_QUOTA_BYTES) {
    throw new StatesError('States.DataLimitExceeded', `${what} is ${bytes} bytes, above the ${PAYLOAD_QUOTA_BYTES}-byte quota.`, true);
  }
}

/** A reference path of the definition (`$.a.b`); a missing one is States.Runtime. */
function valueAt(state: unknown, reference: string): unknown {
  let value: unknown = state;
  for (const field of reference.slice(2).split('.')) {
    if (value === null || typeof value !== 'object' || !(field in value)) {
      throw new StatesError(
        'States.Runtime',
        `The JSONPath '${reference}' could not be found in the input of state 'PredictSplits'.`,
        true,
      );
    }
    value = (value as Record<string, unknown>)[field];
  }
  return value;
}

function stringAt(state: unknown, reference: string): string {
  const value = valueAt(state, reference);
  if (typeof value !== 'string' || value === '')
    throw new StatesError('States.Runtime', `The value at '${reference}' must be a non-empty string.`, true);
  return value;
}

function integerAt(state: unknown, reference: string, min: number): number {
  const value = valueAt(state, reference);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw new StatesError('States.Runtime', `The value at '${reference}' must be an integer of at least ${min}.`, true);
  return value;
}

function numberAt(state: unknown, reference: string, min: number, max: number): number {
  const value = valueAt(state, reference);
  if (typeof value !== 'number' || !(value >= min && value <= max))
    throw new StatesError('States.Runtime', `The value at '${reference}' must be a number from ${min} to ${max}.`, true);
  return value;
}

function parseItem(line: { text: string; number: number }, reader: { bucket: string; key: string }): unknown {
  try {
    return JSON.parse(line.text) as unknown;
  } catch {
    throw new StatesError('States.ItemReaderFailed', `Line ${line.number} of s3://${reader.bucket}/${reader.key} is not JSON.`);
  }
}

/**
 * The non-blank lines of a stream of bytes, with the byte offset where each starts (from `origin`)
 * and its one-based number. Lines must be UTF-8.
 */
async function* jsonLines(
  body: AsyncIterable<Uint8Array>,
  origin: number,
): AsyncGenerator<{ text: string; start: number; number: number }> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: Buffer = Buffer.alloc(0);
  let pendingStart = origin;
  let number = 0;
  const emit = (bytes: Buffer, start: number) => {
    number += 1;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw new StatesError('States.ItemReaderFailed', `Line ${number} of the splits file is not UTF-8.`);
    }
    return text.trim() === '' ? undefined : { text, start, number };
  };
  for await (const chunk of body) {
    let buffer = pending.length > 0 ? Buffer.concat([pending, chunk]) : Buffer.from(chunk);
    let bufferStart = pendingStart;
    let newline = buffer.indexOf(0x0a);
    while (newline !== -1) {
      const line = emit(buffer.subarray(0, newline), bufferStart);
      if (line) yield line;
      buffer = buffer.subarray(newline + 1);
      bufferStart += newline + 1;
      newline = buffer.indexOf(0x0a);
    }
    pending = buffer;
    pendingStart = bufferStart;
  }
  if (pending.length > 0) {
    const line = emit(pending, pendingStart);
    if (line) yield line;
  }
}

/** Waits `ms`; resolves false at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
