/**
 * 2. Handler overhead: what the predict handler adds to one raw `session.run` for a single row.
 * Four layers run in alternating blocks of the same loop, so the differences between them are
 * the cost of each layer (the profile of the overhead):
 *   raw      `session.run` on the bench's own session
 *   adapter  the adapter's `ModelSession.run` (the handler's session; tensor conversion)
 *   core     `PredictionService.predict` (request schema, version lookup, decode, run, encode)
 *   handler  the middy handler on an API Gateway event (body checks, errors, response JSON)
 * Prediction logs are off for these figures; their cost is measured apart: the handler with the
 * product's log adapter writing to the local DynamoDB-compatible server in another process (as
 * DynamoDB is on AWS), against the same handler with logs off, and the log writer's capacity
 * (a burst of requests, then every record stored). A CPU profile of the handler on the sample
 * model says which code the overhead is.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { DynamoDbPredictionLog } from '../functions/adapters/dynamodb-prediction-log.js';
import { localClients } from '../local/aws-servers.js';
import type { BenchContext } from './lib/context.js';
import { DiscardingLog, featuresBody, inProcessPredict, invokeOk, lambdaContext, predictEvent, type InProcessPredict } from './lib/in-process.js';
import { PRODUCT_THREADS, benchModel, benchModels, float32Rows, rawRun, rawSession } from './lib/models.js';
import { profileInProcess } from './lib/profile.js';
import { precise, repeatFor, sampleInBlocks, summarize } from './lib/stats.js';
import type { HandlerResult } from './results.js';

const LOG_MODEL = 'iris';
/** Calls per block in the log comparison: two full BatchWriteItem batches. */
const LOG_BLOCK = 50;
/** Requests in the writer-capacity burst (500 with --quick). */
const WRITER_BURST = 5_000;
const PROFILED_MODEL = 'iris';

export async function runHandler(ctx: BenchContext): Promise<HandlerResult> {
  const stack = await inProcessPredict(benchModels(), { log: new DiscardingLog(), intraOpThreads: PRODUCT_THREADS });
  const context = lambdaContext();
  const models: HandlerResult['models'][number][] = [];
  for (const model of benchModels()) {
    ctx.progress(`handler: ${model.id}`);
    const row = model.rows(1)[0] ?? [];
    const data = float32Rows([row]);
    const body = featuresBody(model, row);
    const event = predictEvent(model.name, JSON.stringify(body));
    const raw = await rawSession(model);
    const adapter = await stack.session(model);
    const feeds = { [model.inputName]: { type: 'float32' as const, shape: [1, model.features.length], data } };
    const request = { requestId: 'bench', caller: 'bench', startedAt: 0 };
    try {
      const samples = await sampleInBlocks(
        {
          raw: () => rawRun(raw, model, data, 1),
          adapter: () => adapter.run(feeds),
          core: () => stack.service.predict(model.name, body, { ...request, startedAt: performance.now() }),
          handler: () => invokeOk(stack.handler, event, context),
        },
        ctx.profile.small,
      );
      const stats = {
        raw: summarize(samples.raw.times),
        adapter: summarize(samples.adapter.times),
        core: summarize(samples.core.times),
        handler: summarize(samples.handler.times),
      };
      models.push({
        model: model.id,
        ...stats,
        overheadMedianMs: precise(stats.handler.medianMs - stats.raw.medianMs),
        overheadP99Ms: precise(stats.handler.p99Ms - stats.raw.p99Ms),
        ratio: precise(stats.handler.medianMs / stats.raw.medianMs),
      });
    } finally {
      await raw.release();
    }
  }
  const profiled = benchModel(PROFILED_MODEL);
  ctx.progress(`handler: CPU profile (${profiled.id})`);
  const event = predictEvent(profiled.name, JSON.stringify(featuresBody(profiled, profiled.rows(1)[0] ?? [])));
  const profile = await profileInProcess(async () => {
    await repeatFor(() => invokeOk(stack.handler, event, context), 1_000_000, ctx.profile.profileMs);
  });
  return { models, profiledModel: profiled.id, profile, log: await measureLogWrites(ctx) };
}

/**
 * The handler with prediction logs on and off, single rows, in alternating blocks of one loop.
 * "On" is the product's log adapter with its default options (queue; BatchWriteItem of up to 25
 * in the background) over an SDK client pointed at dynalite in the aws-servers child; "off" keeps
 * nothing. Blocks are 50 calls, so each "on" block fills two batches as it goes; its remainder is
 * flushed after the block, untimed (as the drain extension does after an invocation on Lambda),
 * so no write of "on" lands in an "off" block. CPU per call counts the flushes.
 */
