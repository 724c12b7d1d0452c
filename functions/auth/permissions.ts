/**
 * What a verified token may do: scopes → routes, with object-level limits by model name. Pure
 * logic over the route table; no keys, no SDK, no clock.
 *
 * Claims read (RFC 9068 style; their shapes are checked in `claims.ts`):
 * - `scope`: a string of space-separated scopes, never an array; or `scp`: an array of scopes
 *   (Okta) or a space-separated string (Entra ID). A claim in another shape rejects the token.
 *   Each scope is `predict`, `models:read`, `models:write` or `models:promote` for every model,
 *   or the same followed by `:<model>` for one model (`predict:iris`). Anything else is ignored,
 *   as OAuth servers put scopes for other APIs in the same token.
 * - `models` (optional): an array of model names that limits every scope of the token. A
 *   `models` claim that is not an array of valid model names rejects the token: a restriction
 *   that cannot be read must never be dropped.
 *
 * @example
 * const grants = grantsOf({ scope: 'predict models:read', models: ['iris'] });
 * allows(grants, route('POST /v1/models/{model}/predict'), { model: 'iris' }); // true
 * allows(grants, route('POST /v1/models/{model}/predict'), { model: 'wine' }); // false
 */
import { clip } from '../core/errors.js';
import { MODEL_NAME_PATTERN } from '../core/model.js';
import { routeKey, type Route } from '../shared/routes.js';
import { kindOf, scopeClaimEntries } from './claims.js';
import { TokenRejectedError } from './errors.js';

export const SCOPES = [
  'predict',
  'models:read',
  'models:write',
  'models:promote',
  'batch:submit',
  'batch:read',
  'experiments:outcomes',
] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * The scope each non-public route needs. A route missing here is refused to every token (fail
 * closed); a unit test checks that every non-public route of the table has an entry, so adding
 * a route forces a decision. Releases (promote, shift, rollback, finalize) need `models:promote`;
 * reading the deployment, the stats and the prediction log needs `models:read`. Starting,
 * stopping and promoting the winner of an experiment need `models:promote` (they change which
 * version answers callers); recording its outcomes needs `experiments:outcomes`, a scope of its
 * own for the application that observes them (a checkout service, say), which should be able to
 * do that and nothing else. Shadow tests need `models:write`. Submitting and
 * cancelling batch jobs (and uploading their input files), and submitting replays (which run
 * as batch jobs), need `batch:submit`; reading them `batch:read` or `models:read`
 * ({@link ALSO_OPENED_BY}).
 *
 * Why the prediction log has no scope of its own, although its records hold callers and outputs:
 * API Gateway applies the cached policy (`policy.ts`) to every route, and IAM's `*` crosses `/`,
 * so an unlimited `models:read` (Allow `GET /v1/models/*`, for `GET /v1/models/{model}`) opens
 * every GET route under `/v1/models/{model}/`. A narrower scope on such a route cannot be
 * enforced: a token with unlimited `models:read` and the narrower scope for some models only has
 * no exact policy (an explicit Deny would also shut the models it holds). A scope of its own
 * needs a path outside `/v1/models/` (e.g. `/v1/prediction-logs/{model}`);
 * `test/unit/auth/policy.test.ts` fails for any route that breaks this.
 */
