/**
 * `npm run bench`: measures the serving stack against ONNX Runtime called directly (the limit)
 * and against the way people usually write it, in one run, and writes `docs/BENCHMARKS.md` and
 * `docs/benchmarks.json`. `--quick` runs every section with small counts (under a minute; CI
 * runs it so the bench keeps working, without looking at the figures). `--out DIR` writes the
 * two files elsewhere.
 *
 * This file only builds the bench (see lib/build.ts for why it is bundled rather than run
 * through tsx) and runs the build with plain Node; the runner itself is main.ts.
 *
 * @example
 * npx tsx bench/run.ts                 # full run, rewrites docs/BENCHMARKS.md
 * npx tsx bench/run.ts --quick --out /tmp/bench
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildEntries } from './lib/build.js';

/** The runner and every child process it starts. */
export const ENTRIES = [
  'bench/main.ts',
  'bench/processes/aws-servers.ts',
  'bench/processes/api-server.ts',
  'bench/processes/baseline-server.ts',
  'bench/processes/batch-stack.ts',
] as const;

const buildDir = mkdtempSync(path.join(os.tmpdir(), 'onnx-bench-build-'));
try {
  await buildEntries(ENTRIES, buildDir);
  const child = spawn(process.execPath, [path.join(buildDir, 'main.mjs'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_BUILD_DIR: buildDir },
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  process.exitCode = await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
} finally {
  rmSync(buildDir, { recursive: true, force: true });
}
