/**
 * 9. Batch jobs (issue 11): a JSON Lines job of the sample model on the local stack, from
 * submission through the job service to SUCCEEDED (the plan, the emulated Distributed Map calling
 * the batch function, the assembly), against the floor measured in the same run, in the same
 * process, on the same S3-compatible server: the same bytes read with one streamed GetObject, the
 * lines split and parsed, one raw `session.run` per batch, the predictions encoded as the job
 * encodes them and written back with one streamed upload. Both run in a child process
 * (processes/batch-stack.ts) that holds the stack as `npm start` runs it.
 *
 * The job is submitted with rowsPerBatch 1000, the batch function's MAX_ROWS and the floor's
 * batch, so both make the same `session.run` calls; and maxConcurrency 4: on this 2-core machine,
 * enough batches in flight that one's S3 reads and writes overlap another's parsing and run. Tried
 * on 200,000 rows, twice each: one batch at a time took about 1.5× as long as 4, and 8 or 10
 * (the local runner's cap) no less than 4; beyond it, batches only queue for the same cores.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startChild, type Child, type Message } from './lib/children.js';
import type { BenchContext } from './lib/context.js';
import { median, precise } from './lib/stats.js';
import type { BatchFloorRun, BatchJobRun, BatchJobsResult } from './results.js';

/** Records per batch: the batch function's MAX_ROWS, so one `session.run` per 1000 rows, as in the floor. */
export const ROWS_PER_BATCH = 1000;
/** Batches in flight at most (see above). */
export const MAX_CONCURRENCY = 4;
/** Rows of the untimed job and floor run first: the model loaded into the stack, its connections open, its hot code compiled. */
const WARMUP_ROWS = 20_000;
/** Time one request to the child may take, ms: a million-row job takes about half a minute here. */
const REQUEST_TIMEOUT_MS = 30 * 60_000;

type Run<T> = Message & { run: T };

/** Runs section 9; throws (failing the bench) when a job does not end SUCCEEDED with a prediction per row. */
export async function runBatchJobs(ctx: BenchContext): Promise<BatchJobsResult> {
  const { rows, rounds, profileRows } = ctx.profile.batchJobs;
  const scratch = path.join(ctx.tmpDir, 'batch-jobs');
  mkdirSync(scratch, { recursive: true });
  ctx.progress('batch jobs: local stack');
  const child = await startChild('bench/processes/batch-stack.ts', { env: { BENCH_SCRATCH: scratch }, timeoutMs: 120_000 });
  try {
    ctx.progress(`batch jobs: writing inputs (${rows.toLocaleString('en-US')} rows)`);
    const sizes = [...new Set([WARMUP_ROWS, rows, profileRows])];
    const written = new Map<number, number>();
    for (const size of sizes) {
      const input = await child.request<Message & { bytes: number }>({ type: 'input', rows: size }, REQUEST_TIMEOUT_MS);
      written.set(size, input.bytes);
    }
    const job = async (size: number) =>
      (
        await child.request<Run<BatchJobRun>>(
          { type: 'job', rows: size, rowsPerBatch: ROWS_PER_BATCH, maxConcurrency: MAX_CONCURRENCY },
          REQUEST_TIMEOUT_MS,
        )
      ).run;
    const floor = async (size: number) =>
      (await child.request<Run<BatchFloorRun>>({ type: 'floor', rows: size, rowsPerBatch: ROWS_PER_BATCH }, REQUEST_TIMEOUT_MS)).run;

    ctx.progress('batch jobs: warm-up');
    await job(WARMUP_ROWS);
    await floor(WARMUP_ROWS);

    // A floor before and after every job: drift on the machine hits both alike.
    const jobs: BatchJobRun[] = [];
    const floors: BatchFloorRun[] = [];
    for (let round = 0; round < rounds; round++) {
      ctx.progress(`batch jobs: floor ${round + 1}`);
      floors.push(await floor(rows));
      ctx.progress(`batch jobs: job ${round + 1} (${rows.toLocaleString('en-US')} rows)`);
      jobs.push(await job(rows));
    }
    ctx.progress(`batch jobs: floor ${rounds + 1}`);
    floors.push(await floor(rows));

    ctx.progress(`batch jobs: CPU profile of a job (${profileRows.toLocaleString('en-US')} rows)`);
    const profile = await profiled(child, () => job(profileRows));

    const jobMs = median(jobs.map((r) => r.ms));
    const floorMs = median(floors.map((r) => r.ms));
    const jobRowsPerSecond = rows / (jobMs / 1000);
    const floorRowsPerSecond = rows / (floorMs / 1000);
    return {
      model: 'iris',
      rows,
      inputBytes: written.get(rows) ?? 0,
      rowsPerBatch: ROWS_PER_BATCH,
      maxConcurrency: MAX_CONCURRENCY,
      warmupRows: WARMUP_ROWS,
      jobs,
      floors,
      jobMs: precise(jobMs),
      jobRowsPerSecond: precise(jobRowsPerSecond),
      floorMs: precise(floorMs),
      floorRowsPerSecond: precise(floorRowsPerSecond),
      ratio: precise(jobRowsPerSecond / floorRowsPerSecond),
      profileRows,
      profile,
    };
  } finally {
    await child.stop();
  }
}

/** The child's CPU profile while `work` runs. */
async function profiled(child: Child, work: () => Promise<unknown>): Promise<BatchJobsResult['profile']> {
  const stop = () => child.request<Message & { summary: BatchJobsResult['profile'] }>({ type: 'profileStop' }, REQUEST_TIMEOUT_MS);
  await child.request({ type: 'profileStart' });
  try {
    await work();
  } catch (error) {
    // The profiler is stopped all the same, so the child is left as it was.
    await stop().catch(() => undefined);
    throw error;
  }
  return (await stop()).summary;
}
