/**
 * A version's `onlineFeatures` and `predictionCache` declarations: the metadata schema
 * (`ModelMetadataSchema`, functions/core/registry.ts) and the checks against the model's
 * signature that registration runs through `checkDeclarations` (functions/core/declarations.ts,
 * `checkOnlineFeatures` in functions/core/features/declaration.ts). Every refusal is a 400 at the
 * path of what to change. The same refusals over HTTP are in test/integration/online-features.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { checkDeclarations } from '../../functions/core/declarations.js';
import type { ModelMetadata, ModelSignature } from '../../functions/core/model.js';
import { ModelMetadataSchema } from '../../functions/core/registry.js';
import { refusal } from '../fixtures/errors.js';

/** One float32 [N, 4] input with four declared features. */
const COLUMNS: ModelSignature = {
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 4] }],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
};
const FEATURES = ['age', 'income', 'orders', 'visits'];

/** A model with several inputs: some hold one value per row, one holds three. */
const INPUTS: ModelSignature = {
  inputs: [
    { name: 'age', type: 'float32', shape: ['N'] },
    { name: 'score', type: 'float64', shape: ['N', 1] },
    { name: 'width', type: 'float32', shape: ['N', 'k'] },
    { name: 'vector', type: 'float32', shape: ['N', 3] },
    { name: 'cube', type: 'float32', shape: ['N', 1, 1] },
    { name: 'level', type: 'int8', shape: ['N'] },
    { name: 'count', type: 'int64', shape: ['N'] },
    { name: 'tag', type: 'string', shape: ['N'] },
    { name: 'flag', type: 'bool', shape: ['N'] },
  ],
  outputs: [{ name: 'y', type: 'float32', shape: ['N'] }],
};

function group(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { entity: 'customer_id', source: { layout: 'plain', table: 'customers' }, features: ['income', 'orders'], ...overrides };
}

/** The metadata as registration parses it, then checked against `signature`. */
function declare(signature: ModelSignature, metadata: Record<string, unknown>): ModelMetadata {
  const parsed = ModelMetadataSchema.parse(metadata) as ModelMetadata;
  checkDeclarations(signature, parsed);
  return parsed;
}

