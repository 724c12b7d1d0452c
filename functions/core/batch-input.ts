/**
 * Batch jobs' input formats: what the job API checks at submission ({@link inspectInput}), how
 * the plan step cuts the input into splits ({@link planSplits}), and how the batch function reads
 * a split's records ({@link readSplit}). Talks to the `DataObjects` port only.
 *
 * Records and row numbers (see `batch-contract.ts`): rows are zero-based and count records across
 * the input's files in key order.
 *
 * - **CSV** (RFC 4180, UTF-8, parsed by csv-parse): line 1 of every file is the header, which
 *   names the fields and is not a record; every file's header must be the same. Quoted fields
 *   may hold commas, quotes (doubled) and line breaks. Lines end in `\n` or `\r\n` (a lone `\r`
 *   is an ordinary character). Empty lines are not records (as pandas and Spark read CSV). A
 *   record is `{ <column>: <the field's text> }`, every value a string: the batch core turns the
 *   fields the model takes into the numbers their text spells (`csvCellValue`). A record with
 *   more or fewer fields than the header is an error record `CSV_FIELD_COUNT`, not a record
 *   padded with empty strings (Step Functions' CSV reader pads): a short row is nearly always a
 *   broken one, and padding would feed a string feature an empty string without a word.
 * - **A CSV record csv-parse cannot read** (an unclosed quote, a stray quote, a record over the
 *   bound) does not stop anything. The rule: the malformed record is the rest of the line its
 *   record begins on (to and with its `\n`), it becomes an error record `INVALID_CSV`, and
 *   parsing starts afresh on the next line. So `5.1,"3.5,1.4,0.2` costs one row, not the rest of
 *   the file; a quoted field that truly spans lines but is broken later on costs its first line
 *   as an error record and its other lines are read as records of their own (most then fail with
 *   their own errors). The plan and the reader apply the same rule from the same positions, so
 *   they agree on every record's bounds.
 * - **JSON Lines**: every line is a record, a blank one too (it becomes `INVALID_JSON`), except
 *   the empty remainder after a final newline; `\r\n` is tolerated and a UTF-8 byte order mark
 *   on line 1 is skipped. A record is the line's JSON value.
 * - **Parquet**: a record is a row, as a plain object of its top-level columns: int64 values as
 *   JS numbers while they are safe integers, else as decimal strings (which the codec reads
 *   exactly); timestamps as ISO 8601 strings; binary values as base64; null stays null.
 *
 * Every CSV or JSON Lines record is at most {@link MAX_RECORD_BYTES} (1 MiB) long: a longer one
 * is an error record `RECORD_TOO_LARGE`, planned alone in its split and never read. A record that
 * is not UTF-8 is `MALFORMED_UTF8`; one holding a NUL byte is `NUL_IN_RECORD` (a NUL in a text
 * file is a UTF-16 or binary file's mark). Error messages quote at most 64 characters of input.
 */
