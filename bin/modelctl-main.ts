/** Process entry of `modelctl`: real fetch, files and streams. */
import { constants, createReadStream } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { guardOutput } from '../local/closed-pipes.js';
import { modelctl } from './modelctl.js';

// A reader that goes away (`modelctl help register | head -5`) ends nothing with a stack trace:
// the rest of the output is dropped, `logs --follow` stops, the exit code is the command's.
const output = guardOutput();

// Ctrl+C ends `logs --follow` cleanly (a second one stops the process as usual); other commands
// keep the default, so Ctrl+C stops them at once.
const interrupted = new AbortController();
if (process.argv.includes('--follow')) process.once('SIGINT', () => interrupted.abort());

/**
 * A file's size and a stream of its bytes. A folder or a file that cannot be read fails here, as
 * `readFile` would (EISDIR, EACCES), not later, half-way through an upload.
 */
async function openFile(path: string): Promise<{ size: number; stream: () => AsyncIterable<Uint8Array> }> {
  const stats = await stat(path);
  if (stats.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, open '${path}'`), { code: 'EISDIR' });
  await access(path, constants.R_OK);
  return { size: stats.size, stream: () => createReadStream(path) };
}

const code = await modelctl(process.argv.slice(2), {
  fetch: globalThis.fetch,
  out: output.out,
  err: output.err,
  readFile: (path) => readFile(path),
  openFile,
  errIsTTY: process.stderr.isTTY === true,
  env: process.env,
  signal: AbortSignal.any([interrupted.signal, output.outputClosed]),
  ...(process.stdout.columns === undefined ? {} : { columns: process.stdout.columns }),
});
process.exitCode = code;
