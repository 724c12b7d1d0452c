/**
 * DynamoDbPredictionLogReader against a real DynamoDB-compatible server: one model's records
 * through the `byModel` index, oldest first, from a time on, in exact pages that continue without
 * skipping or repeating a record (records sharing a timestamp across a page boundary included),
 * never another model's, and pages DynamoDB cuts at 1 MB continued; the same newest first; and the
 * listing service's cursors continuing either order.
 */
import { jest } from '@jest/globals';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { CreateTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  BY_MODEL_INDEX,
  BY_STUDY_INDEX,
  DynamoDbPredictionLogReader,
  DynamoDbStudyReader,
} from '../../functions/adapters/dynamodb-prediction-log-reader.js';
import { createTableInput, ensureTables, PREDICTION_LOG_TABLE } from '../../functions/adapters/tables.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';
import { PredictionLogService, type PredictionOrder } from '../../functions/core/stats.js';
import { localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';

const TABLE = 'prediction-log-reader';

let aws: LocalAws;
let clients: LocalClients;
let reader: DynamoDbPredictionLogReader;

function record(model: string, requestId: string, timestamp: string, outputs = '[{"label":"setosa"}]'): PredictionLogRecord {
  return {
    requestId,
    model,
    modelVersion: '1',
    functionVersion: '$LATEST',
    caller: 'alice',
    latencyMs: 2.5,
    rows: 1,
    inputSha256: 'ab'.repeat(32),
    outputs,
    truncated: false,
    timestamp,
    expiresAt: 1_900_000_000,
  };
}

async function put(records: readonly PredictionLogRecord[], table = TABLE): Promise<void> {
  for (let i = 0; i < records.length; i += 25) {
    await clients.documents.send(
      new BatchWriteCommand({ RequestItems: { [table]: records.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }),
    );
  }
}

/** Every record of `model` from `since`, read `limit` at a time; the request ids and the page sizes. */
async function readAll(
  model: string,
  since: string,
  limit: number,
  order: PredictionOrder = 'oldest',
): Promise<{ ids: string[]; pages: number[] }> {
  const ids: string[] = [];
  const pages: number[] = [];
  let after: PredictionLogRecord | undefined;
  for (;;) {
    const page = await reader.read(model, {
      since,
      limit,
      order,
      ...(after ? { after: { timestamp: after.timestamp, requestId: after.requestId } } : {}),
    });
    ids.push(...page.records.map((r) => r.requestId));
    pages.push(page.records.length);
    if (!page.more) return { ids, pages };
    after = page.records.at(-1);
  }
}

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureTables(clients.dynamo, { registry: `${TABLE}-registry`, predictionLog: TABLE });
  reader = new DynamoDbPredictionLogReader({ client: clients.documents, tableName: TABLE });
  // iris: 12 records a minute apart from 05:00, plus 5 sharing 05:20; wine interleaved with them.
  const minute = (m: number) => `2025-03-04T05:${String(m).padStart(2, '0')}:00.000Z`;
  await put([
    ...Array.from({ length: 12 }, (_, i) => record('iris', `iris-${String(i).padStart(2, '0')}`, minute(i))),
    ...Array.from({ length: 5 }, (_, i) => record('iris', `iris-same-${i}`, minute(20))),
    ...Array.from({ length: 12 }, (_, i) => record('wine', `wine-${i}`, minute(i))),
  ]);
}, 60_000);

afterAll(async () => {
  clients?.destroy();
  await aws?.stop();
});

it('queries the index the table design declares, on (model, timestamp)', () => {
  const index = PREDICTION_LOG_TABLE.globalSecondaryIndexes.find((i) => i.indexName === BY_MODEL_INDEX);

  expect(index).toMatchObject({ partitionKey: { name: 'model' }, sortKey: { name: 'timestamp' }, projection: 'ALL' });
});

it("reads one model's records oldest first from `since` (inclusive), whole, and no other model's", async () => {
  // Act
  const page = await reader.read('iris', { since: '2025-03-04T05:09:00.000Z', limit: 100 });

  // Assess
  expect(page.more).toBe(false);
  expect(page.records.map((r) => r.requestId).slice(0, 3)).toEqual(['iris-09', 'iris-10', 'iris-11']);
  expect(page.records).toHaveLength(8);
  expect(page.records.every((r) => r.model === 'iris')).toBe(true);
  expect(page.records[0]).toEqual(record('iris', 'iris-09', '2025-03-04T05:09:00.000Z'));
  const timestamps = page.records.map((r) => r.timestamp);
  expect([...timestamps].sort()).toEqual(timestamps);
});

