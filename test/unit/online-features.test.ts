/**
 * Online features in the serving core (functions/core/features/online.ts): `onlinePlan` (what a
 * request carries, where each model column or input comes from) and `lookUpFeatures` (each
 * group's distinct keys read once, every gap decided by its policy, the model's feeds filled in
 * order), against an in-memory `OnlineFeatureStore` that records what it is asked. The DynamoDB
 * adapter and the HTTP path have their own tests (dynamodb-online-features, and
 * test/integration/online-features.test.ts).
 */
import { describe, expect, it } from '@jest/globals';
import { AppError, InternalError, NotFoundError, type FieldPath } from '../../functions/core/errors.js';
import { OnlineFeatureGroupSchema } from '../../functions/core/features/declaration.js';
import {
  assembleFeeds,
  lookUpFeatures,
  onlinePlan,
  readFeatures,
  type EntityPath,
  type OnlinePlan,
} from '../../functions/core/features/online.js';
import type { ModelMetadata, ModelSignature, OnlineFeatureGroup, TensorType } from '../../functions/core/model.js';
import type { OnlineFeatureStore, StoredEntity, StoredFeatureValue } from '../../functions/core/ports.js';
import type { TensorData, TensorMap } from '../../functions/core/tensor.js';
import { rejection } from '../fixtures/errors.js';

/** The request's clock, epoch ms. */
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0);

/** Items by table, then by key text. */
type Tables = Record<string, Record<string, StoredEntity>>;

/** An online store in memory: every read is recorded (table and keys, in order). */
class MemoryFeatureStore implements OnlineFeatureStore {
  readonly asked: { table: string; entity: string; keys: string[] }[] = [];

  constructor(private readonly tables: Tables) {}

  async read(group: OnlineFeatureGroup, keys: readonly string[]): Promise<{ found: ReadonlyMap<string, StoredEntity>; calls: number }> {
    this.asked.push({ table: group.source.table, entity: group.entity, keys: [...keys] });
    const items = this.tables[group.source.table] ?? {};
    const found = new Map<string, StoredEntity>();
    for (const key of keys) {
      const item = items[key];
      if (item) found.set(key, item);
    }
    return { found, calls: Math.ceil(keys.length / 100) };
  }
}

/** A stored item: `values` as given, computed `ageSeconds` before NOW (undated when null). */
function item(values: Record<string, StoredFeatureValue | null>, ageSeconds: number | null = 60): StoredEntity {
  const map = new Map(Object.entries(values));
  return ageSeconds === null ? { values: map } : { values: map, eventTimeMs: NOW - ageSeconds * 1000 };
}

/** A group as registration stores it (parsed: the policies default to refuse). */
function group(declared: Record<string, unknown>): OnlineFeatureGroup {
  return OnlineFeatureGroupSchema.parse({ entity: 'customer_id', source: { layout: 'plain', table: 'customers' }, ...declared });
}

const byInstance: EntityPath = (row, entity) => ['instances', row, entity];

function strings(...data: string[]): TensorData {
  return { type: 'string', shape: [data.length], data };
}

function float32(...data: number[]): TensorData {
  return { type: 'float32', shape: [data.length], data: Float32Array.from(data) };
}

function feedsOf(entries: Record<string, TensorData>): TensorMap {
  return Object.assign(Object.create(null) as TensorMap, entries);
}

/** A plan for one float32 [N, F] model with `features` and `groups`. */
function columnsPlan(features: string[], groups: OnlineFeatureGroup[], type: TensorType = 'float32'): OnlinePlan {
  const signature: ModelSignature = {
    inputs: [{ name: 'x', type, shape: ['N', features.length] }],
    outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
  };
  const plan = onlinePlan(signature, { features, onlineFeatures: groups });
  if (!plan) throw new Error('expected a plan');
  return plan;
}