describe('refused against the signature, each at its path', () => {
  const columns: [string, Record<string, unknown>[], string, (string | number)[]][] = [
    ['a feature the model lacks', [group({ features: ['income', 'order'] })], 'UNKNOWN_FEATURE', [0, 'features', 1]],
    [
      'a feature in two groups',
      [group(), group({ entity: 'store_id', features: ['visits', 'orders'] })],
      'DUPLICATE_FEATURE',
      [1, 'features', 1],
    ],
    ['a feature twice in one group', [group({ features: ['income', 'orders', 'income'] })], 'DUPLICATE_FEATURE', [0, 'features', 2]],
    ['an entity named as a feature', [group({ entity: 'visits' })], 'ENTITY_NAME_TAKEN', [0, 'entity']],
    [
      'one entity declared with two types',
      [group({ entityType: 'string' }), group({ entityType: 'int64', source: { layout: 'plain', table: 'visits' }, features: ['visits'] })],
      'ENTITY_TYPE_CONFLICT',
      [1, 'entityType'],
    ],
    [
      'one entity declared with two types, the second by default',
      [group({ entityType: 'int32' }), group({ source: { layout: 'plain', table: 'visits' }, features: ['visits'] })],
      'ENTITY_TYPE_CONFLICT',
      [1, 'entityType'],
    ],
    ['onMissingEntity default without defaults', [group({ onMissingEntity: 'default' })], 'MISSING_DEFAULT', [0, 'defaults']],
    [
      'onMissingFeature default with a default missing',
      [group({ onMissingFeature: 'default', defaults: { income: 0 } })],
      'MISSING_DEFAULT',
      [0, 'defaults'],
    ],
    [
      'onStale default with a default missing',
      [group({ onStale: 'default', maxAgeSeconds: 60, defaults: { orders: 0 } })],
      'MISSING_DEFAULT',
      [0, 'defaults'],
    ],
    [
      'a default for a feature the group does not read',
      [group({ onMissingEntity: 'default', defaults: { income: 0, orders: 0, visits: 1 } })],
      'UNKNOWN_FEATURE',
      [0, 'defaults', 'visits'],
    ],
    [
      'a default for a feature of the model another group reads',
      [group(), group({ entity: 'store_id', features: ['visits'], defaults: { orders: 1 } })],
      'UNKNOWN_FEATURE',
      [1, 'defaults', 'orders'],
    ],
    [
      'onStale default without maxAgeSeconds',
      [group({ onStale: 'default', defaults: { income: 0, orders: 0 } })],
      'STALE_WITHOUT_MAX_AGE',
      [0, 'onStale'],
    ],
    [
      'a text default for a float column',
      [group({ onMissingEntity: 'default', defaults: { income: 0, orders: 'none' } })],
      'WRONG_TYPE',
      [0, 'defaults', 'orders'],
    ],
    [
      'a boolean default for a float column',
      [group({ onMissingFeature: 'default', defaults: { income: true, orders: 0 } })],
      'WRONG_TYPE',
      [0, 'defaults', 'income'],
    ],
    [
      'a default past float32',
      [group({ onMissingEntity: 'default', defaults: { income: 1e39, orders: 0 } })],
      'OUT_OF_RANGE',
      [0, 'defaults', 'income'],
    ],
  ];
  it.each(columns)('columns of one input: %s', (_, onlineFeatures, code, path) => {
    // Act
    const error = refusal(() => declare(COLUMNS, { features: FEATURES, onlineFeatures }));

    // Assess
    expect(error).toMatchObject({ status: 400, code, path: ['metadata', 'onlineFeatures', ...path] });
  });

  const inputs: [string, Record<string, unknown>[], string, (string | number)[]][] = [
    ['an input of shape [N, 3]', [group({ features: ['age', 'vector'] })], 'FEATURE_NOT_SCALAR', [0, 'features', 1]],
    ['an input of shape [N, 1, 1]', [group({ features: ['cube'] })], 'FEATURE_NOT_SCALAR', [0, 'features', 0]],
    ['a name that is no input', [group({ features: ['age', 'scores'] })], 'UNKNOWN_FEATURE', [0, 'features', 1]],
    ['an entity named as an input', [group({ entity: 'tag', features: ['age'] })], 'ENTITY_NAME_TAKEN', [0, 'entity']],
    [
      'a default past int8',
      [group({ features: ['level'], onMissingEntity: 'default', defaults: { level: 200 } })],
      'OUT_OF_RANGE',
      [0, 'defaults', 'level'],
    ],
    [
      'a fractional default for an int8 input',
      [group({ features: ['level'], onMissingEntity: 'default', defaults: { level: 1.5 } })],
      'WRONG_TYPE',
      [0, 'defaults', 'level'],
    ],
    [
      'an int64 default past 2^63 as text',
      [group({ features: ['count'], onMissingEntity: 'default', defaults: { count: '9223372036854775808' } })],
      'OUT_OF_RANGE',
      [0, 'defaults', 'count'],
    ],
    [
      'a number default for a string input',
      [group({ features: ['tag'], onMissingEntity: 'default', defaults: { tag: 0 } })],
      'WRONG_TYPE',
      [0, 'defaults', 'tag'],
    ],
    [
      'a number default for a bool input',
      [group({ features: ['flag'], onMissingEntity: 'default', defaults: { flag: 1 } })],
      'WRONG_TYPE',
      [0, 'defaults', 'flag'],
    ],
  ];
  it.each(inputs)('several inputs: %s', (_, onlineFeatures, code, path) => {
    // Act
    const error = refusal(() => declare(INPUTS, { onlineFeatures }));

    // Assess
    expect(error).toMatchObject({ status: 400, code, path: ['metadata', 'onlineFeatures', ...path] });
  });

  it('a prediction cache on a version declared non-deterministic: CACHE_NOT_DETERMINISTIC at metadata.predictionCache', () => {
    // Act
    const error = refusal(() => declare(COLUMNS, { features: FEATURES, predictionCache: {}, deterministic: false }));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'CACHE_NOT_DETERMINISTIC', path: ['metadata', 'predictionCache'] });
  });

  it('a feature the model lacks is named with the closest one it has', () => {
    // Act
    const error = refusal(() => declare(COLUMNS, { features: FEATURES, onlineFeatures: [group({ features: ['incme'] })] }));

    // Assess
    expect(error.message).toContain('"incme"');
    expect(error.message).toContain('did you mean "income"');
  });

  it('a long unknown name is quoted as an excerpt only', () => {
    // Act
    const error = refusal(() => declare(COLUMNS, { features: FEATURES, onlineFeatures: [group({ features: ['f'.repeat(128)] })] }));

    // Assess
    expect(error.code).toBe('UNKNOWN_FEATURE');
    expect(error.message).not.toContain('f'.repeat(128));
  });
});