export const ROUTE_SCOPES: Readonly<Record<string, Scope>> = {
  'POST /v1/models/{model}/predict': 'predict',
  'POST /v1/models/{model}/payloads': 'predict',
  'POST /v2/models/{model}/infer': 'predict',
  'GET /v2/models/{model}': 'predict',
  'GET /v2/models/{model}/ready': 'predict',
  'POST /v2/models/{model}/versions/{version}/infer': 'predict',
  'GET /v2/models/{model}/versions/{version}': 'predict',
  'GET /v2/models/{model}/versions/{version}/ready': 'predict',
  'GET /v1/models': 'models:read',
  'GET /v1/models/{model}': 'models:read',
  'GET /v1/models/{model}/versions': 'models:read',
  'GET /v1/models/{model}/versions/{version}': 'models:read',
  'GET /v1/models/{model}/openapi.json': 'models:read',
  'POST /v1/models/{model}/versions': 'models:write',
  'POST /v1/models/{model}/uploads': 'models:write',
  'PUT /v1/models/{model}/production': 'models:promote',
  'POST /v1/models/{model}/versions/{version}/stage': 'models:promote',
  'GET /v1/models/{model}/history': 'models:read',
  'POST /v1/models/{model}/versions/{version}/promote': 'models:promote',
  'GET /v1/models/{model}/deployment': 'models:read',
  'POST /v1/models/{model}/deployment/shift': 'models:promote',
  'POST /v1/models/{model}/deployment/rollback': 'models:promote',
  'POST /v1/models/{model}/deployment/finalize': 'models:promote',
  'GET /v1/models/{model}/stats': 'models:read',
  'GET /v1/models/{model}/predictions': 'models:read',
  'POST /v1/models/{model}/batch-jobs': 'batch:submit',
  'GET /v1/models/{model}/batch-jobs': 'models:read',
  'GET /v1/models/{model}/batch-jobs/{job}': 'models:read',
  'POST /v1/models/{model}/batch-jobs/{job}/cancel': 'batch:submit',
  'POST /v1/models/{model}/batch-inputs': 'batch:submit',
  'POST /v1/models/{model}/replays': 'batch:submit',
  'GET /v1/models/{model}/capture': 'models:read',
  'PUT /v1/models/{model}/capture': 'models:write',
  'DELETE /v1/models/{model}/capture': 'models:write',
  'GET /v1/models/{model}/drift': 'models:read',
  'POST /v1/models/{model}/drift': 'models:write',
  'GET /v1/models/{model}/versions/{version}/profile': 'models:read',
  'PUT /v1/models/{model}/versions/{version}/profile': 'models:write',
  'POST /v1/models/{model}/experiments': 'models:promote',
  'GET /v1/models/{model}/experiments': 'models:read',
  'GET /v1/models/{model}/experiments/{experiment}': 'models:read',
  'POST /v1/models/{model}/experiments/{experiment}/stop': 'models:promote',
  'POST /v1/models/{model}/experiments/{experiment}/promote-winner': 'models:promote',
  'POST /v1/models/{model}/experiments/{experiment}/outcomes': 'experiments:outcomes',
  'POST /v1/models/{model}/shadow': 'models:write',
  'GET /v1/models/{model}/shadow': 'models:read',
  'DELETE /v1/models/{model}/shadow': 'models:write',
};

/**
 * Further scopes that also open a route. Reading batch jobs is `batch:read` for a token that
 * should read jobs and nothing else; `models:read` opens them too, because its cached policy
 * (`GET /v1/models/*`) covers every GET route under `/v1/models/{model}/` (see above).
 */
export const ALSO_OPENED_BY: Readonly<Record<string, readonly Scope[]>> = {
  'GET /v1/models/{model}/batch-jobs': ['batch:read'],
  'GET /v1/models/{model}/batch-jobs/{job}': ['batch:read'],
};

/** The path parameter that names a model in the route table. */
export const MODEL_PARAMETER = 'model';

/** For each scope the token holds: every model, or only these. */
export type Grants = ReadonlyMap<Scope, 'all' | ReadonlySet<string>>;

/** At most this many distinct models in one token: each one adds ARNs to the cached policy. */
export const MAX_MODELS_PER_TOKEN = 50;
const MAX_SCOPE_ENTRIES = 200;

export interface GrantOptions {
  /**
   * Scopes are read only when they start with this prefix, which is then removed: Cognito
   * sends resource-server scopes as `https://api.example.com/predict`. @default none
   */
  readonly scopePrefix?: string;
}

/**
 * Reads the grants of a verified token's claims. Throws {@link TokenRejectedError} when the
 * claims that limit the token cannot be read.
 */
