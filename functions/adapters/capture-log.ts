/**
 * The `CaptureLog` port, off the request path: captured requests are queued as they are served,
 * built (serialized, redacted, bounded: `functions/core/capture.ts`) by a background pump, and
 * handed to a delivery in batches:
 *
 * - {@link FirehoseCaptureDelivery} on AWS: `PutRecordBatch` to an Amazon Data Firehose stream,
 *   which buffers the records and writes them to the capture bucket partitioned by model, version
 *   and date (dynamic partitioning; `lib/data-capture.ts`). Few, large objects, whatever the
 *   traffic.
 * - {@link S3CaptureDelivery} locally (and wherever no stream is configured): one JSON Lines
 *   object per partition per flush, under the same keys Firehose writes.
 *
 * When records are delivered: `flushDelayMs` after the first record of a batch was queued, and
 * whenever `flush()` is called: after each invocation on Lambda (the drain extension,
 * `functions/shared/log-drain.ts`, keeps the sandbox from freezing until they are delivered), on
 * SIGTERM, and when the local stack stops. A record that cannot be delivered (the stream or bucket
 * down past the SDK's retries, the queue full) goes to the fallback: a structured log line that
 * carries the record itself when it is at most {@link FALLBACK_RECORD_CHARS} characters (CloudWatch
 * Logs takes 256 KiB per event), and a `CaptureFallback` metric per model; nothing is dropped
 * silently.
 */
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FirehoseClient } from '@aws-sdk/client-firehose';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { captureDate, capturePrefix } from '../core/capture.js';
import type { CaptureLog, PendingCapture } from '../core/ports.js';
import { describeError, sharedLogger } from '../shared/logger.js';
import { CAPTURE_FALLBACK_METRIC, publishFallbackMetric } from './emf-metrics.js';
import { S3DataObjects } from './s3-data.js';

/** Records of one partition (model, version, UTC date), as JSON lines without line breaks. */
export interface CaptureBatch {
  readonly model: string;
  readonly modelVersion: string;
  /** `yyyy-MM-dd`, UTC. */
  readonly date: string;
  readonly lines: readonly string[];
}

/** Where batches go. Rejects with {@link UndeliveredError} naming what was not delivered. */
export interface CaptureDelivery {
  deliver(batch: CaptureBatch): Promise<void>;
}

/** A delivery that failed for some lines (all of them unless it says otherwise). */
export class UndeliveredError extends Error {
  constructor(
    message: string,
    readonly lines?: readonly string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UndeliveredError';
  }
}

/** Characters of a record the fallback log line carries whole; a longer one is logged without its data. */
export const FALLBACK_RECORD_CHARS = 200_000;

export type CaptureFallback = (batch: CaptureBatch, lines: readonly string[], error: unknown) => void;

export interface BufferedCaptureLogOptions {
  readonly delivery: CaptureDelivery;
  /** Longest a queued record waits before its batch is delivered, in ms. @default 1000 */
  readonly flushDelayMs?: number;
  /** Records queued at most; past it a record goes to the fallback at once. @default 10000 */
  readonly maxQueued?: number;
  /** @default {@link captureFallbackToLog} over `metrics` */
  readonly fallback?: CaptureFallback;
  /** Where the default fallback counts its records. */
  readonly metrics?: Metrics;
}

/**
 * @example
 * const capture = new BufferedCaptureLog({ delivery: new S3CaptureDelivery({ client: s3, bucket: 'onnx-capture' }) });
 * capture.write({ model: 'iris', modelVersion: '1', timestamp, build: () => line }); // returns at once
 * await capture.flush();                                                             // delivered or in the fallback
 */
