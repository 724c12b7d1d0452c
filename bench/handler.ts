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
 * (a burst of requests, then every record stored). Data capture is measured the same way: the
 * handler with capture at 100% (the product's buffered capture log delivering JSON Lines objects
 * to the local S3-compatible server in another process) against the same handler with capture
 * off. A shadow test is measured the same way again: the handler with a shadow test on every
 * request (the candidate, a second version of the same file, run after the answer) against the
 * same handler with none, its registry the product's DynamoDB adapter on the local server and
 * the drain (`PredictionService.drain()`) between requests as on Lambda. A CPU profile of the handler on the sample model says
 * which code the overhead is.
 */
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { setTimeout as sleep } from 'node:timers/promises';
import { BufferedCaptureLog, S3CaptureDelivery, type CaptureDelivery } from '../functions/adapters/capture-log.js';
import { DynamoDbExperimentStore } from '../functions/adapters/dynamodb-experiments.js';
import { DynamoDbPredictionLog } from '../functions/adapters/dynamodb-prediction-log.js';
import { DynamoDbStudyReader } from '../functions/adapters/dynamodb-prediction-log-reader.js';
import { DynamoDbRegistry } from '../functions/adapters/dynamodb-registry.js';
import { CAPTURE_ROOT } from '../functions/core/capture.js';
import type { PendingRecord, PredictionLog, PredictionLogRecord } from '../functions/core/ports.js';
import { ShadowService } from '../functions/core/shadow/service.js';
import { ensureBucket, localClients } from '../local/aws-servers.js';
import type { BenchContext } from './lib/context.js';
import {
  DiscardingLog,
  featuresBody,
  inProcessPredict,
  invokeOk,
  lambdaContext,
  predictEvent,
  type InProcessPredict,
} from './lib/in-process.js';
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
/** The capture bucket in the aws-servers child (the local stack's name for it). */
const CAPTURE_BUCKET = 'onnx-capture';
/** Capture's sample share for the "on" figure: every request. */
const CAPTURE_PERCENT = 100;
/** The shadow test's sample share for the "on" figure: every request. */
const SHADOW_PERCENT = 100;
/**
 * The shadow comparison's model in the local registry: the prediction-log comparison's model
 * under a name of its own, so that its second version and its shadow tests leave the models the
 * aws-servers child serves to the other sections as they were.
 */
const SHADOW_MODEL_NAME = 'iris-shadow';
/** Requests a switch of the shadow test may take before the handler serves with the new setting. */
const SWITCH_PROBES = 100;

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
  const log = await measureLogWrites(ctx);
  const capture = await measureCapture(ctx);
  return { models, profiledModel: profiled.id, profile, log, capture, shadow: await measureShadow(ctx) };
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
      await repeatFor(
        async () => {
          await invokeOk(on.handler, event, context);
          if (++calls % LOG_BLOCK === 0) await log.flush();
        },
        1_000_000,
        ctx.profile.profileMs,
      );
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

/**
 * The handler with data capture at 100% and off, single rows of the prediction-log comparison's
 * model, in alternating blocks of one loop; prediction logs off in both, so only capture differs.
 * One handler serves both cases, with the product's `BufferedCaptureLog` (default options:
 * `write` queues; records are built and delivered in the background) over `S3CaptureDelivery`
 * and an SDK client pointed at the S3-compatible server in the aws-servers child; before each
 * block the model's capture settings are switched (100%, no redaction, the default record bound;
 * or none) on the registry and the handler made to re-read them, untimed. Two handlers (one per
 * case) would each run their own ONNX Runtime session and objects, and two handlers with the
 * same settings differ by several percent from each other, more than what is measured here.
 * After each "on" block its records are flushed, untimed (as the drain extension does after an
 * invocation on Lambda): one object per block. CPU per call counts the flushes, so it includes
 * building and delivering the records.
 */