export function grantsOf(claims: Readonly<Record<string, unknown>>, options: GrantOptions = {}): Grants {
  const entries = scopeEntries(claims);
  const grants = new Map<Scope, 'all' | Set<string>>();
  for (const raw of entries) {
    let entry = raw;
    if (options.scopePrefix) {
      if (!entry.startsWith(options.scopePrefix)) continue;
      entry = entry.slice(options.scopePrefix.length);
    }
    const parsed = parseScope(entry);
    if (!parsed) continue;
    const held = grants.get(parsed.scope);
    if (parsed.model === undefined || held === 'all') {
      grants.set(parsed.scope, 'all');
    } else {
      grants.set(parsed.scope, new Set([...(held ?? []), parsed.model]));
    }
  }
  const limit = modelsClaim(claims);
  if (limit) {
    for (const [scope, held] of grants) {
      grants.set(scope, new Set([...limit].filter((model) => held === 'all' || held.has(model))));
    }
  }
  const models = new Set([...grants.values()].flatMap((held) => (held === 'all' ? [] : [...held])));
  if (models.size > MAX_MODELS_PER_TOKEN) {
    throw new TokenRejectedError(
      `The token names ${models.size} models (in "models" or in scopes such as "predict:iris"); it must name at most ${MAX_MODELS_PER_TOKEN}. Use an unlimited scope or split the token.`,
    );
  }
  return grants;
}

function scopeEntries(claims: Readonly<Record<string, unknown>>): string[] {
  const entries = scopeClaimEntries(claims);
  if (entries.length > MAX_SCOPE_ENTRIES) {
    throw new TokenRejectedError(
      `The token's "scope" and "scp" claims must hold at most ${MAX_SCOPE_ENTRIES} scopes together; they hold ${entries.length}.`,
    );
  }
  return entries;
}

function modelsClaim(claims: Readonly<Record<string, unknown>>): ReadonlySet<string> | undefined {
  const { models } = claims;
  if (models === undefined) return undefined;
  const shape =
    'The token\'s "models" claim must be an array of model names (a-z, 0-9, "-", "_", at most 63 characters); fix the token issuer\'s mapping';
  if (!Array.isArray(models)) throw new TokenRejectedError(`${shape}. It is ${kindOf(models)}.`);
  const bad = models.findIndex((m: unknown) => typeof m !== 'string' || !MODEL_NAME_PATTERN.test(m));
  if (bad >= 0) {
    const entry: unknown = models[bad];
    throw new TokenRejectedError(
      `${shape}. Its entry ${bad} is ${typeof entry === 'string' ? `"${clip(entry, 40)}", not a model name` : kindOf(entry)}.`,
    );
  }
  return new Set(models as string[]);
}

/** `predict` → all models; `predict:iris` → one model; anything else → not ours. */
export function parseScope(entry: string): { scope: Scope; model?: string } | undefined {
  for (const scope of SCOPES) {
    if (entry === scope) return { scope };
    if (entry.startsWith(`${scope}:`)) {
      const model = entry.slice(scope.length + 1);
      return MODEL_NAME_PATTERN.test(model) ? { scope, model } : undefined;
    }
  }
  return undefined;
}

/** The scope a route needs; `undefined` for public routes and routes nobody may call. */
export function scopeOf(route: Route): Scope | undefined {
  return route.public ? undefined : ROUTE_SCOPES[routeKey(route.method, route.resource)];
}

/** Every scope that opens a route: its own ({@link scopeOf}) first, then {@link ALSO_OPENED_BY}'s. */
export function scopesOf(route: Route): Scope[] {
  const scope = scopeOf(route);
  if (!scope) return [];
  return [scope, ...(ALSO_OPENED_BY[routeKey(route.method, route.resource)] ?? [])];
}

export function routeNamesModel(route: Route): boolean {
  return route.resource.includes(`{${MODEL_PARAMETER}}`);
}

/**
 * Whether `grants` allow `route` with these (decoded) path parameters. Routes that name a model
 * need the scope for that model; routes that do not (the model list) need it for every model.
 */