export class BufferedCaptureLog implements CaptureLog {
  private queue: PendingCapture[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delivering = 0;
  private running: Promise<void> = Promise.resolve();
  private readonly flushDelayMs: number;
  private readonly maxQueued: number;
  private readonly fallback: CaptureFallback;

  constructor(private readonly options: BufferedCaptureLogOptions) {
    this.flushDelayMs = options.flushDelayMs ?? 1_000;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.fallback = options.fallback ?? captureFallbackToLog(options.metrics);
  }

  write(record: PendingCapture): void {
    if (this.queue.length >= this.maxQueued) {
      const batch = { model: record.model, modelVersion: record.modelVersion, date: captureDate(record.timestamp), lines: [] };
      const full = new UndeliveredError(`the capture queue holds ${this.maxQueued} records already`);
      // Built once its settings are known, as a queued record would be.
      void Promise.resolve(record.ready)
        .catch(() => undefined)
        .then(() => {
          const line = safeBuild(record);
          if (line !== undefined) this.fallback(batch, [line], full);
        });
      return;
    }
    this.queue.push(record);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.flushDelayMs);
      this.timer.unref?.();
    }
  }

  pending(): number {
    return this.queue.length + this.delivering;
  }

  /** Delivers everything queued so far (after any delivery already running); never rejects. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const taken = this.queue;
    this.queue = [];
    this.delivering += taken.length;
    const run = this.running
      .then(() => this.deliverAll(taken))
      .finally(() => {
        this.delivering -= taken.length;
      });
    this.running = run;
    return run;
  }

  private async deliverAll(records: readonly PendingCapture[]): Promise<void> {
    if (records.length === 0) return;
    // Records queued while their settings were being re-read wait for them (a failed read
    // leaves the settings known before).
    await Promise.allSettled(records.flatMap((r) => (r.ready ? [r.ready] : [])));
    const batches = new Map<string, { model: string; modelVersion: string; date: string; lines: string[] }>();
    for (const record of records) {
      const line = safeBuild(record);
      if (line === undefined) continue;
      const date = captureDate(record.timestamp);
      const key = `${record.model}\u0000${record.modelVersion}\u0000${date}`;
      let batch = batches.get(key);
      if (!batch) batches.set(key, (batch = { model: record.model, modelVersion: record.modelVersion, date, lines: [] }));
      batch.lines.push(line);
    }
    await Promise.all(
      [...batches.values()].map(async (batch) => {
        try {
          await this.options.delivery.deliver(batch);
        } catch (error) {
          const lines = error instanceof UndeliveredError && error.lines ? error.lines : batch.lines;
          try {
            this.fallback(batch, lines, error);
          } catch {
            // The fallback is the last resort; it must not take the pump down.
          }
        }
      }),
    );
  }
}

/** The record's line (`undefined`: not captured after all); a build that throws (a bug) still leaves a line that says so. */
function safeBuild(record: PendingCapture): string | undefined {
  try {
    return record.build();
  } catch (error) {
    return JSON.stringify({
      captureVersion: 1,
      model: record.model,
      modelVersion: record.modelVersion,
      timestamp: record.timestamp,
      buildError: describeError(error).message.slice(0, 300),
    });
  }
}

/**
 * The default fallback: one structured log line per record (`capture record not delivered`)
 * with the record when it is short enough, and a `CaptureFallback` count per model.
 */
export function captureFallbackToLog(metrics?: Metrics): CaptureFallback {
  return (batch, lines, error) => {
    for (const line of lines) {
      sharedLogger().error('capture record not delivered', {
        model: batch.model,
        modelVersion: batch.modelVersion,
        date: batch.date,
        bytes: Buffer.byteLength(line, 'utf8'),
        ...(line.length <= FALLBACK_RECORD_CHARS ? { record: line } : {}),
        error: describeError(error).message.slice(0, 500),
      });
    }
    if (metrics && lines.length > 0) publishFallbackMetric(metrics, batch.model, lines.length, CAPTURE_FALLBACK_METRIC);
  };
}

export interface S3CaptureDeliveryOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Wall clock in epoch ms, for the object names. @default Date.now */
  readonly now?: () => number;
}

/**
 * One JSON Lines object per batch, at
 * `capture/model=<m>/version=<v>/date=<yyyy-MM-dd>/<yyyyMMddTHHmmssSSSZ>-<uuid>.jsonl`.
 */
export class S3CaptureDelivery implements CaptureDelivery {
  private readonly now: () => number;
  private readonly objects: S3DataObjects;

  constructor(private readonly options: S3CaptureDeliveryOptions) {
    this.now = options.now ?? Date.now;
    this.objects = new S3DataObjects({ client: options.client });
  }

