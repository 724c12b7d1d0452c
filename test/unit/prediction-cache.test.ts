/**
 * The prediction cache (functions/core/prediction-cache.ts): one cache per model version, never
 * shared; bounded by entries (least recently used out first), by output bytes per version (an
 * answer larger than the bound is not kept; strings counted by their length) and by a TTL; and
 * keys that tell the outputs asked for apart, in order. Over HTTP, with real models: see
 * test/integration/prediction-cache.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { cacheKey, MAX_CACHED_VERSIONS, PredictionCaches } from '../../functions/core/prediction-cache.js';
import type { TensorMap } from '../../functions/core/tensor.js';

/** An answer of one float32 output holding `count` elements (4 bytes each), all `value`. */
function floats(count: number, value = 1): TensorMap {
  return { y: { type: 'float32', shape: [count], data: new Float32Array(count).fill(value) } };
}

/** An answer of one string output. */
function strings(...data: string[]): TensorMap {
  return { label: { type: 'string', shape: [data.length], data } };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('versions', () => {
  it('never share entries, even of the same model; the same version finds its own again', () => {
    // Prepare
    const caches = new PredictionCaches();
    const settings = { maxEntries: 10 };
    const answer = floats(2, 7);
    caches.of('churn', '1', settings).set('k', answer);

    // Act / Assess
    expect(caches.of('churn', '1', settings).get('k')).toBe(answer);
    expect(caches.of('churn', '2', settings).get('k')).toBeUndefined();
    expect(caches.of('churn-v2', '1', settings).get('k')).toBeUndefined();
    expect(caches.of('churn', '1', settings).size()).toBe(1);
  });

  it(`keep a cache for at most ${MAX_CACHED_VERSIONS} versions, dropping the least recently used one's`, () => {
    // Prepare
    const caches = new PredictionCaches();
    const settings = { maxEntries: 10 };
    for (let v = 1; v <= MAX_CACHED_VERSIONS; v++) caches.of('m', String(v), settings).set('k', floats(1, v));
    caches.of('m', '1', settings);

    // Act
    caches.of('m', 'new', settings).set('k', floats(1));

    // Assess (asking for version 2 again makes it a cache anew, so it comes last)
    expect(caches.of('m', '1', settings).get('k')).toEqual(floats(1, 1));
    expect(caches.of('m', '3', settings).get('k')).toEqual(floats(1, 3));
    expect(caches.of('m', '2', settings).get('k')).toBeUndefined();
  });
});

describe('bounds', () => {
  it('maxEntries: past it the least recently used entry goes', () => {
    // Prepare
    const cache = new PredictionCaches().of('m', '1', { maxEntries: 2 });
    cache.set('a', floats(1, 1));
    cache.set('b', floats(1, 2));
    expect(cache.get('a')).toEqual(floats(1, 1));

    // Act
    cache.set('c', floats(1, 3));

    // Assess
    expect(cache.size()).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toEqual(floats(1, 1));
    expect(cache.get('c')).toEqual(floats(1, 3));
  });

  it("maxBytes: a version's entries together stay within it, the least recently used going first", () => {
    // Prepare: 100 float32 elements are 400 bytes of data; two such answers do not fit in 1,000 bytes.
    const cache = new PredictionCaches(1_000).of('m', '1', { maxEntries: 100 });
    cache.set('a', floats(100, 1));
    expect(cache.get('a')).toBeDefined();

    // Act
    cache.set('b', floats(100, 2));

    // Assess
    expect(cache.size()).toBe(1);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toEqual(floats(100, 2));
  });

  it('maxBytes: an answer larger than the bound is not kept, and the entries kept stay', () => {
    // Prepare
    const cache = new PredictionCaches(1_000).of('m', '1', { maxEntries: 100 });
    cache.set('small', floats(10));

    // Act: 250 float32 elements are 1,000 bytes of data alone.
    cache.set('large', floats(250));

    // Assess
    expect(cache.get('large')).toBeUndefined();
    expect(cache.get('small')).toEqual(floats(10));
    expect(cache.size()).toBe(1);
  });

  it('maxBytes: string outputs count by their length, 2 bytes a character', () => {
    // Prepare
    const cache = new PredictionCaches(1_000).of('m', '1', { maxEntries: 100 });

    // Act: 300 characters are 600 bytes; 400 are 800, which with the entry's own overhead pass 1,000.
    cache.set('short', strings('x'.repeat(300)));
    cache.set('long', strings('x'.repeat(400)));
    cache.set('many', strings(...new Array<string>(300).fill('xx')));

    // Assess
    expect(cache.get('short')).toEqual(strings('x'.repeat(300)));
    expect(cache.get('long')).toBeUndefined();
    expect(cache.get('many')).toBeUndefined();
  });

  it('several outputs of one answer are counted together', () => {
    // Prepare
    const cache = new PredictionCaches(1_000).of('m', '1', { maxEntries: 100 });
    const each = floats(150);

    // Act: 600 bytes each fit alone; together 1,200 do not.
    cache.set('one', each);
    cache.set('two', { ...each, z: { type: 'float64', shape: [75], data: new Float64Array(75) } });

    // Assess
    expect(cache.get('one')).toBeDefined();
    expect(cache.get('two')).toBeUndefined();
  });

  it('ttlSeconds: an entry is gone once the TTL has passed; without one, or with a long one, it stays', async () => {
    // Prepare
    const caches = new PredictionCaches();
    const brief = caches.of('m', 'brief', { maxEntries: 10, ttlSeconds: 0.05 });
    const long = caches.of('m', 'long', { maxEntries: 10, ttlSeconds: 3_600 });
    const forever = caches.of('m', 'forever', { maxEntries: 10 });
    for (const cache of [brief, long, forever]) cache.set('k', floats(1));

    // Act: wait well past 50 ms.
    await sleep(150);

    // Assess
    expect(brief.get('k')).toBeUndefined();
    expect(long.get('k')).toEqual(floats(1));
    expect(forever.get('k')).toEqual(floats(1));
  });
});

describe('cacheKey', () => {
  it('tells apart all outputs, each list of outputs and their order', () => {
    // Prepare
    const hash = 'a'.repeat(64);

    // Act
    const keys = [
      cacheKey(hash, undefined),
      cacheKey(hash, []),
      cacheKey(hash, ['y']),
      cacheKey(hash, ['y', 'p']),
      cacheKey(hash, ['p', 'y']),
      cacheKey(hash, ['y,p']),
      cacheKey(hash, ['*']),
      cacheKey(hash, ['y|*']),
      cacheKey('b'.repeat(64), ['y']),
    ];

    // Assess
    expect(new Set(keys).size).toBe(keys.length);
    expect(cacheKey(hash, ['y', 'p'])).toBe(cacheKey(hash, ['y', 'p']));
    expect(cacheKey(hash, undefined)).toBe(cacheKey(hash, undefined));
  });
});
