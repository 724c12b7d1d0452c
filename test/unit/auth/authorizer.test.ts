/**
 * The authorizer handler, as API Gateway calls it: a REQUEST event in, a policy (or
 * "Unauthorized", or a failure) out. Real keys, a frozen clock. Includes the cache trap: API
 * Gateway reuses the first route's result for the same token on the next route.
 */
import { jest } from '@jest/globals';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { KeysUnavailableError } from '../../../functions/auth/errors.js';
import { StaticKeySource, type KeySource } from '../../../functions/auth/jwks.js';
import { evaluatePolicy } from '../../../functions/auth/policy.js';
import { JwtVerifier } from '../../../functions/auth/verifier.js';
import { bearerToken, makeHandler, UnauthorizedError, type AuthorizerDeps } from '../../../functions/authorizer/app.js';
import { jwksOf, signToken, testKey, type TestKey } from '../../fixtures/tokens.js';

const NOW = Date.UTC(2026, 0, 1, 12);
const ISSUER = 'https://issuer.example.com/';
const AUDIENCE = 'onnx-serving';
const API = 'arn:aws:execute-api:eu-west-1:123456789012:abc123def4/prod';

let key: TestKey;
const log = jest.fn<NonNullable<AuthorizerDeps['log']>>();

beforeAll(async () => {
  key = await testKey('RS256');
});

beforeEach(() => {
  log.mockReset();
});

function handler(keys: KeySource = new StaticKeySource(jwksOf(key)), extra: Partial<AuthorizerDeps> = {}) {
  const verifier = new JwtVerifier({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'], keys, now: () => NOW });
  return makeHandler({ verifier, log, ...extra });
}

function event(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  multi?: Record<string, string[]>,
): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: `${API}/${method}${path}`,
    resource: path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: multi ?? Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: { requestId: 'req-1' } as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

const token = (claims: Record<string, unknown>) => signToken(key, { issuer: ISSUER, audience: AUDIENCE, nowSeconds: NOW / 1000, claims });
const auth = (t: string) => ({ Authorization: `Bearer ${t}` });

describe('bearerToken', () => {
  it.each<[string, Record<string, string>, Record<string, string[]> | undefined]>([
    ['no Authorization header', {}, undefined],
    ['the Basic scheme', { Authorization: 'Basic dXNlcjpwYXNz' }, undefined],
    ['a bare token', { Authorization: 'eyJ.eyJ.sig' }, undefined],
    ['two Authorization headers', { authorization: 'Bearer a.b.c' }, { authorization: ['Bearer a.b.c', 'Bearer d.e.f'] }],
  ])('refuses %s with "Unauthorized"', (_name, headers, multi) => {
    expect(() => bearerToken(event('GET', '/v1/models', headers, multi))).toThrow('Unauthorized');
  });

  it.each([['Bearer '], ['Bearer'], ['bearer   ']])('says a bare %j holds no token, rather than asking for the scheme it used', (value) => {
    let reason: string | undefined;
    try {
      bearerToken(event('GET', '/v1/models', { authorization: value }));
    } catch (error) {
      reason = (error as UnauthorizedError).reason;
    }
    expect(reason).toMatch(/^The Authorization header says "Bearer" but holds no token after it/);
  });

  it('reads the token whatever the case of the header and the scheme', () => {
    expect(bearerToken(event('GET', '/v1/models', { authorization: 'bearer a.b.c' }))).toBe('a.b.c');
  });
});

describe('the authorizer', () => {
  it('answers a valid token with its subject, its grants and the policy of every route it opens', async () => {
    const result = await handler()(
      event('POST', '/v1/models/iris/predict', auth(await token({ sub: 'alice', scope: 'predict', models: ['iris'] }))),
    );

    expect(result.principalId).toBe('alice');
    expect(result.context).toEqual({ scope: 'predict:iris' });
    expect(result.policyDocument.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Resource: expect.arrayContaining([`${API}/POST/v1/models/iris/predict`]),
    });
    expect(result).not.toHaveProperty('usageIdentifierKey');
  });

  it('throws exactly "Unauthorized" (Lambda\'s 401) with the reason, and logs the reason but never the token', async () => {
    const expired = await token({ exp: NOW / 1000 - 1 });

    const error = await handler()(event('GET', '/v1/models', auth(expired))).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as Error).message).toBe('Unauthorized');
    expect((error as UnauthorizedError).reason).toMatch(/^The token expired at 2026-01-01T11:59:59.000Z/);
    expect(log).toHaveBeenCalledWith('WARN', 'token rejected', expect.objectContaining({ reason: expect.stringContaining('expired') }));
    expect(JSON.stringify(log.mock.calls)).not.toContain(expired);
    expect(JSON.stringify(log.mock.calls)).not.toContain(expired.split('.')[2]);
  });

  it('fails with an error that is not "Unauthorized" (API Gateway\'s 500) when the keys are unavailable', async () => {
    const down: KeySource = {
      lookup: () => Promise.reject(new KeysUnavailableError('The JWKS at https://issuer.example.com/jwks answered HTTP 503.')),
    };

    const error = await handler(down)(event('GET', '/v1/models', auth(await token({})))).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KeysUnavailableError);
    expect((error as Error).message).not.toBe('Unauthorized');
    expect(log).toHaveBeenCalledWith('ERROR', 'keys unavailable', expect.anything());
  });

  it.each<[string, Record<string, unknown>, Partial<AuthorizerDeps>]>([
    ['a "scope" that is an array', { scope: ['predict'] }, {}],
    ['an "aud" array with a non-string entry', { aud: [AUDIENCE, 7] }, {}],
    ['an "exp" past any date', { exp: 1e20 }, {}],
    ['a usage key claim that is not a string', { api_key: ['key-123'] }, { usageKeyClaim: 'api_key' }],
  ])('answers "Unauthorized" on Lambda, never a policy, for %s', async (_name, claims, extra) => {
    const error = await handler(
      undefined,
      extra,
    )(event('POST', '/v1/models/iris/predict', auth(await token(claims)))).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UnauthorizedError);
    expect((error as UnauthorizedError).message).toBe('Unauthorized');
    expect((error as UnauthorizedError).reason).toMatch(/" claim.* must be/);
    expect(log).toHaveBeenCalledWith('WARN', 'token rejected', expect.objectContaining({ reason: (error as UnauthorizedError).reason }));
  });

  it('returns the usage plan key from the configured claim', async () => {
    const result = await handler(undefined, { usageKeyClaim: 'api_key' })(
      event('GET', '/v1/models', auth(await token({ api_key: 'key-123' }))),
    );
    expect(result.usageIdentifierKey).toBe('key-123');
  });
});