  async deliver(batch: CaptureBatch): Promise<void> {
    const stamp = new Date(this.now()).toISOString().replace(/[-:.]/g, '');
    const key = `${capturePrefix(batch.model, batch.modelVersion, batch.date)}${stamp}-${randomUUID()}.jsonl`;
    try {
      await this.objects.put({ bucket: this.options.bucket, key }, `${batch.lines.join('\n')}\n`, 'application/x-ndjson');
    } catch (error) {
      throw new UndeliveredError(`could not write s3://${this.options.bucket}/${key}`, undefined, { cause: error });
    }
  }
}

/** PutRecordBatch's limits: 500 records and 4 MiB per call (Amazon Data Firehose quotas). */
export const FIREHOSE_BATCH_RECORDS = 500;
export const FIREHOSE_BATCH_BYTES = 4 * 1024 * 1024;

export interface FirehoseCaptureDeliveryOptions {
  /**
   * Makes the client on first use: the Firehose module is imported then, off the cold start of
   * every function (and every request that captures nothing).
   */
  readonly client: () => Promise<FirehoseClient>;
  /** The delivery stream's name (`CAPTURE_STREAM`). */
  readonly streamName: string;
  /** Attempts for the records a call could not put (`FailedPutCount`). @default 3 */
  readonly maxAttempts?: number;
}

/**
 * `PutRecordBatch` calls of at most 500 records and 4 MiB; each record is one JSON line with its
 * line break, so the objects Firehose writes are JSON Lines. Records a call reports as failed
 * (throttling, an internal error) are put again, up to `maxAttempts`; what still fails is handed
 * to the fallback.
 */
export class FirehoseCaptureDelivery implements CaptureDelivery {
  private readonly maxAttempts: number;
  private ready:
    | Promise<{ client: FirehoseClient; PutRecordBatchCommand: typeof import('@aws-sdk/client-firehose').PutRecordBatchCommand }>
    | undefined;

  constructor(private readonly options: FirehoseCaptureDeliveryOptions) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  }

  async deliver(batch: CaptureBatch): Promise<void> {
    const failed: string[] = [];
    let error: unknown;
    for (const chunk of chunks(batch.lines)) {
      try {
        failed.push(...(await this.put(chunk)));
      } catch (caught) {
        error = caught;
        failed.push(...chunk);
      }
    }
    if (failed.length > 0)
      throw new UndeliveredError(`${failed.length} of ${batch.lines.length} records were not put to ${this.options.streamName}`, failed, {
        cause: error,
      });
  }

  /** Puts one chunk, again for the records that failed; resolves to those that never went in. */
  private async put(lines: readonly string[]): Promise<string[]> {
    this.ready ??= Promise.all([this.options.client(), import('@aws-sdk/client-firehose')]).then(([client, module]) => ({
      client,
      PutRecordBatchCommand: module.PutRecordBatchCommand,
    }));
    let ready;
    try {
      ready = await this.ready;
    } catch (error) {
      this.ready = undefined;
      throw error;
    }
    const { client, PutRecordBatchCommand } = ready;
    let remaining = [...lines];
    for (let attempt = 1; attempt <= this.maxAttempts && remaining.length > 0; attempt++) {
      const output = await client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: this.options.streamName,
          Records: remaining.map((line) => ({ Data: Buffer.from(`${line}\n`, 'utf8') })),
        }),
      );
      if (!output.FailedPutCount) return [];
      const responses = output.RequestResponses ?? [];
      remaining = remaining.filter((_, i) => responses[i]?.ErrorCode !== undefined || responses[i] === undefined);
    }
    return remaining;
  }
}

/** The lines in calls of at most {@link FIREHOSE_BATCH_RECORDS} records and {@link FIREHOSE_BATCH_BYTES} bytes. */
function chunks(lines: readonly string[]): string[][] {
  const result: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const line of lines) {
    const size = Buffer.byteLength(line, 'utf8') + 1;
    if (current.length > 0 && (current.length >= FIREHOSE_BATCH_RECORDS || bytes + size > FIREHOSE_BATCH_BYTES)) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += size;
  }
  if (current.length > 0) result.push(current);
  return result;
}
