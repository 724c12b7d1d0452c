/**
 * DynamoDB implementation of the `PredictionLog` port, off the request path.
 *
 * `write` only queues: the answer leaves before its record is built or stored. A background
 * writer builds the queued records (hashing inputs, serializing outputs) and stores them with
 * BatchWriteItem, 25 at a time, a few batches at once, each attempt bounded in time and retried
 * with backoff. A record it cannot store (DynamoDB down, throttled past the retries, an item it
 * refuses) goes to the fallback: one structured log line carrying the whole record, and a
 * `PredictionLogFallback` metric per model (Embedded Metric Format), so nothing is dropped
 * silently. While DynamoDB keeps failing, a breaker sends records straight to the fallback for a
 * cooldown instead of paying a timeout per batch.
 *
 * When records are written: as soon as a batch is full, else `flushDelayMs` after the first record
 * of a batch was queued, and whenever `flush()` is called: after each invocation on Lambda (the
 * drain extension, `functions/shared/log-drain.ts`, keeps the sandbox from freezing until the
 * invocation's records are stored), on SIGTERM, and when the local stack stops.
 */
import { BatchWriteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { NO_TRACING, SPAN, type Tracing } from '../core/observability.js';
import type { PendingRecord, PredictionLog, PredictionLogRecord } from '../core/ports.js';
import { describeError, sharedLogger } from '../shared/logger.js';
import { publishFallbackMetric } from './emf-metrics.js';
import { marshallable } from './dynamodb-values.js';

/** What happens to records that could not be written. */
export type PredictionLogFallback = (records: readonly PredictionLogRecord[], error: unknown) => void;

/** BatchWriteItem's limit of put requests per call. */
export const BATCH_WRITE_LIMIT = 25;

export interface DynamoDbPredictionLogOptions {
  /** A document client; see {@link DynamoDbPredictionLog} on how its own retries are handled. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Attempts per batch (1 = no retry). @default 3 */
  readonly maxAttempts?: number;
  /** Backoff before the second attempt; doubles per attempt, with full jitter. @default 20 */
  readonly baseDelayMs?: number;
  /** Longest time one attempt may take before it is aborted (and retried). @default 1000 */
  readonly attemptTimeoutMs?: number;
  /** Records per BatchWriteItem, at most 25. @default 25 */
  readonly batchSize?: number;
  /** Longest a queued record waits for a batch to fill before it is written anyway. @default 50 */
  readonly flushDelayMs?: number;
  /** Batches written at once. @default 4 */
  readonly concurrency?: number;
  /**
   * Records queued at most; past it a record goes to the fallback at once, so a stalled table
   * cannot grow the queue without bound. @default 10000
   */
  readonly maxQueued?: number;
  /**
   * After a batch failed every attempt on a transient error (timeout, network, 5xx, throttling),
   * DynamoDB is not tried for this long: records go straight to the fallback. @default 5000
   */
  readonly breakerCooldownMs?: number;
  /** @default {@link fallbackToLog} over `metrics` */
  readonly fallback?: PredictionLogFallback;
  /** Where the default fallback counts its records (Powertools Metrics); without it, no metric line. */
  readonly metrics?: Metrics;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Wall clock in ms, for the breaker. @default Date.now */
  readonly now?: () => number;
  /** A span around each batch write. @default none */
  readonly tracing?: Tracing;
}

/** DynamoDB error names that mean "slow down", whatever their HTTP status. */
const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);

/**
 * Queues prediction-log records and stores them in batches in the background.
 *
 * Retries: this adapter is the only retry layer for its writes. The SDK client's own retry
 * middleware is replaced, for these commands only, by a pass-through, so a batch makes at most
 * `maxAttempts` requests whatever `maxAttempts` the shared client was built with. The client's
 * other users keep the SDK's retries.
 *
 * @example
 * const log = new DynamoDbPredictionLog({ client: documents, tableName: 'onnx-prediction-log', metrics });
 * log.write({ requestId, build: () => record }); // returns at once
 * await log.flush();                              // every queued record stored or in the fallback
 */