describe('onlinePlan', () => {
  it('is undefined for a version without online features', () => {
    // Prepare
    const signature: ModelSignature = { inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }], outputs: [] };

    // Act / Assess
    expect(onlinePlan(signature, { features: ['a', 'b'] })).toBeUndefined();
  });

  it('columns: the request carries the key, then the request-time features in model order; the fills keep the model order', () => {
    // Act
    const plan = columnsPlan(['a', 'b', 'c', 'd', 'e'], [group({ features: ['d', 'b'] })]);

    // Assess
    expect(plan.request.inputs).toEqual([
      { name: 'customer_id', type: 'string', shape: ['N'] },
      { name: 'a', type: 'float32', shape: ['N'] },
      { name: 'c', type: 'float32', shape: ['N'] },
      { name: 'e', type: 'float32', shape: ['N'] },
    ]);
    expect(plan.fills).toEqual([
      { name: 'a', from: 'request' },
      { name: 'b', from: 'store', group: 0 },
      { name: 'c', from: 'request' },
      { name: 'd', from: 'store', group: 0 },
      { name: 'e', from: 'request' },
    ]);
    expect(plan.requestLayout.kind).toBe('inputs');
  });

  it('gives each entity one key tensor of its type, in order of first declaration, even when groups share it', () => {
    // Act
    const plan = columnsPlan(
      ['a', 'b', 'c', 'd'],
      [
        group({ entity: 'store_id', entityType: 'int32', source: { layout: 'plain', table: 'stores' }, features: ['c'] }),
        group({ entity: 'customer_id', entityType: 'int64', source: { layout: 'plain', table: 'spend' }, features: ['a'] }),
        group({ entity: 'customer_id', entityType: 'int64', source: { layout: 'plain', table: 'visits' }, features: ['b'] }),
      ],
    );

    // Assess
    expect(plan.request.inputs).toEqual([
      { name: 'store_id', type: 'int32', shape: ['N'] },
      { name: 'customer_id', type: 'int64', shape: ['N'] },
      { name: 'd', type: 'float32', shape: ['N'] },
    ]);
  });
});

describe('lookUpFeatures: the columns of one [N, F] input', () => {
  it('fills the looked-up columns from the store and the others from the request, row by row, in feature order', async () => {
    // Prepare
    const store = new MemoryFeatureStore({
      customers: { 'c-1': item({ b: 10, d: 20 }), 'c-2': item({ b: 11, d: 21 }) },
    });
    const plan = columnsPlan(['a', 'b', 'c', 'd', 'e'], [group({ features: ['d', 'b'] })]);
    const feeds = feedsOf({ customer_id: strings('c-2', 'c-1'), a: float32(1, 2), c: float32(3, 4), e: float32(5, 6) });

    // Act
    const { feeds: model, lookups } = await lookUpFeatures(plan, feeds, 2, { store, now: NOW, pathOf: byInstance });

    // Assess
    expect(Object.keys(model)).toEqual(['x']);
    expect(model['x']?.shape).toEqual([2, 5]);
    expect(model['x']?.data).toEqual(Float32Array.from([1, 11, 3, 21, 5, 2, 10, 4, 20, 6]));
    expect(lookups).toEqual([
      {
        entity: 'customer_id',
        table: 'customers',
        layout: 'plain',
        features: ['d', 'b'],
        keys: 2,
        reads: 1,
        missingEntities: 0,
        staleEntities: 0,
        missingValues: 0,
        defaulted: 0,
        oldestAgeSeconds: 60,
        newestAgeSeconds: 60,
      },
    ]);
  });

  /** Per input type: request-time values of the two sent columns, the stored value, and the expected input data. */
  const typed: [TensorType, TensorData['data'], TensorData['data'], StoredFeatureValue, TensorData['data']][] = [
    [
      'float32',
      Float32Array.from([0.1, -3.4028234663852886e38]),
      Float32Array.from([1e-45, 7]),
      1.5,
      Float32Array.from([0.1, 1.5, 1e-45, -3.4028234663852886e38, 1.5, 7]),
    ],
    [
      'float64',
      Float64Array.from([0.1, Number.MAX_VALUE]),
      Float64Array.from([5e-324, -0]),
      0.30000000000000004,
      Float64Array.from([0.1, 0.30000000000000004, 5e-324, Number.MAX_VALUE, 0.30000000000000004, -0]),
    ],
    [
      'int64',
      BigInt64Array.from([2n ** 62n + 1n, -(2n ** 63n)]),
      BigInt64Array.from([9007199254740993n, 2n ** 63n - 1n]),
      9007199254740995n,
      BigInt64Array.from([2n ** 62n + 1n, 9007199254740995n, 9007199254740993n, -(2n ** 63n), 9007199254740995n, 2n ** 63n - 1n]),
    ],
    ['string', ['é', ''], ['日本', 'x y'], 'stored', ['é', 'stored', '日本', '', 'stored', 'x y']],
    ['bool', Uint8Array.from([1, 0]), Uint8Array.from([0, 1]), true, Uint8Array.from([1, 1, 0, 0, 1, 1])],
    // float16 bit patterns: 1 + 2^-10 (0x3c01), -0 (0x8000), 65504 (0x7bff), NaN (0x7e00); 1.5 stored is 0x3e00.
    [
      'float16',
      Uint16Array.from([0x3c01, 0x8000]),
      Uint16Array.from([0x7bff, 0x7e00]),
      1.5,
      Uint16Array.from([0x3c01, 0x3e00, 0x7bff, 0x8000, 0x3e00, 0x7e00]),
    ],
  ];
  it.each(typed)('copies request-time %s columns exactly and writes the stored value in between', async (type, p, r, stored, expected) => {
    // Prepare
    const store = new MemoryFeatureStore({ customers: { k: item({ q: stored }) } });
    const plan = columnsPlan(['p', 'q', 'r'], [group({ features: ['q'] })], type);
    const column = (data: TensorData['data']) => ({ type, shape: [2], data }) as TensorData;
    const feeds = feedsOf({ customer_id: strings('k', 'k'), p: column(p), r: column(r) });

    // Act
    const { feeds: model } = await lookUpFeatures(plan, feeds, 2, { store, now: NOW, pathOf: byInstance });

    // Assess
    expect(model['x']).toEqual({ type, shape: [2, 3], data: expected });
    expect(Object.is((model['x']?.data as Float64Array)[5], (expected as Float64Array)[5])).toBe(true);
  });
});

