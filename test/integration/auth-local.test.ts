/**
 * Authorization on the local stack as a user meets it: the stack's own key and JWKS, tokens it
 * mints, 401s on every protected route, the caller's identity reaching the registry, the
 * authorizer cache across routes, per-client throttling, and the insecure mode announcing itself.
 */
import { jest } from '@jest/globals';
import { SignJWT, createLocalJWKSet, importJWK, jwtVerify } from 'jose';
import {
  LOCAL_ALGORITHM,
  LOCAL_AUDIENCE,
  LOCAL_ISSUER,
  LOCAL_MAX_TOKEN_LIFETIME_SECONDS,
  generateSigningKey,
  localAuthorizerEnv,
  mintToken,
} from '../../local/auth.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';
import { adminToken, bearer, startGuardedApi, type GuardedApi } from '../fixtures/tokens.js';
import { ROUTES } from '../../functions/shared/routes.js';

describe('the local stack', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    stack = await startLocalStack({ seedSampleModel: false });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('publishes its public key, and its tokens verify against it with plain jose', async () => {
    // Prepare
    const token = await stack.auth?.mint({ scopes: ['predict'], models: ['iris'] });

    // Act
    const published = await call(stack.url, 'GET', '/.well-known/jwks.json');
    const { payload } = await jwtVerify(token as string, createLocalJWKSet(published.body as never), {
      issuer: LOCAL_ISSUER,
      audience: LOCAL_AUDIENCE,
    });

    // Assess: public keys only, no private part.
    expect(published.status).toBe(200);
    expect(published.headers.get('content-type')).toBe('application/jwk-set+json');
    expect(published.text).not.toContain('"d"');
    expect(payload).toMatchObject({ sub: 'local-dev', scope: 'predict', models: ['iris'] });
  });

  it('answers 401 with WWW-Authenticate on every protected route without a token, and serves health without one', async () => {
    const replies = await Promise.all(
      ROUTES.map(async (route) => {
        const path = route.resource.replace('{model}', 'iris').replace('{version}', '1');
        const body = route.method === 'GET' ? undefined : {};
        return { route, reply: await call(stack.url, route.method, path, body) };
      }),
    );

    for (const { route, reply } of replies) {
      if (route.public) {
        expect(reply.status).toBe(200);
      } else {
        expect({ route: `${route.method} ${route.resource}`, status: reply.status, code: errorOf(reply).code }).toEqual({
          route: `${route.method} ${route.resource}`,
          status: 401,
          code: 'UNAUTHORIZED',
        });
        expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="onnx-serving"');
        expect(errorOf(reply).message).toContain('Authorization: Bearer');
      }
    }
  });

  it("passes the token's subject to the functions: the registry records who registered", async () => {
    const token = await adminToken(stack, 'alice@example.com');
    const model = Buffer.from(await (await import('node:fs/promises')).readFile('models/iris/model.onnx')).toString('base64');

    const registered = await call(stack.url, 'POST', '/v1/models/by-alice/versions', { modelBase64: model }, bearer(token));

    expect(registered.status).toBe(201);
    expect(registered.body).toMatchObject({ registeredBy: 'alice@example.com' });
  });

  it("refuses a token signed by another stack's key", async () => {
    const other = await mintToken(await generateSigningKey(), { scopes: ['models:read'] });
    const reply = await call(stack.url, 'GET', '/v1/models', undefined, bearer(other));
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
  });
});

