/**
 * Online features over real HTTP: the local stack (the same handlers as on Lambda), the embedded
 * DynamoDB holding the feature tables (our plain layout, and Feast's layout built by hand from
 * its documented format in `test/support/feast-items.ts`), and real ONNX Runtime sessions.
 *
 * The model: y = x · w + b over three features, `avg_order_value` and `orders_30d` read by
 * `customer_id`, `basket_size` sent with the request. The same file registered without online
 * features is the reference: served by key, it must answer exactly what it answers for the full
 * vector, in the v1 and v2 forms. Batched reads are counted on the SDK client itself.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  PutItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_BATCH_BUCKET } from '../../local/stack.js';
import { buildModel } from '../support/onnx/builder.js';
import { jsonLines, objectText, putBatchObject } from '../fixtures/batch-objects.js';
import { feastItem } from '../support/feast-items.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { publish } from '../fixtures/binary-http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';
import type { FeatureLookup, PredictionLogRecord } from '../../functions/core/ports.js';

const FEATURES = ['avg_order_value', 'orders_30d', 'basket_size'];
const WEIGHTS = [0.5, -1.25, 2];
const BIAS = 0.75;
const PLAIN_TABLE = 'customer-features';
const FEAST_TABLE = 'shop.customer_stats';
const CUSTOMERS = 1_000;

let stack: TestStack;
let call: Call;
let batchGets: number;
const now = Date.now();

/** y [N, 1] = x [N, 3] · w + b, float32. */
const modelBytes = buildModel({
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
  initializers: [
    { name: 'w', dims: [3, 1], data: new Float32Array(WEIGHTS) },
    { name: 'b', dims: [1], data: new Float32Array([BIAS]) },
  ],
  nodes: [
    { op: 'MatMul', inputs: ['x', 'w'], outputs: ['xw'] },
    { op: 'Add', inputs: ['xw', 'b'], outputs: ['y'] },
  ],
});

/** Customer `c-<i>`'s stored features. */
function stored(i: number): { avg_order_value: number; orders_30d: number } {
  return { avg_order_value: 10 + (i % 37) * 1.5, orders_30d: i % 11 };
}

function group(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    entity: 'customer_id',
    source: { layout: 'plain', table: PLAIN_TABLE },
    features: ['avg_order_value', 'orders_30d'],
    ...overrides,
  };
}

async function createTable(client: DynamoDBClient, table: string, key: string, type: 'S' | 'N'): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: key, AttributeType: type }],
      KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

async function putAll(client: DynamoDBClient, table: string, items: Record<string, AttributeValue>[]): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    await client.send(
      new BatchWriteItemCommand({ RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }),
    );
  }
}

/** Publishes `model` with the test model's bytes and `metadata` (features always declared). */
async function publishModel(model: string, metadata: Record<string, unknown> = {}): Promise<string> {
  return publish(stack, call, model, { bytes: modelBytes }, { features: FEATURES, ...metadata });
}

async function predict(model: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await call(stack.url, 'POST', `/v1/models/${model}/predict`, body);
  return { status: reply.status, body: reply.body as Record<string, unknown> };
}

async function infer(model: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await call(stack.url, 'POST', `/v2/models/${model}/infer`, body);
  return { status: reply.status, body: reply.body as Record<string, unknown> };
}

/** The prediction log's record of a request. */
async function logRecord(model: string, requestId: string): Promise<PredictionLogRecord> {
  await stack.flush();
  const reply = await call(stack.url, 'GET', `/v1/models/${model}/predictions?limit=1000&order=newest`);
  expect(reply.status).toBe(200);
  const records = (reply.body as { records: PredictionLogRecord[] }).records;
  const found = records.find((r) => r.requestId === requestId);
  if (!found) throw new Error(`no log record for ${requestId}`);
  return found;
}

function fullRow(i: number, basket: number): Record<string, number> {
  return { ...stored(i), basket_size: basket };
}

