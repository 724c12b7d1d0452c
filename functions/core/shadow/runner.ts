/**
 * Shadow traffic (issue 14, item 4): a sampled request also runs on a candidate version of its
 * model, after the caller has its answer, and both outputs are compared. This module runs those
 * candidate requests, off the request path, one at a time; `report.ts` sums their results up.
 *
 * ## What a shadow run never does
 *
 * It never delays, changes or fails the caller's answer: {@link ShadowRunner.submit} only queues
 * (the first run starts on a later turn of the event loop, `setImmediate`, after the answer is
 * written), a full queue refuses the job rather than growing, and every failure of the candidate
 * (its load, its decoding of the request, its run) becomes an error result, never a throw.
 *
 * ## One result ({@link ShadowResult})
 *
 * The candidate's outputs are compared with the primary's by `compareRequest`
 * (`functions/core/replay/compare.ts`), as a replay compares a captured request: the primary's
 * outputs are first put in the form a capture record keeps them (the v2 JSON form of each tensor,
 * `v2OutputJsonText`, parsed back), so the numbers are read exactly as a replay reads them and a
 * version compared with itself differs by exactly 0. The result keeps the comparison's sums (no
 * per-row list; at most {@link MAX_LABEL_CHANGES} label changes), the candidate's outputs as the
 * prediction log keeps outputs (`boundedJson`, cut to `maxLoggedOutputBytes`), and its latency.
 *
 * Error codes: an `AppError` keeps its own code (a candidate whose features differ from the
 * request's answers the decoder's 400 code; one that cannot be loaded its 5xx code);
 * anything else is {@link SHADOW_RUN_FAILED}; a full queue is {@link SHADOW_QUEUE_FULL}; a
 * comparison that throws (a bug) is {@link SHADOW_COMPARE_FAILED}, with the outputs still kept.
 * Messages are at most {@link MAX_ERROR_MESSAGE_CHARS} characters, with no stack frames and no
 * file paths (see {@link publicMessage}).
 */
import type { CapturedTensor } from '../capture.js';
import { AppError, describeError } from '../errors.js';
import type { TensorData, TensorMap } from '../tensor.js';
import { v2OutputJsonText, v2Outputs, type ClassifierView } from '../codec/encode.js';
import { boundedJson, type Served } from '../predict.js';
import { compareRequest, type ComparedRequest, type RequestComparison } from '../replay/compare.js';

/** Jobs waiting at most, by default. */
export const DEFAULT_MAX_QUEUED = 100;
/** Label changes a result keeps at most (the count is always whole: `differingLabels`). */
export const MAX_LABEL_CHANGES = 10;
/** Longest error message a result keeps, in characters. */
export const MAX_ERROR_MESSAGE_CHARS = 300;
/** The candidate failed with something other than an `AppError`. */
export const SHADOW_RUN_FAILED = 'SHADOW_RUN_FAILED';
/** The queue held `maxQueued` jobs already: this one was not run. */
export const SHADOW_QUEUE_FULL = 'SHADOW_QUEUE_FULL';
/** The candidate ran, but comparing its outputs threw (a bug on our side). */
export const SHADOW_COMPARE_FAILED = 'SHADOW_COMPARE_FAILED';

/** One request to run on the candidate, with what the primary answered. */
export interface ShadowJob {
  readonly model: string;
  readonly candidateVersion: string;
  readonly requestId: string;
  /**
   * Runs the caller's request on `target` (decode with the target's own layout/signature, then
   * `session.run`): its outputs and its outputs as the JSON text the prediction log keeps. Built
   * by predict.ts. May throw (an `AppError` keeps its code).
   */
  readonly run: (target: Served) => Promise<{ readonly outputs: TensorMap; readonly logText: string }>;
  /** The primary's answer: its version, output tensors, rows, time (ISO-8601 UTC) and classifier view. */
  readonly primary: {
    readonly version: string;
    readonly outputs: TensorMap;
    readonly rows: number;
    readonly timestamp: string;
    readonly classifier?: ClassifierView;
  };
}

/**
 * `compareRequest`'s result without what the log item has already (request id, version, time)
 * and without the per-row list: `rows`, `maxAbsDiff`, `differingLabels` (classifiers on both
 * sides), `labelChanges` (at most {@link MAX_LABEL_CHANGES}, the first rows; `source` is the
 * primary's label, `target` the candidate's), `outputs` and `notCompared`.
 */