it('says there is more only when a record really follows', async () => {
  // Act
  const exact = await reader.read('iris', { since: '2025-03-04T05:00:00.000Z', limit: 17 });
  const short = await reader.read('iris', { since: '2025-03-04T05:00:00.000Z', limit: 16 });

  // Assess
  expect([exact.records.length, exact.more]).toEqual([17, false]);
  expect([short.records.length, short.more]).toEqual([16, true]);
});

it('continues page after page without skipping or repeating, across records that share a timestamp', async () => {
  // Act: pages of 2 split the five records of 05:20 across three pages.
  const { ids, pages } = await readAll('iris', '2025-03-04T05:00:00.000Z', 2);

  // Assess
  expect(pages).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 1]);
  expect(ids).toHaveLength(17);
  expect(new Set(ids).size).toBe(17);
  expect(ids.slice(0, 12)).toEqual(Array.from({ length: 12 }, (_, i) => `iris-${String(i).padStart(2, '0')}`));
  expect(ids.slice(12).sort()).toEqual(['iris-same-0', 'iris-same-1', 'iris-same-2', 'iris-same-3', 'iris-same-4']);
});

it('continues a page DynamoDB cut at 1 MB until the page is full', async () => {
  // Prepare: 14 records of about 150 KB each (2 MB) for a model of their own.
  const big = 'x'.repeat(150_000);
  await put(
    Array.from({ length: 14 }, (_, i) =>
      record('bulky', `bulky-${String(i).padStart(2, '0')}`, `2025-03-04T06:00:${String(i).padStart(2, '0')}.000Z`, big),
    ),
  );

  const sent = jest.spyOn(clients.documents, 'send');

  // Act
  const page = await reader.read('bulky', { since: '2025-03-04T06:00:00.000Z', limit: 12 });

  // Assess: DynamoDB answered more than one Query for the one page.
  expect(sent.mock.calls.length).toBeGreaterThan(1);
  sent.mockRestore();
  expect(page.records.map((r) => r.requestId)).toEqual(Array.from({ length: 12 }, (_, i) => `bulky-${String(i).padStart(2, '0')}`));
  expect(page.more).toBe(true);
}, 30_000);

describe('newest first', () => {
  const minute = (m: number) => `2025-03-04T05:${String(m).padStart(2, '0')}:00.000Z`;

  it("reads the newest of one model's records from `since` first, and no other model's", async () => {
    // Act
    const page = await reader.read('iris', { since: minute(9), limit: 7, order: 'newest' });

    // Assess: the five of 05:20 (in an order DynamoDB chooses), then 05:11 and 05:10; 05:09 follows.
    expect(page.more).toBe(true);
    expect(
      page.records
        .slice(0, 5)
        .map((r) => r.requestId)
        .sort(),
    ).toEqual(['iris-same-0', 'iris-same-1', 'iris-same-2', 'iris-same-3', 'iris-same-4']);
    expect(page.records.slice(5).map((r) => r.requestId)).toEqual(['iris-11', 'iris-10']);
    expect(page.records.every((r) => r.model === 'iris')).toBe(true);
    const timestamps = page.records.map((r) => r.timestamp);
    expect([...timestamps].sort().reverse()).toEqual(timestamps);
  });

  it('continues page after page backwards without skipping or repeating, down to `since`', async () => {
    // Act
    const { ids, pages } = await readAll('iris', minute(0), 2, 'newest');
    const oldest = await readAll('iris', minute(0), 2, 'oldest');

    // Assess: the same 17 records as oldest first, reversed (ties aside).
    expect(pages).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 1]);
    expect(new Set(ids).size).toBe(17);
    expect(ids.slice(5)).toEqual(Array.from({ length: 12 }, (_, i) => `iris-${String(11 - i).padStart(2, '0')}`));
    expect([...ids].sort()).toEqual([...oldest.ids].sort());
  });

  it('lists through the service: ?order=newest pages by cursor, the cursor keeps the order, a bad order is INVALID_ORDER', async () => {
    // Prepare: the service over the real reader; the model is registered.
    const service = new PredictionLogService({ reader, registry: { getModel: async () => ({}) as never } });
    const ids: string[] = [];

    // Act: pages of 5 from 05:05, newest first; each next page is asked for by cursor alone.
    let page = await service.list({ model: 'iris', since: minute(5), limit: '5', order: 'newest' });
    const orders = [page.order];
    ids.push(...page.records.map((r) => r.requestId));
    while (page.nextCursor) {
      page = await service.list({ model: 'iris', limit: '5', cursor: page.nextCursor });
      orders.push(page.order);
      ids.push(...page.records.map((r) => r.requestId));
    }
    const oldestFirst = await service.list({ model: 'iris', since: minute(5), limit: '3' });
    const bad = await service.list({ model: 'iris', order: 'latest' }).catch((e: unknown) => e);

    // Assess
    expect(orders).toEqual(['newest', 'newest', 'newest']);
    expect(ids).toHaveLength(12);
    expect(ids.slice(5)).toEqual(['iris-11', 'iris-10', 'iris-09', 'iris-08', 'iris-07', 'iris-06', 'iris-05']);
    expect(oldestFirst.order).toBe('oldest');
    expect(oldestFirst.records.map((r) => r.requestId)).toEqual(['iris-05', 'iris-06', 'iris-07']);
    expect(bad).toMatchObject({ status: 400, code: 'INVALID_ORDER', path: ['query', 'order'] });
  });
});

