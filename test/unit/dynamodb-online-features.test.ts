/**
 * DynamoDbOnlineFeatures (functions/adapters/dynamodb-online-features.ts) against a mocked
 * DynamoDB client, for what the embedded local DynamoDB of the integration tests cannot produce:
 * keys left unprocessed (retried alone, with growing, capped waits, then 503), each failure
 * DynamoDB answers with and what it becomes, the exact BatchGetItem requests (at most 100 keys,
 * only the group's attributes projected), and every attribute form a plain item may hold. Feast's
 * layout is checked against entity ids computed by hand (test/support/feast-items.ts).
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import {
  BatchGetItemCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException,
  ThrottlingException,
  type AttributeValue,
  type BatchGetItemCommandInput,
  type BatchGetItemCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbOnlineFeatures, isoInstant } from '../../functions/adapters/dynamodb-online-features.js';
import { InternalError, ServiceUnavailableError } from '../../functions/core/errors.js';
import { OnlineFeatureGroupSchema } from '../../functions/core/features/declaration.js';
import type { OnlineFeatureGroup } from '../../functions/core/model.js';
import { entityIdByHand, feastItem, pythonAwareDatetimeStr, type HandEntityPart } from '../support/feast-items.js';
import { rejection } from '../fixtures/errors.js';

const client = new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const dynamo = mockClient(client);
const TABLE = 'customer-features';

/** The waits the adapter asked for, in ms, in order. */
let waits: number[];

beforeEach(() => {
  dynamo.reset();
  waits = [];
});

function store(options: { allowedTables?: ReadonlySet<string> } = {}): DynamoDbOnlineFeatures {
  return new DynamoDbOnlineFeatures({
    client,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...options,
  });
}

function group(declared: Record<string, unknown> = {}): OnlineFeatureGroup {
  return OnlineFeatureGroupSchema.parse({
    entity: 'customer_id',
    source: { layout: 'plain', table: TABLE },
    features: ['income', 'orders'],
    ...declared,
  });
}

/** The inputs of every BatchGetItem call, in order. */
function requests(): BatchGetItemCommandInput[] {
  return dynamo.commandCalls(BatchGetItemCommand).map((call) => call.args[0].input);
}

/** The key texts (S or N of `attribute`) a request asked for in `table`. */
function keysOf(input: BatchGetItemCommandInput | undefined, attribute = 'customer_id', table = TABLE): string[] {
  return (input?.RequestItems?.[table]?.Keys ?? []).map((key) => String(key[attribute]?.S ?? key[attribute]?.N));
}

/** A plain item of `key` with both features, computed a minute before 2025-06-01T12:00Z. */
function plainItem(key: string): Record<string, AttributeValue> {
  return { customer_id: { S: key }, income: { N: '10' }, orders: { N: '2' }, event_timestamp: { S: '2025-06-01T11:59:00Z' } };
}

/** Answers each call with the items of the asked keys that `items` holds, leaving `unprocessed(call, keys)` for later. */
function serve(
  items: (key: Record<string, AttributeValue>) => Record<string, AttributeValue> | undefined,
  unprocessed: (call: number, keys: Record<string, AttributeValue>[]) => Record<string, AttributeValue>[] = () => [],
): void {
  let call = 0;
  dynamo.on(BatchGetItemCommand).callsFake((input: BatchGetItemCommandInput): BatchGetItemCommandOutput => {
    const [table, request] = Object.entries(input.RequestItems ?? {})[0] ?? [];
    const keys = request?.Keys ?? [];
    const left = unprocessed(call++, keys);
    const answered: Record<string, AttributeValue>[] = [];
    for (const key of keys) {
      const found = left.includes(key) ? undefined : items(key);
      if (found) answered.push(found);
    }
    return {
      $metadata: {},
      Responses: { [table as string]: answered },
      ...(left.length > 0 ? { UnprocessedKeys: { [table as string]: { Keys: left } } } : {}),
    };
  });
}