beforeAll(async () => {
  stack = await startTestStack({ seedSampleModel: false });
  call = await adminCall(stack);
  const client = stack.clients.dynamo;
  batchGets = 0;
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'BatchGetItemCommand') batchGets++;
      return next(args);
    },
    { step: 'initialize', name: 'countBatchGets' },
  );
  await createTable(client, PLAIN_TABLE, 'customer_id', 'S');
  const fresh = new Date(now - 60_000).toISOString();
  await putAll(
    client,
    PLAIN_TABLE,
    Array.from({ length: CUSTOMERS }, (_, i) => ({
      customer_id: { S: `c-${i}` },
      avg_order_value: { N: String(stored(i).avg_order_value) },
      orders_30d: { N: String(stored(i).orders_30d) },
      event_timestamp: { S: fresh },
    })),
  );
  // Gaps: an item without orders_30d, an old item, an undated item, a value of the wrong kind.
  await putAll(client, PLAIN_TABLE, [
    { customer_id: { S: 'no-orders' }, avg_order_value: { N: '20' }, event_timestamp: { S: fresh } },
    {
      customer_id: { S: 'old' },
      avg_order_value: { N: '30' },
      orders_30d: { N: '3' },
      event_timestamp: { S: new Date(now - 7_200_000).toISOString() },
    },
    { customer_id: { S: 'undated' }, avg_order_value: { N: '40' }, orders_30d: { N: '4' } },
    // A time in the future, and one without an offset: neither says how old the values are.
    { customer_id: { S: 'future' }, avg_order_value: { N: '40' }, orders_30d: { N: '4' }, event_timestamp: { S: '2099-01-01T00:00:00Z' } },
    {
      customer_id: { S: 'zoneless' },
      avg_order_value: { N: '40' },
      orders_30d: { N: '4' },
      event_timestamp: { S: fresh.replace('Z', '') },
    },
    { customer_id: { S: 'garbled' }, avg_order_value: { S: 'lots' }, orders_30d: { N: '4' }, event_timestamp: { S: fresh } },
  ]);
  await publishModel('spend');
  await publishModel('spend-online', { onlineFeatures: [group()] });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('served by entity key', () => {
  it('v1 features and instances by key equal the full vector, values as stored', async () => {
    const rows = [3, 17, 999, 3].map((i, k) => ({ i, basket: k + 1 }));
    const byKey = await predict('spend-online', {
      instances: rows.map(({ i, basket }) => ({ customer_id: `c-${i}`, basket_size: basket })),
    });
    const full = await predict('spend', { instances: rows.map(({ i, basket }) => fullRow(i, basket)) });
    expect(byKey.status).toBe(200);
    expect(full.status).toBe(200);
    expect(byKey.body['predictions']).toEqual(full.body['predictions']);
    // And the model's own arithmetic, so equal answers are not two equal mistakes.
    const expected = rows.map(({ i, basket }) => {
      const s = stored(i);
      return Math.fround(s.avg_order_value * WEIGHTS[0]! + s.orders_30d * WEIGHTS[1]! + basket * WEIGHTS[2]! + BIAS);
    });
    (byKey.body['predictions'] as { y: number[] }[]).forEach((p, k) => expect(p.y[0]).toBeCloseTo(expected[k] as number, 4));

    const one = await predict('spend-online', { features: { customer_id: 'c-42', basket_size: 7 } });
    const oneFull = await predict('spend', { features: fullRow(42, 7) });
    expect(one.status).toBe(200);
    expect(one.body['predictions']).toEqual(oneFull.body['predictions']);
  });

  it('v2 by key equals the v2 answer for the full vector, and the metadata lists the key tensors', async () => {
    const keys = ['c-5', 'c-6', 'c-700'];
    const baskets = [1.5, 0, 4];
    const byKey = await infer('spend-online', {
      inputs: [
        { name: 'customer_id', datatype: 'BYTES', shape: [3], data: keys },
        { name: 'basket_size', datatype: 'FP32', shape: [3], data: baskets },
      ],
    });
    const full = await infer('spend', {
      inputs: [
        {
          name: 'x',
          datatype: 'FP32',
          shape: [3, 3],
          data: [5, 6, 700].flatMap((i, k) => Object.values(fullRow(i, baskets[k] as number))),
        },
      ],
    });
    expect(byKey.status).toBe(200);
    expect(byKey.body['outputs']).toEqual(full.body['outputs']);
    const metadata = await call(stack.url, 'GET', '/v2/models/spend-online');
    expect((metadata.body as { inputs: unknown[] }).inputs).toEqual([
      { name: 'customer_id', datatype: 'BYTES', shape: [-1] },
      { name: 'basket_size', datatype: 'FP32', shape: [-1] },
    ]);
  });

  it("the model's OpenAPI document describes the key form: entity keys and request-time features, no looked-up feature", async () => {
    const reply = await call(stack.url, 'GET', '/v1/models/spend-online/openapi.json');
    expect(reply.status).toBe(200);
    const required: string[][] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === 'object') {
        const object = node as Record<string, unknown>;
        if (Array.isArray(object['required'])) required.push(object['required'] as string[]);
        Object.values(object).forEach(walk);
      }
    };
    walk((reply.body as { components: unknown }).components);
    expect(required).toContainEqual(['customer_id', 'basket_size']);
    const schemas = (reply.body as { components: { schemas: Record<string, unknown> } }).components.schemas;
    expect(JSON.stringify(schemas['PredictRequest'])).not.toContain('avg_order_value');
    expect(JSON.stringify(schemas['V2InferRequest'])).not.toContain('avg_order_value');
    expect((reply.body as { info: { description: string } }).info.description).toContain('avg_order_value, orders_30d by customer_id');
  });

  it('a 1,000-row request reads its keys in one batched read per 100 keys, and the log says what was read', async () => {
    const instances = Array.from({ length: CUSTOMERS }, (_, i) => ({ customer_id: `c-${i}`, basket_size: i % 5 }));
    const before = batchGets;
    const answer = await predict('spend-online', { instances });
    expect(answer.status).toBe(200);
    expect(batchGets - before).toBe(10);
    const full = await predict('spend', { instances: instances.map((_, i) => fullRow(i, i % 5)) });
    expect(answer.body['predictions']).toEqual(full.body['predictions']);
    const record = await logRecord('spend-online', answer.body['requestId'] as string);
    const [lookup] = record.featureLookups as FeatureLookup[];
    expect(lookup).toMatchObject({
      entity: 'customer_id',
      table: PLAIN_TABLE,
      layout: 'plain',
      keys: 1_000,
      reads: 10,
      missingEntities: 0,
    });
    expect(lookup?.features).toEqual(['avg_order_value', 'orders_30d']);
    expect(lookup?.oldestAgeSeconds).toBeGreaterThanOrEqual(60);

    // Repeated keys are read once: 1,000 rows over 250 customers are 3 reads.
    const repeated = Array.from({ length: CUSTOMERS }, (_, i) => ({ customer_id: `c-${i % 250}`, basket_size: 1 }));
    const again = batchGets;
    expect((await predict('spend-online', { instances: repeated })).status).toBe(200);
    expect(batchGets - again).toBe(3);
  });

  it('the request is checked like any other: a missing key, a wrong type, an unknown field, a feature the store fills', async () => {
    const missing = await predict('spend-online', { instances: [{ basket_size: 1 }] });
    expect(missing.status).toBe(400);
    expect(missing.body['error']).toMatchObject({ code: 'MISSING_INPUT', path: 'instances[0].customer_id' });
    const wrong = await predict('spend-online', { features: { customer_id: 'c-1', basket_size: 'big' } });
    expect(wrong.body['error']).toMatchObject({ code: 'WRONG_TYPE', path: 'features.basket_size' });
    const unknown = await predict('spend-online', { features: { customer_id: 'c-1', basket_size: 1, basket: 3 } });
    expect(unknown.body['error']).toMatchObject({ code: 'UNKNOWN_INPUT', path: 'features.basket' });
    // A feature the store fills, sent anyway, would be ignored: refused, saying where it comes from.
    const stored = await predict('spend-online', {
      instances: [
        { customer_id: 'c-1', basket_size: 1 },
        { customer_id: 'c-2', basket_size: 1, orders_30d: 3 },
      ],
    });
    expect(stored.status).toBe(400);
    expect(stored.body['error']).toMatchObject({ code: 'FEATURE_FROM_STORE', path: 'instances[1].orders_30d' });
    expect((stored.body['error'] as { message: string }).message).toContain('read from the online store by customer_id');
    const storedV2 = await infer('spend-online', {
      inputs: [
        { name: 'customer_id', datatype: 'BYTES', shape: [1], data: ['c-1'] },
        { name: 'basket_size', datatype: 'FP32', shape: [1], data: [1] },
        { name: 'avg_order_value', datatype: 'FP32', shape: [1], data: [1] },
      ],
    });
    expect(storedV2.body['error']).toMatchObject({ code: 'FEATURE_FROM_STORE', path: 'inputs[2].name' });
    // Rows as arrays have no names for the key: the message names what to send.
    const arrays = await predict('spend-online', { instances: [['c-1', 1]] });
    expect(arrays.body['error']).toMatchObject({ code: 'AMBIGUOUS_ROW', path: 'instances[0]' });
    expect((arrays.body['error'] as { message: string }).message).toContain('customer_id, basket_size');
  });
});