async function measureCapture(ctx: BenchContext): Promise<HandlerResult['capture']> {
  ctx.progress('handler: data capture on and off');
  const model = benchModel(LOG_MODEL);
  const clients = localClients(ctx.aws);
  try {
    await ensureBucket(clients.s3, CAPTURE_BUCKET);
    const before = await countObjects(clients.s3, CAPTURE_BUCKET);
    let deliveredRecords = 0;
    let deliveredBytes = 0;
    let fallbackRecords = 0;
    const s3 = new S3CaptureDelivery({ client: clients.s3, bucket: CAPTURE_BUCKET });
    // Counted on success only: a record here is in an object the server stored.
    const delivery: CaptureDelivery = {
      async deliver(batch) {
        await s3.deliver(batch);
        deliveredRecords += batch.lines.length;
        for (const line of batch.lines) deliveredBytes += Buffer.byteLength(line, 'utf8') + 1;
      },
    };
    const capture = new BufferedCaptureLog({
      delivery,
      // Counted rather than logged: a record here means the "on" figure did not deliver everything.
      fallback: (_batch, lines) => {
        fallbackRecords += lines.length;
      },
    });
    // The serving core's wall clock, moved on past the pointer cache at each switch (the record
    // timestamps move with it; nothing here reads them).
    let skewMs = 0;
    const stack = await inProcessPredict([model], {
      log: new DiscardingLog(),
      capture,
      intraOpThreads: PRODUCT_THREADS,
      now: () => Date.now() + skewMs,
    });
    const event = predictEvent(model.name, JSON.stringify(featuresBody(model, model.rows(1)[0] ?? [])));
    const context = lambdaContext();
    /** Records queued: requests served with capture on, the switches' included. */
    let records = 0;
    /** One request; whether it queued a record. */
    const probe = async () => {
      const queued = capture.pending();
      await invokeOk(stack.handler, event, context);
      const captured = capture.pending() > queued;
      if (captured) records++;
      return captured;
    };
    let capturing: boolean | undefined;
    const switchTo = async (on: boolean) => {
      if (capturing === on) return;
      await stack.setCapture(on ? CAPTURE_PERCENT : undefined);
      skewMs += stack.pointerCacheMs;
      // The pointer is stale now: this request is served with the settings known, and starts
      // the re-read (from the in-memory registry, answered within the turn).
      await probe();
      await new Promise((resolve) => setImmediate(resolve));
      if ((await probe()) !== on) throw new Error(`the handler did not see capture switched ${on ? 'on' : 'off'}`);
      await capture.flush();
      capturing = on;
    };
    const { small } = ctx.profile;
    const budget = { ...small, blockSize: LOG_BLOCK, minSamples: Math.max(small.minSamples, 2 * LOG_BLOCK), maxMs: small.maxMs * 2 };
    const storeCpuBefore = await ctx.awsCpuMs();
    const samples = await sampleInBlocks(
      {
        withoutCapture: () => invokeOk(stack.handler, event, context),
        withCapture: () => {
          records++;
          return invokeOk(stack.handler, event, context);
        },
      },
      budget,
      { withCapture: () => capture.flush() },
      { withoutCapture: () => switchTo(false), withCapture: () => switchTo(true) },
    );
    await capture.flush();
    const storeCpuMsPerRecord = ((await ctx.awsCpuMs()) - storeCpuBefore) / Math.max(1, deliveredRecords);
    const counted = { records, deliveredRecords, fallbackRecords, objects: (await countObjects(clients.s3, CAPTURE_BUCKET)) - before };
    if (fallbackRecords > 0) ctx.progress(`handler: ${fallbackRecords} captured records went to the fallback`);
    if (deliveredRecords + fallbackRecords !== records) {
      throw new Error(
        `capture at ${CAPTURE_PERCENT}% delivered ${deliveredRecords} records and sent ${fallbackRecords} to the fallback for ${records} requests: the "on" figure did not capture every request`,
      );
    }
    const meanRecordBytes = deliveredBytes / Math.max(1, deliveredRecords);
    ctx.progress('handler: CPU profile with data capture on');
    await switchTo(true);
    const profile = await profileInProcess(async () => {
      let calls = 0;
      await repeatFor(
        async () => {
          await invokeOk(stack.handler, event, context);
          if (++calls % LOG_BLOCK === 0) await capture.flush();
        },
        1_000_000,
        ctx.profile.profileMs,
      );
      await capture.flush();
    });
    const withoutCapture = summarize(samples.withoutCapture.times);
    const withCapture = summarize(samples.withCapture.times);
    return {
      model: model.id,
      samplePercent: CAPTURE_PERCENT,
      withoutCapture,
      withCapture,
      addedMedianMs: precise(withCapture.medianMs - withoutCapture.medianMs),
      addedP99Ms: precise(withCapture.p99Ms - withoutCapture.p99Ms),
      ratio: precise(withCapture.medianMs / withoutCapture.medianMs),
      p99Ratio: precise(withCapture.p99Ms / withoutCapture.p99Ms),
      cpuMsPerCallWithout: precise(samples.withoutCapture.cpuMsPerCall),
      cpuMsPerCallWith: precise(samples.withCapture.cpuMsPerCall),
      ...counted,
      meanRecordBytes: precise(meanRecordBytes),
      storeCpuMsPerRecord: precise(storeCpuMsPerRecord),
      profile,
    };
  } finally {
    clients.destroy();
  }
}