describe('the authorizer cache, as API Gateway keeps it', () => {
  const T0 = Date.UTC(2026, 0, 1, 12);
  let now = T0;
  let api: GuardedApi;
  let key: Awaited<ReturnType<typeof generateSigningKey>>;

  beforeAll(async () => {
    key = await generateSigningKey();
    api = await startGuardedApi({ env: localAuthorizerEnv(key), now: () => now, cacheTtlSeconds: 60 });
  });

  afterAll(async () => {
    await api?.close();
  });

  beforeEach(() => {
    now = T0;
    api.authorizer.mockClear();
    api.predict.mockClear();
    api.control.mockClear();
  });

  it('gives the same token the right answer on two routes in a row from one cached policy', async () => {
    const token = await mintToken(key, { scopes: ['predict'], models: ['iris'], now });
    const as = (method: string, path: string, body?: unknown) => call(api.url, method, path, body, bearer(token));

    const predict = await as('POST', '/v1/models/iris/predict', { features: {} });
    const promote = await as('PUT', '/v1/models/iris/production', { version: '1' });
    const otherModel = await as('POST', '/v1/models/wine/predict', { features: {} });
    const metadata = await as('GET', '/v2/models/iris');

    expect([predict.status, promote.status, otherModel.status, metadata.status]).toEqual([200, 403, 403, 200]);
    expect(api.authorizer).toHaveBeenCalledTimes(1); // the other three were answered from the cache
    expect(api.control).not.toHaveBeenCalled();
    expect(api.predict).toHaveBeenCalledTimes(2);
  });

  it("keeps a cached Allow until the TTL ends, even past the token's exp (the documented trade-off)", async () => {
    const token = await mintToken(key, { scopes: ['predict'], ttlSeconds: 10, now });
    const predict = () => call(api.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(token));

    const fresh = await predict();
    now += 30_000; // expired 20 s ago, cached 30 s ago
    const cached = await predict();
    now += 31_000; // the cache entry is 61 s old
    const reverified = await predict();

    expect([fresh.status, cached.status, reverified.status]).toEqual([200, 200, 401]);
    expect(errorOf(reverified).message).toContain('expired');
    expect(api.authorizer).toHaveBeenCalledTimes(2);
  });
});

describe('what the local authorizer accepts that modelctl could not mint', () => {
  const T0 = Date.UTC(2026, 0, 1, 12);
  let api: GuardedApi;
  let key: Awaited<ReturnType<typeof generateSigningKey>>;

  beforeAll(async () => {
    key = await generateSigningKey();
    api = await startGuardedApi({ env: localAuthorizerEnv(key), now: () => T0, cacheTtlSeconds: 0 });
  });

  afterAll(async () => {
    await api?.close();
  });

  /** A token signed with the stack's key, with any `exp` and `scope`: what a hand-made token can be. */
  async function signed(claims: { exp: number; scope: string }): Promise<string> {
    return new SignJWT({ scope: claims.scope })
      .setProtectedHeader({ alg: LOCAL_ALGORITHM, kid: key.kid, typ: 'JWT' })
      .setIssuer(LOCAL_ISSUER)
      .setAudience(LOCAL_AUDIENCE)
      .setSubject('hand-made')
      .setIssuedAt(T0 / 1000)
      .setExpirationTime(claims.exp)
      .sign(await importJWK(key.privateJwk, LOCAL_ALGORITHM));
  }

  it('refuses a token that expires more than the local maximum lifetime (7 days) from now, whatever its iat', async () => {
    // Prepare
    const now = T0 / 1000;
    const atLimit = await signed({ exp: now + LOCAL_MAX_TOKEN_LIFETIME_SECONDS, scope: 'predict' });
    const past = await signed({ exp: now + LOCAL_MAX_TOKEN_LIFETIME_SECONDS + 1, scope: 'predict' });
    const millennia = await signed({ exp: now + 1e12, scope: 'predict' });

    // Act
    const replies = await Promise.all(
      [atLimit, past, millennia].map((t) => call(api.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(t))),
    );

    // Assess
    expect(replies.map((r) => r.status)).toEqual([200, 401, 401]);
    expect(errorOf(replies[1] as JsonReply).message).toBe(
      `The token expires at ${new Date((now + LOCAL_MAX_TOKEN_LIFETIME_SECONDS + 1) * 1000).toISOString()}, more than ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} s from now; this API accepts tokens that expire within ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} s. Get one with a shorter lifetime.`,
    );
  });

  it('reads a tab, a newline or a no-break space in "scope" as part of a scope, never as a separator (RFC 6749 §3.3)', async () => {
    // Prepare
    const exp = T0 / 1000 + 600;
    const tokens = await Promise.all(
      ['models:read\tpredict', 'models:read\npredict', 'models:read\u00a0predict'].map((scope) => signed({ exp, scope })),
    );
    const spaced = await signed({ exp, scope: 'models:read predict' });

    // Act
    const replies = await Promise.all(
      [...tokens, spaced].map((t) => call(api.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(t))),
    );

    // Assess
    expect(replies.map((r) => r.status)).toEqual([403, 403, 403, 200]);
    expect(errorOf(replies[0] as JsonReply).code).toBe('FORBIDDEN');
  });

  it('names the scopes a token carried that this API does not know, rather than saying it has none', async () => {
    // Prepare
    const exp = T0 / 1000 + 600;
    const unknown = await signed({ exp, scope: 'admin root' });
    const empty = await signed({ exp, scope: '' });

    // Act
    const [refused, none] = await Promise.all(
      [unknown, empty].map((t) => call(api.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(t))),
    );

    // Assess
    expect([refused?.status, none?.status]).toEqual([403, 403]);
    expect(errorOf(refused as JsonReply).message).toMatch(
      /^This token \(scopes: none; it carries only scopes this API does not know: admin, root\) does not allow POST \/v1\/models\/iris\/predict;/,
    );
    expect(errorOf(none as JsonReply).message).toMatch(/^This token \(scopes: none\) does not allow /);
  });
});

