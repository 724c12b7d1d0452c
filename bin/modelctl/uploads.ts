/**
 * Files in and out of `modelctl`: a local file opened as a stream, streamed to a presigned URL
 * with a progress bar on stderr, and downloads written whole or not at all.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CliIo, fileError, formatBytes } from './common.js';
import { type Api, ApiError, s3Refusal } from './http.js';

/** Files larger than this are registered through a presigned upload, not inline. */
export const UPLOAD_THRESHOLD_BYTES = 1024 * 1024;

/** A local file: its size, and its bytes as a stream (read again on each call). */
export interface OpenedFile {
  readonly size: number;
  stream(): AsyncIterable<Uint8Array>;
}

/**
 * `file` through `io.openFile` (a stream), else read whole; a file that cannot be read is a
 * `FileError` (`cannot read FILE: it is a folder.`, then `folderHint` for a folder).
 */
export async function openFile(io: CliIo, file: string, folderHint?: string): Promise<OpenedFile> {
  try {
    if (io.openFile) return await io.openFile(file);
    const bytes = await io.readFile(file);
    return {
      size: bytes.byteLength,
      stream: async function* () {
        yield bytes;
      },
    };
  } catch (error) {
    throw fileError(error, file, 'read', (error as NodeJS.ErrnoException).code === 'EISDIR' ? folderHint : undefined);
  }
}

/** `POST /v1/models/{m}/uploads`: where to send a model file that is too large to go inline. */
interface UploadTicket {
  readonly uploadId: string;
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly maxBytes: number;
}

/** Asks for a presigned upload of a model file and streams the file to it, drawing progress on stderr; the upload's id. */
export async function upload(api: Api, io: CliIo, model: string, file: string, opened: OpenedFile): Promise<string> {
  const ticket = (await api.call('POST', `/v1/models/${encodeURIComponent(model)}/uploads`, {})) as UploadTicket;
  if (opened.size > ticket.maxBytes) {
    throw new ApiError(`${file} is ${opened.size} bytes; the API registers files of at most ${ticket.maxBytes} bytes.`);
  }
  await putFile(io, { url: ticket.url, method: ticket.method, headers: ticket.headers }, file, opened);
  return ticket.uploadId;
}

/**
 * Streams a file to a presigned URL (S3 answers a refusal in XML), drawing progress on stderr:
 * the bytes are pulled from the file as the connection takes them, never held whole.
 */
export async function putFile(
  io: CliIo,
  target: { url: string; method: string; headers: Record<string, string> },
  file: string,
  opened: OpenedFile,
): Promise<void> {
  const progress = new Progress(io, path.basename(file), opened.size);
  const chunks = opened.stream()[Symbol.asyncIterator]();
  let sent = 0;
  progress.update(0);
  // Pulled one chunk at a time as the connection takes them, so the count follows the upload
  // (give or take the socket's buffer) and the file is never held whole in memory.
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await chunks.next();
      if (next.done) {
        controller.close();
        return;
      }
      sent += next.value.byteLength;
      controller.enqueue(next.value);
      progress.update(sent);
    },
  });
  let response: Response;
  try {
    response = await io.fetch(target.url, {
      method: target.method,
      // S3 takes no chunked uploads: the length goes first, the bytes stream behind it.
      headers: { ...target.headers, 'content-length': String(opened.size) },
      body,
      duplex: 'half',
    } as RequestInit);
  } catch (error) {
    progress.abort();
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new ApiError(`Cannot upload to ${new URL(target.url).origin}${cause}.`);
  }
  if (!response.ok) {
    progress.abort();
    throw new ApiError(`The upload was refused: ${await s3Refusal(response)}`);
  }
  await response.arrayBuffer();
}

/** A response body as chunks. */
export async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Writes a file whole or not at all: into `<path>.part`, renamed once complete. A file that cannot
 * be written is a `FileError` (`cannot write FILE: permission denied.`).
 */
export async function writeWhole(file: string, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    await mkdir(path.dirname(file), { recursive: true });
  } catch (error) {
    throw fileError(error, file, 'write');
  }
  const part = `${file}.part`;
  try {
    await pipeline(Readable.from(chunks), createWriteStream(part));
    await rename(part, file);
  } catch (error) {
    await rm(part, { force: true });
    throw fileError(error, file, 'write');
  }
}

/** `bytes` as the chunks {@link writeWhole} takes. */
export async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

const BAR_WIDTH = 30;

/** How a {@link Progress} counts and reports off a terminal. */
export interface ProgressOptions {
  /** What is counted: bytes (an upload, which ends with its last byte), rows (a batch job) or requests (a replay). @default 'bytes' */
  readonly unit?: 'bytes' | 'rows' | 'requests';
  /**
   * Off a terminal: a line whenever what is shown changes, at most one per `lineEveryMs` (a
   * batch job: its total arrives late, its state matters); without it, one line per quarter.
   */
  readonly lineEveryMs?: number;
  /** Milliseconds, for `lineEveryMs`. @default Date.now */
  readonly now?: () => number;
}