export type ShadowComparison = Pick<
  RequestComparison,
  'rows' | 'maxAbsDiff' | 'differingLabels' | 'labelChanges' | 'outputs' | 'notCompared'
>;

/** What one shadow run gave: stored as the `shadow` map of the request's prediction-log item. */
export interface ShadowResult {
  /** The candidate version. */
  readonly version: string;
  /** The candidate's time to decode the request and run, in ms, 3 decimals (its load is not counted). */
  readonly latencyMs?: number;
  /** The candidate's outputs as the prediction log keeps them, cut by `boundedJson` to `maxLoggedOutputBytes`. */
  readonly outputs?: string;
  /** Whether `outputs` was cut (present with `outputs`). */
  readonly truncated?: boolean;
  readonly comparison?: ShadowComparison;
  /** The candidate failed (load, decode or run), or the job was refused: code and a short message without stack or paths. */
  readonly error?: { readonly code: string; readonly message: string };
}

export interface ShadowRunnerOptions {
  /** Leases a served version (predict.ts passes its own cached session lookup); the lease must be released. */
  readonly serve: (model: string, version: string) => Promise<Served & { release(): void }>;
  /** Bound on the candidate's outputs kept in a result (as the prediction log's). */
  readonly maxLoggedOutputBytes: number;
  /** Jobs waiting at most (the one running is not counted); past it a job is not run and `done` gets error SHADOW_QUEUE_FULL. @default 100 */
  readonly maxQueued?: number;
  /** Monotonic ms clock. @default performance.now */
  readonly elapsed?: () => number;
  /**
   * Jobs gathered before they run together: a batch runs once this many wait, or once the oldest
   * has waited `maxDelayMs` (see {@link ShadowRunner}). 1 runs each job on the turn after its
   * request. @default 8
   */
  readonly batchSize?: number;
  /** Longest a job waits for its batch to fill, in ms (on Lambda: until the first drain after that). @default 1000 */
  readonly maxDelayMs?: number;
  /** Awaited before each batch runs (the prediction log's flush: a request's record is stored before its shadow result). @default nothing */
  readonly beforeBatch?: () => Promise<void>;
}

interface Entry {
  readonly job: ShadowJob;
  readonly done: (result: ShadowResult) => void;
  /** `elapsed()` when it was submitted. */
  readonly at: number;
}

/** Default jobs per batch. */
export const DEFAULT_BATCH_SIZE = 8;
/** Default longest wait for a batch, in ms. */
export const DEFAULT_MAX_DELAY_MS = 1_000;

/**
 * Runs shadow jobs in the background, one at a time, in the order submitted, in batches: once
 * `batchSize` jobs wait, or the oldest has waited `maxDelayMs` (a timer; on Lambda, where the
 * sandbox is frozen between invocations, the drain after an invocation runs a batch that is due:
 * {@link flushDue}), or when everything must finish ({@link flush}: shutdown, tests). Running the
 * candidate disturbs the process for the request that follows (its caches, the collector), so
 * gathering the runs leaves most requests undisturbed: the bench's handler p50 rose 15% with a
 * run after every request. Each batch first awaits `beforeBatch`.
 *
 * @example
 * const shadow = new ShadowRunner({ serve: (m, v) => lease(m, v), maxLoggedOutputBytes: 16_384 });
 * shadow.submit(job, (result) => log.addShadow(job.requestId, result));
 * await shadow.flush(); // before the Lambda invocation ends
 */