import { isUtf8 } from 'node:buffer';
import { CsvError, Parser } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import { parquetMetadataAsync, parquetRead, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import type { BatchFormat, DataObjects, InputFile, ObjectRef, Split } from './batch-contract.js';
import { AppError, ConflictError, NotFoundError, ValidationError, clip, type FieldPath } from './errors.js';
import { EXCERPT_CHARS, excerpt, nameList } from './codec/limits.js';

/** Bytes of a file's beginning that {@link inspectInput} reads for a CSV header or a first JSON line. */
export const INSPECT_BYTES = 64 * 1024;
/** Longest CSV or JSON Lines record, in bytes (line break included): 1 MiB. */
export const MAX_RECORD_BYTES = 1024 * 1024;
/** Default bound on the bytes of one batch's splits (`planSplits`' `maxBatchBytes`): 4 MiB. */
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Most records per split: a batch of more rows is made of several splits. */
export const MAX_SPLIT_ROWS = 1_000;
/** Largest Parquet footer (file metadata) read: 8 MiB. */
export const MAX_PARQUET_FOOTER_BYTES = 8 * 1024 * 1024;

/** Files whose beginnings `inspectInput` reads at once. */
const INSPECT_CONCURRENCY = 8;
/** Where input problems point in the job API's body. */
const INPUT_PATH: FieldPath = ['input', 'uri'];
const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

/** One record of a split, or why it is not one. */
export interface SplitEntry {
  /** Row number across the input. */
  readonly row: number;
  /** CSV / JSON Lines: one-based line where the record begins in its file (a CSV header is line 1). */
  readonly line?: number;
  /** The record (absent when `error` is set). */
  readonly record?: unknown;
  /** Why the record cannot be read: `path` is within the record, `[]` for all of it. */
  readonly error?: { readonly code: string; readonly message: string; readonly path: FieldPath };
}

/** The plan's input: the job's files (key order), format and batch bounds. */
export interface PlanInput {
  readonly files: readonly InputFile[];
  readonly format: BatchFormat;
  /** Most records per batch (the job's `rowsPerBatch`), ≥ 1. */
  readonly rowsPerBatch: number;
  /** Most bytes of input per batch, ≥ 1. @default 4 MiB (`DEFAULT_MAX_BATCH_BYTES`) */
  readonly maxBatchBytes?: number;
}

export interface PlanSummary {
  /** Records in the input. */
  readonly rows: number;
  readonly splitCount: number;
  /** Splits per batch (the Distributed Map's MaxItemsPerBatch). */
  readonly splitsPerBatch: number;
  /** CSV: the header all files share; `[]` for JSON Lines and Parquet. */
  readonly columns: string[];
}

/** How big a split may be for a batch of `rowsPerBatch` records and `maxBatchBytes` bytes. */
export interface SplitSizing {
  /** `ceil(rowsPerBatch / 1000)`. */
  readonly splitsPerBatch: number;
  /** Most records per split: `floor(rowsPerBatch / splitsPerBatch)`. */
  readonly splitRows: number;
  /** Most bytes per split (a single larger record gets a split of its own): `floor(maxBatchBytes / splitsPerBatch)`. */
  readonly splitBytes: number;
}

/**
 * The split bounds for a batch size: a batch of `splitsPerBatch` splits holds at most
 * `rowsPerBatch` records and (records of at most `splitBytes` aside) `maxBatchBytes` bytes.
 *
 * @throws RangeError when `rowsPerBatch` or `maxBatchBytes` is not a positive safe integer.
 */
export function splitSizing(rowsPerBatch: number, maxBatchBytes: number = DEFAULT_MAX_BATCH_BYTES): SplitSizing {
  if (!Number.isSafeInteger(rowsPerBatch) || rowsPerBatch < 1)
    throw new RangeError(`rowsPerBatch must be a positive integer, not ${rowsPerBatch}.`);
  if (!Number.isSafeInteger(maxBatchBytes) || maxBatchBytes < 1)
    throw new RangeError(`maxBatchBytes must be a positive integer, not ${maxBatchBytes}.`);
  const splitsPerBatch = Math.ceil(rowsPerBatch / MAX_SPLIT_ROWS);
  return {
    splitsPerBatch,
    splitRows: Math.floor(rowsPerBatch / splitsPerBatch),
    splitBytes: Math.max(1, Math.floor(maxBatchBytes / splitsPerBatch)),
  };
}

// ---------------------------------------------------------------------------------------------
// Submission
// ---------------------------------------------------------------------------------------------

/**
 * Checks at submission that the input can be read, reading only beginnings and footers, and
 * returns its columns: the CSV header, the first JSON record's keys, the Parquet schema's
 * top-level column names.
 *
 * - CSV: the header from the first 64 KiB of every non-empty file (read 8 at a time, all of
 *   them: a job has at most 1,000 files); every header must equal the first one.
 * - JSON Lines: the first non-blank line (of the first file that has one) must be a JSON object
 *   (a line longer than 64 KiB is read up to 1 MiB).
 * - Parquet: every non-empty file's footer; all must have the same top-level columns.
 *
 * Files of zero bytes are skipped (they hold no records).
 *
 * @throws ValidationError 400 `EMPTY_INPUT` when no file holds anything (all are empty; CSV files
 *   read whole that hold only a header; JSON Lines files read whole that are blank; Parquet files
 *   of zero rows).
 * @throws ValidationError 400 `INPUT_UNREADABLE` naming the file (an excerpt of its key) and what is
 *   wrong: a header longer than 64 KiB, not CSV, not UTF-8 (UTF-16 is named), a column named
 *   twice, a header unlike the first file's; a first line that is not a JSON object; not a
 *   Parquet file, a footer over 8 MiB, columns unlike the first file's. Path `["input", "uri"]`.
 * @throws NotFoundError 404 `INPUT_NOT_FOUND` when a listed file is gone; ConflictError 409
 *   `INPUT_CHANGED` when it is shorter than listed. The port's own failures pass through.
 */
export async function inspectInput(objects: DataObjects, files: readonly InputFile[], format: BatchFormat): Promise<{ columns: string[] }> {
  const present = files.filter((file) => file.size > 0);
  if (present.length === 0) throw emptyInput(files.length);
  switch (format) {
    case 'csv':
      return inspectCsv(objects, files.length, present);
    case 'jsonl':
      return inspectJsonl(objects, files.length, present);
    case 'parquet':
      return inspectParquet(objects, files.length, present);
  }
}

function emptyInput(fileCount: number): ValidationError {
  const files = fileCount === 1 ? 'its file' : `its ${fileCount} files`;
  return new ValidationError(
    'EMPTY_INPUT',
    `The input holds no records: ${files} hold nothing, or only a CSV header, empty lines or Parquet row groups of no rows.`,
    INPUT_PATH,
  );
}

interface CsvHead {
  /** `undefined` for a file of blank lines only. */
  readonly header?: string[];
  /** Whether the file may hold a record (known only when it was read whole). */
  readonly mayHoldRecords: boolean;
}

async function inspectCsv(objects: DataObjects, fileCount: number, files: readonly InputFile[]): Promise<{ columns: string[] }> {
  const heads = await mapLimit(files, INSPECT_CONCURRENCY, (file) => settled(() => csvHead(objects, file)));
  let first: { file: InputFile; header: string[] } | undefined;
  let mayHoldRecords = false;
  // Judged in key order, so the file a message names does not depend on which read ended first.
  for (const [i, head] of heads.entries()) {
    const file = files[i] as InputFile;
    if (head instanceof AppError) throw head;
    mayHoldRecords ||= head.mayHoldRecords;
    if (!head.header) continue;
    if (!first) first = { file, header: head.header };
    else {
      const difference = headerDifference(first.header, head.header);
      if (difference)
        throw unreadable(
          file,
          `its header differs from that of ${where(first.file)}: ${difference}. Every file of a CSV input must have the same header.`,
        );
    }
  }
  if (!first || !mayHoldRecords) throw emptyInput(fileCount);
  return { columns: first.header };
}

/** The header of a CSV file, from its first 64 KiB. */
async function csvHead(objects: DataObjects, file: InputFile): Promise<CsvHead> {
  const whole = file.size <= INSPECT_BYTES;
  const bytes = await submittedRange(objects, file, Math.min(file.size, INSPECT_BYTES));
  if (isUtf16(bytes)) throw unreadable(file, UTF16);
  const spans: CsvSpan[] = [];
  for await (const batch of csvSpans(once(bytes), { offset: 0, line: 1 })) {
    spans.push(...batch);
    if (spans.length >= 2) break;
  }
  const header = spans[0];
  if (!header) {
    if (whole) return { mayHoldRecords: false };
    throw unreadable(file, `its first ${INSPECT_BYTES / 1024} KiB hold only blank lines; the header must be line 1.`);
  }
  const complete = whole || (header.end <= bytes.length && bytes[header.end - 1] === LF);
  if (
    !complete ||
    (!whole && header.malformed && (header.malformed === 'CSV_QUOTE_NOT_CLOSED' || header.malformed === 'CSV_MAX_RECORD_SIZE'))
  ) {
    throw unreadable(
      file,
      `its header does not end within the first ${INSPECT_BYTES / 1024} KiB: a header is at most that long (or it opens a quote it never closes).`,
    );
  }
  const problem = headerProblem(bytes.subarray(header.start, header.end), header);
  if (problem) throw unreadable(file, problem);
  return { header: header.fields ?? [], mayHoldRecords: !whole || spans.length > 1 };
}

/** What is wrong with a CSV header (its bytes and parse), or `undefined`. */
function headerProblem(bytes: Uint8Array, header: CsvSpan): string | undefined {
  if (isUtf16(bytes)) return UTF16;
  if (bytes.includes(0)) return 'its header holds NUL bytes: it is not a UTF-8 text file (UTF-16, or binary?).';
  if (!isUtf8(bytes)) return 'its header is not valid UTF-8; save the file as UTF-8.';
  if (header.malformed || !header.fields) return `its header (line 1) is not valid CSV: ${csvReason(header.malformed)}.`;
  const seen = new Set<string>();
  for (const name of header.fields) {
    if (seen.has(name)) return `its header names the column ${JSON.stringify(excerpt(name))} twice; columns must have distinct names.`;
    seen.add(name);
  }
  return undefined;
}

const UTF16 = 'it is UTF-16 encoded; save it as UTF-8.';

/** Whether the bytes begin with a UTF-16 byte order mark (csv-parse would switch encodings on it). */
function isUtf16(bytes: Uint8Array): boolean {
  return (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff);
}

/** How `other` differs from `header`, or `undefined` when they are equal. */
function headerDifference(header: readonly string[], other: readonly string[]): string | undefined {
  if (header.length !== other.length) return `it has ${other.length} columns, not ${header.length}`;
  const i = header.findIndex((name, k) => name !== other[k]);
  if (i < 0) return undefined;
  return `column ${i + 1} is ${JSON.stringify(excerpt(other[i] as string))}, not ${JSON.stringify(excerpt(header[i] as string))}`;
}

async function inspectJsonl(objects: DataObjects, fileCount: number, files: readonly InputFile[]): Promise<{ columns: string[] }> {
  for (const file of files) {
    let bytes = await submittedRange(objects, file, Math.min(file.size, INSPECT_BYTES));
    let first = firstJsonLine(bytes, file.size);
    if (first === 'incomplete') {
      bytes = await submittedRange(objects, file, Math.min(file.size, MAX_RECORD_BYTES + INSPECT_BYTES));
      first = firstJsonLine(bytes, file.size);
      if (first === 'incomplete')
        throw unreadable(file, `its first record is longer than ${MAX_RECORD_BYTES} bytes, the most a record may be.`);
    }
    if (first === undefined) {
      if (bytes.length < file.size) throw unreadable(file, `its first ${INSPECT_BYTES / 1024} KiB hold only blank lines.`);
      continue;
    }
    const { raw, line } = first;
    const problem = textProblem(raw);
    if (problem) throw unreadable(file, `its first record: ${problem.error(line).message}`);
    const parsed = jsonValue(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
    if (typeof parsed === 'string') throw unreadable(file, `its first record (line ${line}) is not JSON: ${parsed}.`);
    if (parsed.value === null || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) {
      throw unreadable(file, `its first record (line ${line}) is ${kindOf(parsed.value)}, not a JSON object {"<feature>": <value>, ...}.`);
    }
    return { columns: Object.keys(parsed.value) };
  }
  throw emptyInput(fileCount);
}

/** The first non-blank line of a file's beginning, `'incomplete'` when it does not end there, or `undefined`. */
function firstJsonLine(bytes: Uint8Array, size: number): { raw: Uint8Array; line: number } | 'incomplete' | undefined {
  const whole = bytes.length >= size;
  let start = hasBom(bytes, 0) ? 3 : 0;
  for (let line = 1; start < bytes.length; line++) {
    const newline = bytes.indexOf(LF, start);
    if (newline < 0 && !whole) return 'incomplete';
    const end = newline < 0 ? bytes.length : newline;
    const raw = bytes.subarray(start, end);
    if (!isBlank(raw)) return { raw, line };
    start = end + 1;
  }
  return undefined;
}

async function inspectParquet(objects: DataObjects, fileCount: number, files: readonly InputFile[]): Promise<{ columns: string[] }> {
  const footers = await mapLimit(files, INSPECT_CONCURRENCY, (file) =>
    settled(async () => {
      const metadata = await parquetFooter(objects, file, file.size, () => notFoundAtSubmission(file));
      return { names: topLevelColumns(metadata), rows: Number(metadata.num_rows) };
    }),
  );
  let first: { file: InputFile; names: string[] } | undefined;
  let rows = 0;
  for (const [i, footer] of footers.entries()) {
    const file = files[i] as InputFile;
    if (footer instanceof AppError) throw footer;
    rows += footer.rows;
    if (!first) first = { file, names: footer.names };
    else {
      const missing = first.names.filter((name) => !footer.names.includes(name));
      const extra = footer.names.filter((name) => !first?.names.includes(name));
      if (missing.length > 0 || extra.length > 0) {
        const lacks = missing.length > 0 ? `it lacks ${nameList(missing)}` : '';
        const adds = extra.length > 0 ? `${lacks ? '; ' : ''}it adds ${nameList(extra)}` : '';
        throw unreadable(
          file,
          `its columns differ from those of ${where(first.file)}: ${lacks}${adds}. Every file of a Parquet input must have the same columns.`,
        );
      }
    }
  }
  if (!first || rows === 0) throw emptyInput(fileCount);
  return { columns: first.names };
}

/** `[0, length)` of a listed file: 404 `INPUT_NOT_FOUND` when it is gone, 409 `INPUT_CHANGED` when shorter. */
async function submittedRange(objects: DataObjects, file: InputFile, length: number): Promise<Uint8Array> {
  const bytes = await rangeOf(objects, file, 0, length, () => notFoundAtSubmission(file));
  if (bytes.length < length) throw changed(file, `it holds fewer bytes than the ${file.size} it was listed with`);
  return bytes;
}

function notFoundAtSubmission(file: ObjectRef): NotFoundError {
  return new NotFoundError('INPUT_NOT_FOUND', `${where(file)} no longer exists; it was there when the input was listed.`, INPUT_PATH);
}

// ---------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------

/**
 * Cuts the input into splits and hands each to `write`, in order (awaiting it: a slow writer
 * slows the reading). Reads every CSV / JSON Lines file once, as a stream (memory holds a chunk
 * and a record, never a file); reads only Parquet footers.
 *
 * Splits (`Split`): whole records of one file, in order, with global row numbers; at most
 * `splitRows` records and `splitBytes` bytes each (see {@link splitSizing}; a record longer than
 * `splitBytes` gets a split to itself, and so does one longer than 1 MiB, which the reader
 * reports as `RECORD_TOO_LARGE` without reading). CSV / JSON Lines splits are byte ranges
 * `[start, end)` with the line their first record begins on; a CSV header is in no split.
 * Parquet splits are row ranges (`fileRow`, `rows`) cut along row groups: consecutive whole
 * row groups that fit in one split share it, and a row group too large for one is cut into
 * splits of its own (their row counts follow the group's uncompressed bytes per row), so a
 * split never holds part of a group and part of another.
 *
 * Every file is checked against its listing first (HEAD: still there, same size, same ETag when
 * both are known), and a streamed file must hold exactly its listed bytes.
 *
 * @throws ConflictError 409 `INPUT_CHANGED` when a file is gone or changed since submission.
 * @throws ValidationError 400 `INPUT_UNREADABLE` when a CSV header is not CSV, names a column
 *   twice or differs from the first file's, or a Parquet footer cannot be read.
 * @throws RangeError when `rowsPerBatch` or `maxBatchBytes` is not a positive integer.
 * The port's failures, and `write`'s, pass through.
 */
export async function planSplits(
  objects: DataObjects,
  input: PlanInput,
  write: (split: Split) => void | Promise<void>,
): Promise<PlanSummary> {
  const sizing = splitSizing(input.rowsPerBatch, input.maxBatchBytes);
  const splitter = new Splitter(sizing);
  const csv: { header?: { file: InputFile; names: string[] } } = {};
  for (const [index, file] of input.files.entries()) {
    await checkUnchanged(objects, file);
    if (file.size === 0) continue;
    switch (input.format) {
      case 'csv':
        await planCsv(objects, file, index, splitter, write, csv);
        break;
      case 'jsonl':
        await planJsonl(objects, file, index, splitter, write);
        break;
      case 'parquet':
        await planParquet(objects, file, index, splitter);
        break;
    }
    splitter.close();
    await splitter.drain(write);
  }
  return {
    rows: splitter.rows,
    splitCount: splitter.count,
    splitsPerBatch: sizing.splitsPerBatch,
    columns: input.format === 'csv' ? (csv.header?.names ?? []) : [],
  };
}

async function checkUnchanged(objects: DataObjects, file: InputFile): Promise<void> {
  const head = await objects.head(file);
  if (!head) throw changed(file, 'it no longer exists');
  if (head.size !== file.size) throw changed(file, `it holds ${head.size} bytes, not ${file.size}`);
  if (head.etag !== undefined && file.etag !== undefined && head.etag !== file.etag) throw changed(file, 'its ETag differs');
}

async function planCsv(
  objects: DataObjects,
  file: InputFile,
  index: number,
  splitter: Splitter,
  write: (split: Split) => void | Promise<void>,
  csv: { header?: { file: InputFile; names: string[] } },
): Promise<void> {
  const counted = countedStream(objects, file);
  let headerSeen = false;
  for await (const spans of csvSpans(counted.chunks, { offset: 0, line: 1 })) {
    for (const span of spans) {
      if (!headerSeen) {
        headerSeen = true;
        const bytes = counted.head(span.start, span.end);
        counted.release();
        const problem = bytes ? headerProblem(bytes, span) : `its header is longer than ${MAX_RECORD_BYTES} bytes.`;
        if (problem) throw unreadable(file, problem);
        const names = span.fields ?? [];
        if (!csv.header) csv.header = { file, names };
        else {
          const difference = headerDifference(csv.header.names, names);
          if (difference)
            throw unreadable(
              file,
              `its header differs from that of ${where(csv.header.file)}: ${difference}. Every file of a CSV input must have the same header.`,
            );
        }
        continue;
      }
      splitter.record(index, file, span.start, span.end, span.line);
    }
    await splitter.drain(write);
  }
  if (counted.bytes() !== file.size) throw changed(file, `it streamed ${counted.bytes()} bytes, not the ${file.size} listed`);
}

async function planJsonl(
  objects: DataObjects,
  file: InputFile,
  index: number,
  splitter: Splitter,
  write: (split: Split) => void | Promise<void>,
): Promise<void> {
  const counted = countedStream(objects, file);
  counted.release();
  let offset = 0;
  let lineStart = 0;
  let line = 1;
  for await (const chunk of counted.chunks) {
    for (let from = 0; ; ) {
      const newline = chunk.indexOf(LF, from);
      if (newline < 0) break;
      const end = offset + newline + 1;
      splitter.record(index, file, lineStart, end, line);
      line += 1;
      lineStart = end;
      from = newline + 1;
    }
    offset += chunk.length;
    await splitter.drain(write);
  }
  if (lineStart < offset) splitter.record(index, file, lineStart, offset, line);
  if (offset !== file.size) throw changed(file, `it streamed ${offset} bytes, not the ${file.size} listed`);
}

async function planParquet(objects: DataObjects, file: InputFile, index: number, splitter: Splitter): Promise<void> {
  const metadata = await parquetFooter(objects, file, file.size, () => changed(file, 'it no longer exists'));
  let fileRow = 0;
  for (const group of metadata.row_groups) {
    const rows = Number(group.num_rows);
    splitter.rowGroup(index, file, fileRow, rows, Number(group.total_byte_size));
    fileRow += rows;
  }
}

/**
 * The file's chunks (as Buffers), counted. Until `release()`, it also keeps the file's first
 * bytes (at most 1 MiB and a chunk) for `head(start, end)`: the CSV header's own checks.
 */
function countedStream(
  objects: DataObjects,
  file: InputFile,
): {
  chunks: AsyncIterable<Buffer>;
  bytes: () => number;
  head: (start: number, end: number) => Uint8Array | undefined;
  release: () => void;
} {
  let total = 0;
  let kept: Buffer[] | undefined = [];
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of objects.stream(file)) {
        const buffer = asBuffer(chunk);
        if (total === 0 && isUtf16(buffer)) throw unreadable(file, UTF16);
        if (kept && total <= MAX_RECORD_BYTES) kept.push(buffer);
        total += buffer.length;
        yield buffer;
      }
    } catch (error) {
      if (isNotFound(error)) throw changed(file, 'it no longer exists');
      throw error;
    }
  }
  return {
    chunks: chunks(),
    bytes: () => total,
    head: (start, end) => {
      const bytes = Buffer.concat(kept ?? []);
      return end <= bytes.length ? bytes.subarray(start, end) : undefined;
    },
    release: () => {
      kept = undefined;
    },
  };
}

