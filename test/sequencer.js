// The order jest starts the test files in: the longest first, so that on CI's two workers no long
// file starts last and runs on alone while the other worker sits idle. jest's own order knows a
// file's duration only from its cache of the last run on the same machine (none on a fresh clone)
// and otherwise goes by file size, which put the longest file of all (the doc test, a short file
// that runs every shell example) near the end. So a file's duration is the one jest cached, else
// the one in test/durations.json (seconds, from a full run; only files over 5 s are listed, as
// jest prints only those: `PASS <tier> <file> (<seconds> s)`), else 0; ties go by size, as jest's.
// A file that failed last time still runs first, as with jest's order.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Sequencer from '@jest/test-sequencer';

const ROOT = path.resolve(import.meta.dirname, '..');
/** Seconds by path relative to the repository. */
const RECORDED = JSON.parse(readFileSync(path.join(ROOT, 'test/durations.json'), 'utf8')).seconds;

export default class LongestFirst extends Sequencer {
  /** ms: jest's cached runtime of the file, else the recorded one, else 0. */
  duration(test) {
    return this.time(test) ?? (RECORDED[path.relative(ROOT, test.path).split(path.sep).join('/')] ?? 0) * 1000;
  }

  sort(tests) {
    const size = (test) => test.context.hasteFS.getSize(test.path) ?? 0;
    const keyed = tests.map((test) => {
      // As jest's order does: the scheduler and the reporter read it.
      test.duration = this.duration(test);
      return { test, failed: this.hasFailed(test), duration: test.duration, size: size(test) };
    });
    keyed.sort((a, b) => Number(b.failed) - Number(a.failed) || b.duration - a.duration || b.size - a.size);
    return keyed.map(({ test }) => test);
  }
}