describe('unprocessed keys', () => {
  it('are retried alone until processed, after a wait; calls counts every call', async () => {
    // Prepare: the first call leaves c-3, c-4 and c-5 unprocessed, the second c-5 again.
    serve(
      (k) => (k['customer_id']?.S === 'c-5' ? undefined : plainItem(String(k['customer_id']?.S))),
      (call, keys) => (call === 0 ? keys.slice(2) : call === 1 ? keys.slice(2) : []),
    );

    // Act
    const { found, calls } = await store().read(group(), ['c-1', 'c-2', 'c-3', 'c-4', 'c-5']);

    // Assess
    expect(calls).toBe(3);
    expect(requests().map((r) => keysOf(r))).toEqual([['c-1', 'c-2', 'c-3', 'c-4', 'c-5'], ['c-3', 'c-4', 'c-5'], ['c-5']]);
    expect([...found.keys()].sort()).toEqual(['c-1', 'c-2', 'c-3', 'c-4']);
    expect(waits).toHaveLength(2);
    expect(waits[1]).toBeGreaterThan(waits[0] as number);
  });

  it('left unprocessed on every attempt: 503 FEATURE_STORE_UNAVAILABLE after six calls, the waits growing and capped', async () => {
    // Prepare
    serve(
      () => undefined,
      (_, keys) => keys,
    );

    // Act
    const error = await rejection(store().read(group(), ['c-1', 'c-2']));

    // Assess
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ status: 503, code: 'FEATURE_STORE_UNAVAILABLE' });
    expect(error.message).toContain(TABLE);
    expect(requests()).toHaveLength(8);
    expect(waits).toHaveLength(7);
    // Each wait is its step of 25 ms doubling, capped at 1 s, times a jitter in [0.5, 1]: the last ones reach the cap.
    waits.forEach((wait, k) => {
      const step = Math.min(1_000, 25 * 2 ** k);
      expect(wait).toBeGreaterThanOrEqual(step / 2);
      expect(wait).toBeLessThanOrEqual(step);
    });
    expect(Math.max(...waits)).toBeGreaterThanOrEqual(500);
  });

  it('of one chunk among several: that chunk alone is retried, and calls counts it', async () => {
    // Prepare: 150 keys are two chunks; the first call of the chunk holding c-120 leaves it unprocessed.
    const keys = Array.from({ length: 150 }, (_, i) => `c-${i}`);
    const target = { S: 'c-120' };
    let left = false;
    serve(
      (k) => plainItem(String(k['customer_id']?.S)),
      (_, asked) => {
        const pending = asked.filter((k) => k['customer_id']?.S === target.S);
        if (pending.length === 0 || left) return [];
        left = true;
        return pending;
      },
    );

    // Act
    const { found, calls } = await store().read(group(), keys);

    // Assess
    expect(calls).toBe(3);
    expect(found.size).toBe(150);
    expect(requests().map((r) => keysOf(r).length)).toEqual([100, 50, 1]);
    expect(keysOf(requests()[2])).toEqual(['c-120']);
  });
});

