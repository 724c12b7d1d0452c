/**
 * Standard output and standard error whose reader may go away before the process is done
 * writing: `modelctl help register | head -5`, `npm run -s invoke -- ... | head -1`. Node reports
 * a write to a closed pipe as an `'error'` event (EPIPE) on the stream, which with no listener
 * ends the process with a stack trace. Here nothing is written any more to a stream whose reader
 * has gone, and the process ends as it would have, its exit code its own, quietly: what it would
 * still print has nowhere to go, as with any command-line tool whose reader stops reading.
 *
 * Any other error writing standard output (a full disk under `> file`) is said in one line on
 * standard error, exit code 1.
 */

/** The process's standard output and error, written only while their readers are there. */
export interface GuardedOutput {
  /** Writes `text` to standard output; nothing once its reader has gone. */
  out(text: string): void;
  /** Writes `text` to standard error; nothing once its reader has gone. */
  err(text: string): void;
  /** Aborted when standard output's reader goes away: whatever only produces output can stop. */
  readonly outputClosed: AbortSignal;
}

/** Listens for the end of `process.stdout`'s and `process.stderr`'s readers; call once per process. */
export function guardOutput(): GuardedOutput {
  let outOpen = true;
  let errOpen = true;
  const closed = new AbortController();
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (!outOpen) return;
    outOpen = false;
    closed.abort();
    if (error.code === 'EPIPE') return;
    if (errOpen) process.stderr.write(`Cannot write to standard output: ${error.message}\n`);
    process.exit(1);
  });
  process.stderr.on('error', () => {
    errOpen = false;
  });
  return {
    out: (text) => {
      if (outOpen) process.stdout.write(text);
    },
    err: (text) => {
      if (errOpen) process.stderr.write(text);
    },
    outputClosed: closed.signal,
  };
}