export class ShadowRunner {
  private readonly queue: Entry[] = [];
  private readonly maxQueued: number;
  private readonly elapsed: () => number;
  /** A drain loop is scheduled or running. */
  private draining = false;
  /** A job is taken from the queue and its `done` has not returned yet. */
  private running = false;
  /** Refused jobs whose `done` has not been called yet. */
  private refusing = 0;
  private waiters: (() => void)[] = [];
  private readonly batchSize: number;
  private readonly maxDelayMs: number;
  /** The timer that runs a batch whose oldest job has waited `maxDelayMs`. */
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: ShadowRunnerOptions) {
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.elapsed = options.elapsed ?? (() => performance.now());
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.maxDelayMs = Math.max(0, options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS);
  }

  /**
   * Queues the job; never throws, never runs anything synchronously (the first run starts on a
   * later turn: setImmediate), so the caller's answer is written first. Jobs run one at a time,
   * in order. `done` is called exactly once per job, with a result or an error result (also on a
   * later turn when the queue is full), and a `done` that throws is caught.
   */
  submit(job: ShadowJob, done: (result: ShadowResult) => void): void {
    if (this.queue.length >= this.maxQueued) {
      this.refusing++;
      setImmediate(() => {
        this.refusing--;
        const message = `The shadow queue already holds ${this.maxQueued} jobs; request ${job.requestId} was not run on version ${job.candidateVersion}.`;
        settle(done, { version: job.candidateVersion, error: { code: SHADOW_QUEUE_FULL, message: publicMessage(message) } });
        this.wakeIfIdle();
      });
      return;
    }
    this.queue.push({ job, done, at: this.elapsed() });
    if (this.queue.length >= this.batchSize) this.start();
    else if (!this.timer && !this.draining) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.start();
      }, this.maxDelayMs);
      this.timer.unref?.();
    }
  }

  /** Runs every job submitted so far (and while it runs) now; resolves once each has run and its `done` returned; never rejects. */
  flush(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    this.start();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Runs the waiting jobs if a batch is due (`batchSize` wait, or the oldest has waited
   * `maxDelayMs`) or one is running, and resolves once the queue is empty; else resolves at
   * once and leaves them waiting. What Lambda's drain calls after each invocation.
   */
  flushDue(): Promise<void> {
    const oldest = this.queue[0];
    const due = this.queue.length >= this.batchSize || (oldest !== undefined && this.elapsed() - oldest.at >= this.maxDelayMs);
    if (!due && !this.draining && !this.running) return Promise.resolve();
    return this.flush();
  }

  /** Starts running the queue on a later turn (the caller's answer is written first), unless it is running. */
  private start(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.draining || this.queue.length === 0) return;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  /** Jobs queued or running. */
  pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  /** Runs the queue empty, one job per turn of the event loop, after `beforeBatch`. */
  private async drain(): Promise<void> {
    try {
      await this.options.beforeBatch?.();
    } catch {
      // The hook's failure (the log's own, which never rejects by contract) does not stop the runs.
    }
    for (let entry = this.queue.shift(); entry; entry = this.queue.shift()) {
      this.running = true;
      const result = await this.run(entry.job);
      settle(entry.done, result);
      this.running = false;
      // Whatever the jobs' own awaits are, I/O (the next caller's request) gets a turn between them.
      if (this.queue.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.draining = false;
    this.wakeIfIdle();
  }

  /** One job: lease the candidate, run, release, compare. Never rejects. */
  private async run(job: ShadowJob): Promise<ShadowResult> {
    const version = job.candidateVersion;
    let ran: { readonly outputs: TensorMap; readonly logText: string };
    let latencyMs: number;
    let target: Served & { release(): void };
    try {
      target = await this.options.serve(job.model, version);
    } catch (error) {
      return { version, error: shadowError(error) };
    }
    try {
      const started = this.elapsed();
      ran = await job.run(target);
      latencyMs = Math.round((this.elapsed() - started) * 1000) / 1000;
    } catch (error) {
      return { version, error: shadowError(error) };
    } finally {
      try {
        target.release();
      } catch {
        // A lease that fails to release is the runtime's to report; the result stands.
      }
    }
    let outputs: { json: string; truncated: boolean };
    try {
      outputs = boundedJson(ran.logText, this.options.maxLoggedOutputBytes);
    } catch (error) {
      return { version, latencyMs, error: shadowError(error) };
    }
    const kept = { version, latencyMs, outputs: outputs.json, truncated: outputs.truncated };
    try {
      return { ...kept, comparison: shadowComparison(job, ran.outputs, target.classifier) };
    } catch (error) {
      return { ...kept, error: { code: SHADOW_COMPARE_FAILED, message: shadowError(error).message } };
    }
  }

  private idle(): boolean {
    return !this.draining && !this.running && this.queue.length === 0 && this.refusing === 0;
  }

  private wakeIfIdle(): void {
    if (!this.idle()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Calls `done`; what it throws is caught (the runner goes on with the next job). */
function settle(done: (result: ShadowResult) => void, result: ShadowResult): void {
  try {
    done(result);
  } catch {
    // The callback's own failure is not the shadow run's: nothing to report it to.
  }
}

/**
 * The candidate's outputs compared with the primary's (see the module docstring): the primary's
 * tensors in their captured form, every row compared (`capturedRows` = `rows`).
 */
export function shadowComparison(
  job: Pick<ShadowJob, 'requestId' | 'primary'>,
  candidate: TensorMap,
  candidateClassifier: ClassifierView | undefined,
): ShadowComparison {
  const { primary } = job;
  const outputs: Record<string, CapturedTensor> = {};
  for (const [name, tensor] of Object.entries(primary.outputs)) outputs[name] = capturedTensor(name, tensor);
  const compared: ComparedRequest = {
    requestId: job.requestId,
    modelVersion: primary.version,
    timestamp: primary.timestamp,
    rows: primary.rows,
    capturedRows: primary.rows,
    outputs,
  };
  const views = {
    ...(primary.classifier ? { source: primary.classifier } : {}),
    ...(candidateClassifier ? { target: candidateClassifier } : {}),
  };
  const full = compareRequest(compared, candidate, views);
  return {
    rows: full.rows,
    maxAbsDiff: full.maxAbsDiff,
    ...(full.differingLabels !== undefined ? { differingLabels: full.differingLabels } : {}),
    ...(full.labelChanges ? { labelChanges: full.labelChanges.slice(0, MAX_LABEL_CHANGES) } : {}),
    outputs: full.outputs,
    ...(full.notCompared ? { notCompared: full.notCompared } : {}),
  };
}

/** A tensor as a capture record keeps it: its v2 JSON form (`v2OutputJsonText`), parsed. */
function capturedTensor(name: string, tensor: TensorData): CapturedTensor {
  const [output] = v2Outputs({ [name]: tensor }, [name]);
  const { datatype, shape, data } = JSON.parse(v2OutputJsonText(output as NonNullable<typeof output>)) as CapturedTensor;
  return { datatype, shape, ...(data ? { data } : {}) };
}

/** The code and public message of whatever the candidate threw (see the module docstring). */
export function shadowError(error: unknown): { code: string; message: string } {
  if (error instanceof AppError) return { code: error.code, message: publicMessage(error.message) };
  const { name, message } = describeError(error);
  return { code: SHADOW_RUN_FAILED, message: publicMessage(message === '' ? name : `${name}: ${message}`) };
}

/** Characters of a message looked at, at most. */
const SCANNED_CHARS = 2_000;
/** A stack frame line: `    at f (/x/y.js:1:2)`. */
const STACK_FRAME = /^\s*at\s/;
/**
 * A file path: a token of at least two path segments whose last names a file with an extension
 * (`/opt/models/iris.onnx`, `C:\m\x.onnx`, `models/iris/1.onnx`, `/src/x.h:49`), or a `file:` URL.
 * URL paths without an extension (`/v1/models/iris/versions`) are not file paths and stay.
 */
const FILE_PATH = /file:\/\/\S+|(?:[A-Za-z]:)?[\w.@~+-]*(?:[\\/][\w.@~+-]+)+\.[A-Za-z][A-Za-z0-9]{0,7}(?::\d+)*/g;

/**
 * An error message as a shadow result keeps it: stack frame lines left out, the other lines
 * joined by a space, file paths replaced by `<path>`, at most {@link MAX_ERROR_MESSAGE_CHARS}
 * characters (a cut ends with `…` and never splits a surrogate pair).
 */
export function publicMessage(message: string): string {
  // Only the head is looked at: the work below is bounded whatever the length thrown.
  const text = message
    .slice(0, SCANNED_CHARS)
    .split(/\r?\n/)
    .filter((line) => !STACK_FRAME.test(line))
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join(' ')
    .replace(FILE_PATH, '<path>');
  if (text.length <= MAX_ERROR_MESSAGE_CHARS) return text;
  let cut = MAX_ERROR_MESSAGE_CHARS - 1;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}