describe("DynamoDB's failures", () => {
  const cases: [string, () => Error, number, string][] = [
    [
      'ProvisionedThroughputExceededException',
      () => new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }),
      503,
      'FEATURE_STORE_UNAVAILABLE',
    ],
    ['ThrottlingException', () => new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }), 503, 'FEATURE_STORE_UNAVAILABLE'],
    ['RequestLimitExceeded', () => new RequestLimitExceeded({ message: 'account limit', $metadata: {} }), 503, 'FEATURE_STORE_UNAVAILABLE'],
    ['InternalServerError', () => new InternalServerError({ message: 'oops', $metadata: {} }), 503, 'FEATURE_STORE_UNAVAILABLE'],
    [
      'a network error',
      () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { name: 'Error' }),
      503,
      'FEATURE_STORE_UNAVAILABLE',
    ],
    [
      'ResourceNotFoundException',
      () => new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }),
      500,
      'FEATURE_TABLE_NOT_FOUND',
    ],
    [
      'ValidationException',
      () => serviceError('ValidationException', 'The provided key element does not match the schema'),
      500,
      'FEATURE_TABLE_MISMATCH',
    ],
    [
      'AccessDeniedException',
      () => serviceError('AccessDeniedException', 'not authorized to perform: dynamodb:BatchGetItem'),
      500,
      'FEATURE_STORE_DENIED',
    ],
    [
      'UnrecognizedClientException',
      () => serviceError('UnrecognizedClientException', 'The security token is invalid'),
      500,
      'FEATURE_STORE_DENIED',
    ],
  ];
  it.each(cases)('%s is %d %s, after one call, naming the table in the log message', async (_, thrown, status, code) => {
    // Prepare
    const cause = thrown();
    dynamo.on(BatchGetItemCommand).rejects(cause);

    // Act
    const error = await rejection(store().read(group(), ['c-1']));

    // Assess
    expect(error).toBeInstanceOf(status === 503 ? ServiceUnavailableError : InternalError);
    expect(error).toMatchObject({ status, code, path: [] });
    expect(error.message).toContain(TABLE);
    expect(error.cause).toBe(cause);
    expect(requests()).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('a table the endpoint may not read is refused without any call: 500 FEATURE_TABLE_NOT_ALLOWED naming the allowed ones', async () => {
    // Prepare
    serve(() => undefined);

    // Act
    const error = await rejection(store({ allowedTables: new Set(['patients', 'shop.stats']) }).read(group(), ['c-1']));
    const none = await rejection(store({ allowedTables: new Set() }).read(group(), ['c-1']));

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ status: 500, code: 'FEATURE_TABLE_NOT_ALLOWED' });
    expect(error.message).toContain(TABLE);
    expect(error.message).toContain('patients, shop.stats');
    expect(none.message).toContain('none');
    expect(requests()).toHaveLength(0);
  });

  it('a table the endpoint may read is read', async () => {
    // Prepare
    serve((k) => plainItem(String(k['customer_id']?.S)));

    // Act
    const { found } = await store({ allowedTables: new Set([TABLE]) }).read(group(), ['c-1']);

    // Assess
    expect(found.has('c-1')).toBe(true);
  });
});

describe('the requests', () => {
  it('250 keys are three concurrent calls of at most 100 keys, each key once, projecting the key, the timestamp and the features only', async () => {
    // Prepare: a call answers only after the event loop turns, so concurrent calls overlap.
    const keys = Array.from({ length: 250 }, (_, i) => `c-${i}`);
    let inFlight = 0;
    let most = 0;
    dynamo.on(BatchGetItemCommand).callsFake(async (input: BatchGetItemCommandInput) => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return { Responses: { [TABLE]: (input.RequestItems?.[TABLE]?.Keys ?? []).map((k) => plainItem(String(k['customer_id']?.S))) } };
    });

    // Act
    const { found, calls } = await store().read(group(), keys);

    // Assess
    expect(calls).toBe(3);
    expect(most).toBe(3);
    expect(found.size).toBe(250);
    const sent = requests();
    expect(sent.map((r) => keysOf(r).length)).toEqual([100, 100, 50]);
    expect(sent.flatMap((r) => keysOf(r))).toEqual(keys);
    for (const request of sent) {
      expect(Object.keys(request.RequestItems ?? {})).toEqual([TABLE]);
      const { Keys: _, ...rest } = request.RequestItems?.[TABLE] ?? {};
      expect(rest).toEqual({
        ProjectionExpression: '#k, #t, #f0, #f1',
        ExpressionAttributeNames: { '#k': 'customer_id', '#t': 'event_timestamp', '#f0': 'income', '#f1': 'orders' },
      });
    }
  });

  it('keys no item can have (empty, past 2,048 UTF-8 bytes) are never sent; they are simply not found', async () => {
    // Prepare
    serve((k) => plainItem(String(k['customer_id']?.S)));
    const longest = 'y'.repeat(2_048);

    // Act
    const { found, calls } = await store().read(group(), ['', 'x'.repeat(2_049), 'é'.repeat(1_025), 'ok', longest]);

    // Assess
    expect(calls).toBe(1);
    expect(keysOf(requests()[0])).toEqual(['ok', longest]);
    expect([...found.keys()]).toEqual(['ok', longest]);
  });

  it('only such keys: no call at all', async () => {
    // Prepare
    serve((k) => plainItem(String(k['customer_id']?.S)));

    // Act
    const { found, calls } = await store().read(group(), ['', 'é'.repeat(1_025)]);

    // Assess
    expect(calls).toBe(0);
    expect(found.size).toBe(0);
    expect(requests()).toHaveLength(0);
  });

  it('integer keys are N attributes, found again by their text', async () => {
    // Prepare
    serve((k) =>
      k['customer_id']?.N === '404'
        ? undefined
        : { customer_id: { N: String(k['customer_id']?.N) }, income: { N: '1' }, orders: { N: '2' } },
    );

    // Act
    const { found } = await store().read(group({ entityType: 'int64' }), ['9007199254740993', '-1', '404']);

    // Assess
    expect(requests()[0]?.RequestItems?.[TABLE]?.Keys).toEqual([
      { customer_id: { N: '9007199254740993' } },
      { customer_id: { N: '-1' } },
      { customer_id: { N: '404' } },
    ]);
    expect([...found.keys()]).toEqual(['9007199254740993', '-1']);
  });
});