describe('the same token on two routes in a row (API Gateway caches the first answer)', () => {
  // Act as API Gateway: call the authorizer for the first route, keep its result, and evaluate
  // that cached policy against the second route's method ARN without calling the authorizer.
  async function twoRoutes(claims: Record<string, unknown>, first: [string, string], second: [string, string]) {
    const t = await token(claims);
    const cached = await handler()(event(first[0], first[1], auth(t)));
    const fresh = await handler()(event(second[0], second[1], auth(t)));
    return {
      first: evaluatePolicy(cached.policyDocument, `${API}/${first[0]}${first[1]}`),
      secondFromCache: evaluatePolicy(cached.policyDocument, `${API}/${second[0]}${second[1]}`),
      secondFresh: evaluatePolicy(fresh.policyDocument, `${API}/${second[0]}${second[1]}`),
    };
  }

  it.each<[string, Record<string, unknown>, [string, string], [string, string], 'Allow' | 'Deny', 'Allow' | 'Deny']>([
    [
      'predict then promote',
      { scope: 'predict' },
      ['POST', '/v1/models/iris/predict'],
      ['PUT', '/v1/models/iris/production'],
      'Allow',
      'Deny',
    ],
    [
      'promote then predict',
      { scope: 'models:promote' },
      ['PUT', '/v1/models/iris/production'],
      ['POST', '/v1/models/iris/predict'],
      'Allow',
      'Deny',
    ],
    [
      'predict then register',
      { scope: 'predict' },
      ['POST', '/v2/models/iris/infer'],
      ['POST', '/v1/models/iris/versions'],
      'Allow',
      'Deny',
    ],
    [
      'model A then model B',
      { scope: 'predict models:read', models: ['iris'] },
      ['POST', '/v1/models/iris/predict'],
      ['POST', '/v1/models/wine/predict'],
      'Allow',
      'Deny',
    ],
    [
      'model B then model A',
      { scope: 'predict', models: ['iris'] },
      ['GET', '/v2/models/wine'],
      ['GET', '/v2/models/iris'],
      'Deny',
      'Allow',
    ],
    [
      'model A metadata then model B metadata',
      { scope: 'models:read:iris' },
      ['GET', '/v1/models/iris'],
      ['GET', '/v1/models/wine/versions'],
      'Allow',
      'Deny',
    ],
    [
      'a model route then the model list',
      { scope: 'models:read', models: ['iris'] },
      ['GET', '/v1/models/iris'],
      ['GET', '/v1/models'],
      'Allow',
      'Deny',
    ],
    [
      'two allowed routes',
      { scope: 'predict models:read' },
      ['POST', '/v1/models/iris/predict'],
      ['GET', '/v1/models/wine/versions/2'],
      'Allow',
      'Allow',
    ],
  ])('%s: each gets its own right answer', async (_name, claims, first, second, firstAnswer, secondAnswer) => {
    const answers = await twoRoutes(claims, first, second);
    expect(answers).toEqual({ first: firstAnswer, secondFromCache: secondAnswer, secondFresh: secondAnswer });
  });
});