describe('lookUpFeatures: a model with several inputs', () => {
  const signature: ModelSignature = {
    inputs: [
      { name: 'age', type: 'float32', shape: ['N'] },
      { name: 'score', type: 'float64', shape: ['N', 1] },
      { name: 'image', type: 'float32', shape: ['N', 3] },
      { name: 'level', type: 'int64', shape: ['N'] },
      { name: 'tag', type: 'string', shape: ['N'] },
    ],
    outputs: [{ name: 'y', type: 'float32', shape: ['N'] }],
  };

  it('carries the request-time inputs as the model declares them and fills [N] and [N, 1] inputs from the store', async () => {
    // Prepare
    const metadata: ModelMetadata = { onlineFeatures: [group({ features: ['level', 'score'] })] };
    const plan = onlinePlan(signature, metadata) as OnlinePlan;
    const store = new MemoryFeatureStore({
      customers: { a: item({ score: 0.25, level: 9007199254740993n }), b: item({ score: -1, level: 3 }) },
    });
    const age = float32(30, 40);
    const image: TensorData = { type: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
    const tag = strings('t1', 't2');

    // Act
    const { feeds } = await lookUpFeatures(plan, feedsOf({ customer_id: strings('b', 'a'), age, image, tag }), 2, {
      store,
      now: NOW,
      pathOf: byInstance,
    });

    // Assess
    expect(plan.request.inputs).toEqual([
      { name: 'customer_id', type: 'string', shape: ['N'] },
      { name: 'age', type: 'float32', shape: ['N'] },
      { name: 'image', type: 'float32', shape: ['N', 3] },
      { name: 'tag', type: 'string', shape: ['N'] },
    ]);
    expect(Object.keys(feeds)).toEqual(['age', 'score', 'image', 'level', 'tag']);
    expect(feeds['age']).toBe(age);
    expect(feeds['image']).toBe(image);
    expect(feeds['tag']).toBe(tag);
    expect(feeds['score']).toEqual({ type: 'float64', shape: [2, 1], data: Float64Array.from([-1, 0.25]) });
    expect(feeds['level']).toEqual({ type: 'int64', shape: [2], data: BigInt64Array.from([3n, 9007199254740993n]) });
  });
});

describe('lookUpFeatures: entity keys and stored numbers', () => {
  it.each<[string, 'int64' | 'int32', TensorData, string[]]>([
    [
      'int64',
      'int64',
      { type: 'int64', shape: [3], data: BigInt64Array.from([9007199254740993n, -5n, 9007199254740993n]) },
      ['9007199254740993', '-5'],
    ],
    ['int32', 'int32', { type: 'int32', shape: [3], data: Int32Array.from([7, -2147483648, 7]) }, ['7', '-2147483648']],
  ])('reads %s keys as their decimal text, each once', async (_, entityType, keys, asked) => {
    // Prepare
    const store = new MemoryFeatureStore({ customers: Object.fromEntries(asked.map((k, i) => [k, item({ a: i })])) });
    const plan = columnsPlan(['a', 'b'], [group({ entityType, features: ['a'] })]);

    // Act
    const { feeds } = await lookUpFeatures(plan, feedsOf({ customer_id: keys, b: float32(0, 0, 0) }), 3, {
      store,
      now: NOW,
      pathOf: byInstance,
    });

    // Assess
    expect(store.asked).toEqual([{ table: 'customers', entity: 'customer_id', keys: asked }]);
    expect(feeds['x']?.data).toEqual(Float32Array.from([0, 0, 1, 0, 0, 0]));
  });

  it('writes a stored bigint past 2^53 exactly into an int64 input, a number into an int64 input, and a bigint into float inputs as its nearest value', async () => {
    // Prepare
    const signature: ModelSignature = {
      inputs: [
        { name: 'id64', type: 'int64', shape: ['N'] },
        { name: 'small64', type: 'int64', shape: ['N', 1] },
        { name: 'f64', type: 'float64', shape: ['N'] },
        { name: 'f32', type: 'float32', shape: ['N'] },
        { name: 'i32', type: 'int32', shape: ['N'] },
      ],
      outputs: [],
    };
    const plan = onlinePlan(signature, {
      onlineFeatures: [group({ features: ['id64', 'small64', 'f64', 'f32', 'i32'] })],
    }) as OnlinePlan;
    const store = new MemoryFeatureStore({
      customers: {
        k: item({ id64: -(2n ** 63n), small64: 42, f64: 2n ** 60n + 1n, f32: 9007199254740993n, i32: 5n }),
      },
    });

    // Act
    const { feeds } = await lookUpFeatures(plan, feedsOf({ customer_id: strings('k') }), 1, { store, now: NOW, pathOf: byInstance });

    // Assess
    expect(feeds['id64']?.data).toEqual(BigInt64Array.from([-(2n ** 63n)]));
    expect(feeds['small64']?.data).toEqual(BigInt64Array.from([42n]));
    expect(feeds['f64']?.data).toEqual(Float64Array.from([2 ** 60]));
    expect(feeds['f32']?.data).toEqual(Float32Array.from([2 ** 53]));
    expect(feeds['i32']?.data).toEqual(Int32Array.from([5]));
  });
});

describe('lookUpFeatures: reads', () => {
  it('reads each group once, with its distinct keys in order of first appearance, even when groups share the entity', async () => {
    // Prepare
    const store = new MemoryFeatureStore({
      spend: { a: item({ s: 1 }), b: item({ s: 2 }), c: item({ s: 3 }) },
      visits: { a: item({ v: 10 }), b: item({ v: 20 }), c: item({ v: 30 }) },
    });
    const plan = columnsPlan(
      ['s', 'v', 'r'],
      [
        group({ source: { layout: 'plain', table: 'spend' }, features: ['s'] }),
        group({ source: { layout: 'plain', table: 'visits' }, features: ['v'] }),
      ],
    );
    const keys = ['b', 'a', 'b', 'c', 'a'];

    // Act
    const { feeds, lookups } = await lookUpFeatures(plan, feedsOf({ customer_id: strings(...keys), r: float32(0, 0, 0, 0, 0) }), 5, {
      store,
      now: NOW,
      pathOf: byInstance,
    });

    // Assess
    expect(plan.request.inputs.filter((i) => i.name === 'customer_id')).toHaveLength(1);
    expect(store.asked).toEqual([
      { table: 'spend', entity: 'customer_id', keys: ['b', 'a', 'c'] },
      { table: 'visits', entity: 'customer_id', keys: ['b', 'a', 'c'] },
    ]);
    expect(feeds['x']?.data).toEqual(Float32Array.from([2, 20, 0, 1, 10, 0, 2, 20, 0, 3, 30, 0, 1, 10, 0]));
    expect(lookups.map((l) => [l.table, l.keys, l.reads])).toEqual([
      ['spend', 3, 1],
      ['visits', 3, 1],
    ]);
  });

  it('counts the reads the store reports', async () => {
    // Prepare
    const keys = Array.from({ length: 250 }, (_, i) => `c-${i}`);
    const store = new MemoryFeatureStore({ customers: Object.fromEntries(keys.map((k) => [k, item({ a: 1 })])) });
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a'] })]);

    // Act
    const { lookups } = await lookUpFeatures(
      plan,
      feedsOf({ customer_id: strings(...keys, ...keys), b: float32(...new Array<number>(500).fill(0)) }),
      500,
      { store, now: NOW, pathOf: byInstance },
    );

    // Assess
    expect(lookups[0]).toMatchObject({ keys: 250, reads: 3 });
  });
});

describe('lookUpFeatures: gaps and their policies', () => {
  /** One key per gap; `fine` is a fresh, complete item. Ages in seconds; maxAgeSeconds is 3600. */
  const tables: Tables = {
    customers: {
      fine: item({ a: 1, b: 2 }),
      'no-b': item({ a: 1 }),
      'null-b': item({ a: 1, b: null }),
      old: item({ a: 1, b: 2 }, 7_200),
      undated: item({ a: 1, b: 2 }, null),
    },
  };
  const defaults = { a: -1, b: -2 };
  const gaps: [string, string, keyof OnlineFeatureGroup, number, string, number[]][] = [
    ['no item for the key', 'nobody', 'onMissingEntity', 404, 'ENTITY_NOT_FOUND', [-1, -2]],
    ['an item without the feature', 'no-b', 'onMissingFeature', 422, 'FEATURE_NOT_STORED', [1, -2]],
    ['an item holding null', 'null-b', 'onMissingFeature', 422, 'FEATURE_NOT_STORED', [1, -2]],
    ['an item older than maxAgeSeconds', 'old', 'onStale', 422, 'STALE_FEATURES', [-1, -2]],
    ['an undated item, with maxAgeSeconds', 'undated', 'onStale', 422, 'STALE_FEATURES', [-1, -2]],
  ];
  const paths: [string, EntityPath, (row: number) => FieldPath][] = [
    ['instances', byInstance, (row) => ['instances', row, 'customer_id']],
    ['v2 tensors', (row) => ['inputs', 0, 'data', row], (row) => ['inputs', 0, 'data', row]],
    ['one feature record', (_, entity) => ['features', entity], () => ['features', 'customer_id']],
  ];

  describe.each(gaps)('%s', (_, key, policy, status, code, defaultedRow) => {
    it.each(paths)('refuse: %s', async (_form, pathOf, expectedPath) => {
      // Prepare
      const store = new MemoryFeatureStore(tables);
      const plan = columnsPlan(['a', 'b', 'r'], [group({ features: ['a', 'b'], maxAgeSeconds: 3600 })]);

      // Act
      const error = await rejection(
        lookUpFeatures(plan, feedsOf({ customer_id: strings('fine', key), r: float32(0, 0) }), 2, { store, now: NOW, pathOf }),
      );

      // Assess
      expect(error).toMatchObject({ status, code, path: expectedPath(1) });
      expect(error).toBeInstanceOf(status === 404 ? NotFoundError : AppError);
      expect(error.message).toContain(`"${key}"`);
    });

    it('default: the gap takes the defaults, and the lookup counts them', async () => {
      // Prepare
      const store = new MemoryFeatureStore(tables);
      const declared = group({ features: ['a', 'b'], maxAgeSeconds: 3600, defaults, [policy]: 'default' });
      const plan = columnsPlan(['a', 'b', 'r'], [declared]);

      // Act
      const { feeds, lookups } = await lookUpFeatures(plan, feedsOf({ customer_id: strings('fine', key, key), r: float32(7, 8, 9) }), 3, {
        store,
        now: NOW,
        pathOf: byInstance,
      });

      // Assess
      expect(feeds['x']?.data).toEqual(Float32Array.from([1, 2, 7, ...defaultedRow, 8, ...defaultedRow, 9]));
      const perRow = defaultedRow.filter((v) => v < 0).length;
      expect(lookups[0]).toMatchObject({
        keys: 2,
        missingEntities: code === 'ENTITY_NOT_FOUND' ? 1 : 0,
        staleEntities: code === 'STALE_FEATURES' ? 1 : 0,
        missingValues: code === 'FEATURE_NOT_STORED' ? 2 : 0,
        defaulted: 2 * perRow,
      });
    });
  });

  it('each policy decides only its own gap: defaults for missing features do not excuse a missing entity or a stale item', async () => {
    // Prepare
    const store = new MemoryFeatureStore(tables);
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a', 'b'], maxAgeSeconds: 3600, onMissingFeature: 'default', defaults })]);
    const attempt = (key: string) =>
      rejection(lookUpFeatures(plan, feedsOf({ customer_id: strings(key) }), 1, { store, now: NOW, pathOf: byInstance }));

    // Act / Assess
    expect(await attempt('nobody')).toMatchObject({ status: 404, code: 'ENTITY_NOT_FOUND' });
    expect(await attempt('old')).toMatchObject({ status: 422, code: 'STALE_FEATURES' });
    expect(await attempt('undated')).toMatchObject({ status: 422, code: 'STALE_FEATURES' });
  });

  it('the refusal is of the lowest refused row, across groups; of a row two groups refuse, the first group gives it', async () => {
    // Prepare: `spend` refuses row 2 and row 1, `visits` row 1 and row 0 only in the second request.
    const store = new MemoryFeatureStore({
      spend: { a: item({ s: 1 }), b: item({ s: 1 }, 7_200) },
      visits: { a: item({ v: 1 }), b: item({ v: 1 }), c: item({ v: 1 }) },
    });
    const plan = columnsPlan(
      ['s', 'v'],
      [
        group({ source: { layout: 'plain', table: 'spend' }, features: ['s'], maxAgeSeconds: 3600 }),
        group({ entity: 'visitor', source: { layout: 'plain', table: 'visits' }, features: ['v'] }),
      ],
    );
    const attempt = (customers: string[], visitors: string[]) =>
      rejection(
        lookUpFeatures(plan, feedsOf({ customer_id: strings(...customers), visitor: strings(...visitors) }), 3, {
          store,
          now: NOW,
          pathOf: byInstance,
        }),
      );

    // Act
    const sameRow = await attempt(['a', 'b', 'c'], ['a', 'nobody', 'a']);
    const lowerInSecond = await attempt(['a', 'b', 'c'], ['nobody', 'a', 'a']);

    // Assess
    expect(sameRow).toMatchObject({ code: 'STALE_FEATURES', path: ['instances', 1, 'customer_id'] });
    expect(lowerInSecond).toMatchObject({ code: 'ENTITY_NOT_FOUND', path: ['instances', 0, 'visitor'] });
  });

  it('without maxAgeSeconds nothing is stale: old and undated items are served as stored', async () => {
    // Prepare
    const store = new MemoryFeatureStore({
      customers: { ancient: item({ a: 3, b: 4 }, 10 * 365 * 86_400), undated: item({ a: 5, b: 6 }, null) },
    });
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a', 'b'] })]);

    // Act
    const { feeds, lookups } = await lookUpFeatures(plan, feedsOf({ customer_id: strings('ancient', 'undated') }), 2, {
      store,
      now: NOW,
      pathOf: byInstance,
    });

    // Assess
    expect(feeds['x']?.data).toEqual(Float32Array.from([3, 4, 5, 6]));
    expect(lookups[0]).toMatchObject({ staleEntities: 0, defaulted: 0, oldestAgeSeconds: 10 * 365 * 86_400 });
  });

  it('the stale refusal says how old the item is and how old it may be; an undated one says it carries no time', async () => {
    // Prepare
    const store = new MemoryFeatureStore(tables);
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a', 'b'], maxAgeSeconds: 3600 })]);
    const attempt = (key: string) =>
      rejection(lookUpFeatures(plan, feedsOf({ customer_id: strings(key) }), 1, { store, now: NOW, pathOf: byInstance }));

    // Act / Assess
    expect((await attempt('old')).message).toMatch(/"old".*computed 7200 s ago.*3600 s old/);
    expect((await attempt('undated')).message).toMatch(/"undated".*no time they were computed/);
  });

  it('counts missing values and defaults per row and feature, missing and stale entities per distinct key, and the ages of the dated items', async () => {
    // Prepare
    const store = new MemoryFeatureStore({
      customers: {
        fresh: item({ a: 1, b: 2 }, 30.0004),
        'no-b': item({ a: 1 }, 90),
        old: item({ a: 1, b: 2 }, 7_200.5),
        undated: item({ a: 1, b: 2 }, null),
        future: item({ a: 1, b: 2 }, -50),
      },
    });
    const declared = group({
      features: ['a', 'b'],
      maxAgeSeconds: 3600,
      onMissingEntity: 'default',
      onMissingFeature: 'default',
      onStale: 'default',
      defaults,
    });
    const plan = columnsPlan(['a', 'b'], [declared]);
    const keys = ['fresh', 'no-b', 'no-b', 'nobody', 'nobody', 'old', 'undated', 'future'];

    // Act
    const { lookups } = await lookUpFeatures(plan, feedsOf({ customer_id: strings(...keys) }), keys.length, {
      store,
      now: NOW,
      pathOf: byInstance,
    });

    // Assess: no-b twice (2 missing values, 2 defaulted), nobody twice (4), old (2), undated (2).
    expect(lookups[0]).toEqual({
      entity: 'customer_id',
      table: 'customers',
      layout: 'plain',
      features: ['a', 'b'],
      keys: 6,
      reads: 1,
      missingEntities: 1,
      staleEntities: 2,
      missingValues: 2,
      defaulted: 10,
      oldestAgeSeconds: 7_200.5,
      newestAgeSeconds: 0,
    });
  });

  it('a lookup where nothing is dated has no ages', async () => {
    // Prepare
    const store = new MemoryFeatureStore({ customers: { undated: item({ a: 1, b: 2 }, null) } });
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a', 'b'] })]);

    // Act
    const { lookups } = await lookUpFeatures(plan, feedsOf({ customer_id: strings('undated') }), 1, {
      store,
      now: NOW,
      pathOf: byInstance,
    });

    // Assess
    expect(lookups[0]).not.toHaveProperty('oldestAgeSeconds');
    expect(lookups[0]).not.toHaveProperty('newestAgeSeconds');
  });
});

describe('lookUpFeatures: stored values the model cannot take', () => {
  it.each<[string, TensorType, StoredFeatureValue]>([
    ['a string for a float input', 'float32', 'lots'],
    ['the string "NaN" for a float input (a request may spell NaN so, a store may not)', 'float32', 'NaN'],
    ['the string "-Infinity" for a float64 input', 'float64', '-Infinity'],
    ['digits as text for an int64 input', 'int64', '12'],
    ['the string "true" for a bool input', 'bool', 'true'],
    ['a boolean for a float input', 'float64', true],
    ['a number for a string input', 'string', 3],
    ['a string for a bool input', 'bool', 'yes'],
    ['a fraction for an int8 input', 'int8', 1.5],
    ['a number past int8', 'int8', 300],
    ['a bigint past int32', 'int32', 2n ** 40n],
  ])('%s is our fault: 500 FEATURE_VALUE_INVALID naming the key and table, never a 4xx', async (_, type, stored) => {
    // Prepare
    const store = new MemoryFeatureStore({ 'shop.customers': { 'c-7': item({ a: stored }) } });
    const plan = columnsPlan(['a', 'b'], [group({ source: { layout: 'plain', table: 'shop.customers' }, features: ['a'] })], type);
    const b: TensorData = type === 'string' ? strings('s') : ({ type, shape: [1], data: new (typedArray(type))(1) } as TensorData);

    // Act
    const error = await rejection(
      lookUpFeatures(plan, feedsOf({ customer_id: strings('c-7'), b }), 1, { store, now: NOW, pathOf: byInstance }),
    );

    // Assess
    expect(error).toBeInstanceOf(InternalError);
    expect(error).toMatchObject({ status: 500, code: 'FEATURE_VALUE_INVALID', path: [] });
    expect(error.message).toContain('"c-7"');
    expect(error.message).toContain('shop.customers');
    expect(error.message).toContain('"a"');
  });

  it('a default for a missing entity goes through the same checks as a stored value', async () => {
    // Prepare: a default registration would refuse, reaching the core anyway.
    const store = new MemoryFeatureStore({ customers: {} });
    const declared = group({ features: ['a'], onMissingEntity: 'default', defaults: { a: 'zero' } });
    const plan = columnsPlan(['a', 'b'], [declared]);

    // Act
    const error = await rejection(
      lookUpFeatures(plan, feedsOf({ customer_id: strings('k'), b: float32(0) }), 1, { store, now: NOW, pathOf: byInstance }),
    );

    // Assess
    expect(error).toMatchObject({ status: 500, code: 'FEATURE_VALUE_INVALID' });
  });

  it('a stored string longer than maxStringChars is refused as invalid, and a long key is quoted as an excerpt only', async () => {
    // Prepare
    const key = 'k'.repeat(5_000);
    const store = new MemoryFeatureStore({ customers: { [key]: item({ a: 'x'.repeat(11) }) } });
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a'] })], 'string');

    // Act
    const error = await rejection(
      lookUpFeatures(plan, feedsOf({ customer_id: strings(key), b: strings('s') }), 1, {
        store,
        now: NOW,
        pathOf: byInstance,
        maxStringChars: 10,
      }),
    );

    // Assess
    expect(error).toMatchObject({ status: 500, code: 'FEATURE_VALUE_INVALID' });
    expect(error.message.length).toBeLessThan(1_000);
  });
});

/** The typed array constructor of a numeric tensor type. */
function typedArray(type: TensorType): new (length: number) => TensorData['data'] {
  const constructors: Partial<Record<TensorType, new (length: number) => TensorData['data']>> = {
    float32: Float32Array,
    float64: Float64Array,
    int8: Int8Array,
    int32: Int32Array,
    int64: BigInt64Array as unknown as new (length: number) => TensorData['data'],
    bool: Uint8Array,
  };
  const made = constructors[type];
  if (!made) throw new Error(`no typed array for ${type}`);
  return made;
}

describe('readFeatures and assembleFeeds: a batch keeps the rows no policy refused', () => {
  it('records each refused row instead of throwing, and assembles only the kept rows, in order, request columns and stored ones alike', async () => {
    // Prepare: rows 1 and 3 name customers the store lacks.
    const store = new MemoryFeatureStore({
      customers: { 'c-0': item({ a: 10 }), 'c-2': item({ a: 12 }), 'c-4': item({ a: 14 }) },
    });
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a'] })]);
    const feeds = feedsOf({ customer_id: strings('c-0', 'gone-1', 'c-2', 'gone-3', 'c-4'), b: float32(0.5, 1.5, 2.5, 3.5, 4.5) });
    const options = { store, now: NOW, pathOf: ((_row, entity) => [entity]) as EntityPath };

    // Act
    const read = await readFeatures(plan, feeds, 5, options);
    const kept = assembleFeeds(plan, feeds, read, [0, 2, 4], {});

    // Assess
    expect([...read.refusals.keys()].sort()).toEqual([1, 3]);
    expect(read.refusals.get(1)).toMatchObject({ status: 404, code: 'ENTITY_NOT_FOUND', path: ['customer_id'] });
    expect(read.lookups[0]).toMatchObject({ keys: 5, missingEntities: 2 });
    expect(kept['x']?.shape).toEqual([3, 2]);
    expect(Array.from(kept['x']?.data as Float32Array)).toEqual([10, 0.5, 12, 2.5, 14, 4.5]);
  });

  it('keeps the rows of request-time inputs of a model with several inputs, whole rows of every shape', async () => {
    // Prepare: input "v" is [N, 2] (a request-time input), "a" an [N] input read by key.
    const signature: ModelSignature = {
      inputs: [
        { name: 'v', type: 'float32', shape: ['N', 2] },
        { name: 'a', type: 'float32', shape: ['N'] },
      ],
      outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
    };
    const plan = onlinePlan(signature, { onlineFeatures: [group({ features: ['a'] })] }) as OnlinePlan;
    const store = new MemoryFeatureStore({ customers: { 'c-0': item({ a: 1 }), 'c-2': item({ a: 3 }) } });
    const v: TensorData = { type: 'float32', shape: [3, 2], data: Float32Array.from([0, 1, 10, 11, 20, 21]) };
    const feeds = feedsOf({ customer_id: strings('c-0', 'gone', 'c-2'), v });
    const options = { store, now: NOW, pathOf: byInstance };

    // Act
    const read = await readFeatures(plan, feeds, 3, options);
    const kept = assembleFeeds(plan, feeds, read, [0, 2], {});

    // Assess
    expect(kept['v']).toEqual({ type: 'float32', shape: [2, 2], data: Float32Array.from([0, 1, 20, 21]) });
    expect(kept['a']).toEqual({ type: 'float32', shape: [2], data: Float32Array.from([1, 3]) });
  });
});

describe('a declared default is JSON, as a request value is', () => {
  it('"NaN" as a float default (JSON has no NaN) fills NaN; the same text stored in the table is refused', async () => {
    const store = new MemoryFeatureStore({ customers: { 'c-1': item({ a: 'NaN' }) } });
    const plan = columnsPlan(['a', 'b'], [group({ features: ['a'], onMissingEntity: 'default', defaults: { a: 'NaN' } })]);
    const missing = await lookUpFeatures(plan, feedsOf({ customer_id: strings('nobody'), b: float32(2) }), 1, {
      store,
      now: NOW,
      pathOf: byInstance,
    });
    const x = Array.from(missing.feeds['x']?.data as Float32Array);
    expect(Number.isNaN(x[0])).toBe(true);
    expect(x[1]).toBe(2);
    const other = columnsPlan(['a', 'b'], [group({ features: ['a'], onMissingEntity: 'default', defaults: { a: 0 } })]);
    const stored = await rejection(
      lookUpFeatures(other, feedsOf({ customer_id: strings('c-1'), b: float32(2) }), 1, { store, now: NOW, pathOf: byInstance }),
    );
    expect(stored).toMatchObject({ status: 500, code: 'FEATURE_VALUE_INVALID' });
  });
});
