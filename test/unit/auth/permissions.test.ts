/**
 * Scopes → grants → routes: the pure permission logic, no keys involved.
 */
import { TokenRejectedError } from '../../../functions/auth/errors.js';
import {
  MAX_MODELS_PER_TOKEN,
  ROUTE_SCOPES,
  allows,
  describeGrants,
  describeNeed,
  grantsOf,
  scopeOf,
} from '../../../functions/auth/permissions.js';
import { ROUTES, routeKey, type Route } from '../../../functions/shared/routes.js';

function route(key: string): Route {
  const found = ROUTES.find((r) => routeKey(r.method, r.resource) === key);
  if (!found) throw new Error(`no route ${key}`);
  return found;
}

const predict = route('POST /v1/models/{model}/predict');
const infer = route('POST /v2/models/{model}/infer');
const metadata = route('GET /v2/models/{model}');
const list = route('GET /v1/models');
const describe_ = route('GET /v1/models/{model}');
const register = route('POST /v1/models/{model}/versions');
const promote = route('PUT /v1/models/{model}/production');
const health = route('GET /v2/health/live');

describe('the route table', () => {
  it('gives every non-public route a scope, and no public route one', () => {
    // Prepare / Act
    const missing = ROUTES.filter((r) => !r.public && scopeOf(r) === undefined).map((r) => routeKey(r.method, r.resource));
    const stale = Object.keys(ROUTE_SCOPES).filter((key) => !ROUTES.some((r) => routeKey(r.method, r.resource) === key));

    // Assess: a new route must be given a scope here before any token can call it.
    expect(missing).toEqual([]);
    expect(stale).toEqual([]);
    const publicRoutes = ROUTES.filter((r) => r.public);
    expect(publicRoutes.map((r) => routeKey(r.method, r.resource))).toEqual([
      'GET /v2/health/live',
      'GET /v2/health/ready',
      'GET /v2',
      'GET /openapi.json',
    ]);
    expect(publicRoutes.filter((r) => scopeOf(r) !== undefined)).toEqual([]);
  });

  it('maps the routes to the scopes of the issue', () => {
    expect([predict, infer, metadata, route('GET /v2/models/{model}/ready')].map(scopeOf)).toEqual([
      'predict',
      'predict',
      'predict',
      'predict',
    ]);
    const versioned = [
      'POST /v2/models/{model}/versions/{version}/infer',
      'GET /v2/models/{model}/versions/{version}',
      'GET /v2/models/{model}/versions/{version}/ready',
    ];
    expect(versioned.map((key) => scopeOf(route(key)))).toEqual(['predict', 'predict', 'predict']);
    expect(versioned.map((key) => allows(grantsOf({ scope: 'predict:iris' }), route(key), { model: 'iris', version: '3' }))).toEqual([
      true,
      true,
      true,
    ]);
    expect(
      versioned.map((key) => allows(grantsOf({ scope: 'predict:iris models:read' }), route(key), { model: 'wine', version: '3' })),
    ).toEqual([false, false, false]);
    expect(
      [list, describe_, route('GET /v1/models/{model}/versions'), route('GET /v1/models/{model}/versions/{version}')].map(scopeOf),
    ).toEqual(['models:read', 'models:read', 'models:read', 'models:read']);
    expect(scopeOf(register)).toBe('models:write');
    expect(scopeOf(promote)).toBe('models:promote');
  });

  it('opens the stats and the prediction log with models:read, for the model named or every model', () => {
    // Prepare
    const stats = route('GET /v1/models/{model}/stats');
    const predictions = route('GET /v1/models/{model}/predictions');
    const limited = grantsOf({ scope: 'models:read:iris' });

    // Act / Assess
    expect([stats, predictions].map(scopeOf)).toEqual(['models:read', 'models:read']);
    expect([stats, predictions].map((r) => allows(limited, r, { model: 'iris' }))).toEqual([true, true]);
    expect([stats, predictions].map((r) => allows(limited, r, { model: 'wine' }))).toEqual([false, false]);
    expect(allows(grantsOf({ scope: 'predict models:promote' }), predictions, { model: 'iris' })).toBe(false);
  });

  it('needs models:read on every GET route under /v1/models/{model}/: an unlimited models:read policy (GET /v1/models/*) opens them all', () => {
    // Prepare: IAM's "*" crosses "/", so a narrower scope there could not be enforced by the cached policy.
    const nested = ROUTES.filter((r) => r.method === 'GET' && r.resource.startsWith('/v1/models/{model}/'));

    // Act / Assess
    expect(nested.map((r) => r.resource)).toEqual(expect.arrayContaining(['/v1/models/{model}/stats', '/v1/models/{model}/predictions']));
    expect(new Set(nested.map(scopeOf))).toEqual(new Set(['models:read']));
  });
});