type MutableSplit = { -readonly [K in keyof Split]: Split[K] } & { bytes: number };

/** The file's ETag, carried by its splits: a split reads only the version that was planned. */
function etagOf(ref: ObjectRef): { etag?: string } {
  const { etag } = ref as Partial<InputFile>;
  return etag === undefined ? {} : { etag };
}

/**
 * Groups records (or Parquet row groups) into splits, in order. Completed splits wait in
 * `done` until `drain` hands them to the writer.
 */
class Splitter {
  rows = 0;
  count = 0;
  private readonly done: Split[] = [];
  private open: MutableSplit | undefined;
  /** The open split takes nothing more (a record of its own). */
  private sealed = false;

  constructor(private readonly sizing: SplitSizing) {}

  /** A CSV / JSON Lines record `[start, end)` that begins on `line`. */
  record(file: number, ref: ObjectRef, start: number, end: number, line: number): void {
    const alone = end - start > Math.min(MAX_RECORD_BYTES, this.sizing.splitBytes);
    const open = this.open;
    if (open && (alone || this.sealed || open.rows >= this.sizing.splitRows || end - (open.start ?? 0) > this.sizing.splitBytes))
      this.close();
    if (!this.open) {
      this.open = {
        index: this.count,
        file,
        bucket: ref.bucket,
        key: ref.key,
        firstRow: this.rows,
        rows: 0,
        start,
        end,
        firstLine: line,
        ...etagOf(ref),
        bytes: 0,
      };
      this.count += 1;
    }
    const current = this.open;
    current.rows += 1;
    current.end = end;
    this.rows += 1;
    if (alone) this.sealed = true;
  }

