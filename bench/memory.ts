/**
 * 6a. Memory: the resident set of a server process over many requests. Two fresh local APIs:
 * the target run, 100,000 requests with JWT authorization on and prediction logs off, and a
 * shorter run with prediction logs on as well (queued and written in batches to the log sink in
 * another process), where the log's queue is the memory at stake.
 * Each takes a warm-up, then the measured run; RSS and the V8 heap are read after a forced GC at
 * both ends, and RSS is sampled during the run for the peak. Every run is capped in time.
 */
import type { BenchContext } from './lib/context.js';
import { startChild, type Message } from './lib/children.js';
import { featuresBody } from './lib/in-process.js';
import { load } from './lib/load.js';
import { benchModel } from './lib/models.js';
import { precise } from './lib/stats.js';
import { HTTP_MODEL, type ServerReady } from './http.js';
import type { MemoryResult, MemoryRun } from './results.js';

type MemoryReply = Message & { readonly rssMb: number; readonly heapUsedMb: number };

const RUNS = [
  { server: 'the local API, JWT authorization on, prediction logs off', log: 'off', count: 'requests' },
  {
    server: 'the local API, JWT authorization on, prediction logs on (queued, BatchWriteItem of up to 25 to the log sink)',
    log: 'sink',
    count: 'loggedRequests',
  },
] as const;

export async function runMemory(ctx: BenchContext): Promise<MemoryResult> {
  const runs: MemoryRun[] = [];
  for (const run of RUNS) runs.push(await measure(ctx, run.server, run.log, ctx.profile.memory[run.count]));
  return { runs };
}

async function measure(ctx: BenchContext, description: string, log: 'off' | 'sink', requests: number): Promise<MemoryRun> {
  const { connections, maxSeconds } = ctx.profile.memory;
  const model = benchModel(HTTP_MODEL);
  const body = JSON.stringify(featuresBody(model, model.rows(1)[0] ?? []));
  const server = await startChild<ServerReady>('bench/processes/api-server.ts', {
    env: { BENCH_API_MODE: 'function', BENCH_AUTH: 'on', BENCH_LOG: log, BENCH_AWS: JSON.stringify(ctx.aws) },
    nodeArgs: ['--expose-gc'],
  });
  try {
    const url = `${server.ready.url}/v1/models/${model.name}/predict`;
    const { token } = server.ready;
    // A tenth of the run, at most the profile's warm-up (the logged run is shorter).
    const warmup = Math.min(ctx.profile.memory.warmupRequests, Math.ceil(requests / 10));
    ctx.progress(`memory: logs ${log}, ${warmup} warm-up requests`);
    const warm = await load({ url, body, token, connections, amount: warmup, maxSeconds });
    const afterWarmup = await server.request<MemoryReply>({ type: 'gc' });
    const samples: Array<{ requests: number; rssMb: number }> = [{ requests: 0, rssMb: precise(afterWarmup.rssMb) }];
    let sampling = Promise.resolve();
    ctx.progress(`memory: logs ${log}, ${requests} requests`);
    const measured = await load({
      url,
      body,
      token,
      connections,
      amount: requests,
      maxSeconds,
      onProgress: (done) => {
        sampling = sampling.then(async () => {
          const { rssMb } = await server.request<MemoryReply>({ type: 'memory' });
          samples.push({ requests: done, rssMb: precise(rssMb) });
        });
      },
    });
    await sampling;
    const atEnd = await server.request<MemoryReply>({ type: 'gc' });
    samples.push({ requests: measured.requests, rssMb: precise(atEnd.rssMb) });
    return {
      server: description,
      connections,
      warmupRequests: warmup,
      requests,
      answered: measured.requests,
      errors: warm.errors + warm.non2xx + measured.errors + measured.non2xx,
      requestsPerSecond: measured.requestsPerSecond,
      rssAfterWarmupMb: precise(afterWarmup.rssMb),
      rssEndMb: precise(atEnd.rssMb),
      rssPeakMb: precise(Math.max(...samples.map((s) => s.rssMb))),
      rssGrowthMb: precise(atEnd.rssMb - afterWarmup.rssMb),
      heapAfterWarmupMb: precise(afterWarmup.heapUsedMb),
      heapEndMb: precise(atEnd.heapUsedMb),
      samples,
    };
  } finally {
    await server.stop();
  }
}