describe('gaps in the store, by policy', () => {
  beforeAll(async () => {
    const defaults = { avg_order_value: -1, orders_30d: 99 };
    await publishModel('spend-defaults', {
      onlineFeatures: [
        group({ maxAgeSeconds: 3600, onMissingEntity: 'default', onMissingFeature: 'default', onStale: 'default', defaults }),
      ],
    });
    await publishModel('spend-strict', { onlineFeatures: [group({ maxAgeSeconds: 3600 })] });
  }, 60_000);

  it('refuse: a missing entity is a 404 naming the key, in every form; never a 5xx', async () => {
    const v1 = await predict('spend-strict', {
      instances: [
        { customer_id: 'c-1', basket_size: 1 },
        { customer_id: 'nobody', basket_size: 1 },
      ],
    });
    expect(v1.status).toBe(404);
    expect(v1.body['error']).toMatchObject({ code: 'ENTITY_NOT_FOUND', path: 'instances[1].customer_id' });
    expect((v1.body['error'] as { message: string }).message).toContain('"nobody"');
    const one = await predict('spend-strict', { features: { customer_id: 'nobody', basket_size: 1 } });
    expect(one.body['error']).toMatchObject({ code: 'ENTITY_NOT_FOUND', path: 'features.customer_id' });
    const v2 = await infer('spend-strict', {
      inputs: [
        { name: 'basket_size', datatype: 'FP32', shape: [2], data: [1, 2] },
        { name: 'customer_id', datatype: 'BYTES', shape: [2], data: ['c-1', 'nobody'] },
      ],
    });
    expect(v2.status).toBe(404);
    expect(v2.body['error']).toMatchObject({ code: 'ENTITY_NOT_FOUND', path: 'inputs[1].data[1]' });
    // Keys no table could hold (empty, very long, odd characters) are missing entities too.
    for (const key of ['', 'x'.repeat(5_000), '☃ \u0001 "quoted"']) {
      const odd = await predict('spend-strict', { features: { customer_id: key, basket_size: 1 } });
      expect(odd.status).toBeLessThan(500);
      expect(odd.status).toBeGreaterThanOrEqual(400);
      expect(JSON.stringify(odd.body).length).toBeLessThan(2_000);
    }
  });

  it('refuse: a missing feature and a stale or undated item are 422s naming the key', async () => {
    const noOrders = await predict('spend-strict', { features: { customer_id: 'no-orders', basket_size: 1 } });
    expect(noOrders.status).toBe(422);
    expect(noOrders.body['error']).toMatchObject({ code: 'FEATURE_NOT_STORED', path: 'features.customer_id' });
    expect((noOrders.body['error'] as { message: string }).message).toMatch(/"no-orders".*"orders_30d"/);
    const old = await predict('spend-strict', { features: { customer_id: 'old', basket_size: 1 } });
    expect(old.status).toBe(422);
    expect(old.body['error']).toMatchObject({ code: 'STALE_FEATURES', path: 'features.customer_id' });
    expect((old.body['error'] as { message: string }).message).toMatch(/"old".*72\d\d s ago.*3600 s/);
    const undated = await predict('spend-strict', { features: { customer_id: 'undated', basket_size: 1 } });
    expect(undated.body['error']).toMatchObject({ code: 'STALE_FEATURES' });
    const future = await predict('spend-strict', { features: { customer_id: 'future', basket_size: 1 } });
    expect(future.body['error']).toMatchObject({ code: 'STALE_FEATURES' });
    expect((future.body['error'] as { message: string }).message).toContain('in the future');
    const zoneless = await predict('spend-strict', { features: { customer_id: 'zoneless', basket_size: 1 } });
    expect(zoneless.body['error']).toMatchObject({ code: 'STALE_FEATURES' });
    expect((zoneless.body['error'] as { message: string }).message).toContain('no time');
    // Without maxAgeSeconds nothing is stale: the reference model serves the old item's values.
    expect((await predict('spend-online', { features: { customer_id: 'old', basket_size: 1 } })).status).toBe(200);
  });

  it('default: each gap takes the declared defaults, exactly as if they had been sent, and the log counts them', async () => {
    const keys = ['nobody', 'no-orders', 'old', 'undated', 'c-8'];
    const answer = await predict('spend-defaults', { instances: keys.map((customer_id) => ({ customer_id, basket_size: 2 })) });
    expect(answer.status).toBe(200);
    const full = await predict('spend', {
      instances: [
        { avg_order_value: -1, orders_30d: 99, basket_size: 2 },
        { avg_order_value: 20, orders_30d: 99, basket_size: 2 },
        { avg_order_value: -1, orders_30d: 99, basket_size: 2 },
        { avg_order_value: -1, orders_30d: 99, basket_size: 2 },
        fullRow(8, 2),
      ],
    });
    expect(answer.body['predictions']).toEqual(full.body['predictions']);
    const [lookup] = (await logRecord('spend-defaults', answer.body['requestId'] as string)).featureLookups as FeatureLookup[];
    expect(lookup).toMatchObject({ keys: 5, missingEntities: 1, staleEntities: 2, missingValues: 1, defaulted: 7 });
  });

  it('a stored value the model cannot take, or a table that does not exist, is our fault: a 500 with the details in the log only', async () => {
    const garbled = await predict('spend-online', { features: { customer_id: 'garbled', basket_size: 1 } });
    expect(garbled.status).toBe(500);
    expect(garbled.body['error']).toMatchObject({ code: 'FEATURE_VALUE_INVALID' });
    expect(JSON.stringify(garbled.body)).not.toContain('lots');
    expect(stack.log.take({ level: 'ERROR', message: 'request failed', code: 'FEATURE_VALUE_INVALID' })).toHaveLength(1);

    // A table deleted after the version was registered (registration checks it exists).
    await createTable(stack.clients.dynamo, 'short-lived', 'customer_id', 'S');
    await publishModel('spend-nowhere', { onlineFeatures: [group({ source: { layout: 'plain', table: 'short-lived' } })] });
    await stack.clients.dynamo.send(new DeleteTableCommand({ TableName: 'short-lived' }));
    const nowhere = await predict('spend-nowhere', { features: { customer_id: 'c-1', basket_size: 1 } });
    expect(nowhere.status).toBe(500);
    expect(nowhere.body['error']).toMatchObject({ code: 'FEATURE_TABLE_NOT_FOUND' });
    expect(JSON.stringify(nowhere.body)).not.toContain('short-lived');
    expect(stack.log.take({ level: 'ERROR', message: 'request failed', code: 'FEATURE_TABLE_NOT_FOUND' })).toHaveLength(1);
  });
});