/**
 * Progress on stderr: on a terminal one bar redrawn in place
 * (`model.onnx [#######.......] 25%  1.2 MB / 4.8 MB`, `iris [###....]  10%  15 / 150 rows  RUNNING`);
 * otherwise (logs, CI) one line per quarter (`Uploading model.onnx: 25% (...)`), or with
 * `lineEveryMs` one line per change at most that often (`iris: 15 / 150 rows (10%)  RUNNING`).
 * The total may be unknown at first (`?%`, `15 rows`), and given with a later update.
 */
export class Progress {
  private lastQuarter = -1;
  /** On a terminal: what the bar shows (the percent of bytes; the whole line of rows), and its width. */
  private lastKey: string | undefined;
  private lastWidth = 0;
  /** Off a terminal, with `lineEveryMs`: the last line written, when, and the newest one not written. */
  private lastLine: string | undefined;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private pending: string | undefined;
  private finished = false;
  private readonly unit: 'bytes' | 'rows' | 'requests';

  constructor(
    private readonly io: Pick<CliIo, 'err' | 'errIsTTY'>,
    private readonly name: string,
    private total: number | undefined,
    private readonly options: ProgressOptions = {},
  ) {
    this.unit = options.unit ?? 'bytes';
  }

  /** Shows `done` of the total (`total` replaces the one known so far), with `state` after the counts. */
  update(done: number, total: number | undefined = this.total, state?: string): void {
    if (this.finished) return;
    this.total = total;
    const percent = total === undefined ? undefined : total === 0 ? 100 : Math.min(100, Math.floor((done / total) * 100));
    if (this.io.errIsTTY) this.draw(done, percent, state);
    else if (this.options.lineEveryMs === undefined) this.quarterLine(done, percent);
    else this.changeLine(done, percent, state);
    if (this.unit === 'bytes' && percent !== undefined && percent >= 100) this.finish();
  }

  /** Ends the bar's line so that a message starts on a line of its own; later updates draw a new bar. */
  interrupt(): void {
    if (this.io.errIsTTY && this.lastWidth > 0) this.io.err('\n');
    this.lastKey = undefined;
    this.lastWidth = 0;
  }

  /** The end: the bar's line is ended; off a terminal, the newest state not written yet is. */
  finish(): void {
    if (this.finished) return;
    if (this.pending !== undefined) this.io.err(this.pending);
    this.abort();
  }

  /** Ends the bar's line so that an error message starts on a line of its own. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.interrupt();
  }

  private amounts(done: number): string {
    const total = this.total;
    if (this.unit === 'bytes') return total === undefined ? formatBytes(done) : `${formatBytes(done)} / ${formatBytes(total)}`;
    return total === undefined ? `${done} ${this.unit}` : `${done} / ${total} ${this.unit}`;
  }

  private draw(done: number, percent: number | undefined, state: string | undefined): void {
    const filled = percent === undefined ? 0 : Math.round((percent / 100) * BAR_WIDTH);
    const shown = percent === undefined ? '  ?' : String(percent).padStart(3);
    const line = `${this.name} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${shown}%  ${this.amounts(done)}${state ? `  ${state}` : ''}`;
    // Bytes move on every chunk: the bar is redrawn when its percent moves.
    const key = this.unit === 'bytes' ? shown : line;
    if (key === this.lastKey) return;
    this.lastKey = key;
    // A shorter line than the last one blanks the rest of it.
    this.io.err(`\r${line.padEnd(this.lastWidth)}`);
    this.lastWidth = line.length;
  }

  private quarterLine(done: number, percent: number | undefined): void {
    if (percent === undefined) return;
    const quarter = Math.floor(percent / 25);
    if (quarter <= this.lastQuarter || quarter === 0) return;
    this.lastQuarter = quarter;
    const what = this.unit === 'bytes' ? `Uploading ${this.name}` : this.name;
    this.io.err(`${what}: ${quarter * 25}% (${done} of ${this.total} ${this.unit})\n`);
  }

  private changeLine(done: number, percent: number | undefined, state: string | undefined): void {
    const line = `${this.name}: ${this.amounts(done)}${percent === undefined ? '' : ` (${percent}%)`}${state ? `  ${state}` : ''}\n`;
    if (line === this.lastLine) {
      this.pending = undefined;
      return;
    }
    const now = (this.options.now ?? Date.now)();
    if (now - this.lastLineAt < (this.options.lineEveryMs ?? 0)) {
      this.pending = line;
      return;
    }
    this.io.err(line);
    this.lastLine = line;
    this.lastLineAt = now;
    this.pending = undefined;
  }
}