describe('grantsOf', () => {
  it('reads unlimited and per-model scopes from "scope"', () => {
    const grants = grantsOf({ scope: 'predict:iris predict:wine models:read openid profile' });
    expect(describeGrants(grants)).toBe('predict:iris predict:wine models:read');
  });

  it('reads "scp" arrays as Okta and Entra ID send them', () => {
    expect(describeGrants(grantsOf({ scp: ['models:write', 'predict'] }))).toBe('predict models:write');
  });

  it.each([
    ['a tab', '\t'],
    ['a newline', '\n'],
    ['a carriage return', '\r'],
    ['a vertical tab', '\v'],
    ['a form feed', '\f'],
    ['a no-break space', '\u00a0'],
    ['an em space', '\u2003'],
    ['an ideographic space', '\u3000'],
    ['a line separator', '\u2028'],
    ['a byte-order mark', '\ufeff'],
    ['a next line', '\u0085'],
  ])('splits scopes at spaces only (RFC 6749 §3.3): %s is part of a scope token, which then grants nothing', (_name, separator) => {
    // Act
    const inScope = grantsOf({ scope: `models:read${separator}predict` });
    const inScpString = grantsOf({ scp: `models:read${separator}predict` });
    const withSpaces = grantsOf({ scope: `models:read${separator}predict  models:write` });

    // Assess
    expect(describeGrants(inScope)).toBe('');
    expect(describeGrants(inScpString)).toBe('');
    expect(describeGrants(withSpaces)).toBe('models:write');
  });

  it('reads scopes separated by one or more spaces', () => {
    expect(describeGrants(grantsOf({ scope: ' predict  models:read ' }))).toBe('predict models:read');
  });

  it('lets an unlimited scope absorb per-model ones', () => {
    expect(describeGrants(grantsOf({ scope: 'predict:iris predict' }))).toBe('predict');
  });

  it('limits every scope to the "models" claim', () => {
    const grants = grantsOf({ scope: 'predict models:read predict:wine', models: ['iris'] });
    expect(describeGrants(grants)).toBe('predict:iris models:read:iris');
  });

  it('ignores scopes that are not ours, and model names that are not model names', () => {
    const grants = grantsOf({ scope: 'predict:* predict:../x predict:Iris models:delete admin models' });
    expect(describeGrants(grants)).toBe('');
  });

  it('reads scopes under a prefix (Cognito resource servers) and only those', () => {
    const grants = grantsOf({ scope: 'https://api.example.com/predict models:write' }, { scopePrefix: 'https://api.example.com/' });
    expect(describeGrants(grants)).toBe('predict');
  });

  it.each<[string, Record<string, unknown>]>([
    ['a "models" claim that is a string', { scope: 'predict', models: 'iris' }],
    ['a "models" claim with a wildcard', { scope: 'predict', models: ['*'] }],
    ['a "scope" that is a number', { scope: 7 }],
    ['an "scp" array of objects', { scp: [{}] }],
    ['too many models', { scope: 'predict', models: Array.from({ length: MAX_MODELS_PER_TOKEN + 1 }, (_, i) => `m${i}`) }],
  ])('refuses the token for %s (a restriction that cannot be read is never dropped)', (_name, claims) => {
    expect(() => grantsOf(claims)).toThrow(TokenRejectedError);
  });
});

describe('allows', () => {
  const iris = { model: 'iris' };
  const wine = { model: 'wine' };

  it('lets a predict token predict with any model and nothing else', () => {
    const grants = grantsOf({ scope: 'predict' });
    expect([predict, infer, metadata].map((r) => allows(grants, r, wine))).toEqual([true, true, true]);
    expect([list, describe_, register, promote].map((r) => allows(grants, r, iris))).toEqual([false, false, false, false]);
  });

  it('keeps a token for model A off model B on every route that names a model', () => {
    const grants = grantsOf({ scope: 'predict models:read models:write models:promote', models: ['iris'] });
    for (const r of [predict, infer, metadata, describe_, register, promote]) {
      expect({ route: r.resource, a: allows(grants, r, iris), b: allows(grants, r, wine) }).toEqual({
        route: r.resource,
        a: true,
        b: false,
      });
    }
  });

  it('refuses the model list to a token limited to some models (it would reveal the others)', () => {
    expect(allows(grantsOf({ scope: 'models:read' }), list, {})).toBe(true);
    expect(allows(grantsOf({ scope: 'models:read', models: ['iris'] }), list, {})).toBe(false);
    expect(allows(grantsOf({ scope: 'models:read:iris' }), list, {})).toBe(false);
  });

  it('lets anyone call public routes and no one call a route without a scope', () => {
    const unknown: Route = { method: 'DELETE', resource: '/v1/models/{model}', fn: 'control' };
    expect(allows(grantsOf({}), health, {})).toBe(true);
    expect(allows(grantsOf({ scope: 'predict models:read models:write models:promote' }), unknown, iris)).toBe(false);
  });

  it('says what a route needs', () => {
    expect(describeNeed(promote, iris)).toBe('"models:promote" or "models:promote:iris"');
    expect(describeNeed(list, {})).toContain('"models:read" for every model');
  });
});