describe('accepted', () => {
  it('a group without policies refuses every gap, reads string keys and is checked against the signature', () => {
    // Act
    const metadata = declare(COLUMNS, { features: FEATURES, onlineFeatures: [group()] });

    // Assess
    expect(metadata.onlineFeatures).toEqual([
      {
        entity: 'customer_id',
        entityType: 'string',
        source: { layout: 'plain', table: 'customers' },
        features: ['income', 'orders'],
        onMissingEntity: 'refuse',
        onMissingFeature: 'refuse',
        onStale: 'refuse',
      },
    ]);
  });

  it('a Feast source reads serialization version 3 unless it says 2, and a plain source has no version', () => {
    // Act
    const metadata = declare(COLUMNS, {
      features: FEATURES,
      onlineFeatures: [
        group({ source: { layout: 'feast', table: 'shop.customer_stats' } }),
        group({
          entity: 'store_id',
          source: { layout: 'feast', table: 'shop.store_stats', entityKeySerializationVersion: 2 },
          features: ['visits'],
        }),
        group({ entity: 'region', features: ['age'] }),
      ],
    });

    // Assess
    expect(metadata.onlineFeatures?.map((g) => g.source)).toEqual([
      { layout: 'feast', table: 'shop.customer_stats', entityKeySerializationVersion: 3 },
      { layout: 'feast', table: 'shop.store_stats', entityKeySerializationVersion: 2 },
      { layout: 'plain', table: 'customers' },
    ]);
  });

  it('several groups sharing an entity of one type, every default policy with defaults the inputs hold', () => {
    // Act
    const metadata = declare(INPUTS, {
      onlineFeatures: [
        group({
          entityType: 'int64',
          features: ['score', 'width', 'level', 'count'],
          maxAgeSeconds: 86_400,
          onMissingEntity: 'default',
          onMissingFeature: 'default',
          onStale: 'default',
          defaults: { score: -1.5, width: 0, level: -128, count: '9223372036854775807' },
        }),
        group({
          entityType: 'int64',
          source: { layout: 'feast', table: 'shop.tags' },
          features: ['tag', 'flag'],
          onMissingFeature: 'default',
          defaults: { tag: '', flag: false },
        }),
      ],
      predictionCache: { ttlSeconds: 60 },
      deterministic: true,
    });

    // Assess
    expect(metadata.onlineFeatures?.[1]).toMatchObject({ onMissingEntity: 'refuse', onMissingFeature: 'default', onStale: 'refuse' });
    expect(metadata.predictionCache).toEqual({ maxEntries: 1_000, ttlSeconds: 60 });
  });

  it('a prediction cache on a version that does not say it is non-deterministic', () => {
    // Act / Assess
    expect(() => declare(COLUMNS, { features: FEATURES, predictionCache: { maxEntries: 1 } })).not.toThrow();
  });
});