describe('batch jobs by key', () => {
  const put = (key: string, body: string): Promise<string> => putBatchObject(stack.clients.s3, key, body);
  const text = (uri: string): Promise<string> => objectText(stack.clients.s3, uri);

  it("a file of keys and request-time features is predicted as the full vector would be; a refused key is its row's error", async () => {
    const keys = Array.from({ length: 250 }, (_, i) => (i === 17 ? 'nobody' : `c-${(i * 7) % CUSTOMERS}`));
    const uri = await put('inputs/spend-keys.csv', ['customer_id,basket_size', ...keys.map((key, i) => `${key},${i % 4}`)].join('\n'));
    const submitted = await call(stack.url, 'POST', '/v1/models/spend-strict/batch-jobs', {
      input: { uri },
      output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` },
      rowsPerBatch: 100,
      toleratedFailurePercentage: 5,
    });
    expect(submitted.status).toBe(202);
    const jobId = (submitted.body as { job: { jobId: string } }).job.jobId;
    let job: { state: string; output: { predictions: string; errors: string }; progress: Record<string, number> } | undefined;
    for (let tries = 0; tries < 600; tries++) {
      const reply = await call(stack.url, 'GET', `/v1/models/spend-strict/batch-jobs/${jobId}`);
      job = (reply.body as { job: typeof job }).job;
      if (job && ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(job.state)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(job).toMatchObject({ state: 'SUCCEEDED', progress: { predicted: 249, failed: 1 } });
    const errors = jsonLines(await text(job?.output.errors as string));
    expect(errors).toEqual([expect.objectContaining({ row: 17, code: 'ENTITY_NOT_FOUND', path: ['customer_id'] })]);
    const predictions = jsonLines(await text(job?.output.predictions as string));
    const full = await predict('spend', {
      instances: keys.flatMap((key, i) => (key === 'nobody' ? [] : [fullRow(Number(key.slice(2)), i % 4)])),
    });
    expect(predictions.map((p) => p['prediction'])).toEqual(full.body['predictions']);
    expect(predictions.map((p) => p['row'])).toEqual(keys.flatMap((key, i) => (key === 'nobody' ? [] : [i])));
  }, 120_000);

  it('a file with a column the store fills is refused at submission (its values would be silently replaced)', async () => {
    const uri = await put('inputs/spend-with-stored.csv', 'customer_id,basket_size,orders_30d\nc-1,1,3\n');
    const refused = await call(stack.url, 'POST', '/v1/models/spend-strict/batch-jobs', {
      input: { uri },
      output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` },
    });
    expect(refused.status).toBe(400);
    expect((refused.body as { error: unknown }).error).toMatchObject({ code: 'FEATURE_FROM_STORE', path: 'input.uri' });
  });

  it('a file without the entity key is refused at submission, naming it', async () => {
    const uri = await put('inputs/spend-no-keys.csv', 'avg_order_value,orders_30d,basket_size\n1,2,3\n');
    const refused = await call(stack.url, 'POST', '/v1/models/spend-strict/batch-jobs', {
      input: { uri },
      output: { uri: `s3://${LOCAL_BATCH_BUCKET}/results/` },
    });
    expect(refused.status).toBe(400);
    const error = (refused.body as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('MISSING_FEATURES');
    expect(error.message).toContain('customer_id');
  });
});

