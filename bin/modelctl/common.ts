/**
 * What every `modelctl` command shares: the process's side (`CliIo`), the usage error, and the
 * small text helpers its messages and tables use.
 */

/** The process as `modelctl` sees it: fetch, stdout and stderr, files and the environment. */
export interface CliIo {
  readonly fetch: typeof fetch;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly readFile: (path: string) => Promise<Buffer>;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch, for `token`. @default Date.now */
  readonly now?: () => number;
  /** A file's size and a stream of its bytes, for uploads. @default readFile, whole */
  readonly openFile?: (path: string) => Promise<{ size: number; stream: () => AsyncIterable<Uint8Array> }>;
  /**
   * Whether `err` is a terminal: the upload progress is one bar redrawn in place; otherwise one
   * line per quarter. @default false
   */
  readonly errIsTTY?: boolean;
  /**
   * Ends `logs --follow` (the process aborts it on Ctrl+C; it then exits 0) and stops waiting
   * for a batch job (exit 2, as a timeout). @default never
   */
  readonly signal?: AbortSignal;
  /**
   * Writes a downloaded file (`batch run`'s results) from a stream of its bytes, creating its
   * folder. @default node:fs: into `<path>.part`, renamed to `path` once whole
   */
  readonly writeFile?: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>;
  /** Columns the help is wrapped to (the terminal's width). @default 80 */
  readonly columns?: number;
}

/**
 * How soon endpoints see a change of a model's record (its production version, experiment,
 * capture, shadow test): each trusts what it read for `POINTER_CACHE_MS`, 5 s by default
 * (`functions/shared/config.ts`), so a request sent sooner may still be served as before.
 */
export const POINTER_CACHE = 'within their pointer cache (POINTER_CACHE_MS, 5 s by default)';

/**
 * A mistake in the command line that the parser cannot see (two options that exclude each
 * other, a number out of range, a file that is not JSON): exit 2, the message and the command's
 * help hint on stderr.
 */
export class UsageError extends Error {}

/** A value of the caller's in a message: quoted, at most 40 characters. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** Control characters of text the API relays (messages with excerpts of input) shown as `?`. */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** `1 row`, `2 rows`; `many` for irregular plurals. */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** A few significant digits of a statistic, for tables only (the JSON keeps every digit). */
export function statistic(value: number): string {
  return Number(value.toPrecision(4)).toString();
}

/** A p-value for a table: 3 significant digits, small ones in exponent form. */
export function pValueText(p: number): string {
  if (p === 0) return '0';
  return p < 1e-3 ? p.toExponential(1) : Number(p.toPrecision(3)).toString();
}

/** A difference for a report's tables: 4 significant digits, tiny ones in exponent form; `-` without one. */
export function differenceText(value: number | undefined): string {
  if (value === undefined) return '-';
  if (value === 0) return '0';
  return value < 1e-3 ? value.toExponential(2) : Number(value.toPrecision(4)).toString();
}

/**
 * The line a replay or shadow report adds for outputs it could not compare, by output and reason:
 * `outputs not compared: label (bytes 3); scores (shape 1)`; undefined when every output was compared.
 */
export function notComparedNote(notCompared: Readonly<Record<string, Readonly<Record<string, number | undefined>>>>): string | undefined {
  const skipped = Object.entries(notCompared);
  if (skipped.length === 0) return undefined;
  const outputs = skipped.map(([name, reasons]) => {
    const counts = Object.entries(reasons).map(([why, n]) => `${why} ${n}`);
    return `${clean(name)} (${counts.join(', ')})`;
  });
  return `outputs not compared: ${outputs.join('; ')}`;
}

/** `512 B`, `3.8 KB`, `12.0 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** JSON text (an option's value or a file's bytes), or a usage error naming where it came from. */
export function parseJson(text: string | Buffer, where: string): unknown {
  try {
    return JSON.parse(text.toString());
  } catch (error) {
    throw new UsageError(`${where} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** What an error says, for a line on stderr. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A local file that could not be read or written (exit 1), in one wording for every file option
 * and argument: `cannot read data.csv: no such file.`
 */
export class FileError extends Error {}

/** What the file system's error codes mean, as the end of a {@link FileError}'s line. */
const FILE_PROBLEMS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a part of its path is not a folder',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
};

/**
 * A file system error on `file` as a {@link FileError} (`cannot read FILE: no such file.`, then
 * `hint` when given); any other error (a network error while a download is written) as it is.
 */
export function fileError(error: unknown, file: string, doing: 'read' | 'write', hint?: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // Written: the file's folder is made first, so EEXIST is a file where a folder of its path should be.
  const problem =
    doing === 'write' && code === 'ENOENT'
      ? 'its folder does not exist'
      : doing === 'write' && code === 'EEXIST'
        ? FILE_PROBLEMS['ENOTDIR']
        : typeof code === 'string'
          ? FILE_PROBLEMS[code]
          : undefined;
  if (problem === undefined) return error;
  return new FileError(`cannot ${doing} ${file}: ${problem}.${hint === undefined ? '' : ` ${hint}`}`);
}

/** A local file's bytes; a file that cannot be read is a {@link FileError} (then `folderHint`, for a folder). */
export async function readLocalFile(io: Pick<CliIo, 'readFile'>, file: string, folderHint?: string): Promise<Buffer> {
  try {
    return await io.readFile(file);
  } catch (error) {
    throw fileError(error, file, 'read', (error as NodeJS.ErrnoException).code === 'EISDIR' ? folderHint : undefined);
  }
}
