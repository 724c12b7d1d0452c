/**
 * The remote key source: caching, rotation, the refetch cooldown, and what a broken JWKS
 * endpoint does (a KeysUnavailableError, bounded in time, never a key). Fetch is a stub and the
 * clock is frozen; the HTTP version of these runs in test/integration/auth-jwks.test.ts.
 */
import { jest } from '@jest/globals';
import { createRemoteJWKSet, customFetch, errors, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';
import { KeysUnavailableError } from '../../../functions/auth/errors.js';
import { RemoteKeySource } from '../../../functions/auth/jwks.js';
import { jwksOf, testKey, type TestKey } from '../../fixtures/tokens.js';

const URL_ = new URL('https://issuer.example.com/.well-known/jwks.json');
const T0 = Date.UTC(2026, 0, 1);
const NO_TOKEN = {} as FlattenedJWSInput;
const header = (key: TestKey, kid = key.kid): JWSHeaderParameters => ({ alg: key.alg, kid });

let a: TestKey;
let b: TestKey;
let now: number;
let served: () => Response | Promise<Response>;
const fetchStub = jest.fn<typeof fetch>();

beforeAll(async () => {
  [a, b] = await Promise.all([testKey('ES256', 'key-a'), testKey('ES256', 'key-b')]);
});

beforeEach(() => {
  now = T0;
  served = () => Response.json(jwksOf(a));
  fetchStub.mockReset();
  fetchStub.mockImplementation(async () => served());
});

function source(overrides: Partial<ConstructorParameters<typeof RemoteKeySource>[0]> = {}): RemoteKeySource {
  return new RemoteKeySource({
    url: URL_,
    fetch: fetchStub,
    now: () => now,
    cooldownMs: 30_000,
    maxAgeMs: 600_000,
    timeoutMs: 200,
    ...overrides,
  });
}

it('fetches once and serves known kids from the cache', async () => {
  const keys = source();
  await keys.lookup(header(a), NO_TOKEN);
  await keys.lookup(header(a), NO_TOKEN);
  expect(fetchStub).toHaveBeenCalledTimes(1);
  expect(fetchStub.mock.calls[0]?.[1]).toMatchObject({ redirect: 'error' });
});

it('shares one fetch between concurrent first lookups', async () => {
  const keys = source();
  await Promise.all(Array.from({ length: 20 }, () => keys.lookup(header(a), NO_TOKEN)));
  expect(fetchStub).toHaveBeenCalledTimes(1);
});

it('accepts a rotated-in kid after one refetch once the cooldown has passed', async () => {
  // Prepare: the cache holds key A.
  const keys = source();
  await keys.lookup(header(a), NO_TOKEN);
  served = () => Response.json(jwksOf(a, b));

  // Act / Assess: within the cooldown, B is unknown and nothing is fetched...
  await expect(keys.lookup(header(b), NO_TOKEN)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  expect(fetchStub).toHaveBeenCalledTimes(1);
  // ...after it, one refetch finds B.
  now += 30_000;
  await expect(keys.lookup(header(b), NO_TOKEN)).resolves.toBeDefined();
  expect(fetchStub).toHaveBeenCalledTimes(2);
});

it('lets every concurrent request with a rotated-in kid wait for the same refetch', async () => {
  const keys = source();
  await keys.lookup(header(a), NO_TOKEN);
  served = () => Response.json(jwksOf(a, b));
  now += 30_000;

  const results = await Promise.allSettled(Array.from({ length: 50 }, () => keys.lookup(header(b), NO_TOKEN)));

  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(50);
  expect(fetchStub).toHaveBeenCalledTimes(2);
});

it('turns a flood of unknown kids into at most one fetch per cooldown', async () => {
  const keys = source();
  await keys.lookup(header(a), NO_TOKEN);
  const flood = () => Promise.allSettled(Array.from({ length: 100 }, (_, i) => keys.lookup(header(a, `made-up-${i}`), NO_TOKEN)));

  const first = await flood();
  now += 30_000;
  const second = await flood();
  now += 10_000;
  const third = await flood();

  expect([...first, ...second, ...third].every((r) => r.status === 'rejected')).toBe(true);
  // 1 to warm up, 0 in the first cooldown, 1 when it ended (shared by all 100), 0 after.
  expect(fetchStub).toHaveBeenCalledTimes(2);
});

it('refetches a key set older than maxAge', async () => {
  const keys = source();
  await keys.lookup(header(a), NO_TOKEN);
  now += 600_000;
  await keys.lookup(header(a), NO_TOKEN);
  expect(fetchStub).toHaveBeenCalledTimes(2);
});

it.each<[string, () => Response | Promise<Response>, RegExp]>([
  ['answers 503', () => new Response('down', { status: 503 }), /answered HTTP 503/],
  ['answers HTML', () => new Response('<html>', { status: 200 }), /not a JSON Web Key Set/],
  ['answers JSON that is not a key set', () => Response.json({ keys: 'nope' }), /not a JSON Web Key Set/],
  ['answers more than maxBytes', () => Response.json({ keys: [], pad: 'x'.repeat(200_000) }), /larger than|at most/],
  ['fails to connect', () => Promise.reject(new TypeError('fetch failed')), /Cannot reach/],
])('gives KeysUnavailableError when the endpoint %s, and does not retry before the cooldown', async (_name, answer, message) => {
  served = answer;
  const keys = source();

  await expect(keys.lookup(header(a), NO_TOKEN)).rejects.toThrow(message);
  await expect(keys.lookup(header(a), NO_TOKEN)).rejects.toBeInstanceOf(KeysUnavailableError);
  expect(fetchStub).toHaveBeenCalledTimes(1);

  // Once the endpoint is back and the cooldown over, keys are served again.
  served = () => Response.json(jwksOf(a));
  now += 30_000;
  await expect(keys.lookup(header(a), NO_TOKEN)).resolves.toBeDefined();
});

it('gives up on a slow endpoint after the timeout', async () => {
  // The stub honours the abort signal as fetch does.
  fetchStub.mockImplementation(
    (_url, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      }),
  );
  const keys = source({ timeoutMs: 100 });
  const started = performance.now();

  await expect(keys.lookup(header(a), NO_TOKEN)).rejects.toThrow(/did not answer within 100 ms/);
  expect(performance.now() - started).toBeLessThan(1_000);
});

it('keeps a fresh cache when a rotation refetch fails: known kids still verify, unknown ones are 500s', async () => {
  const keys = source();
  await keys.lookup(header(a), NO_TOKEN);
  served = () => new Response('down', { status: 500 });
  now += 30_000;

  await expect(keys.lookup(header(b), NO_TOKEN)).rejects.toBeInstanceOf(KeysUnavailableError);
  await expect(keys.lookup(header(a), NO_TOKEN)).resolves.toBeDefined();
  // Within the cooldown after the failure, the unknown kid is simply unknown (no fetch).
  await expect(keys.lookup(header(b), NO_TOKEN)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  expect(fetchStub).toHaveBeenCalledTimes(2);
});

/**
 * Why the remote source is ours and not jose's `createRemoteJWKSet` (jose 6): each case runs the
 * same broken endpoint under both, with the same stub behind jose's `customFetch`. jose counts its
 * cooldown from the last successful fetch only, so while the endpoint fails, every token costs a
 * fetch (and, when the endpoint hangs, a full timeout); and it reads any size of document. If one
 * of these starts failing, jose has caught up: consider replacing `RemoteKeySource` with it.
 */
describe("what jose's createRemoteJWKSet does not do", () => {
  const joseSet = (timeoutDuration = 200) =>
    createRemoteJWKSet(URL_, {
      timeoutDuration,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      [customFetch]: (url, init) => fetchStub(url, init),
    });
  const tries = async (lookup: () => Promise<unknown>, times: number) => {
    for (let i = 0; i < times; i++) await lookup().catch(() => undefined);
  };

  it('a failing endpoint costs one fetch per cooldown here, one fetch per token under jose', async () => {
    served = () => new Response('down', { status: 503 });
    const ours = source();
    const jose = joseSet();

    await tries(() => ours.lookup(header(a), NO_TOKEN), 5);
    const oursFetches = fetchStub.mock.calls.length;
    await tries(() => jose(header(a), NO_TOKEN), 5);

    expect({ ours: oursFetches, jose: fetchStub.mock.calls.length - oursFetches }).toEqual({ ours: 1, jose: 5 });
  });

  it('a failed rotation refetch is not repeated for the next unknown kid here; under jose it is', async () => {
    // jose reads Date.now: both clocks are the test's.
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    try {
      const ours = source();
      const jose = joseSet();
      await ours.lookup(header(a), NO_TOKEN);
      await jose(header(a), NO_TOKEN);
      served = () => new Response('down', { status: 500 });
      now += 30_000;
      fetchStub.mockClear();

      await tries(() => ours.lookup(header(b), NO_TOKEN), 4);
      const oursFetches = fetchStub.mock.calls.length;
      await tries(() => jose(header(b), NO_TOKEN), 4);

      expect({ ours: oursFetches, jose: fetchStub.mock.calls.length - oursFetches }).toEqual({ ours: 1, jose: 4 });
    } finally {
      jest.restoreAllMocks();
    }
  });

  it('a document past maxBytes is refused here and read whole by jose', async () => {
    served = () => Response.json({ ...jwksOf(a), pad: 'x'.repeat(1_000_000) });

    await expect(source().lookup(header(a), NO_TOKEN)).rejects.toThrow(/larger than|at most/);
    await expect(joseSet()(header(a), NO_TOKEN)).resolves.toBeDefined();
  });
});