export function allows(grants: Grants, route: Route, pathParameters: Readonly<Record<string, string | undefined>>): boolean {
  if (route.public) return true;
  const model = pathParameters[MODEL_PARAMETER];
  return scopesOf(route).some((scope) => {
    const held = grants.get(scope);
    if (held === undefined) return false;
    if (held === 'all') return true;
    if (!routeNamesModel(route)) return false;
    return model !== undefined && held.has(model);
  });
}

/** The grants as scope strings, sorted: `models:read predict:iris predict:wine`. */
export function describeGrants(grants: Grants): string {
  const parts: string[] = [];
  for (const scope of SCOPES) {
    const held = grants.get(scope);
    if (held === 'all') parts.push(scope);
    else if (held) parts.push(...[...held].sort().map((model) => `${scope}:${model}`));
  }
  return parts.join(' ');
}

/** Scopes a message names at most, each cut to `SHOWN_SCOPE_CHARS` characters; the rest are counted. */
const SHOWN_SCOPES = 5;
const SHOWN_SCOPE_CHARS = 40;

/**
 * The scope entries of a token's claims that grant nothing here, for a 403's message: not one of
 * {@link SCOPES} (`admin`, `openid`), a scope for a name that is no model name (`predict:*`), or
 * outside `options.scopePrefix`. At most {@link SHOWN_SCOPES} of them, each cut to 40 characters
 * (`…` marks a cut), then `… and N more`; none for a token whose claims `grantsOf` refuses.
 *
 * @example
 * unknownScopes({ scope: 'admin openid' }); // ['admin', 'openid']
 */
export function unknownScopes(claims: Readonly<Record<string, unknown>>, options: GrantOptions = {}): string[] {
  let entries: string[];
  try {
    entries = scopeClaimEntries(claims);
  } catch {
    return [];
  }
  const unknown = entries.filter((entry) => {
    if (options.scopePrefix && !entry.startsWith(options.scopePrefix)) return true;
    return parseScope(options.scopePrefix ? entry.slice(options.scopePrefix.length) : entry) === undefined;
  });
  const shown = unknown
    .slice(0, SHOWN_SCOPES)
    .map((entry) => (entry.length > SHOWN_SCOPE_CHARS ? `${entry.slice(0, SHOWN_SCOPE_CHARS)}…` : entry));
  return unknown.length > SHOWN_SCOPES ? [...shown, `… and ${unknown.length - SHOWN_SCOPES} more`] : shown;
}

/**
 * What a token carries, as a 403's message puts it in parentheses: `scopes: predict models:read`
 * (`granted`: its grants, {@link describeGrants}); for a token that grants nothing, the scopes it
 * carried that this API does not know (`unknown`: {@link unknownScopes}'s list, or that list
 * joined with `, ` as the authorizer's context carries it): `scopes: none; it carries only scopes
 * this API does not know: admin, openid`, else `scopes: none`. Clipped to 400 characters.
 */
export function describeTokenScopes(granted: string | undefined, unknown: string | readonly string[] | undefined = []): string {
  if (granted) return clip(`scopes: ${granted}`, 400);
  const names = typeof unknown === 'string' ? unknown : unknown.join(', ');
  if (names === '') return 'scopes: none';
  return clip(`scopes: none; it carries only scopes this API does not know: ${names}`, 400);
}

/** What a route needs, for a 403 message: `"predict" or "predict:iris"`. */
export function describeNeed(route: Route, pathParameters: Readonly<Record<string, string | undefined>>): string {
  const scopes = scopesOf(route);
  if (scopes.length === 0) return 'a route that no scope opens (it is missing from the permission table)';
  const model = pathParameters[MODEL_PARAMETER];
  if (!routeNamesModel(route))
    return `${scopes.map((s) => `"${s}"`).join(' or ')} for every model (a token limited to some models reads them one by one)`;
  const perModel = model !== undefined && MODEL_NAME_PATTERN.test(model);
  return scopes.map((s) => (perModel ? `"${s}" or "${s}:${model}"` : `"${s}"`)).join(' or ');
}
