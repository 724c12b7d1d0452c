/** Process entry of `modelctl`: real fetch, files and streams. */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { modelctl } from './modelctl.js';

// Ctrl+C ends `logs --follow` cleanly (a second one stops the process as usual); other commands
// keep the default, so Ctrl+C stops them at once.
const interrupted = new AbortController();
if (process.argv.includes('--follow')) process.once('SIGINT', () => interrupted.abort());

const code = await modelctl(process.argv.slice(2), {
  fetch: globalThis.fetch,
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  readFile: (path) => readFile(path),
  openFile: async (path) => ({ size: (await stat(path)).size, stream: () => createReadStream(path) }),
  errIsTTY: process.stderr.isTTY === true,
  env: process.env,
  signal: interrupted.signal,
  ...(process.stdout.columns === undefined ? {} : { columns: process.stdout.columns }),
});
process.exitCode = code;