describe('plain items', () => {
  const features = ['big', 'negative', 'half', 'safe', 'text', 'flag', 'nothing', 'absent'];

  it('read each attribute as its value: N exactly (a bigint past 2^53), S, BOOL, NULL as null, an absent one not at all', async () => {
    // Prepare
    serve(() => ({
      customer_id: { S: 'k' },
      big: { N: '9007199254740993' },
      negative: { N: '-9007199254740993' },
      half: { N: '1.5' },
      safe: { N: '9007199254740991' },
      text: { S: 'gold' },
      flag: { BOOL: false },
      nothing: { NULL: true },
      event_timestamp: { S: '2025-06-01T11:59:00.250Z' },
    }));

    // Act
    const { found } = await store().read(group({ features }), ['k']);

    // Assess
    const entity = found.get('k');
    expect(entity?.eventTimeMs).toBe(Date.UTC(2025, 5, 1, 11, 59, 0, 250));
    expect(Object.fromEntries(entity?.values ?? [])).toEqual({
      big: 9007199254740993n,
      negative: -9007199254740993n,
      half: 1.5,
      safe: 9007199254740991,
      text: 'gold',
      flag: false,
      nothing: null,
    });
    expect(entity?.values.has('absent')).toBe(false);
  });

  it.each([
    ['no event_timestamp', {}],
    ['an event_timestamp that is no time', { event_timestamp: { S: 'yesterday' } }],
    ['an N event_timestamp', { event_timestamp: { N: '1748779140' } }],
  ])('an item with %s is undated', async (_, time) => {
    // Prepare
    serve(() => ({ customer_id: { S: 'k' }, income: { N: '1' }, ...time }));

    // Act
    const { found } = await store().read(group(), ['k']);

    // Assess
    expect(found.get('k')).toBeDefined();
    expect(found.get('k')).not.toHaveProperty('eventTimeMs');
  });

  it.each<[string, AttributeValue]>([
    ['L', { L: [{ N: '1' }] }],
    ['M', { M: { a: { N: '1' } } }],
    ['B', { B: new Uint8Array([1]) }],
    ['SS', { SS: ['a', 'b'] }],
  ])('an %s attribute is our fault: 500 FEATURE_VALUE_INVALID naming the key, feature and table', async (kind, value) => {
    // Prepare
    serve(() => ({ customer_id: { S: 'c-9' }, income: value }));

    // Act
    const error = await rejection(store().read(group(), ['c-9']));

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ status: 500, code: 'FEATURE_VALUE_INVALID' });
    expect(error.message).toContain('"c-9"');
    expect(error.message).toContain('"income"');
    expect(error.message).toContain(TABLE);
    expect(error.message).toContain(kind);
  });
});