  /** A Parquet row group of `rows` rows from `fileRow`, `bytes` uncompressed. */
  rowGroup(file: number, ref: ObjectRef, fileRow: number, rows: number, bytes: number): void {
    if (rows <= 0) return;
    const { splitRows, splitBytes } = this.sizing;
    const open = this.open;
    if (open && open.rows + rows <= splitRows && open.bytes + bytes <= splitBytes) {
      open.rows += rows;
      open.bytes += bytes;
      this.rows += rows;
      return;
    }
    this.close();
    const perRow = Math.max(bytes / rows, 1e-9);
    const piece = Math.max(1, Math.min(splitRows, Math.floor(splitBytes / perRow)));
    for (let r = 0; r < rows; r += piece) {
      const n = Math.min(piece, rows - r);
      this.open = {
        index: this.count,
        file,
        bucket: ref.bucket,
        key: ref.key,
        firstRow: this.rows,
        rows: n,
        fileRow: fileRow + r,
        ...etagOf(ref),
        bytes: n * perRow,
      };
      this.count += 1;
      this.rows += n;
      // A whole row group stays open for the next ones to join; pieces of a larger one do not.
      if (n < rows) this.close();
    }
  }

  /** Ends the open split (at a file's end, or when the next record does not fit). */
  close(): void {
    const open = this.open;
    if (!open) return;
    const { bytes: _bytes, ...split } = open;
    this.done.push(split);
    this.open = undefined;
    this.sealed = false;
  }