describe('experiments', () => {
  it('a variant that reads features by key cannot be tested against a control that takes the full vector', async () => {
    // Version 1 takes every feature, version 2 reads two of them by key: callers would get 400s from one variant only.
    await publishModel('spend-ab');
    const keyed = await call(stack.url, 'POST', '/v1/models/spend-ab/versions', {
      modelBase64: Buffer.from(modelBytes).toString('base64'),
      metadata: { features: FEATURES, onlineFeatures: [group()] },
    });
    expect(keyed.status).toBe(201);
    expect((await call(stack.url, 'POST', '/v1/models/spend-ab/versions/2/stage', { to: 'staging' })).status).toBe(200);
    const refused = await call(stack.url, 'POST', '/v1/models/spend-ab/experiments', {
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: '2', weight: 50 },
      ],
    });
    expect(refused.status).toBe(409);
    const error = (refused.body as { error: { code: string; path: string; message: string } }).error;
    expect(error).toMatchObject({ code: 'VARIANTS_INCOMPATIBLE', path: 'variants[1].version' });
    expect(error.message).toContain('keys and features [customer_id:string, basket_size:float32]');
  });
});

describe("Feast's DynamoDB layout", () => {
  beforeAll(async () => {
    const client = stack.clients.dynamo;
    await createTable(client, FEAST_TABLE, 'entity_id', 'S');
    const items = [0, 1, 2, 3].map((i) =>
      feastItem({
        entity: [{ joinKey: 'customer_id', type: 'string', value: `c-${i}` }],
        serializationVersion: 3,
        // c-3 was materialized two hours ago, at a UTC+02:00 wall clock; the others a minute ago.
        eventTime: i === 3 ? now - 7_200_000 : now - 60_000,
        values: {
          avg_order_value: { kind: 'double', value: stored(i).avg_order_value },
          orders_30d: { kind: 'int64', value: BigInt(stored(i).orders_30d) },
          unrelated: { kind: 'string', value: 'not read' },
        },
      }),
    );
    for (const Item of items) await client.send(new PutItemCommand({ TableName: FEAST_TABLE, Item }));
    await publishModel('spend-feast', {
      onlineFeatures: [group({ source: { layout: 'feast', table: FEAST_TABLE }, maxAgeSeconds: 3600 })],
    });
  }, 60_000);

  it('reads the values and their timestamps as Feast wrote them', async () => {
    const answer = await predict('spend-feast', { instances: [0, 1, 2].map((i) => ({ customer_id: `c-${i}`, basket_size: 3 })) });
    expect(answer.status).toBe(200);
    const full = await predict('spend', { instances: [0, 1, 2].map((i) => fullRow(i, 3)) });
    expect(answer.body['predictions']).toEqual(full.body['predictions']);
    const [lookup] = (await logRecord('spend-feast', answer.body['requestId'] as string)).featureLookups as FeatureLookup[];
    expect(lookup).toMatchObject({ layout: 'feast', table: FEAST_TABLE, keys: 3, reads: 1 });
    expect(lookup?.oldestAgeSeconds).toBeGreaterThanOrEqual(60);
    expect(lookup?.oldestAgeSeconds).toBeLessThan(600);
  });

  it("applies the staleness policy from Feast's event_ts, and a key Feast never wrote is missing", async () => {
    const stale = await predict('spend-feast', { features: { customer_id: 'c-3', basket_size: 3 } });
    expect(stale.status).toBe(422);
    expect(stale.body['error']).toMatchObject({ code: 'STALE_FEATURES', path: 'features.customer_id' });
    const absent = await predict('spend-feast', { features: { customer_id: 'c-4', basket_size: 3 } });
    expect(absent.status).toBe(404);
    expect(absent.body['error']).toMatchObject({ code: 'ENTITY_NOT_FOUND' });
  });
});

