/**
 * 2. Handler overhead: what the predict handler adds to one raw `session.run` for a single row.
 * Four layers run in alternating blocks of the same loop, so the differences between them are
 * the cost of each layer (the profile of the overhead):
 *   raw      `session.run` on the bench's own session
 *   adapter  the adapter's `ModelSession.run` (the handler's session; tensor conversion)
 *   core     `PredictionService.predict` (request schema, version lookup, decode, run, encode)
 *   handler  the middy handler on an API Gateway event (body checks, errors, response JSON)
 * Prediction logs are off for these figures; their cost is measured apart, against the local
 * DynamoDB-compatible server running in another process (as DynamoDB does on AWS). A CPU profile
 * of the handler on the sample model says which code the overhead is.
 */
import { DynamoDbPredictionLog } from '../functions/adapters/dynamodb-prediction-log.js';
import type { HttpHandler } from '../functions/shared/http.js';
import { localClients } from '../local/aws-servers.js';
import type { BenchContext } from './lib/context.js';
import { DiscardingLog, featuresBody, inProcessPredict, invokeOk, lambdaContext, predictEvent } from './lib/in-process.js';
import { PRODUCT_THREADS, benchModel, benchModels, float32Rows, rawRun, rawSession } from './lib/models.js';
import { profileInProcess } from './lib/profile.js';
import { precise, repeatFor, sampleInBlocks, summarize } from './lib/stats.js';
import type { HandlerResult } from './results.js';

const LOG_MODEL = 'iris';
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
  return { models, profiledModel: profiled.id, profile, log: await measureLogWrites(ctx, stack.handler) };
}

/** The same request with and without a prediction log item written per call. */
async function measureLogWrites(ctx: BenchContext, withoutLogHandler: HttpHandler): Promise<HandlerResult['log']> {
  ctx.progress('handler: prediction log writes');
  const model = benchModel(LOG_MODEL);
  const clients = localClients(ctx.aws);
  try {
    const log = new DynamoDbPredictionLog({ client: clients.documents, tableName: ctx.aws.predictionLogTable });
    const logged = await inProcessPredict([model], { log, intraOpThreads: PRODUCT_THREADS });
    const event = predictEvent(model.name, JSON.stringify(featuresBody(model, model.rows(1)[0] ?? [])));
    const context = lambdaContext();
    // Each call waits for its PutItem: milliseconds, so the larger budget's counts.
    const samples = await sampleInBlocks(
      {
        withoutLog: () => invokeOk(withoutLogHandler, event, context),
        withLog: () => invokeOk(logged.handler, event, context),
      },
      { ...ctx.profile.large, maxSamples: ctx.profile.large.maxSamples * 2, blockSize: 20 },
    );
    const withoutLog = summarize(samples.withoutLog.times);
    const withLog = summarize(samples.withLog.times);
    return {
      model: model.id,
      withoutLog,
      withLog,
      addedMedianMs: precise(withLog.medianMs - withoutLog.medianMs),
      addedP99Ms: precise(withLog.p99Ms - withoutLog.p99Ms),
    };
  } finally {
    clients.destroy();
  }
}
