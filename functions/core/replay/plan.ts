/**
 * The replay's plan step (issue 13, item 5): the capture files listed at submission → the splits
 * of the captured requests to replay, for the batch workflow's Distributed Map
 * (`functions/core/batch-contract.ts`). Talks to the `DataObjects` port only.
 *
 * Every line of the files (JSON Lines, as capture writes them) is read once, as a stream; a line
 * is replayed when it is a capture record of a source version whose timestamp lies in the window
 * `[since, until)`, or when it is not a capture record at all (the replay worker then writes its
 * error line: nothing in the window's files is passed over without a word). When the window holds
 * more than `maxRequests` records, the newest `maxRequests` are replayed (by timestamp, the later
 * line first among equal ones) and the files are read a second time to cut the splits. Blank
 * lines are no records and are not counted.
 *
 * Splits are byte ranges of consecutive replayed lines of one file, as for a `jsonl` batch input
 * (the same sizes: `splitSizing` of `batch-input.ts`): a line not replayed ends the split before
 * it, so the worker's reader (`readSplit`, format `jsonl`) sees exactly the split's records. Row
 * numbers count the replayed lines across the files, in key order.
 *
 * @throws ConflictError 409 `INPUT_CHANGED` when a file is gone or changed since submission (the
 *   capture bucket's retention rule may have removed it: submit again).
 */
import type { DataObjects, InputFile, ReplayPlanSummary, ReplaySpec, Split } from '../batch-contract.js';
import { MAX_RECORD_BYTES, splitSizing, type SplitSizing } from '../batch-input.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { excerpt } from '../codec/limits.js';

export interface ReplayPlanInput {
  readonly files: readonly InputFile[];
  /** Requests per batch (the job's `rowsPerBatch`). */
  readonly rowsPerBatch: number;
  readonly replay: ReplaySpec;
  /** Bytes per batch at most. @default 4 MiB (as batch jobs) */
  readonly maxBatchBytes?: number;
}

export interface ReplayPlanResult {
  readonly rows: number;
  readonly splitCount: number;
  readonly splitsPerBatch: number;
  readonly columns: string[];
  readonly replay: ReplayPlanSummary;
}

const LF = 0x0a;

/** What a line is to the plan. */
type LineKind =
  | { readonly kind: 'blank' }
  | { readonly kind: 'unreadable' }
  | { readonly kind: 'record'; readonly time: number; readonly wanted: boolean };

/** Plans a replay's splits (see the module docstring) and hands each to `write`, in order. */
export async function planReplaySplits(
  objects: DataObjects,
  input: ReplayPlanInput,
  write: (split: Split) => void | Promise<void>,
): Promise<ReplayPlanResult> {
  const sizing = splitSizing(input.rowsPerBatch, input.maxBatchBytes);
  const since = Date.parse(input.replay.since);
  const until = Date.parse(input.replay.until);
  const versions = new Set(input.replay.sourceVersions);
  const classify = (bytes: Buffer | undefined): LineKind => {
    if (!bytes) return { kind: 'unreadable' };
    const text = bytes.toString('utf8');
    if (text.trim() === '') return { kind: 'blank' };
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return { kind: 'unreadable' };
    }
    const { timestamp, modelVersion, captureVersion } = (typeof value === 'object' && value !== null ? value : {}) as Record<
      string,
      unknown
    >;
    const time = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
    if (captureVersion !== 1 || typeof modelVersion !== 'string' || Number.isNaN(time)) return { kind: 'unreadable' };
    return { kind: 'record', time, wanted: versions.has(modelVersion) && time >= since && time < until };
  };

  // Pass 1: counts, the newest `maxRequests` (timestamp, position) kept, and the splits of every wanted line.
  const newest = new Newest(input.replay.maxRequests);
  const counts = { inWindow: 0, unreadable: 0, outside: 0 };
  let splitter = new ReplaySplitter(sizing);
  let position = 0;
  for (const [index, file] of input.files.entries()) {
    await checkUnchanged(objects, file);
    for await (const line of linesOf(objects, file)) {
      const kind = classify(line.bytes);
      if (kind.kind === 'blank') {
        splitter.gap();
        continue;
      }
      if (kind.kind === 'record') {
        if (!kind.wanted) {
          counts.outside++;
          splitter.gap();
          continue;
        }
        counts.inWindow++;
        newest.add(kind.time, position);
      } else {
        counts.unreadable++;
      }
      position++;
      splitter.add(index, file, line);
    }
    splitter.gap();
  }

  // Pass 2, only when the window holds more than asked for: the same lines, the older ones left out.
  const cutoff = newest.cutoff();
  if (cutoff) {
    splitter = new ReplaySplitter(sizing);
    position = 0;
    for (const [index, file] of input.files.entries()) {
      for await (const line of linesOf(objects, file)) {
        const kind = classify(line.bytes);
        if (kind.kind === 'blank' || (kind.kind === 'record' && !kind.wanted)) {
          splitter.gap();
          continue;
        }
        const here = position++;
        if (kind.kind === 'record' && (kind.time < cutoff.time || (kind.time === cutoff.time && here < cutoff.position))) {
          splitter.gap();
          continue;
        }
        splitter.add(index, file, line);
      }
      splitter.gap();
    }
  }
  for (const split of splitter.splits) await write(split);
  const selected = Math.min(counts.inWindow, input.replay.maxRequests);
  return {
    rows: splitter.rows,
    splitCount: splitter.splits.length,
    splitsPerBatch: sizing.splitsPerBatch,
    columns: [],
    replay: { inWindow: counts.inWindow, selected, unreadable: counts.unreadable, outside: counts.outside },
  };
}