describe('tables checked at registration', () => {
  beforeAll(async () => {
    await createTable(stack.clients.dynamo, 'accounts-by-number', 'customer_id', 'N');
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    [
      'a table that does not exist (a typo)',
      group({ source: { layout: 'plain', table: 'customer-featurs' } }),
      'FEATURE_TABLE_NOT_FOUND',
      'customer-featurs',
    ],
    [
      'int64 keys over a table keyed by strings',
      group({ entityType: 'int64' }),
      'FEATURE_TABLE_MISMATCH',
      'customer_id (S, partition key)',
    ],
    [
      'string keys over a table keyed by numbers',
      group({ source: { layout: 'plain', table: 'accounts-by-number' } }),
      'FEATURE_TABLE_MISMATCH',
      'customer_id (N, partition key)',
    ],
    [
      "Feast's layout over a plain table",
      group({ source: { layout: 'feast', table: PLAIN_TABLE } }),
      'FEATURE_TABLE_MISMATCH',
      'entity_id (S, partition key)',
    ],
    [
      'the plain layout over a Feast table',
      group({ source: { layout: 'plain', table: FEAST_TABLE } }),
      'FEATURE_TABLE_MISMATCH',
      'entity_id (S, partition key)',
    ],
    ['another entity over a plain table', group({ entity: 'account_id' }), 'FEATURE_TABLE_MISMATCH', 'account_id (S, partition key)'],
  ])('%s is refused before anything is stored, naming the table and its key', async (_what, declared, code, named) => {
    const reply = await call(stack.url, 'POST', '/v1/models/checked/versions', {
      modelBase64: Buffer.from(modelBytes).toString('base64'),
      metadata: { features: FEATURES, onlineFeatures: [declared] },
    });
    expect(reply.status).toBe(400);
    const error = (reply.body as { error: { code: string; path: string; message: string } }).error;
    expect(error).toMatchObject({ code, path: 'metadata.onlineFeatures[0].source.table' });
    expect(error.message).toContain(named);
    expect((await call(stack.url, 'GET', '/v1/models/checked')).status).toBe(404);
  });
});