describe("Feast's layout", () => {
  const FEAST_TABLE = 'shop.customer_stats';
  const feast = (entityType: string, version: 2 | 3 = 3) =>
    group({ entityType, source: { layout: 'feast', table: FEAST_TABLE, entityKeySerializationVersion: version } });

  it.each<[string, string, 2 | 3, string, HandEntityPart]>([
    ['string keys, version 3', 'string', 3, 'c-1', { joinKey: 'customer_id', type: 'string', value: 'c-1' }],
    ['string keys, version 2', 'string', 2, 'c-1', { joinKey: 'customer_id', type: 'string', value: 'c-1' }],
    ['int64 keys past 2^53', 'int64', 3, '9007199254740993', { joinKey: 'customer_id', type: 'int64', value: 9007199254740993n }],
    ['negative int64 keys, version 2', 'int64', 2, '-42', { joinKey: 'customer_id', type: 'int64', value: -42n }],
    ['int32 keys', 'int32', 3, '-2147483648', { joinKey: 'customer_id', type: 'int32', value: -2147483648 }],
  ])('%s: asks for the entity id Feast computes, projecting values.<feature>', async (_, entityType, version, key, part) => {
    // Prepare
    const id = entityIdByHand([part], version);
    const written = Date.UTC(2025, 5, 1, 11, 0, 0);
    serve((k) =>
      k['entity_id']?.S === id
        ? feastItem({
            entity: [part],
            serializationVersion: version,
            eventTime: pythonAwareDatetimeStr(written, 7_200),
            values: { income: { kind: 'double', value: 12.5 }, orders: { kind: 'int64', value: 9007199254740993n } },
          })
        : undefined,
    );

    // Act
    const { found, calls } = await store().read(feast(entityType, version), [key]);

    // Assess
    expect(calls).toBe(1);
    expect(requests()[0]?.RequestItems).toEqual({
      [FEAST_TABLE]: {
        Keys: [{ entity_id: { S: id } }],
        ProjectionExpression: '#k, #t, #v.#f0, #v.#f1',
        ExpressionAttributeNames: { '#k': 'entity_id', '#t': 'event_ts', '#v': 'values', '#f0': 'income', '#f1': 'orders' },
      },
    });
    const entity = found.get(key);
    expect(entity?.eventTimeMs).toBe(written);
    expect(Object.fromEntries(entity?.values ?? [])).toEqual({ income: 12.5, orders: 9007199254740993n });
  });

  it('a null value is null, an absent one is not there, and a key Feast never wrote is not found', async () => {
    // Prepare
    const id = entityIdByHand([{ joinKey: 'customer_id', type: 'string', value: 'c-1' }], 3);
    serve((k) =>
      k['entity_id']?.S === id
        ? feastItem({
            entity: [{ joinKey: 'customer_id', type: 'string', value: 'c-1' }],
            serializationVersion: 3,
            eventTime: Date.UTC(2025, 5, 1),
            values: { income: { kind: 'null' } },
          })
        : undefined,
    );

    // Act
    const { found } = await store().read(feast('string'), ['c-1', 'c-2']);

    // Assess
    expect([...found.keys()]).toEqual(['c-1']);
    expect(found.get('c-1')?.values.get('income')).toBeNull();
    expect(found.get('c-1')?.values.has('orders')).toBe(false);
  });

  it('a list value is our fault: 500 FEATURE_VALUE_INVALID naming the key and table', async () => {
    // Prepare
    serve(() =>
      feastItem({
        entity: [{ joinKey: 'customer_id', type: 'string', value: 'c-1' }],
        serializationVersion: 3,
        eventTime: Date.UTC(2025, 5, 1),
        values: { income: { kind: 'double_list', value: [1, 2] }, orders: { kind: 'int64', value: 1n } },
      }),
    );

    // Act
    const error = await rejection(store().read(feast('string'), ['c-1']));

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ status: 500, code: 'FEATURE_VALUE_INVALID' });
    expect(error.message).toContain('"c-1"');
    expect(error.message).toContain(FEAST_TABLE);
  });
});

function serviceError(name: string, message: string): DynamoDBServiceException {
  return new DynamoDBServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

describe('the plain layout reads event_timestamp as an instant only when it names one', () => {
  it.each<[string, number | undefined]>([
    ['2026-11-30T12:00:00.000Z', Date.UTC(2026, 10, 30, 12)],
    ['2026-11-30T13:00:00+01:00', Date.UTC(2026, 10, 30, 12)],
    ['2026-11-30T12:00Z', Date.UTC(2026, 10, 30, 12)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    // No offset: which zone? A date or time that does not exist. Not ISO-8601 date-time at all.
    ['2026-11-30T12:00:00', undefined],
    ['2026-02-30T12:00:00Z', undefined],
    ['2026-11-30T24:00:00Z', undefined],
    ['2026-11-30 12:00:00Z', undefined],
    ['yesterday', undefined],
  ])('%s → %s', (text, expected) => {
    expect(isoInstant(text)).toBe(expected);
  });
});