  async drain(write: (split: Split) => void | Promise<void>): Promise<void> {
    while (this.done.length > 0) await write(this.done.shift() as Split);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a split
// ---------------------------------------------------------------------------------------------

/**
 * The records of one split, in order, one entry each with its row number: CSV and JSON Lines
 * with one ranged GET (of the split and one byte more, to see that it still ends at a line
 * break), Parquet with a HEAD, the footer and the rows' pages (hyparquet, offset index used when
 * there is one). A bad record is an entry with an `error` (codes above and `INVALID_CSV`,
 * `CSV_FIELD_COUNT`, `INVALID_JSON`); it never throws.
 *
 * `columns`: CSV, the header the records' fields are named by (the plan's `columns`; read from
 * the file's first line when not given); Parquet, the columns to read (all when absent or
 * empty; names the file lacks are left out, for the codec to report as missing); JSON Lines,
 * unused.
 *
 * @throws ConflictError 409 `INPUT_CHANGED` when the file is not what the plan read: gone, shorter,
 *   not ending at a line break where the split ends, holding another number of records in the
 *   range, or (Parquet) fewer rows than the split's.
 * The port's failures pass through.
 */
export async function readSplit(
  objects: DataObjects,
  split: Split,
  format: BatchFormat,
  columns?: readonly string[],
): Promise<SplitEntry[]> {
  if (format === 'parquet') return readParquetSplit(objects, split, columns);
  const start = split.start ?? 0;
  const end = split.end ?? start;
  const line = split.firstLine ?? 1;
  if (split.rows === 1 && end - start > MAX_RECORD_BYTES) {
    return [{ row: split.firstRow, line, error: tooLarge(line, end - start) }];
  }
  const names = format === 'csv' ? (columns && columns.length > 0 ? columns : await csvColumnsOf(objects, split)) : [];
  const bytes = await splitContent(objects, split, start, end);
  const entries = format === 'csv' ? await csvEntries(bytes, split, names) : jsonlEntries(bytes, split);
  if (entries.length !== split.rows)
    throw changed(
      split,
      `bytes ${start}–${end} hold ${entries.length} record${entries.length === 1 ? '' : 's'}, not the ${split.rows} planned`,
    );
  return entries;
}

/** The split's bytes; 409 `INPUT_CHANGED` unless they are all there and end the file or a line. */
async function splitContent(objects: DataObjects, split: Split, start: number, end: number): Promise<Uint8Array> {
  const bytes = await rangeOf(objects, split, start, end + 1, () => changed(split, 'it no longer exists'));
  const length = end - start;
  if (bytes.length < length) throw changed(split, `it ends before byte ${end}`);
  if (bytes.length > length && bytes[length - 1] !== LF) throw changed(split, `byte ${end} no longer follows a line break`);
  return bytes.subarray(0, length);
}

async function csvColumnsOf(objects: DataObjects, split: Split): Promise<string[]> {
  const head = await rangeOf(objects, split, 0, INSPECT_BYTES, () => changed(split, 'it no longer exists'));
  for await (const spans of csvSpans(once(head), { offset: 0, line: 1 })) {
    const header = spans[0];
    if (header?.fields && !header.malformed) return header.fields;
    break;
  }
  throw changed(split, 'its header can no longer be read');
}

async function csvEntries(bytes: Uint8Array, split: Split, columns: readonly string[]): Promise<SplitEntry[]> {
  const origin = split.start ?? 0;
  const entries: SplitEntry[] = [];
  for await (const spans of csvSpans(once(bytes), { offset: origin, line: split.firstLine ?? 1 })) {
    for (const span of spans) {
      const row = split.firstRow + entries.length;
      const raw = bytes.subarray(span.start - origin, span.end - origin);
      const error = csvRecordError(raw, span, columns);
      entries.push(error ? { row, line: span.line, error } : { row, line: span.line, record: csvObject(columns, span.fields ?? []) });
    }
  }
  return entries;
}

function csvRecordError(raw: Uint8Array, span: CsvSpan, columns: readonly string[]): SplitEntry['error'] {
  const { line } = span;
  if (raw.length > MAX_RECORD_BYTES) return tooLarge(line, raw.length);
  const problem = textProblem(raw);
  if (problem) return problem.error(line);
  if (span.malformed || !span.fields) {
    return {
      code: 'INVALID_CSV',
      message: `Line ${line} is not valid CSV: ${csvReason(lineError(raw) ?? span.malformed)}. The line begins ${quoteExcerpt(raw)}.`,
      path: [],
    };
  }
  if (span.fields.length !== columns.length) {
    const n = span.fields.length;
    return {
      code: 'CSV_FIELD_COUNT',
      message: `Line ${line} has ${n} field${n === 1 ? '' : 's'}; the header has ${columns.length} (${nameList(columns)}). Every row needs one field per column (quote a field that holds a comma).`,
      path: [],
    };
  }
  return undefined;
}

/** `{ column: field }`, every key an own property (a column named `__proto__` included). */
function csvObject(columns: readonly string[], fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  columns.forEach((name, i) => {
    Object.defineProperty(record, name, { value: fields[i] ?? '', enumerable: true, writable: true, configurable: true });
  });
  return record;
}

function jsonlEntries(bytes: Uint8Array, split: Split): SplitEntry[] {
  const origin = split.start ?? 0;
  const firstLine = split.firstLine ?? 1;
  const entries: SplitEntry[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const newline = bytes.indexOf(LF, pos);
    const end = newline < 0 ? bytes.length : newline;
    let raw = bytes.subarray(origin + pos === 0 && hasBom(bytes, 0) ? pos + 3 : pos, end);
    if (raw[raw.length - 1] === CR) raw = raw.subarray(0, raw.length - 1);
    const row = split.firstRow + entries.length;
    const line = firstLine + entries.length;
    entries.push(jsonlEntry(raw, row, line));
    pos = end + 1;
  }
  return entries;
}

function jsonlEntry(raw: Uint8Array, row: number, line: number): SplitEntry {
  if (raw.length > MAX_RECORD_BYTES) return { row, line, error: tooLarge(line, raw.length) };
  const problem = textProblem(raw);
  if (problem) return { row, line, error: problem.error(line) };
  if (isBlank(raw)) {
    return {
      row,
      line,
      error: {
        code: 'INVALID_JSON',
        message: `Line ${line} is blank; every line of a JSON Lines file must hold one JSON value (remove blank lines).`,
        path: [],
      },
    };
  }
  const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  const parsed = jsonValue(text);
  if (typeof parsed === 'string') {
    return {
      row,
      line,
      error: { code: 'INVALID_JSON', message: `Line ${line} is not JSON: ${parsed}. The line begins ${quoteExcerpt(raw)}.`, path: [] },
    };
  }
  return { row, line, record: parsed.value };
}

async function readParquetSplit(objects: DataObjects, split: Split, columns: readonly string[] | undefined): Promise<SplitEntry[]> {
  const fileRow = split.fileRow ?? 0;
  const head = await objects.head(split);
  if (!head) throw changed(split, 'it no longer exists');
  if (split.etag !== undefined && head.etag !== undefined && head.etag !== split.etag)
    throw changed(split, 'its ETag differs: it was replaced');
  const metadata = await cachedFooter(objects, split, head);
  if (Number(metadata.num_rows) < fileRow + split.rows)
    throw changed(split, `it holds ${metadata.num_rows} rows, fewer than the ${fileRow + split.rows} planned`);
  const all = topLevelColumns(metadata);
  const wanted = columns && columns.length > 0 ? all.filter((name) => columns.includes(name)) : all;
  let rows: unknown[][] = [];
  if (wanted.length > 0) {
    const file = rangeBuffer(objects, split, head.size, () => changed(split, 'it no longer exists'));
    try {
      await parquetRead({
        file,
        metadata,
        columns: wanted,
        rowStart: fileRow,
        rowEnd: fileRow + split.rows,
        rowFormat: 'array',
        useOffsetIndex: true,
        onComplete: (read: unknown[][]) => {
          rows = read;
        },
      });
    } catch (error) {
      if (error instanceof AppError) throw error;
      // The file is the version planned (its ETag): its data pages are what cannot be read.
      const message = `Rows ${fileRow}–${fileRow + split.rows - 1} of ${where(split)} cannot be read: ${clip(errorMessage(error), 120)}.`;
      return Array.from({ length: split.rows }, (_, i) => ({
        row: split.firstRow + i,
        error: { code: 'INVALID_PARQUET', message, path: [] },
      }));
    }
    if (rows.length !== split.rows) throw changed(split, `rows ${fileRow}–${fileRow + split.rows} gave ${rows.length} rows`);
  } else {
    rows = Array.from({ length: split.rows }, () => []);
  }
  return rows.map((values, k) => {
    const record: Record<string, unknown> = {};
    wanted.forEach((name, i) => {
      Object.defineProperty(record, name, { value: plainValue(values[i]), enumerable: true, writable: true, configurable: true });
    });
    return { row: split.firstRow + k, record };
  });
}

/**
 * A Parquet value as JSON would carry it: safe int64 as numbers, others as decimal strings;
 * dates as ISO 8601; bytes as base64; nested lists and structs likewise; `undefined` as null.
 */
function plainValue(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(plainValue);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      Object.defineProperty(out, key, { value: plainValue(inner), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// CSV records and their bounds
// ---------------------------------------------------------------------------------------------

/** A CSV record's bytes `[start, end)` (its line break included) and fields, or why it is malformed. */
interface CsvSpan {
  readonly start: number;
  readonly end: number;
  /** One-based line where it begins. */
  readonly line: number;
  readonly fields?: string[];
  /** csv-parse's error code, for a malformed record (its first line). */
  readonly malformed?: string;
}

/**
 * csv-parse, strict RFC 4180 (no relaxed quotes: a stray quote is an error, so a broken line
 * does not quietly swallow the next ones), every record's field count allowed (judged by the
 * reader), empty lines skipped, `\n` and `\r\n` line breaks, records bounded.
 */
const CSV_OPTIONS = {
  relax_column_count: true,
  skip_empty_lines: true,
  record_delimiter: ['\r\n', '\n'],
  max_record_size: MAX_RECORD_BYTES,
};

/**
 * The records of CSV bytes from `origin` (their absolute offset and line), in batches, with
 * their exact bounds. csv-parse finds the records and reports where each ends; the bytes since
 * the last record are kept, so a record's start (after skipped empty lines) and line are exact.
 * When csv-parse fails, the failing record's first line becomes a malformed span and a new
 * parser starts on the next line (the rule in the file's docstring).
 */
async function* csvSpans(source: AsyncIterable<Uint8Array>, origin: { offset: number; line: number }): AsyncGenerator<CsvSpan[]> {
  const input = source[Symbol.asyncIterator]();
  let exhausted = false;
  const window = new ByteWindow(origin.offset, origin.line);
  let spans: CsvSpan[] = [];

  const pull = async (): Promise<Buffer | undefined> => {
    if (exhausted) return undefined;
    const next = await input.next();
    if (next.done) {
      exhausted = true;
      return undefined;
    }
    return asBuffer(next.value);
  };
  const open = (base: number): Parser => {
    const parser = new Parser({
      ...CSV_OPTIONS,
      bom: base === 0,
      on_record: (fields: string[], info) => {
        const start = window.recordStart();
        const end = base + info.bytes;
        spans.push({ start, end, line: window.lineAt(start), fields });
        window.advance(end);
        return null;
      },
    });
    // Errors come back through the write and end callbacks; the event must not go unheard.
    parser.on('error', () => undefined);
    return parser;
  };

  let parser = open(origin.offset);
  let queued: Buffer | undefined;
  try {
    for (;;) {
      let error: unknown;
      let ended = false;
      if (queued) {
        error = await feed(parser, queued);
        queued = undefined;
      } else {
        const chunk = await pull();
        if (chunk) {
          window.append(chunk);
          error = await feed(parser, chunk);
        } else {
          error = await finish(parser);
          ended = true;
        }
      }
      if (error !== undefined) {
        if (!(error instanceof CsvError)) throw error;
        // The malformed record: from where the failing record begins to the end of that line.
        const start = window.recordStart();
        const line = window.lineAt(start);
        let end = window.indexOf(LF, start);
        if (end < 0) {
          // Find the line's end without keeping a long line's bytes.
          let scanned = window.end;
          window.reset(scanned, line);
          for (let chunk = await pull(); chunk; chunk = await pull()) {
            const at = chunk.indexOf(LF);
            if (at >= 0) {
              window.append(chunk);
              end = scanned + at;
              break;
            }
            scanned += chunk.length;
            window.reset(scanned, line);
          }
        }
        end = end < 0 ? window.end : end + 1;
        if (start < end) spans.push({ start, end, line, malformed: error.code });
        window.advance(end);
        // A new parser takes over from the next line, first with the bytes read past it.
        parser = open(end);
        queued = window.length > 0 ? window.copy() : undefined;
        ended = false;
      }
      if (spans.length > 0) {
        const batch = spans;
        spans = [];
        yield batch;
      }
      if (ended) return;
    }
  } finally {
    await input.return?.();
  }
}

/**
 * The bytes read since the end of the last record, `[start, end)` of the input, and the line
 * `start` is on. Appends copy into a buffer that doubles as needed, so a long record costs its
 * length, not its length times its chunks.
 */
class ByteWindow {
  private buffer: Buffer = EMPTY;
  /** The live bytes are `buffer[from, to)`. */
  private from = 0;
  private to = 0;

  constructor(
    public start: number,
    private line: number,
  ) {}

  get length(): number {
    return this.to - this.from;
  }

  get end(): number {
    return this.start + this.length;
  }

  append(chunk: Buffer): void {
    if (this.to + chunk.length > this.buffer.length) {
      // A new buffer (never a copy within the old one): `copy()` results stay as they were.
      const next = Buffer.allocUnsafe(Math.max(2 * (this.length + chunk.length), 64 * 1024));
      this.buffer.copy(next, 0, this.from, this.to);
      this.buffer = next;
      this.to -= this.from;
      this.from = 0;
    }
    chunk.copy(this.buffer, this.to);
    this.to += chunk.length;
  }

  /** The one-based line of absolute offset `pos` (within the window). */
  lineAt(pos: number): number {
    return this.line + countLineBreaks(this.buffer, this.from, this.from + pos - this.start);
  }

  /** Drops the bytes before absolute offset `pos`. */
  advance(pos: number): void {
    this.line = this.lineAt(pos);
    this.from += pos - this.start;
    this.start = pos;
    if (this.from >= this.to) this.from = this.to = 0;
  }

  /** Empties the window, which now starts at `start` on `line`. */
  reset(start: number, line: number): void {
    this.from = this.to = 0;
    this.start = start;
    this.line = line;
  }

  /** Absolute offset of the first `byte` at or after absolute `pos`, or -1. */
  indexOf(byte: number, pos: number): number {
    const at = this.buffer.subarray(this.from, this.to).indexOf(byte, pos - this.start);
    return at < 0 ? -1 : this.start + at;
  }

  /** Where the next record begins: past the empty lines csv-parse skips. */
  recordStart(): number {
    let i = this.from;
    for (;;) {
      if (i < this.to && this.buffer[i] === LF) i += 1;
      else if (i + 1 < this.to && this.buffer[i] === CR && this.buffer[i + 1] === LF) i += 2;
      else return this.start + i - this.from;
    }
  }

  /** A copy of the live bytes. */
  copy(): Buffer {
    return Buffer.from(this.buffer.subarray(this.from, this.to));
  }
}

function feed(parser: Parser, chunk: Buffer): Promise<unknown> {
  return new Promise((resolve) => parser.write(chunk, (error) => resolve(error ?? undefined)));
}

function finish(parser: Parser): Promise<unknown> {
  return new Promise((resolve) => parser.end((error?: unknown) => resolve(error ?? undefined)));
}

/**
 * csv-parse's error code for a malformed record's line read alone: the error where the line
 * breaks, rather than where the parse of the whole text noticed (an unclosed quote is noticed
 * at the next quote, lines later).
 */
function lineError(raw: Uint8Array): string | undefined {
  try {
    parseCsv(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), { ...CSV_OPTIONS, bom: false });
    return undefined;
  } catch (error) {
    return error instanceof CsvError ? error.code : undefined;
  }
}

/** Why csv-parse refused a record, in the user's terms. */
function csvReason(code: string | undefined): string {
  switch (code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quoted field is never closed (a field that begins with " must end with ", and a " inside it must be doubled: "")';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'a quoted field\'s closing " is followed by something other than a comma or a line break (a " inside a quoted field must be doubled: "")';
    case 'INVALID_OPENING_QUOTE':
      return 'a " appears inside a field that does not begin with one (quote the whole field and double the ")';
    case 'CSV_MAX_RECORD_SIZE':
      return `the record runs past ${MAX_RECORD_BYTES} characters, which usually means a quoted field that is never closed`;
    default:
      return 'csv-parse cannot read it';
  }
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/** The record's bytes: not UTF-8, or holding a NUL. */
function textProblem(raw: Uint8Array): { error: (line: number) => NonNullable<SplitEntry['error']> } | undefined {
  if (raw.includes(0)) {
    return {
      error: (line) => ({
        code: 'NUL_IN_RECORD',
        message: `Line ${line} holds a NUL byte (0x00): the file is not UTF-8 text (UTF-16, or binary?).`,
        path: [],
      }),
    };
  }
  if (!isUtf8(raw)) {
    return { error: (line) => ({ code: 'MALFORMED_UTF8', message: `Line ${line} is not valid UTF-8; save the file as UTF-8.`, path: [] }) };
  }
  return undefined;
}

function tooLarge(line: number, bytes: number): NonNullable<SplitEntry['error']> {
  return {
    code: 'RECORD_TOO_LARGE',
    message: `The record on line ${line} is ${bytes} bytes long; a record is at most ${MAX_RECORD_BYTES} bytes (1 MiB).`,
    path: [],
  };
}

/** `{ value }`, or the parser's reason (bounded) when `text` is not JSON. */
function jsonValue(text: string): { value: unknown } | string {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return clip(errorMessage(error), 120);
  }
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** The start of a line as a JSON string literal of at most 64 characters (line break dropped). */
function quoteExcerpt(raw: Uint8Array): string {
  const head = Buffer.from(raw.buffer, raw.byteOffset, Math.min(raw.byteLength, EXCERPT_CHARS * 4)).toString('utf8');
  const text = head.replace(/\r?\n$/, '');
  const cut = raw.byteLength > EXCERPT_CHARS * 4 ? `${text.slice(0, EXCERPT_CHARS)}…` : excerpt(text);
  return JSON.stringify(cut);
}

function isBlank(raw: Uint8Array): boolean {
  for (const byte of raw) if (byte !== 0x20 && byte !== 0x09 && byte !== CR) return false;
  return true;
}

function hasBom(bytes: Uint8Array, at: number): boolean {
  return bytes[at] === UTF8_BOM[0] && bytes[at + 1] === UTF8_BOM[1] && bytes[at + 2] === UTF8_BOM[2];
}

function countLineBreaks(bytes: Buffer, from: number, to: number): number {
  const range = bytes.subarray(from, to);
  let count = 0;
  for (let i = range.indexOf(LF); i >= 0; i = range.indexOf(LF, i + 1)) count += 1;
  return count;
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

/** A Parquet file's footer, its reads bounded by `MAX_PARQUET_FOOTER_BYTES`. */
async function parquetFooter(objects: DataObjects, ref: ObjectRef, size: number, onMissing: () => AppError): Promise<FileMetaData> {
  const file = rangeBuffer(objects, ref, size, onMissing, MAX_PARQUET_FOOTER_BYTES);
  try {
    return await parquetMetadataAsync(file, { initialFetchSize: Math.min(size, INSPECT_BYTES) });
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw unreadable(ref, `it is not a Parquet file that can be read (${clip(errorMessage(error), 120)}).`);
  }
}

/** Footers read by `readSplit`, per port instance: a batch reads several splits of one file. */
const FOOTERS = new WeakMap<DataObjects, Map<string, { size: number; etag?: string; metadata: FileMetaData }>>();
const FOOTERS_KEPT = 8;

async function cachedFooter(objects: DataObjects, ref: ObjectRef, head: { size: number; etag?: string }): Promise<FileMetaData> {
  let cache = FOOTERS.get(objects);
  if (!cache) {
    cache = new Map();
    FOOTERS.set(objects, cache);
  }
  const key = `${ref.bucket}/${ref.key}`;
  const hit = cache.get(key);
  if (hit && hit.size === head.size && hit.etag !== undefined && hit.etag === head.etag) return hit.metadata;
  let metadata: FileMetaData;
  try {
    metadata = await parquetFooter(objects, ref, head.size, () => changed(ref, 'it no longer exists'));
  } catch (error) {
    if (error instanceof ValidationError) throw changed(ref, 'its footer can no longer be read');
    throw error;
  }
  cache.delete(key);
  cache.set(key, { size: head.size, ...(head.etag !== undefined ? { etag: head.etag } : {}), metadata });
  if (cache.size > FOOTERS_KEPT) cache.delete(cache.keys().next().value as string);
  return metadata;
}

/**
 * hyparquet's view of an object: each slice one ranged GET, which must return every byte
 * (409 `INPUT_CHANGED` otherwise); slices over `maxSlice` are refused as unreadable.
 */
function rangeBuffer(objects: DataObjects, ref: ObjectRef, size: number, onMissing: () => AppError, maxSlice?: number): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end: number = size): Promise<ArrayBuffer> {
      if (maxSlice !== undefined && end - start > maxSlice) throw unreadable(ref, `its Parquet footer is larger than ${maxSlice} bytes.`);
      const bytes = await rangeOf(objects, ref, start, end, onMissing);
      if (bytes.length !== end - start) throw changed(ref, `it ends before byte ${end}`);
      return new Uint8Array(bytes).buffer;
    },
  };
}

function topLevelColumns(metadata: FileMetaData): string[] {
  return parquetSchema(metadata).children.map((child) => child.element.name);
}

async function rangeOf(objects: DataObjects, ref: ObjectRef, start: number, end: number, onMissing: () => AppError): Promise<Uint8Array> {
  const { etag } = ref as Partial<Split>;
  try {
    return await objects.range(ref, start, end, etag);
  } catch (error) {
    if (isNotFound(error)) throw onMissing();
    if (error instanceof AppError && error.code === 'OBJECT_CHANGED') throw changed(ref, 'its ETag differs: it was replaced');
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof AppError && error.status === 404;
}

/** `fn`'s result, or the AppError it threw (other errors are thrown). */
async function settled<T>(fn: () => Promise<T>): Promise<T | AppError> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function where(ref: ObjectRef): string {
  return `s3://${ref.bucket}/${excerpt(ref.key)}`;
}

function unreadable(ref: ObjectRef, what: string): ValidationError {
  return new ValidationError('INPUT_UNREADABLE', `${where(ref)}: ${what}`, INPUT_PATH);
}

function changed(ref: ObjectRef, what: string): ConflictError {
  return new ConflictError(
    'INPUT_CHANGED',
    `${where(ref)} changed since the job was submitted (${what}); submit the job again.`,
    INPUT_PATH,
  );
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