describe('per-client throttling', () => {
  const T0 = Date.UTC(2026, 0, 1, 12);
  let now = T0;
  let api: GuardedApi;
  let key: Awaited<ReturnType<typeof generateSigningKey>>;

  beforeAll(async () => {
    key = await generateSigningKey();
    api = await startGuardedApi({ env: localAuthorizerEnv(key), now: () => now, rateLimit: { ratePerSecond: 1, burst: 3 } });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('answers 429 RATE_LIMITED with Retry-After once a client spends its burst, per token subject', async () => {
    const alice = await mintToken(key, { subject: 'alice', scopes: ['predict'], now });
    const bob = await mintToken(key, { subject: 'bob', scopes: ['predict'], now });
    const predict = (token: string) => call(api.url, 'GET', '/v2/models/iris', undefined, bearer(token));

    const burst = [await predict(alice), await predict(alice), await predict(alice)];
    const limited = await predict(alice);
    const otherClient = await predict(bob);
    now += 1_000;
    const refilled = await predict(alice);

    expect(burst.map((r) => r.status)).toEqual([200, 200, 200]);
    expect({ status: limited.status, code: errorOf(limited).code, retryAfter: limited.headers.get('retry-after') }).toEqual({
      status: 429,
      code: 'RATE_LIMITED',
      retryAfter: '1',
    });
    expect(errorOf(limited).message).toContain('1 per second with bursts of 3');
    expect([otherClient.status, refilled.status]).toEqual([200, 200]);
    expect(api.predict).toHaveBeenCalledTimes(5);
  });

  it('throttles the public health routes by source address', async () => {
    now += 10_000;
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await call(api.url, 'GET', '/v2/health/live'));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 429]);
  });
});

describe('the insecure mode', () => {
  it('says so on stderr at start, and lets every caller through', async () => {
    const writes: string[] = [];
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    let stack: LocalStack | undefined;
    try {
      stack = await startLocalStack({ seedSampleModel: false, auth: 'insecure' });
    } finally {
      stderr.mockRestore();
    }
    try {
      const reply = await call(stack.url, 'GET', '/v1/models');

      expect(writes.join('')).toContain('WARNING: authorization is OFF');
      expect(stack.auth).toBeUndefined();
      expect(reply.status).toBe(200);
    } finally {
      await stack.stop();
    }
  }, 60_000);
});