export class DynamoDbPredictionLog implements PredictionLog {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly batchSize: number;
  private readonly flushDelayMs: number;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private readonly breakerCooldownMs: number;
  private readonly fallback: PredictionLogFallback;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly tracing: Tracing;
  private queue: PendingRecord[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** A pump is scheduled for the next turn of the event loop (after the answer is written). */
  private scheduled = false;
  /** Batches being written. */
  private active = 0;
  /** Records in those batches. */
  private writing = 0;
  /** `flush()` calls waiting: while any is, partial batches go at once. */
  private draining = 0;
  private idleWaiters: Array<() => void> = [];
  private breakerOpenUntil = 0;

  constructor(options: DynamoDbPredictionLogOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.baseDelayMs = options.baseDelayMs ?? 20;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1_000;
    this.batchSize = Math.min(BATCH_WRITE_LIMIT, Math.max(1, options.batchSize ?? BATCH_WRITE_LIMIT));
    this.flushDelayMs = options.flushDelayMs ?? 50;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.maxQueued = Math.max(1, options.maxQueued ?? 10_000);
    this.breakerCooldownMs = options.breakerCooldownMs ?? 5_000;
    const metrics = options.metrics;
    this.fallback = options.fallback ?? ((records, error) => fallbackToLog(records, error, metrics));
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.tracing = options.tracing ?? NO_TRACING;
  }

  /** Records queued or being written. */
  pending(): number {
    return this.queue.length + this.writing;
  }

  /**
   * Queues `record`; never throws, never waits. A full batch is sent on the next turn of the event
   * loop (so the request that filled it has its answer written first); a partial one waits up to
   * `flushDelayMs` for more records.
   */
  write(record: PendingRecord): void {
    if (this.queue.length >= this.maxQueued) {
      this.toFallback(buildRecords([record]), new Error(`the prediction log queue is full (${this.maxQueued} records)`));
      return;
    }
    this.queue.push(record);
    if (this.queue.length >= this.batchSize) this.schedule();
    else this.armTimer();
  }

  /** Resolves once every record queued before (and while) it runs is stored or in the fallback. */
  async flush(): Promise<void> {
    this.draining++;
    try {
      while (this.queue.length > 0 || this.active > 0) {
        const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
        this.pump();
        await idle;
      }
    } finally {
      this.draining--;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private armTimer(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump(true);
    }, this.flushDelayMs);
    this.timer.unref?.();
  }

  /**
   * Starts batch writes, up to `concurrency` at once: full batches always; a partial one when its
   * wait is over (`due`) or a flush is waiting. Whatever stays queued keeps its timer.
   */
  private pump(due = false): void {
    const partialToo = due || this.draining > 0;
    while (this.active < this.concurrency && (this.queue.length >= this.batchSize || (partialToo && this.queue.length > 0))) {
      const batch = this.queue.splice(0, this.batchSize);
      this.active++;
      this.writing += batch.length;
      void this.writeBatch(batch)
        // writeBatch handles its own failures; anything else still must not lose the batch.
        .catch((error: unknown) => this.toFallback(buildRecords(batch), error))
        .finally(() => {
          this.active--;
          this.writing -= batch.length;
          this.afterBatch();
        });
    }
    if (this.queue.length > 0) this.armTimer();
    else if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.notifyIdle();
  }

  private afterBatch(): void {
    // Records that queued up meanwhile: full batches go now, a partial one on its timer (or at once while flushing).
    this.pump();
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    if (this.active > 0 || (this.queue.length > 0 && this.draining > 0)) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async writeBatch(pending: readonly PendingRecord[]): Promise<void> {
    const records = buildRecords(pending);
    if (records.length === 0) return;
    if (this.now() < this.breakerOpenUntil) {
      this.toFallback(records, new Error('DynamoDB failed recently; records go to the fallback until the breaker closes'));
      return;
    }
    let remaining: PredictionLogRecord[] = records;
    let failure: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      try {
        const batch = remaining;
        remaining = await this.tracing.span(SPAN.logWrite, () => this.batchWrite(batch));
        if (remaining.length === 0) return;
        // What DynamoDB left unprocessed was throttled: worth another try after the backoff.
        failure = new Error(`${remaining.length} items were left unprocessed (throttled)`);
      } catch (error) {
        failure = error;
        if (!isRetryable(error)) {
          // One bad item refuses the whole batch: write the items one by one, so only it falls back.
          await this.writeOneByOne(remaining);
          return;
        }
      }
      if (attempt < this.maxAttempts) await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 1));
    }
    this.breakerOpenUntil = this.now() + this.breakerCooldownMs;
    this.toFallback(remaining, failure);
  }

  /**
   * One BatchWriteItem; resolves to the records DynamoDB left unprocessed. Records carry no
   * caller-named keys today (outputs are a JSON string); `marshallable` keeps a future one safe.
   */
  private async batchWrite(records: readonly PredictionLogRecord[]): Promise<PredictionLogRecord[]> {
    const command = new BatchWriteCommand({
      RequestItems: { [this.tableName]: records.map((record) => ({ PutRequest: { Item: marshallable({ ...record }) } })) },
    });
    command.middlewareStack.add((next) => next, WITHOUT_SDK_RETRIES);
    command.middlewareStack.add((next) => next, WITHOUT_SDK_LOGGER);
    const output = await this.client.send(command, { abortSignal: AbortSignal.timeout(this.attemptTimeoutMs) });
    const unprocessed = output.UnprocessedItems?.[this.tableName] ?? [];
    if (unprocessed.length === 0) return [];
    const left = new Set(unprocessed.map((request) => request.PutRequest?.Item?.['requestId']));
    return records.filter((record) => left.has(record.requestId));
  }

  private async writeOneByOne(records: readonly PredictionLogRecord[]): Promise<void> {
    for (const record of records) {
      try {
        const command = new PutCommand({ TableName: this.tableName, Item: marshallable({ ...record }) });
        command.middlewareStack.add((next) => next, WITHOUT_SDK_RETRIES);
        command.middlewareStack.add((next) => next, WITHOUT_SDK_LOGGER);
        await this.client.send(command, { abortSignal: AbortSignal.timeout(this.attemptTimeoutMs) });
      } catch (error) {
        this.toFallback([record], error);
      }
    }
  }

  private toFallback(records: readonly PredictionLogRecord[], error: unknown): void {
    if (records.length === 0) return;
    try {
      this.fallback(records, error);
    } catch {
      // A broken custom fallback must neither lose the records nor throw into the writer.
      try {
        fallbackToLog(records, error, undefined);
      } catch {
        // stdout itself is gone: nothing is left to report to.
      }
    }
  }
}