describe('refused by the metadata schema', () => {
  const cases: [string, Record<string, unknown>, (string | number)[]][] = [
    [
      'a table name DynamoDB refuses',
      { onlineFeatures: [group({ source: { layout: 'plain', table: 'ab' } })] },
      ['onlineFeatures', 0, 'source', 'table'],
    ],
    [
      'an unknown layout',
      { onlineFeatures: [group({ source: { layout: 'redis', table: 'customers' } })] },
      ['onlineFeatures', 0, 'source', 'layout'],
    ],
    [
      'a Feast serialization version other than 2 or 3',
      { onlineFeatures: [group({ source: { layout: 'feast', table: 'shop.x', entityKeySerializationVersion: 1 } })] },
      ['onlineFeatures', 0, 'source', 'entityKeySerializationVersion'],
    ],
    ['an unknown policy', { onlineFeatures: [group({ onStale: 'ignore' })] }, ['onlineFeatures', 0, 'onStale']],
    ['an unknown entity type', { onlineFeatures: [group({ entityType: 'uuid' })] }, ['onlineFeatures', 0, 'entityType']],
    ['a group without features', { onlineFeatures: [group({ features: [] })] }, ['onlineFeatures', 0, 'features']],
    ['maxAgeSeconds of zero', { onlineFeatures: [group({ maxAgeSeconds: 0 })] }, ['onlineFeatures', 0, 'maxAgeSeconds']],
    ['an unknown field of a group', { onlineFeatures: [group({ ttl: 5 })] }, ['onlineFeatures', 0]],
    ['an empty list of groups', { onlineFeatures: [] }, ['onlineFeatures']],
    ['nine groups', { onlineFeatures: Array.from({ length: 9 }, (_, i) => group({ entity: `e${i}` })) }, ['onlineFeatures']],
    [
      'a default that is an object',
      { onlineFeatures: [group({ defaults: { income: { v: 1 } } })] },
      ['onlineFeatures', 0, 'defaults', 'income'],
    ],
    ['a cache of no entries', { predictionCache: { maxEntries: 0 } }, ['predictionCache', 'maxEntries']],
    ['a cache of more than 100,000 entries', { predictionCache: { maxEntries: 100_001 } }, ['predictionCache', 'maxEntries']],
    ['a cache kept longer than a day', { predictionCache: { ttlSeconds: 86_401 } }, ['predictionCache', 'ttlSeconds']],
  ];
  it.each(cases)('%s', (_, metadata, path) => {
    // Act
    const result = ModelMetadataSchema.safeParse({ features: FEATURES, ...metadata });

    // Assess
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path)).toContainEqual(path);
  });
});

describe('names no request could carry, or the layout uses', () => {
  it.each([
    ['__proto__', 'FORBIDDEN_KEY'],
    ['a\u0000b', 'NUL_IN_STRING'],
    ['\ud800', 'UNPAIRED_SURROGATE'],
  ])('an entity named %j is refused as %s at its path', (entity, code) => {
    const error = refusal(() =>
      declare(COLUMNS, { features: FEATURES, onlineFeatures: [group(), group({ entity, features: ['visits'] })] }),
    );
    expect(error).toMatchObject({ code, path: ['metadata', 'onlineFeatures', 1, 'entity'] });
  });

  it("a plain-layout feature named event_timestamp (the layout's timestamp attribute) is refused; in Feast's layout it is a feature like any", () => {
    const signature: ModelSignature = { inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }], outputs: COLUMNS.outputs };
    const features = ['event_timestamp', 'other'];
    const error = refusal(() => declare(signature, { features, onlineFeatures: [group({ features: ['event_timestamp'] })] }));
    expect(error).toMatchObject({ code: 'FEATURE_NAME_RESERVED', path: ['metadata', 'onlineFeatures', 0, 'features', 0] });
    expect(() =>
      declare(signature, {
        features,
        onlineFeatures: [group({ features: ['event_timestamp'], source: { layout: 'feast', table: 'shop.view' } })],
      }),
    ).not.toThrow();
  });
});

describe('found by a newcomer trial', () => {
  it('an entity named as the model input (a v2 request names tensors) is ENTITY_NAME_TAKEN', () => {
    const error = refusal(() => declare(COLUMNS, { features: FEATURES, onlineFeatures: [group({ entity: 'x' })] }));
    expect(error).toMatchObject({ code: 'ENTITY_NAME_TAKEN', path: ['metadata', 'onlineFeatures', 0, 'entity'] });
    expect(error.message).toContain('an input');
  });

  it('a default is checked against its input even when every policy refuses (it would fail later, when one says default)', () => {
    const error = refusal(() => declare(COLUMNS, { features: FEATURES, onlineFeatures: [group({ defaults: { income: 'zero' } })] }));
    expect(error).toMatchObject({ code: 'WRONG_TYPE', path: ['metadata', 'onlineFeatures', 0, 'defaults', 'income'] });
  });

  it.each([1, 4, '3'])('entityKeySerializationVersion %j is refused naming both versions taken', (version) => {
    const parsed = ModelMetadataSchema.safeParse({
      onlineFeatures: [group({ source: { layout: 'feast', table: 'shop.view', entityKeySerializationVersion: version } })],
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain('must be 2 or 3');
  });
});
