/**
 * The JWKS URL over real HTTP: key rotation, a flood of unknown kids, and a JWKS endpoint that
 * is down or slow. A JWKS server on 127.0.0.1 counts its requests; the clock is frozen and moved
 * by hand; each refused request is checked for its status and that no function was reached.
 */
import { call, errorOf } from '../fixtures/http.js';
import {
  bearer,
  jwksOf,
  signToken,
  startGuardedApi,
  startJwksServer,
  testKey,
  type GuardedApi,
  type JwksServer,
  type TestKey,
} from '../fixtures/tokens.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const ISSUER = 'https://issuer.example.com/';
const AUDIENCE = 'onnx-serving';
const COOLDOWN_S = 30;

let now: number;
let oldKey: TestKey;
let newKey: TestKey;
let jwks: JwksServer;
let api: GuardedApi;

beforeAll(async () => {
  [oldKey, newKey] = await Promise.all([testKey('ES256', 'key-2025'), testKey('ES256', 'key-2026')]);
});

beforeEach(async () => {
  now = T0;
  jwks = await startJwksServer({ keys: jwksOf(oldKey) });
  api = await startGuardedApi({
    env: {
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      JWKS_URL: jwks.url,
      JWKS_COOLDOWN_SECONDS: String(COOLDOWN_S),
      JWKS_TIMEOUT_MS: '300',
    },
    now: () => now,
  });
});

afterEach(async () => {
  await api.close();
  await jwks.close();
});

const token = (key: TestKey, kid = key.kid) =>
  signToken(key, { issuer: ISSUER, audience: AUDIENCE, nowSeconds: Math.floor(now / 1000), header: { kid } });
const predict = async (key: TestKey, kid?: string) =>
  call(api.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(await token(key, kid)));

it('accepts a new kid after exactly one JWKS refetch, once the cooldown allows it', async () => {
  // Prepare: the authorizer has fetched the old key set.
  expect((await predict(oldKey)).status).toBe(200);
  expect(jwks.hits()).toBe(1);

  // The issuer rotates: it publishes the new key and signs with it.
  jwks.serve({ keys: jwksOf(oldKey, newKey) });
  const tooSoon = await predict(newKey);
  now += COOLDOWN_S * 1000;
  const rotated = await predict(newKey);
  const again = await predict(newKey);
  const old = await predict(oldKey);

  // Assess: refused (no fetch) inside the cooldown, then one refetch and accepted from then on.
  expect({ status: tooSoon.status, code: errorOf(tooSoon).code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
  expect([rotated.status, again.status, old.status]).toEqual([200, 200, 200]);
  expect(jwks.hits()).toBe(2);
  expect(api.reached()).toBe(4);
});

it('answers a flood of unknown kids with 401s and at most one fetch per cooldown', async () => {
  expect((await predict(oldKey)).status).toBe(200);
  const flood = () => Promise.all(Array.from({ length: 60 }, (_, i) => predict(oldKey, `made-up-${i}-${now}`)));

  const inCooldown = await flood();
  now += COOLDOWN_S * 1000;
  const afterCooldown = await flood();
  now += (COOLDOWN_S * 1000) / 2;
  const halfway = await flood();

  const statuses = new Set([...inCooldown, ...afterCooldown, ...halfway].map((r) => r.status));
  expect(statuses).toEqual(new Set([401]));
  expect(jwks.hits()).toBe(2); // the warm-up, then one for the whole second flood
  expect(api.reached()).toBe(1);
});

it('gives a bounded 500 (never an Allow) while the JWKS endpoint is down, and recovers after it', async () => {
  jwks.serve({ status: 503 });

  const first = await predict(oldKey);
  const second = await predict(oldKey);
  jwks.serve({ keys: jwksOf(oldKey) });
  const stillCooling = await predict(oldKey);
  now += COOLDOWN_S * 1000;
  const recovered = await predict(oldKey);

  for (const reply of [first, second, stillCooling]) {
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 500, code: 'AUTHORIZER_FAILURE' });
    // The upstream status stays in the log. (The request id is left out: random hex, it holds "503" now and then.)
    const { requestId: _random, ...shown } = reply.body as { requestId?: string };
    expect(JSON.stringify(shown)).not.toContain('503');
  }
  expect(recovered.status).toBe(200);
  expect(jwks.hits()).toBe(2);
  expect(api.reached()).toBe(1);
  expect(api.warnings.join('')).toContain('answered HTTP 503');
});

it('gives up on a JWKS endpoint that does not answer within the timeout: 500, quickly, never an Allow', async () => {
  jwks.serve({ hang: true });
  const started = performance.now();

  const slow = await predict(oldKey);
  const elapsed = performance.now() - started;
  const fast = await predict(oldKey); // inside the cooldown: no second wait
  const fastElapsed = performance.now() - started - elapsed;

  expect([slow.status, fast.status]).toEqual([500, 500]);
  expect(elapsed).toBeGreaterThanOrEqual(250);
  expect(elapsed).toBeLessThan(2_000);
  expect(fastElapsed).toBeLessThan(250);
  expect(jwks.hits()).toBe(1);
  expect(api.reached()).toBe(0);
});

it('gives a 500 for a JWKS document that is not a key set', async () => {
  jwks.serve({ raw: '{"keys": "all of them"}' });
  const reply = await predict(oldKey);
  expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 500, code: 'AUTHORIZER_FAILURE' });
  expect(api.reached()).toBe(0);
});
