/**
 * The bench runner (started by run.ts, bundled): starts the local AWS look-alikes, runs the
 * sections in order, checks the targets and writes the report and the raw numbers.
 * Arguments: `--quick` (small counts), `--out DIR` (default docs/).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBatch } from './batch.js';
import { runBatchJobs } from './batch-jobs.js';
import { runCache } from './cache.js';
import { prepareSandbox, runColdStart } from './cold-start.js';
import { runHandler } from './handler.js';
import { runHostile } from './hostile.js';
import { runHttp } from './http.js';
import { runLimit } from './limit.js';
import { killChildren, startChild, type AwsEndpoints, type Message } from './lib/children.js';
import { FULL, QUICK, type BenchContext } from './lib/context.js';
import { describeMachine } from './lib/machine.js';
import { PRODUCT_THREADS, benchModels } from './lib/models.js';
import { ROOT } from './lib/paths.js';
import { runMemory } from './memory.js';
import { evaluateTargets, headline, renderMarkdown } from './report.js';
import type { BenchResults } from './results.js';
import { runSizes } from './sizes.js';
import { runThreads } from './threads.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const profile = values.quick ? QUICK : FULL;
const outDir = path.resolve(values.out ?? path.join(ROOT, 'docs'));
const command = values.quick ? 'npm run bench -- --quick' : 'npm run bench';

const started = performance.now();
const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'onnx-bench-'));
const progress = (message: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${message}\n`);

function cleanUp(): void {
  killChildren();
  rmSync(tmpDir, { recursive: true, force: true });
}
process.once('SIGINT', () => {
  cleanUp();
  process.exit(130);
});

async function main(): Promise<void> {
  progress(`${profile.mode} run; results to ${outDir}`);
  const loadStart = os.loadavg()[0] ?? 0;
  const aws = await startChild<Message & { endpoints: AwsEndpoints }>('bench/processes/aws-servers.ts');
  try {
    const ctx: BenchContext = {
      profile,
      aws: aws.ready.endpoints,
      awsCpuMs: async () => (await aws.request<Message & { cpuMs: number }>({ type: 'cpu' })).cpuMs,
      tmpDir,
      progress,
    };
    const limit = await runLimit(ctx);
    const handler = await runHandler(ctx);
    const cache = await runCache(ctx);
    const batch = await runBatch(ctx);
    const threads = await runThreads(ctx);
    const sandbox = await prepareSandbox(ctx);
    const coldStart = await runColdStart(ctx, sandbox);
    const http = await runHttp(ctx);
    const memory = await runMemory(ctx);
    const sizes = runSizes(ctx, sandbox.bundle);
    const hostile = await runHostile(ctx);
    const batchJobs = await runBatchJobs(ctx);
    const loadEnd = os.loadavg()[0] ?? 0;
    const measured = {
      schema: 1 as const,
      mode: profile.mode,
      date: new Date().toISOString(),
      durationSeconds: Math.round((performance.now() - started) / 1000),
      command,
      machine: describeMachine(),
      loadAverage: { start: loadStart, end: loadEnd },
      intraOpThreads: PRODUCT_THREADS,
      models: benchModels().map((m) => ({
        id: m.id,
        name: m.name,
        description: m.description,
        bytes: m.bytes.byteLength,
        features: m.features.length,
      })),
      limit,
      handler,
      cache,
      batch,
      coldStart,
      http,
      memory,
      sizes,
      threads,
      hostile,
      batchJobs,
    };
    const results: BenchResults = { ...measured, headline: headline(measured), targets: evaluateTargets(measured) };
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'benchmarks.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(path.join(outDir, 'BENCHMARKS.md'), renderMarkdown(results));
    progress(`done in ${results.durationSeconds} s: ${path.join(outDir, 'BENCHMARKS.md')}`);
    for (const line of results.headline) process.stdout.write(`- ${line}\n`);
  } finally {
    await aws.stop();
  }
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanUp);
