/**
 * The attack catalogue, over real HTTP: the local server with the real authorizer (the Lambda
 * code, configured through its environment) in front of spy functions, a JWKS server on
 * 127.0.0.1 that counts its requests, real keys, and a frozen clock. Every refused request is
 * checked for its status, its error code, and that no function was reached.
 */
import { createPublicKey } from 'node:crypto';
import { CompactSign, base64url } from 'jose';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';
import {
  assembleToken,
  bearer,
  hs256,
  jwksOf,
  signToken,
  startGuardedApi,
  startJwksServer,
  testKey,
  type GuardedApi,
  type JwksServer,
  type SignOptions,
  type TestKey,
} from '../fixtures/tokens.js';

const NOW = Date.UTC(2026, 0, 1, 12); // frozen: 2026-01-01T12:00:00Z
const NOW_S = NOW / 1000;
const ISSUER = 'https://issuer.example.com/';
const AUDIENCE = 'onnx-serving';

let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let attacker: TestKey;
let jwks: JwksServer;
let elsewhere: JwksServer;
let api: GuardedApi;

beforeAll(async () => {
  [rsa, ec, ed, attacker] = await Promise.all([
    testKey('RS256', 'rsa-1'),
    testKey('ES256', 'ec-1'),
    testKey('EdDSA', 'ed-1'),
    testKey('RS256', 'rsa-1'),
  ]);
  jwks = await startJwksServer({ keys: jwksOf(rsa, ec, ed) });
  elsewhere = await startJwksServer({ keys: jwksOf(attacker) });
  api = await startGuardedApi({ env: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWKS_URL: jwks.url }, now: () => NOW });
});

afterAll(async () => {
  await api?.close();
  await jwks?.close();
  await elsewhere?.close();
});

beforeEach(() => {
  api.predict.mockClear();
  api.control.mockClear();
  api.fetch.mockClear();
});

const sign = (key: TestKey, options: Partial<SignOptions> = {}) =>
  signToken(key, { issuer: ISSUER, audience: AUDIENCE, nowSeconds: NOW_S, ...options });
const validClaims = () => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'mallory',
  iat: NOW_S,
  exp: NOW_S + 300,
  scope: 'predict models:read models:write models:promote',
});
const predict = (token: string) => call(api.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(token));

function expectRefused(reply: JsonReply, status: 401 | 403, code: 'UNAUTHORIZED' | 'FORBIDDEN'): void {
  expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status, code });
  expect(errorOf(reply).message.length).toBeGreaterThan(20);
  if (status === 401) expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer realm="onnx-serving"/);
  expect(api.reached()).toBe(0);
}

it('lets a valid token through to the function, with the subject as principalId', async () => {
  // Prepare / Act
  const reply = await predict(await sign(rsa, { claims: { sub: 'alice', scope: 'predict' } }));
  const viaEc = await predict(await sign(ec));
  const viaEd = await predict(await sign(ed));

  // Assess: the control case; every other test here is refused.
  expect([reply.status, viaEc.status, viaEd.status]).toEqual([200, 200, 200]);
  expect(reply.body).toMatchObject({ reached: true, authorizer: { principalId: 'alice', scope: 'predict' } });
  expect(api.reached()).toBe(3);
});