describe('declarations refused at registration', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      'a feature the model lacks',
      { onlineFeatures: [group({ features: ['avg_order_valu'] })] },
      'UNKNOWN_FEATURE',
      'metadata.onlineFeatures[0].features[0]',
    ],
    [
      'a feature in two groups',
      { onlineFeatures: [group(), group({ entity: 'region' })] },
      'DUPLICATE_FEATURE',
      'metadata.onlineFeatures[1].features[0]',
    ],
    [
      'an entity named as a feature',
      { onlineFeatures: [group({ entity: 'basket_size' })] },
      'ENTITY_NAME_TAKEN',
      'metadata.onlineFeatures[0].entity',
    ],
    [
      'a default policy without defaults',
      { onlineFeatures: [group({ onMissingEntity: 'default' })] },
      'MISSING_DEFAULT',
      'metadata.onlineFeatures[0].defaults',
    ],
    [
      'a default the input cannot hold',
      { onlineFeatures: [group({ onMissingEntity: 'default', defaults: { avg_order_value: 'zero', orders_30d: 0 } })] },
      'WRONG_TYPE',
      'metadata.onlineFeatures[0].defaults.avg_order_value',
    ],
    [
      'onStale default without maxAgeSeconds',
      { onlineFeatures: [group({ onStale: 'default', defaults: { avg_order_value: 0, orders_30d: 0 } })] },
      'STALE_WITHOUT_MAX_AGE',
      'metadata.onlineFeatures[0].onStale',
    ],
    [
      'a table name DynamoDB refuses',
      { onlineFeatures: [group({ source: { layout: 'plain', table: 'a b' } })] },
      'INVALID_REQUEST',
      'metadata.onlineFeatures[0].source.table',
    ],
    [
      'a cache on a non-deterministic model',
      { predictionCache: { maxEntries: 10 }, deterministic: false },
      'CACHE_NOT_DETERMINISTIC',
      'metadata.predictionCache',
    ],
  ];
  it.each(cases)('%s', async (_what, metadata, code, path) => {
    const reply = await call(stack.url, 'POST', '/v1/models/refused/versions', {
      modelBase64: Buffer.from(modelBytes).toString('base64'),
      metadata: { features: FEATURES, ...metadata },
    });
    expect(reply.status).toBe(400);
    expect((reply.body as { error: { code: string; path: string } }).error).toMatchObject({ code, path });
  });
});