async function measureLogWrites(ctx: BenchContext): Promise<HandlerResult['log']> {
  ctx.progress('handler: prediction logs on and off');
  const model = benchModel(LOG_MODEL);
  const clients = localClients(ctx.aws);
  const calls = countBatchWrites(clients.documents);
  let fallbackRecords = 0;
  try {
    const log = new DynamoDbPredictionLog({
      client: clients.documents,
      tableName: ctx.aws.predictionLogTable,
      // Counted rather than logged: a record here means the "on" figure did not store everything.
      fallback: (records) => {
        fallbackRecords += records.length;
      },
    });
    const off = await inProcessPredict([model], { log: new DiscardingLog(), intraOpThreads: PRODUCT_THREADS });
    const on = await inProcessPredict([model], { log, intraOpThreads: PRODUCT_THREADS });
    const event = predictEvent(model.name, JSON.stringify(featuresBody(model, model.rows(1)[0] ?? [])));
    const context = lambdaContext();
    let records = 0;
    const { small } = ctx.profile;
    const budget = { ...small, blockSize: LOG_BLOCK, minSamples: Math.max(small.minSamples, 2 * LOG_BLOCK), maxMs: small.maxMs * 2 };
    const storeCpuBefore = await ctx.awsCpuMs();
    const samples = await sampleInBlocks(
      {
        withoutLog: () => invokeOk(off.handler, event, context),
        withLog: () => {
          records++;
          return invokeOk(on.handler, event, context);
        },
      },
      budget,
      { withLog: () => log.flush() },
    );
    await log.flush();
    const storeCpuMsPerRecord = ((await ctx.awsCpuMs()) - storeCpuBefore) / Math.max(1, records);
    const counted = { records, batchWrites: calls.batchWrites, fallbackRecords };
    if (fallbackRecords > 0) ctx.progress(`handler: ${fallbackRecords} prediction-log records went to the fallback`);
    ctx.progress('handler: CPU profile with prediction logs on');
    const profile = await profileInProcess(async () => {
      let calls = 0;
      await repeatFor(async () => {
        await invokeOk(on.handler, event, context);
        if (++calls % LOG_BLOCK === 0) await log.flush();
      }, 1_000_000, ctx.profile.profileMs);
      await log.flush();
    });
    const withoutLog = summarize(samples.withoutLog.times);
    const withLog = summarize(samples.withLog.times);
    return {
      model: model.id,
      withoutLog,
      withLog,
      addedMedianMs: precise(withLog.medianMs - withoutLog.medianMs),
      addedP99Ms: precise(withLog.p99Ms - withoutLog.p99Ms),
      ratio: precise(withLog.medianMs / withoutLog.medianMs),
      p99Ratio: precise(withLog.p99Ms / withoutLog.p99Ms),
      cpuMsPerCallWithout: precise(samples.withoutLog.cpuMsPerCall),
      cpuMsPerCallWith: precise(samples.withLog.cpuMsPerCall),
      ...counted,
      storeCpuMsPerRecord: precise(storeCpuMsPerRecord),
      profile,
      writer: await measureWriter(ctx, log, on, event, calls),
    };
  } finally {
    clients.destroy();
  }
}

/**
 * The log writer's capacity: WRITER_BURST requests answered back to back without waiting for
 * their records (as a server under load does), then the time until every record is stored, the
 * BatchWriteItem calls in flight at most, and each side's CPU per record.
 */
async function measureWriter(
  ctx: BenchContext,
  log: DynamoDbPredictionLog,
  on: InProcessPredict,
  event: APIGatewayProxyEvent,
  calls: BatchWriteCalls,
): Promise<HandlerResult['log']['writer']> {
  ctx.progress('handler: prediction-log writer capacity');
  const burst = ctx.profile.mode === 'quick' ? 500 : WRITER_BURST;
  const context = lambdaContext();
  await log.flush();
  calls.maxInFlight = 0;
  const before = calls.batchWrites;
  const storeCpuBefore = await ctx.awsCpuMs();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < burst; i++) await invokeOk(on.handler, event, context);
  const answered = performance.now();
  const queuedAtEnd = log.pending();
  await log.flush();
  const stored = performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  const storeCpu = (await ctx.awsCpuMs()) - storeCpuBefore;
  return {
    records: burst,
    answeredMs: precise(answered - started),
    queuedAtEnd,
    storedMs: precise(stored - started),
    recordsPerSecond: precise(burst / ((stored - started) / 1000)),
    batchWrites: calls.batchWrites - before,
    maxInFlight: calls.maxInFlight,
    processCpuMsPerRecord: precise((cpu.user + cpu.system) / 1000 / burst),
    storeCpuMsPerRecord: precise(storeCpu / burst),
  };
}

/** BatchWriteItem calls a client has sent, and how many were in flight at once at most. */
interface BatchWriteCalls {
  batchWrites: number;
  inFlight: number;
  maxInFlight: number;
}

function countBatchWrites(client: DynamoDBDocumentClient): BatchWriteCalls {
  const calls: BatchWriteCalls = { batchWrites: 0, inFlight: 0, maxInFlight: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!String(context.commandName ?? '').startsWith('BatchWrite')) return next(args);
      calls.batchWrites++;
      calls.inFlight++;
      calls.maxInFlight = Math.max(calls.maxInFlight, calls.inFlight);
      try {
        return await next(args);
      } finally {
        calls.inFlight--;
      }
    },
    { step: 'initialize', name: 'benchCountBatchWrites' },
  );
  return calls;
}