describe('the study reader (the sparse byStudy index)', () => {
  const STUDY_TABLE = 'prediction-log-studies';

  it('adds the index to a table made before it, with the items there backfilled', async () => {
    // Prepare: a prediction-log table as an earlier release made it (byModel only), with a
    // study's item and another request already in it.
    const old = createTableInput(STUDY_TABLE, {
      ...PREDICTION_LOG_TABLE,
      globalSecondaryIndexes: PREDICTION_LOG_TABLE.globalSecondaryIndexes.filter((i) => i.indexName === BY_MODEL_INDEX),
    });
    await clients.dynamo.send(new CreateTableCommand(old));
    const inStudy = {
      ...record('iris', 'study-0', '2025-03-04T06:00:00.000Z'),
      study: 'experiment#iris#exp-1',
      experiment: { id: 'exp-1', variant: 'control', unit: 'u0' },
    };
    await put([inStudy, record('iris', 'plain-0', '2025-03-04T06:00:01.000Z')], STUDY_TABLE);

    // Act
    const ensured = await ensureTables(clients.dynamo, { registry: `${STUDY_TABLE}-registry`, predictionLog: STUDY_TABLE });

    // Assess
    expect(ensured.find((t) => t.tableName === STUDY_TABLE)?.created).toBe(false);
    const { Table } = await clients.dynamo.send(new DescribeTableCommand({ TableName: STUDY_TABLE }));
    expect(Table?.GlobalSecondaryIndexes?.map((i) => [i.IndexName, i.IndexStatus]).sort()).toEqual([
      [BY_MODEL_INDEX, 'ACTIVE'],
      [BY_STUDY_INDEX, 'ACTIVE'],
    ]);
    const studies = new DynamoDbStudyReader({ client: clients.documents, tableName: STUDY_TABLE });
    expect((await studies.read('experiment#iris#exp-1', 10)).records.map((r) => r.requestId)).toEqual(['study-0']);
  });

  it("reads one study's items oldest first, only what an analysis needs, capped at max; and one request by id", async () => {
    // Prepare: 30 items of one experiment, 5 of a shadow test, 5 of no study
    const studies = new DynamoDbStudyReader({ client: clients.documents, tableName: STUDY_TABLE });
    const second = (s: number) => `2025-03-04T07:00:${String(s).padStart(2, '0')}.000Z`;
    await put(
      [
        ...Array.from({ length: 30 }, (_, i) => ({
          ...record('iris', `exp-${i}`, second(59 - i)),
          study: 'experiment#iris#exp-2',
          experiment: { id: 'exp-2', variant: i % 2 ? 'a' : 'b', unit: `u${i}` },
        })),
        ...Array.from({ length: 5 }, (_, i) => ({
          ...record('iris', `shadow-${i}`, second(i)),
          study: 'shadow#iris#shadow-1',
          shadow: { version: '2', latencyMs: 1.5 },
        })),
        ...Array.from({ length: 5 }, (_, i) => record('iris', `none-${i}`, second(i))),
      ],
      STUDY_TABLE,
    );

    // Act
    const all = await studies.read('experiment#iris#exp-2', 100);
    const capped = await studies.read('experiment#iris#exp-2', 12);
    const shadow = await studies.read('shadow#iris#shadow-1', 100);

    // Assess
    expect(all.capped).toBe(false);
    expect(all.records.map((r) => r.requestId)).toEqual(Array.from({ length: 30 }, (_, i) => `exp-${29 - i}`));
    expect(Object.keys(all.records[0] ?? {}).sort()).toEqual(['experiment', 'latencyMs', 'modelVersion', 'requestId', 'rows', 'timestamp']);
    expect([capped.capped, capped.records.length]).toEqual([true, 12]);
    expect(shadow.records.map((r) => r.shadow?.version)).toEqual(['2', '2', '2', '2', '2']);
    expect(await studies.get('exp-3')).toMatchObject({ requestId: 'exp-3', experiment: { id: 'exp-2', variant: 'a', unit: 'u3' } });
    expect(await studies.get('none-0')).toEqual({ requestId: 'none-0', modelVersion: '1', latencyMs: 2.5, rows: 1, timestamp: second(0) });
    expect(await studies.get('no-such-request')).toBeUndefined();
  });
});
