/**
 * 10. The prediction cache and online features, through the predict handler called in-process
 * (as in section 2), in alternating blocks of the same loop.
 *
 * Prediction cache: each model is registered as a version with `predictionCache` and served by
 * two handlers over the same registry and ONNX Runtime (so the same session): one whose serving
 * core has the sandbox's prediction caches (as the function builds it), one without (the version
 * served as if it declared none). Four cases:
 *   noCache  the core without caches, the miss case's inputs
 *   miss     an input the cache does not hold: `MAX_ENTRIES + 1` distinct requests in turn, so
 *            least-recently-used eviction has always dropped the one coming next
 *   hit      one request repeated (put back in the cache before each of its blocks, untimed)
 *   hash     `canonicalInputSha256` alone on one request's decoded tensors (the key's hash)
 * Every request of the hit and miss cases is checked through its log record's `cacheHit`.
 *
 * Online features: a small neural net of three features, registered twice from the same file: a
 * version that reads two of them by entity key from a plain-layout table in the local
 * DynamoDB-compatible server (in another process, as DynamoDB is on AWS) and takes the third
 * with the request, and a version without online features sent all three (the values the table
 * holds). One row, and `BATCH_ROWS` rows of distinct keys (one BatchGetItem per 100 keys).
 */
import { BatchWriteItemCommand, CreateTableCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { DynamoDbOnlineFeatures } from '../functions/adapters/dynamodb-online-features.js';
import { PLAIN_TIMESTAMP_ATTRIBUTE } from '../functions/core/features/declaration.js';
import type { PendingRecord, PredictionLog, PredictionLogRecord } from '../functions/core/ports.js';
import { PredictionCaches } from '../functions/core/prediction-cache.js';
import { canonicalInputSha256 } from '../functions/core/predict.js';
import type { TensorMap } from '../functions/core/tensor.js';
import { localClients } from '../local/aws-servers.js';
import { mlpModel, seededRandom } from '../test/fixtures/models.js';
import { BATCH_ROWS } from './batch.js';
import type { BenchContext } from './lib/context.js';
import { arrayInstancesBody, featuresBody, inProcessPredict, invokeOk, lambdaContext, predictEvent } from './lib/in-process.js';
import { PRODUCT_THREADS, benchModel, float32Rows, type BenchModel, type ModelId } from './lib/models.js';
import type { PublishedModel } from './lib/publish.js';
import { precise, sampleInBlocks, summarize } from './lib/stats.js';
import type { CacheModelFigures, CacheResult, OnlineLookupFigures } from './results.js';

/** The cached versions' `predictionCache.maxEntries`. */
const MAX_ENTRIES = 16;
/** Distinct inputs the miss case cycles through: one more than the cache keeps, so each is evicted before it comes again. */
const DISTINCT_INPUTS = MAX_ENTRIES + 1;
/** A small model on one row, and a model and request where `session.run` is most of the time. */
const CACHE_CASES: ReadonlyArray<{ readonly model: ModelId; readonly rows: number; readonly budget: 'small' | 'large' }> = [
  { model: 'iris', rows: 1, budget: 'small' },
  { model: 'trees', rows: BATCH_ROWS, budget: 'large' },
];
/** Calls per block in the cache comparison. */
const CACHE_BLOCK = 20;

/** The online-features model: its features in input order; the first is sent with the request, the others read by key. */
const ONLINE_FEATURES = ['amount', 'balance', 'tenure'] as const;
const REQUEST_TIME = ['amount'];
const LOOKED_UP = ['balance', 'tenure'];
const ENTITY = 'account_id';
const FEATURE_TABLE = 'bench-online-accounts';
/** Items in the table: one per key of the largest request. */
const ITEMS = BATCH_ROWS;
/** Items per BatchWriteItem (DynamoDB's limit), and such calls in flight while loading. */
const WRITE_BATCH = 25;
const WRITES_IN_FLIGHT = 4;
const ONLINE_SIZES: ReadonlyArray<{ readonly rows: number; readonly budget: 'small' | 'large' }> = [
  { rows: 1, budget: 'small' },
  { rows: ITEMS, budget: 'large' },
];

export async function runCache(ctx: BenchContext): Promise<CacheResult> {
  const log = new KeptLog();
  const clients = localClients(ctx.aws);
  try {
    const cached = CACHE_CASES.map(({ model }) => {
      const bench = benchModel(model);
      return {
        ...bench,
        name: `${bench.name}-cached`,
        metadata: { ...bench.metadata, predictionCache: { maxEntries: MAX_ENTRIES } },
      };
    });
    const online = onlineModels();
    const stack = await inProcessPredict([...cached, online.byKey, online.full], {
      log,
      intraOpThreads: PRODUCT_THREADS,
      caches: new PredictionCaches(),
      features: new DynamoDbOnlineFeatures({ client: clients.dynamo }),
    });
    // The same registry and sessions, a serving core without prediction caches.
    const uncached = stack.variant({ log });
    const context = lambdaContext();
    const models: CacheModelFigures[] = [];
    for (const [i, spec] of CACHE_CASES.entries()) {
      const model = cached[i] as BenchModel;
      ctx.progress(`cache: ${model.id}, ${spec.rows} row${spec.rows === 1 ? '' : 's'}`);
      const inputs = distinctInputs(model, spec.rows, DISTINCT_INPUTS + 1);
      const events = inputs.map((rows) =>
        predictEvent(model.name, JSON.stringify(spec.rows === 1 ? featuresBody(model, rows[0] ?? []) : arrayInstancesBody(rows))),
      );
      const hitEvent = events.pop() as APIGatewayProxyEvent;
      const hitRows = inputs[DISTINCT_INPUTS] as number[][];
      const feeds: TensorMap = {
        [model.inputName]: { type: 'float32', shape: [spec.rows, model.features.length], data: float32Rows(hitRows) },
      };
      /** The distinct requests in turn, from the first (one turn for each case). */
      const inTurn = () => {
        let next = 0;
        return () => events[next++ % events.length] as APIGatewayProxyEvent;
      };
      const [noCacheEvent, missEvent] = [inTurn(), inTurn()];
      const counted = { hits: 0, misses: 0 };
      /** Every record since the last check says `cacheHit: expected` (or, for the core without caches, says nothing). */
      const check = (expected: boolean | undefined, what: string) => async () => {
        for (const record of log.take()) {
          if (record.cacheHit !== expected)
            throw new Error(
              `${model.id}: a ${what} request was logged with cacheHit ${String(record.cacheHit)}: the case is not what it says`,
            );
          if (expected === true) counted.hits++;
          else if (expected === false) counted.misses++;
        }
      };
      const samples = await sampleInBlocks(
        {
          noCache: () => invokeOk(uncached.handler, noCacheEvent(), context),
          miss: () => invokeOk(stack.handler, missEvent(), context),
          hit: () => invokeOk(stack.handler, hitEvent, context),
          hash: async () => canonicalInputSha256(feeds),
        },
        { ...ctx.profile[spec.budget], blockSize: spec.budget === 'small' ? CACHE_BLOCK : ctx.profile[spec.budget].blockSize },
        { noCache: check(undefined, 'no-cache'), miss: check(false, 'miss'), hit: check(true, 'hit') },
        {
          // The miss blocks push the repeated request out: it goes back in, untimed and not counted.
          hit: async () => {
            await invokeOk(stack.handler, hitEvent, context);
            log.take();
          },
        },
      );
      const stats = {
        noCache: summarize(samples.noCache.times),
        miss: summarize(samples.miss.times),
        hit: summarize(samples.hit.times),
        hash: summarize(samples.hash.times),
      };
      models.push({
        model: model.id,
        rows: spec.rows,
        ...stats,
        hitRatio: precise(stats.hit.medianMs / stats.miss.medianMs),
        hitP99Ratio: precise(stats.hit.p99Ms / stats.miss.p99Ms),
        missRatio: precise(stats.miss.medianMs / stats.noCache.medianMs),
        missP99Ratio: precise(stats.miss.p99Ms / stats.noCache.p99Ms),
        savedMedianMs: precise(stats.miss.medianMs - stats.hit.medianMs),
        ...counted,
      });
    }

    ctx.progress(`cache: online features, loading ${ITEMS} items`);
    const loadStarted = performance.now();
    await loadTable(clients.dynamo, online.items);
    const loadMs = performance.now() - loadStarted;
    const sizes: OnlineLookupFigures[] = [];
    for (const size of ONLINE_SIZES) {
      ctx.progress(`cache: online features, ${size.rows} row${size.rows === 1 ? '' : 's'} by key`);
      const items = online.items.slice(0, size.rows);
      const body = (record: (item: OnlineItem) => Record<string, unknown>) =>
        JSON.stringify(size.rows === 1 ? { features: record(items[0] as OnlineItem) } : { instances: items.map(record) });
      const byKeyEvent = predictEvent(
        online.byKey.name,
        body((item) => ({ [ENTITY]: item.key, amount: item.amount })),
      );
      const fullEvent = predictEvent(
        online.full.name,
        body((item) => ({ amount: item.amount, balance: item.balance, tenure: item.tenure })),
      );
      // The two answer alike: the lookup filled in what the full vector carries.
      const [byKeyAnswer, fullAnswer] = [
        await invokeOk(stack.handler, byKeyEvent, context),
        await invokeOk(stack.handler, fullEvent, context),
      ];
      const predictions = (text: string) => JSON.stringify((JSON.parse(text) as { predictions: unknown }).predictions);
      if (predictions(byKeyAnswer) !== predictions(fullAnswer))
        throw new Error(`online features, ${size.rows} rows: the answer by key differs from the answer to the full vector`);
      log.take();
      const lookups = { requests: 0, keys: 0, reads: 0 };
      const take = async () => {
        for (const record of log.take()) {
          for (const lookup of record.featureLookups ?? []) {
            if (lookup.missingEntities + lookup.staleEntities + lookup.missingValues > 0)
              throw new Error(`online features: a lookup met a gap (${JSON.stringify(lookup)})`);
            lookups.keys += lookup.keys;
            lookups.reads += lookup.reads;
          }
          if (record.featureLookups) lookups.requests++;
        }
      };
      const storeCpuBefore = await ctx.awsCpuMs();
      const samples = await sampleInBlocks(
        {
          fullVector: () => invokeOk(stack.handler, fullEvent, context),
          byKey: () => invokeOk(stack.handler, byKeyEvent, context),
        },
        ctx.profile[size.budget],
        { fullVector: take, byKey: take },
      );
      const storeCpuMs = (await ctx.awsCpuMs()) - storeCpuBefore;
      const byKey = summarize(samples.byKey.times);
      const fullVector = summarize(samples.fullVector.times);
      sizes.push({
        rows: size.rows,
        keysPerRequest: precise(lookups.keys / Math.max(1, lookups.requests)),
        readsPerRequest: precise(lookups.reads / Math.max(1, lookups.requests)),
        byKey,
        fullVector,
        ratio: precise(byKey.medianMs / fullVector.medianMs),
        p99Ratio: precise(byKey.p99Ms / fullVector.p99Ms),
        addedMedianMs: precise(byKey.medianMs - fullVector.medianMs),
        addedP99Ms: precise(byKey.p99Ms - fullVector.p99Ms),
        storeCpuMsPerRequest: precise(storeCpuMs / Math.max(1, lookups.requests)),
      });
    }
    return {
      maxEntries: MAX_ENTRIES,
      distinctInputs: DISTINCT_INPUTS,
      models,
      online: {
        description: online.description,
        lookedUp: LOOKED_UP,
        requestTime: REQUEST_TIME,
        entity: ENTITY,
        table: FEATURE_TABLE,
        items: ITEMS,
        loadMs: precise(loadMs),
        sizes,
      },
    };
  } finally {
    clients.destroy();
  }
}

/** `count` requests' rows of `rows` rows each, no two requests alike (iris repeats a few of its rows: those are skipped). */
function distinctInputs(model: BenchModel, rows: number, count: number): number[][][] {
  const seen = new Set<string>();
  const inputs: number[][][] = [];
  const pool = model.rows(rows * count * 2);
  for (let start = 0; start + rows <= pool.length && inputs.length < count; start += rows) {
    const chunk = pool.slice(start, start + rows);
    const text = JSON.stringify(chunk);
    if (seen.has(text)) continue;
    seen.add(text);
    inputs.push(chunk);
  }
  if (inputs.length < count) throw new Error(`${model.id}: only ${inputs.length} distinct inputs of ${rows} rows`);
  return inputs;
}

/** One entity's row: its key, the request-time feature, and the two stored ones. */
interface OnlineItem {
  readonly key: string;
  readonly amount: number;
  readonly balance: number;
  readonly tenure: number;
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

/** The online-features model registered twice (by key, and fed the full vector), and the table's items. */
function onlineModels(): { description: string; byKey: PublishedModel; full: PublishedModel; items: OnlineItem[] } {
  const fixture = mlpModel({ features: ONLINE_FEATURES.length, hidden: 16, classes: 3, seed: 30 });
  const metadata = { algorithm: 'mlp', features: [...ONLINE_FEATURES], classLabels: ['low', 'medium', 'high'] };
  const random = seededRandom(31);
  const items = Array.from({ length: ITEMS }, (_, i) => ({
    key: `acct-${String(i).padStart(5, '0')}`,
    amount: round4(random()),
    balance: round4(random()),
    tenure: round4(random()),
  }));
  return {
    description: `neural net: ${ONLINE_FEATURES.length} features → 16 ReLU → 3-class softmax (test fixture mlpModel, seed 30)`,
    byKey: {
      name: 'online-by-key',
      bytes: fixture.bytes,
      metadata: {
        ...metadata,
        onlineFeatures: [
          {
            entity: ENTITY,
            source: { layout: 'plain', table: FEATURE_TABLE },
            features: LOOKED_UP,
            maxAgeSeconds: 86_400,
            onMissingEntity: 'refuse',
            onMissingFeature: 'refuse',
            onStale: 'refuse',
          },
        ],
      },
    },
    full: { name: 'online-full-vector', bytes: fixture.bytes, metadata },
    items,
  };
}

/**
 * Creates the plain-layout table (the key attribute named as the entity, on-demand) and writes
 * one item per entity with BatchWriteItem, its unprocessed items sent again.
 */
async function loadTable(dynamo: DynamoDBClient, items: readonly OnlineItem[]): Promise<void> {
  await dynamo.send(
    new CreateTableCommand({
      TableName: FEATURE_TABLE,
      AttributeDefinitions: [{ AttributeName: ENTITY, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: ENTITY, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const written = new Date().toISOString();
  const requests = items.map((item) => ({
    PutRequest: {
      Item: {
        [ENTITY]: { S: item.key },
        balance: { N: String(item.balance) },
        tenure: { N: String(item.tenure) },
        [PLAIN_TIMESTAMP_ATTRIBUTE]: { S: written },
      } satisfies Record<string, AttributeValue>,
    },
  }));
  const batches: (typeof requests)[] = [];
  for (let i = 0; i < requests.length; i += WRITE_BATCH) batches.push(requests.slice(i, i + WRITE_BATCH));
  const write = async () => {
    for (let batch = batches.shift(); batch; batch = batches.shift()) {
      let pending = batch;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt === 10) throw new Error(`loading ${FEATURE_TABLE}: ${pending.length} items left unprocessed`);
        const output = await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [FEATURE_TABLE]: pending } }));
        pending = (output.UnprocessedItems?.[FEATURE_TABLE] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: WRITES_IN_FLIGHT }, write));
}

/**
 * A prediction log that keeps what it is given: `write` queues the record without building it
 * (the request path pays what it pays with the product's log), `take` builds what is queued.
 */
class KeptLog implements PredictionLog {
  private queued: PendingRecord[] = [];

  write(record: PendingRecord): void {
    this.queued.push(record);
  }

  async flush(): Promise<void> {}

  pending(): number {
    return this.queued.length;
  }

  /** The records queued since the last call, built, oldest first. */
  take(): PredictionLogRecord[] {
    const queued = this.queued;
    this.queued = [];
    return queued.map((record) => record.build());
  }
}