/**
 * The handler with a shadow test on SHADOW_PERCENT of the requests and with none, single rows of
 * the prediction-log comparison's model (as SHADOW_MODEL_NAME), in alternating blocks of one
 * loop; data capture off in both. One handler serves both cases (two handlers differ by more
 * than is measured here; see `measureCapture`), over the product's `DynamoDbRegistry` on the
 * local DynamoDB-compatible server in another process, where the shadow test lives on the
 * model's record as on AWS. The model is published (production) and registered a second time
 * from the same file (development): the candidate, on a session of its own, so every shadow run
 * is a real ONNX Runtime run. Before each block the test is started (`ShadowService.start`, as
 * `POST /v1/models/{m}/shadow` does: every request, the candidate) or stopped
 * (`ShadowService.stop`, as `DELETE` does), and the handler made to re-read the model's record,
 * untimed: its clock is moved past the pointer cache, then requests are sent until one is
 * served with the new setting (the re-read is a GetItem in the background).
 *
 * Each call is timed from the handler's call to its answer, the caller's latency; then
 * `PredictionService.drain()` runs, untimed, in both cases, as the drain extension does after
 * each invocation on Lambda, where the sandbox takes its next invocation only after the drain:
 * it stores the log records and runs the candidate for the shadowed requests waiting once their
 * batch is due (`ShadowRunner`), so a candidate's run never overlaps a request. A shadowed
 * request's record is written at once and again with the candidate's result; every "on" request
 * must get a record with the result (`missingResults` counts those that do not; what an "on"
 * block leaves waiting is run and counted when the block ends), and no record of an "off" request
 * may carry one (that throws). `sampleInBlocks` times the whole call, drain included: its times
 * bound the loop's budget only. CPU per call counts the drains, so it includes the candidate's
 * runs.
 */