/**
 * The records of `pending`. A record that cannot even be built is reported by its request id, in
 * an ERROR line, and left out.
 */
function buildRecords(pending: readonly PendingRecord[]): PredictionLogRecord[] {
  const records: PredictionLogRecord[] = [];
  for (const item of pending) {
    try {
      records.push(item.build());
    } catch (error) {
      sharedLogger().error('prediction log record could not be built', { requestId: item.requestId, error: describeError(error) });
    }
  }
  return records;
}

/**
 * Where a pass-through middleware takes the place of the SDK's retry middleware (same name, step
 * and priority): each attempt of ours is exactly one request.
 */
const WITHOUT_SDK_RETRIES = { name: 'retryMiddleware', step: 'finalizeRequest', priority: 'high', override: true } as const;

/**
 * Where a pass-through takes the place of the SDK's logger middleware: with the client's default
 * no-op logger it still copies every item of the request and answer through the sensitive-data
 * filter before discarding them, which for a batch of 25 records costs more than signing it.
 * Failures are handled (and logged) here instead.
 */
const WITHOUT_SDK_LOGGER = { name: 'loggerMiddleware', step: 'initialize', override: true } as const;

/**
 * Throttling, server errors (5xx) and failures with no response at all (network errors, our
 * attempt timeout) are worth another try; a request DynamoDB refused as invalid is not.
 */
export function isRetryable(error: unknown): boolean {
  // Duck-typed, not `instanceof Error`: Node's own network errors come from another realm under
  // jest's VM modules, and any Error subclass from another copy of a package fails instanceof too.
  if (typeof error !== 'object' || error === null) return false;
  const { name, $fault, $retryable, $metadata } = error as {
    name?: unknown;
    $fault?: 'client' | 'server';
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  if ((typeof name === 'string' && THROTTLING.has(name)) || $retryable) return true;
  const status = $metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500;
  if ($fault !== undefined) return $fault === 'server';
  return true;
}

/** The message of every fallback line; a Logs Insights query finds them by it. */
export const FALLBACK_MESSAGE = 'prediction log write failed';

/**
 * The default fallback: one ERROR line per record, carrying the whole record (the durable copy
 * in the function's log), and with `metrics`, one `PredictionLogFallback` EMF line per model
 * counting them.
 */
export function fallbackToLog(records: readonly PredictionLogRecord[], error: unknown, metrics: Metrics | undefined): void {
  const logger = sharedLogger();
  const reason = describeError(error);
  const perModel = new Map<string, number>();
  for (const record of records) {
    logger.error(FALLBACK_MESSAGE, { requestId: record.requestId, record, error: { name: reason.name, message: reason.message } });
    perModel.set(record.model, (perModel.get(record.model) ?? 0) + 1);
  }
  if (!metrics) return;
  for (const [model, count] of perModel) publishFallbackMetric(metrics, model, count);
}
