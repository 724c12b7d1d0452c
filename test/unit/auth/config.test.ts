/**
 * The authorizer's environment: defaults, and a cold start that fails with the variable's name
 * for every configuration that would weaken verification. HS256 through Secrets Manager (the
 * Parameters and Secrets extension) with a stub fetch.
 */
import { jest } from '@jest/globals';
import { KeysUnavailableError } from '../../../functions/auth/errors.js';
import { makeHandler, UnauthorizedError } from '../../../functions/authorizer/app.js';
import { buildAuthorizerDeps } from '../../../functions/authorizer/composition.js';
import { loadAuthorizerConfig } from '../../../functions/authorizer/config.js';
import { assembleToken, hs256, jwksOf, testKey } from '../../fixtures/tokens.js';

const BASE = { JWT_ISSUER: 'https://issuer.example.com/', JWT_AUDIENCE: 'onnx-serving' };

describe('loadAuthorizerConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadAuthorizerConfig({ ...BASE, JWKS_URL: 'https://issuer.example.com/jwks.json' });
    expect(config).toMatchObject({
      JWT_ISSUER: ['https://issuer.example.com/'],
      JWT_AUDIENCE: ['onnx-serving'],
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      JWT_CLOCK_TOLERANCE_SECONDS: 0,
      JWT_MAX_TOKEN_BYTES: 8192,
      JWKS_TIMEOUT_MS: 1500,
      JWKS_COOLDOWN_SECONDS: 30,
      JWKS_CACHE_MAX_AGE_SECONDS: 600,
    });
    expect(config.JWKS_URL?.href).toBe('https://issuer.example.com/jwks.json');
  });

  it('reads lists and public keys', async () => {
    const key = await testKey('ES256');
    const config = loadAuthorizerConfig({
      JWT_ISSUER: 'a, b',
      JWT_AUDIENCE: 'x',
      JWT_PUBLIC_KEYS: JSON.stringify(jwksOf(key)),
      JWT_ALGORITHMS: 'ES256,EdDSA',
    });
    expect(config).toMatchObject({ JWT_ISSUER: ['a', 'b'], algorithms: ['ES256', 'EdDSA'] });
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['no issuer', { JWT_AUDIENCE: 'x', JWKS_URL: 'https://i/jwks' }, /JWT_ISSUER/],
    ['no audience', { JWT_ISSUER: 'x', JWKS_URL: 'https://i/jwks' }, /JWT_AUDIENCE/],
    ['no keys at all', BASE, /JWKS_URL: no keys configured/],
    ['a URL and public keys', { ...BASE, JWKS_URL: 'https://i/jwks', JWT_PUBLIC_KEYS: '{"keys":[{"kty":"EC"}]}' }, /not both/],
    ['a plain-http JWKS URL off localhost', { ...BASE, JWKS_URL: 'http://issuer.example.com/jwks' }, /JWKS_URL: must be an https URL/],
    [
      'HS256 in the algorithm list',
      { ...BASE, JWKS_URL: 'https://i/jwks', JWT_ALGORITHMS: 'RS256,HS256' },
      /HS256 is turned on by JWT_HS256_SECRET_ARN/,
    ],
    ['alg none', { ...BASE, JWKS_URL: 'https://i/jwks', JWT_ALGORITHMS: 'none' }, /"none" is not accepted/],
    ['a private key as a public key', { ...BASE, JWT_PUBLIC_KEYS: '{"keys":[{"kty":"EC","d":"secret"}]}' }, /private key/],
    ['public keys that are not JSON', { ...BASE, JWT_PUBLIC_KEYS: 'MIIB...' }, /JWT_PUBLIC_KEYS: must be a JSON Web Key Set/],
    ['a huge clock tolerance', { ...BASE, JWKS_URL: 'https://i/jwks', JWT_CLOCK_TOLERANCE_SECONDS: '3600' }, /JWT_CLOCK_TOLERANCE_SECONDS/],
    [
      'a token lifetime of 0',
      { ...BASE, JWKS_URL: 'https://i/jwks', JWT_MAX_TOKEN_LIFETIME_SECONDS: '0' },
      /JWT_MAX_TOKEN_LIFETIME_SECONDS/,
    ],
    [
      'a token lifetime that is not a number',
      { ...BASE, JWKS_URL: 'https://i/jwks', JWT_MAX_TOKEN_LIFETIME_SECONDS: 'week' },
      /JWT_MAX_TOKEN_LIFETIME_SECONDS/,
    ],
  ])('fails the cold start on %s, naming the variable', (_name, env, message) => {
    expect(() => loadAuthorizerConfig(env)).toThrow(message);
  });

  it('allows HTTP only for a JWKS on localhost (the local stack and tests)', () => {
    expect(loadAuthorizerConfig({ ...BASE, JWKS_URL: 'http://127.0.0.1:8080/jwks.json' }).JWKS_URL?.port).toBe('8080');
  });
});

describe('HS256 from Secrets Manager', () => {
  const NOW = Date.UTC(2026, 0, 1);
  const secret = 'a-shared-secret-of-at-least-thirty-two-bytes!';
  const event = (token: string) => ({
    type: 'REQUEST' as const,
    methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/POST/v1/models/iris/predict',
    resource: '/v1/models/iris/predict',
    path: '/v1/models/iris/predict',
    httpMethod: 'POST',
    headers: { Authorization: `Bearer ${token}` },
    multiValueHeaders: null,
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {} as never,
  });
  const hsToken = async (key: string) => {
    const unsigned = assembleToken(
      { alg: 'HS256', typ: 'JWT' },
      {
        iss: BASE.JWT_ISSUER,
        aud: BASE.JWT_AUDIENCE,
        sub: 'svc',
        exp: NOW / 1000 + 60,
        scope: 'predict',
      },
    ).slice(0, -1);
    return `${unsigned}.${await hs256(unsigned, key)}`;
  };
  const extension = jest.fn<typeof fetch>();

  function handlerWith(secretString: string) {
    extension.mockReset();
    extension.mockImplementation(async () => Response.json({ SecretString: secretString }));
    const config = loadAuthorizerConfig({
      ...BASE,
      JWT_HS256_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:jwt',
      AWS_SESSION_TOKEN: 'session',
    });
    return makeHandler(buildAuthorizerDeps(config, { fetch: extension, now: () => NOW, log: () => undefined }));
  }

  it('verifies HS256 tokens with the secret read once through the extension', async () => {
    const handler = handlerWith(secret);

    const first = await handler(event(await hsToken(secret)));
    await handler(event(await hsToken(secret)));

    expect(first.principalId).toBe('svc');
    expect(extension).toHaveBeenCalledTimes(1);
    const [url, init] = extension.mock.calls[0] ?? [];
    expect(String(url)).toBe(
      'http://localhost:2773/secretsmanager/get?secretId=arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A123456789012%3Asecret%3Ajwt',
    );
    expect(init?.headers).toEqual({ 'X-Aws-Parameters-Secrets-Token': 'session' });
  });

  it('refuses an HS256 token signed with another secret', async () => {
    const handler = handlerWith(secret);
    await expect(handler(event(await hsToken(`${secret}-not`)))).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it('fails (500, not 401, never Allow) when the stored secret is too short to be safe', async () => {
    const handler = handlerWith('short');
    await expect(handler(event(await hsToken('short')))).rejects.toBeInstanceOf(KeysUnavailableError);
  });
});
