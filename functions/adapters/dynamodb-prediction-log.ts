/**
 * DynamoDB implementation of the `PredictionLog` port. A prediction that was served must never
 * fail because its log write did, and a log record must never vanish silently: `write` retries
 * transient failures a few times, each attempt bounded in time, and hands a record it could not
 * store to a fallback (by default one structured JSON line on stdout that also emits a
 * CloudWatch metric, so an alarm can watch for it).
 */
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PredictionLog, PredictionLogRecord } from '../core/ports.js';

/** What happens to a record that could not be written. */
export type PredictionLogFallback = (record: PredictionLogRecord, error: unknown) => void;

export interface DynamoDbPredictionLogOptions {
  /** A document client; see {@link DynamoDbPredictionLog} on how its own retries are handled. */
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** PutItem attempts per record (1 = no retry). @default 3 */
  readonly maxAttempts?: number;
  /** Backoff before the second attempt; doubles per attempt, with full jitter. @default 20 */
  readonly baseDelayMs?: number;
  /** Longest time one attempt may take before it is aborted (and retried). @default 1000 */
  readonly attemptTimeoutMs?: number;
  /** @default {@link printFallback} */
  readonly fallback?: PredictionLogFallback;
  /** @default setTimeout-based */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** CloudWatch namespace and metric of the fallback's Embedded Metric Format block. */
export const FALLBACK_METRIC = { namespace: 'OnnxServing', name: 'PredictionLogFallback' } as const;

/** DynamoDB error names that mean "slow down", whatever their HTTP status. */
const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);

/**
 * Writes prediction-log items with PutItem.
 *
 * Retries: this adapter is the only retry layer for its writes. The SDK client's own retry
 * middleware is replaced, for these PutItem commands only, by a pass-through, so one `write`
 * makes at most `maxAttempts` requests whatever `maxAttempts` the shared client was built with
 * (3 SDK attempts inside each of 3 of ours would be 9 requests, and 9 timeouts, on a hung
 * table). The client's other users keep the SDK's retries.
 *
 * @example
 * const log = new DynamoDbPredictionLog({ client: documents, tableName: 'onnx-prediction-log' });
 * await log.write(record); // resolves even when DynamoDB is down: the record goes to the fallback
 */
export class DynamoDbPredictionLog implements PredictionLog {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly fallback: PredictionLogFallback;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: DynamoDbPredictionLogOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
    this.baseDelayMs = options.baseDelayMs ?? 20;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1_000;
    this.fallback = options.fallback ?? printFallback;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Stores `record`; never rejects (a record that cannot be stored goes to the fallback). */
  async write(record: PredictionLogRecord): Promise<void> {
    let failure: unknown;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt += 1) {
      try {
        await this.put(record);
        return;
      } catch (error) {
        failure = error;
        if (!isRetryable(error) || attempt === this.maxAttempts) break;
        await this.sleep(Math.random() * this.baseDelayMs * 2 ** (attempt - 1));
      }
    }
    try {
      this.fallback(record, failure);
    } catch {
      // A broken custom fallback must neither lose the record nor make `write` reject.
      try {
        printFallback(record, failure);
      } catch {
        // stdout itself is gone: nothing is left to report to.
      }
    }
  }

  private async put(record: PredictionLogRecord): Promise<void> {
    const command = new PutCommand({ TableName: this.tableName, Item: { ...record } });
    // Takes the place of the SDK's retry middleware (same name, step and priority): one request.
    command.middlewareStack.add((next) => (args) => next(args), {
      name: 'retryMiddleware',
      step: 'finalizeRequest',
      priority: 'high',
      override: true,
    });
    await this.client.send(command, { abortSignal: AbortSignal.timeout(this.attemptTimeoutMs) });
  }
}

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

/**
 * The default fallback's line: a structured error log carrying the whole record, and a CloudWatch
 * Embedded Metric Format block so CloudWatch derives the metric `OnnxServing /
 * PredictionLogFallback` (dimension `model`) from it without an API call.
 */
export function fallbackLogLine(record: PredictionLogRecord, error: unknown, at: Date = new Date()): string {
  return JSON.stringify({
    level: 'ERROR',
    message: 'prediction log write failed',
    timestamp: at.toISOString(),
    record,
    error: describeError(error),
    _aws: {
      Timestamp: at.getTime(),
      CloudWatchMetrics: [
        {
          Namespace: FALLBACK_METRIC.namespace,
          Dimensions: [['model']],
          Metrics: [{ Name: FALLBACK_METRIC.name, Unit: 'Count' }],
        },
      ],
    },
    model: record.model,
    [FALLBACK_METRIC.name]: 1,
  });
}

/** `{ name, message }` of an error, never the raw error (it may carry request data or secrets). */
function describeError(error: unknown): { name: string; message: string } {
  if (typeof error === 'object' && error !== null) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    return { name: typeof name === 'string' ? name : 'Error', message: typeof message === 'string' ? message : '' };
  }
  return { name: 'Error', message: String(error) };
}

/**
 * The default fallback: {@link fallbackLogLine} on stdout. Written with `process.stdout.write`
 * rather than `console.log`, which on Lambda prefixes the line and so hides the JSON from EMF.
 */
export function printFallback(record: PredictionLogRecord, error: unknown): void {
  process.stdout.write(`${fallbackLogLine(record, error)}\n`);
}