export async function measureShadow(ctx: BenchContext): Promise<HandlerResult['shadow']> {
  ctx.progress('handler: shadow test on and off');
  const bench = benchModel(LOG_MODEL);
  const model = { ...bench, name: SHADOW_MODEL_NAME };
  const clients = localClients(ctx.aws);
  try {
    const registry = new DynamoDbRegistry({ client: clients.documents, tableName: ctx.aws.registryTable });
    const shadows = new ShadowService({
      registry,
      store: new DynamoDbExperimentStore({ client: clients.documents, tableName: ctx.aws.registryTable }),
      studies: new DynamoDbStudyReader({ client: clients.documents, tableName: ctx.aws.predictionLogTable }),
    });
    const log = new RecordingLog();
    // The serving core's wall clock, moved on past the pointer cache at each switch.
    let skewMs = 0;
    const stack = await inProcessPredict([model], { log, registry, intraOpThreads: PRODUCT_THREADS, now: () => Date.now() + skewMs });
    const candidate = await stack.register(model);
    const event = predictEvent(model.name, JSON.stringify(featuresBody(model, model.rows(1)[0] ?? [])));
    const context = lambdaContext();
    /**
     * One request, then the drain Lambda runs after an invocation (`PredictionService.drain`: the
     * log written, the shadow runs only when their batch is due); the request's time to its
     * answer, the drain's, and the records written.
     */
    const serve = async () => {
      const started = performance.now();
      await invokeOk(stack.handler, event, context);
      const answered = performance.now();
      await stack.service.drain();
      return { answerMs: answered - started, drainMs: performance.now() - answered, records: log.take() };
    };
    const counted = { requests: 0, shadowResults: 0, failedResults: 0, candidateRuns: 0, candidateMs: 0, maxAbsDiff: 0 };
    const failures = new Map<string, number>();
    /** Counts the shadow results among records written (a shadowed request's record is written again with its result). */
    const count = (records: ReturnType<typeof log.take>) => {
      for (const record of records) {
        const result = record.shadow;
        if (!result) continue;
        counted.shadowResults++;
        if (result.error) {
          counted.failedResults++;
          failures.set(result.error.code, (failures.get(result.error.code) ?? 0) + 1);
        }
        if (result.latencyMs !== undefined) {
          counted.candidateRuns++;
          counted.candidateMs += result.latencyMs;
        }
        counted.maxAbsDiff = Math.max(counted.maxAbsDiff, result.comparison?.maxAbsDiff ?? 0);
      }
    };
    let shadowing: boolean | undefined;
    /** The timed blocks' results are counted; the profile's are not. */
    let counting = true;
    const switchTo = async (on: boolean) => {
      if (shadowing === on) return;
      // Whatever an "on" block left waiting runs now, and is counted with it.
      await stack.service.flush();
      if (shadowing && counting) count(log.take());
      else log.take();
      if (on) await shadows.start(model.name, { version: candidate.version, samplePercent: SHADOW_PERCENT }, 'bench');
      else if (shadowing !== undefined) await shadows.stop(model.name, 'bench');
      skewMs += stack.pointerCacheMs;
      for (let probe = 1; ; probe++) {
        const served = (await serve()).records;
        await stack.service.flush();
        const records = [...served, ...log.take()];
        if (records.length > 0 && records.some((r) => r.shadow !== undefined) === on) break;
        if (probe >= SWITCH_PROBES)
          throw new Error(`the handler did not see the shadow test ${on ? 'started' : 'stopped'} after ${SWITCH_PROBES} requests`);
        await sleep(1);
      }
      shadowing = on;
    };
    const times = { withoutShadow: [] as number[], withShadow: [] as number[] };
    const drains = { withoutShadow: [] as number[], withShadow: [] as number[] };
    const { small } = ctx.profile;
    const budget = { ...small, blockSize: LOG_BLOCK, minSamples: Math.max(small.minSamples, 2 * LOG_BLOCK), maxMs: small.maxMs * 2 };
    const samples = await sampleInBlocks(
      {
        withoutShadow: async () => {
          const call = await serve();
          if (call.records.some((r) => r.shadow !== undefined))
            throw new Error('a request served with no shadow test set was shadowed: the "off" figure is not off');
          times.withoutShadow.push(call.answerMs);
          drains.withoutShadow.push(call.drainMs);
        },
        withShadow: async () => {
          const call = await serve();
          counted.requests++;
          count(call.records);
          times.withShadow.push(call.answerMs);
          drains.withShadow.push(call.drainMs);
        },
      },
      budget,
      {},
      { withoutShadow: () => switchTo(false), withShadow: () => switchTo(true) },
    );
    // The first `warmup` calls of each case are its warm-up (sampleInBlocks runs them before any timed block).
    const timed = (kind: keyof typeof times, values: readonly number[]) => {
      const kept = values.slice(budget.warmup);
      if (kept.length !== samples[kind].times.length)
        throw new Error(`${kind}: ${kept.length} calls timed here, ${samples[kind].times.length} by the loop`);
      return summarize(kept);
    };
    // The runs a last "on" block left waiting.
    await stack.service.flush();
    if (shadowing) count(log.take());
    else log.take();
    counting = false;
    const missingResults = counted.requests - counted.shadowResults;
    if (missingResults > 0)
      ctx.progress(
        `handler: ${missingResults} of ${counted.requests} requests with the shadow test set were logged without the candidate's result`,
      );
    if (counted.failedResults > 0)
      ctx.progress(
        `handler: ${counted.failedResults} shadow results are errors (${[...failures].map(([code, n]) => `${code} ${n}`).join(', ')})`,
      );
    ctx.progress('handler: CPU profile with the shadow test on');
    await switchTo(true);
    const profile = await profileInProcess(async () => {
      await repeatFor(serve, 1_000_000, ctx.profile.profileMs);
    });
    await switchTo(false);
    const withoutShadow = timed('withoutShadow', times.withoutShadow);
    const withShadow = timed('withShadow', times.withShadow);
    return {
      model: model.id,
      samplePercent: SHADOW_PERCENT,
      withoutShadow,
      withShadow,
      addedMedianMs: precise(withShadow.medianMs - withoutShadow.medianMs),
      addedP99Ms: precise(withShadow.p99Ms - withoutShadow.p99Ms),
      ratio: precise(withShadow.medianMs / withoutShadow.medianMs),
      p99Ratio: precise(withShadow.p99Ms / withoutShadow.p99Ms),
      cpuMsPerCallWithout: precise(samples.withoutShadow.cpuMsPerCall),
      cpuMsPerCallWith: precise(samples.withShadow.cpuMsPerCall),
      drainWithout: timed('withoutShadow', drains.withoutShadow),
      drainWith: timed('withShadow', drains.withShadow),
      requests: counted.requests,
      shadowResults: counted.shadowResults,
      missingResults,
      failedResults: counted.failedResults,
      candidateMeanMs: precise(counted.candidateMs / Math.max(1, counted.candidateRuns)),
      maxAbsDiff: precise(counted.maxAbsDiff),
      profile,
    };
  } finally {
    clients.destroy();
  }
}

/**
 * A prediction log that records what it is given: `write` queues the record without building it
 * (as the product's log does, so the request path pays the same), `flush` builds what is queued
 * and keeps it until `take`.
 */
class RecordingLog implements PredictionLog {
  private queued: PendingRecord[] = [];
  private built: PredictionLogRecord[] = [];

  write(record: PendingRecord): void {
    this.queued.push(record);
  }

  async flush(): Promise<void> {
    for (const record of this.queued) this.built.push(record.build());
    this.queued = [];
  }

  pending(): number {
    return this.queued.length;
  }

  /** The records built since the last call, oldest first. */
  take(): PredictionLogRecord[] {
    const built = this.built;
    this.built = [];
    return built;
  }
}

/** Objects under `capture/` in `bucket` (ListObjectsV2, page by page). */
async function countObjects(s3: S3Client, bucket: string): Promise<number> {
  let count = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: CAPTURE_ROOT, ...(token ? { ContinuationToken: token } : {}) }),
    );
    count += page.KeyCount ?? page.Contents?.length ?? 0;
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return count;
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