/**
 * The newest `max` of many (time, position) keys, in memory bounded by 2·max: keys pile up and
 * are cut back to the newest `max` whenever they pass 2·max.
 */
class Newest {
  private keys: { time: number; position: number }[] = [];
  private count = 0;

  constructor(private readonly max: number) {}

  add(time: number, position: number): void {
    this.count++;
    this.keys.push({ time, position });
    if (this.keys.length >= 2 * this.max) this.trim();
  }

  /** The oldest key kept, when more than `max` were added; `undefined` when every key is kept. */
  cutoff(): { time: number; position: number } | undefined {
    if (this.count <= this.max) return undefined;
    this.trim();
    return this.keys[this.keys.length - 1];
  }

  private trim(): void {
    this.keys.sort((a, b) => b.time - a.time || b.position - a.position);
    this.keys.length = Math.min(this.keys.length, this.max);
  }
}

/** A line of a file: its byte range, its one-based number, its bytes (`undefined` past 1 MiB). */
interface Line {
  readonly start: number;
  readonly end: number;
  readonly number: number;
  readonly bytes: Buffer | undefined;
}

/** Groups consecutive replayed lines of a file into splits of `splitRows` lines and `splitBytes` bytes at most. */
class ReplaySplitter {
  readonly splits: Split[] = [];
  rows = 0;
  private open: { -readonly [K in keyof Split]: Split[K] } | undefined;
  private sealed = false;

  constructor(private readonly sizing: SplitSizing) {}

  add(file: number, ref: InputFile, line: Line): void {
    const alone = line.end - line.start > Math.min(MAX_RECORD_BYTES, this.sizing.splitBytes);
    const open = this.open;
    if (open && (alone || this.sealed || open.rows >= this.sizing.splitRows || line.end - (open.start ?? 0) > this.sizing.splitBytes))
      this.gap();
    if (!this.open) {
      this.open = {
        index: this.splits.length,
        file,
        bucket: ref.bucket,
        key: ref.key,
        firstRow: this.rows,
        rows: 0,
        start: line.start,
        end: line.end,
        firstLine: line.number,
        ...(ref.etag === undefined ? {} : { etag: ref.etag }),
      };
    }
    const current = this.open;
    current.rows += 1;
    current.end = line.end;
    this.rows += 1;
    if (alone) this.sealed = true;
  }

  /** Ends the open split: the next replayed line is not next to it. */
  gap(): void {
    if (!this.open) return;
    this.splits.push(this.open);
    this.open = undefined;
    this.sealed = false;
  }
}

/** The lines of a file, streamed: a line keeps its bytes up to 1 MiB (a longer one is never a capture record). */
async function* linesOf(objects: DataObjects, file: InputFile): AsyncGenerator<Line> {
  let offset = 0;
  let start = 0;
  let number = 1;
  let parts: Buffer[] = [];
  let length = 0;
  let tooLong = false;
  const take = (piece: Buffer) => {
    if (tooLong) return;
    if (length + piece.length > MAX_RECORD_BYTES) {
      tooLong = true;
      parts = [];
      return;
    }
    parts.push(piece);
    length += piece.length;
  };
  const finish = (end: number): Line => {
    let bytes = tooLong ? undefined : parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    // A UTF-8 byte order mark opening the file is not part of its first line.
    if (bytes && start === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
    const line = { start, end, number, bytes };
    start = end;
    number += 1;
    parts = [];
    length = 0;
    tooLong = false;
    return line;
  };
  try {
    for await (const raw of objects.stream(file)) {
      const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      let from = 0;
      for (let newline = chunk.indexOf(LF, from); newline >= 0; newline = chunk.indexOf(LF, from)) {
        take(chunk.subarray(from, newline + 1));
        yield finish(offset + newline + 1);
        from = newline + 1;
      }
      if (from < chunk.length) take(chunk.subarray(from));
      offset += chunk.length;
    }
  } catch (error) {
    if (error instanceof NotFoundError) throw changed(file, 'it no longer exists');
    throw error;
  }
  if (start < offset) yield finish(offset);
  if (offset !== file.size) throw changed(file, `it streamed ${offset} bytes, not the ${file.size} listed`);
}

async function checkUnchanged(objects: DataObjects, file: InputFile): Promise<void> {
  const head = await objects.head(file);
  if (!head) throw changed(file, "it no longer exists (the capture bucket's retention may have removed it)");
  if (head.size !== file.size) throw changed(file, `it holds ${head.size} bytes, not ${file.size}`);
  if (head.etag !== undefined && file.etag !== undefined && head.etag !== file.etag) throw changed(file, 'its ETag differs');
}

function changed(file: InputFile, why: string): ConflictError {
  return new ConflictError(
    'INPUT_CHANGED',
    `The capture file s3://${file.bucket}/${excerpt(file.key)} changed since the replay was submitted: ${why}. Submit the replay again.`,
    [],
  );
}