describe('forged and broken signatures', () => {
  it('refuses alg "none"', async () => {
    expectRefused(await predict(assembleToken({ alg: 'none', typ: 'JWT' }, validClaims())), 401, 'UNAUTHORIZED');
    expectRefused(await predict(assembleToken({ alg: 'none', kid: 'rsa-1' }, validClaims(), 'c2ln')), 401, 'UNAUTHORIZED');
  });

  it('refuses HS256 signed with the RSA public key as the secret (PEM and JWK forms)', async () => {
    const pem = createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const unsigned = assembleToken({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' }, validClaims()).slice(0, -1);
    for (const secret of [pem, pem.trim(), JSON.stringify(rsa.publicJwk), rsa.publicJwk.n as string]) {
      const reply = await predict(`${unsigned}.${await hs256(unsigned, secret)}`);
      expectRefused(reply, 401, 'UNAUTHORIZED');
      expect(errorOf(reply).message).toContain('"HS256"');
    }
  });

  it("refuses a key-type mismatch (an alg that does not fit the kid's key)", async () => {
    // Signed by the EC key but naming the RSA key, and the other way round.
    expectRefused(await predict(await sign(ec, { header: { kid: 'rsa-1' } })), 401, 'UNAUTHORIZED');
    expectRefused(await predict(await sign(rsa, { header: { kid: 'ec-1' } })), 401, 'UNAUTHORIZED');
    // EdDSA signature presented as ES256 with the EC key's kid.
    const edToken = await sign(ed);
    const [, payload, signature] = edToken.split('.');
    expectRefused(
      await predict(`${base64url.encode(JSON.stringify({ alg: 'ES256', kid: 'ec-1' }))}.${payload}.${signature}`),
      401,
      'UNAUTHORIZED',
    );
  });

  it('refuses a truncated or altered signature, and an altered payload', async () => {
    const token = await sign(rsa);
    const [header, payload, signature = ''] = token.split('.');
    const flipped = `${signature.slice(0, 20)}${signature[20] === 'A' ? 'B' : 'A'}${signature.slice(21)}`;
    const escalated = base64url.encode(JSON.stringify({ ...validClaims(), sub: 'root', scope: 'predict models:promote' }));
    for (const forged of [
      token.slice(0, -10),
      `${header}.${payload}.${flipped}`,
      `${header}.${payload}.`,
      `${header}.${escalated}.${signature}`,
    ]) {
      expectRefused(await predict(forged), 401, 'UNAUTHORIZED');
    }
  });

  it("refuses an attacker's own key under our kid", async () => {
    expectRefused(await predict(await sign(attacker)), 401, 'UNAUTHORIZED');
  });
});

describe('malformed tokens', () => {
  it.each<[string, string]>([
    ['not a JWT', 'not-a-jwt'],
    ['two parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0'],
    ['four parts', 'a.b.c.d'],
    ['only dots', '..'],
    ['a header that is not JSON', `${base64url.encode('garbage')}.${base64url.encode('{}')}.c2ln`],
    ['a header that is a JSON array', `${base64url.encode('[]')}.${base64url.encode('{}')}.c2ln`],
    ['characters outside base64url', 'eyJhbGciOiJSUzI1NiJ9.eyJ+.c2ln'],
    ['a JWE (five parts)', 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'],
  ])('refuses %s', async (_name, token) => {
    expectRefused(await predict(token), 401, 'UNAUTHORIZED');
  });

  it('refuses a 10 KB token before any key lookup', async () => {
    const big = await sign(rsa, { claims: { pad: 'x'.repeat(10 * 1024) } });
    const reply = await predict(big);
    expectRefused(reply, 401, 'UNAUTHORIZED');
    expect(errorOf(reply).message).toMatch(/longer than 8192 bytes/);
    expect(api.fetch).not.toHaveBeenCalled();
  });

  it.each([['[]'], ['null'], ['0'], ['"a string"'], ['true']])('refuses a correctly signed payload %s', async (payload) => {
    const token = await new CompactSign(new TextEncoder().encode(payload))
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .sign(rsa.privateKey);
    const reply = await predict(token);
    expectRefused(reply, 401, 'UNAUTHORIZED');
    expect(errorOf(reply).message).toContain('top-level JSON object');
  });
});

describe('kid and key-location headers', () => {
  it.each<[string, string]>([
    ['unknown', 'no-such-key'],
    ['path-like', '../../../../etc/passwd'],
    ['a URL', 'https://attacker.example/key.json'],
  ])('refuses a kid that is %s, without fetching anything within the cooldown', async (_name, kid) => {
    const before = jwks.hits();
    expectRefused(await predict(await sign(rsa, { header: { kid } })), 401, 'UNAUTHORIZED');
    expect(jwks.hits()).toBe(before);
    expect(api.fetch).not.toHaveBeenCalled();
  });

  it('refuses an 8 KB kid, and any kid over 256 characters, before any key lookup', async () => {
    const huge = await predict(await sign(rsa, { header: { kid: 'k'.repeat(8 * 1024) } }));
    const long = await predict(await sign(rsa, { header: { kid: 'k'.repeat(257) } }));

    expectRefused(huge, 401, 'UNAUTHORIZED');
    expectRefused(long, 401, 'UNAUTHORIZED');
    expect(errorOf(huge).message).toMatch(/longer than 8192 bytes/);
    expect(errorOf(long).message).toContain('"kid" must be a string of 1 to 256 characters');
    expect(api.fetch).not.toHaveBeenCalled();
  });

  it.each<[string, () => Record<string, unknown>]>([
    ['jku', () => ({ jku: elsewhere.url })],
    ['x5u', () => ({ x5u: elsewhere.url })],
    ['jwk', () => ({ jwk: attacker.publicJwk })],
    ['x5c', () => ({ x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] })],
  ])('refuses a "%s" header, signed by us or by the key it points to, with zero outbound fetches', async (name, header) => {
    const hitsBefore = { jwks: jwks.hits(), elsewhere: elsewhere.hits() };
    const ours = await sign(rsa, { header: header() });
    const theirs = await sign(attacker, { header: { ...header(), kid: 'attacker' } });

    for (const token of [ours, theirs]) {
      const reply = await predict(token);
      expectRefused(reply, 401, 'UNAUTHORIZED');
      expect(errorOf(reply).message).toContain(`"${name}"`);
    }
    expect(api.fetch).not.toHaveBeenCalled();
    expect({ jwks: jwks.hits(), elsewhere: elsewhere.hits() }).toEqual(hitsBefore);
  });
});

describe('claims', () => {
  it.each<[string, Partial<SignOptions>, RegExp]>([
    ['expired', { claims: { exp: NOW_S - 1 } }, /expired at 2026-01-01T11:59:59.000Z/],
    ['exp equal to now', { claims: { exp: NOW_S } }, /expired at 2026-01-01T12:00:00.000Z/],
    ['nbf in the future', { claims: { nbf: NOW_S + 60 } }, /not valid before 2026-01-01T12:01:00.000Z/],
    ['no exp', { drop: ['exp'] }, /no "exp" claim/],
    ['exp that is not a number', { claims: { exp: `${NOW_S + 300}` as unknown as number } }, /malformed|"exp"/],
    ['the wrong iss', { claims: { iss: 'https://evil.example.com/' } }, /issuer \(iss\)/],
    ['no iss', { drop: ['iss'] }, /no "iss" claim/],
    ['the wrong aud', { claims: { aud: 'another-api' } }, /audience \(aud\)/],
    ['no aud', { drop: ['aud'] }, /no "aud" claim/],
    ['no sub', { drop: ['sub'] }, /no "sub" claim/],
    ['a sub that is not a string', { claims: { sub: 42 as unknown as string } }, /"sub"/],
    [
      'an unknown crit header',
      { header: { crit: ['x-must-understand'], 'x-must-understand': true } },
      /"x-must-understand" is not recognized/,
    ],
    ['a "models" claim that is not a list', { claims: { models: 'iris' } }, /"models" claim/],
  ])('refuses a token with %s', async (_name, options, message) => {
    const reply = await predict(await sign(rsa, options));
    expectRefused(reply, 401, 'UNAUTHORIZED');
    expect(errorOf(reply).message).toMatch(message);
  });

  it('accepts a token that expires one second from now (the boundary is exact)', async () => {
    expect((await predict(await sign(rsa, { claims: { exp: NOW_S + 1 } }))).status).toBe(200);
  });
});

describe('permissions', () => {
  it('refuses scope escalation: a predict token on promote and register is 403', async () => {
    const token = await sign(rsa, { claims: { scope: 'predict' } });

    const promote = await call(api.url, 'PUT', '/v1/models/iris/production', { version: '1' }, bearer(token));
    const register = await call(api.url, 'POST', '/v1/models/iris/versions', { modelBase64: 'AAAA' }, bearer(token));
    const list = await call(api.url, 'GET', '/v1/models', undefined, bearer(token));

    for (const reply of [promote, register, list]) expectRefused(reply, 403, 'FORBIDDEN');
    expect(errorOf(promote).message).toContain('"models:promote" or "models:promote:iris"');
    expect(errorOf(register).message).toContain('"models:write"');
  });

  it("keeps a token for model A off model B's predict, metadata and promote routes (403)", async () => {
    const token = await sign(rsa, { claims: { scope: 'predict models:read models:write models:promote', models: ['iris'] } });
    const asA = (method: string, path: string, body?: unknown) => call(api.url, method, path, body, bearer(token));

    const refused = [
      await asA('POST', '/v1/models/wine/predict', { features: {} }),
      await asA('POST', '/v2/models/wine/infer', { inputs: [] }),
      await asA('GET', '/v2/models/wine'),
      await asA('GET', '/v2/models/wine/ready'),
      await asA('GET', '/v1/models/wine'),
      await asA('GET', '/v1/models/wine/versions/1'),
      await asA('POST', '/v1/models/wine/versions', { modelBase64: 'AAAA' }),
      await asA('PUT', '/v1/models/wine/production', { version: '1' }),
      // The same model name, percent-encoded, is another path and gets no further.
      await asA('PUT', '/v1/models/%69ris2/production', { version: '1' }),
    ];
    for (const reply of refused) expectRefused(reply, 403, 'FORBIDDEN');

    // The control case: model A's own routes pass.
    expect((await asA('PUT', '/v1/models/iris/production', { version: '1' })).status).toBe(200);
    expect((await asA('GET', '/v2/models/iris')).status).toBe(200);
  });

  it('does not ask for a token on the public health routes', async () => {
    expect((await call(api.url, 'GET', '/v2/health/live')).status).toBe(200);
    expect(api.authorizer).not.toHaveBeenCalledWith(expect.objectContaining({ path: '/v2/health/live' }));
  });
});

describe('HS256 when a secret is configured', () => {
  const secret = new TextEncoder().encode('a-shared-secret-of-at-least-thirty-two-bytes!');
  let hsApi: GuardedApi;

  beforeAll(async () => {
    hsApi = await startGuardedApi({
      env: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWKS_URL: jwks.url, JWT_HS256_SECRET_ARN: 'jwt-secret' },
      now: () => NOW,
      hs256Secret: secret,
    });
  });

  afterAll(async () => {
    await hsApi?.close();
  });

  it('accepts the secret and refuses the RSA public key used as the secret', async () => {
    const unsigned = assembleToken({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' }, validClaims()).slice(0, -1);
    const pem = createPublicKey({ key: rsa.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;

    const good = await call(
      hsApi.url,
      'POST',
      '/v1/models/iris/predict',
      { features: {} },
      bearer(`${unsigned}.${await hs256(unsigned, secret)}`),
    );
    const forged = await call(
      hsApi.url,
      'POST',
      '/v1/models/iris/predict',
      { features: {} },
      bearer(`${unsigned}.${await hs256(unsigned, pem)}`),
    );

    expect(good.status).toBe(200);
    expect(hsApi.reached()).toBe(1);
    expect({ status: forged.status, code: errorOf(forged).code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(hsApi.reached()).toBe(1);
  });
});
