/**
 * The console's client of the API: the same origin, the same routes and the same bearer token as
 * any other client. The token is kept in this tab's sessionStorage (gone when the tab closes) and
 * sent only to this origin. Which scope a route needs comes from `/console/config.json`, which
 * the server generates from its own route table (`ROUTE_SCOPES`).
 */

const TOKEN_KEY = 'onnx-serving.console.token';

/** @returns {string | null} the token pasted at sign-in, if any */
export function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string} token */
export function storeToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * What a JWT says about itself (its payload, not verified: the API verifies it), for display:
 * subject, scopes, the models it is limited to, its expiry. `undefined` when it is not a JWT.
 * @param {string} token
 * @returns {{ subject?: string, scopes: string[], models?: string[], expiresAt?: Date } | undefined}
 */
export function tokenClaims(token) {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    if (claims === null || typeof claims !== 'object') return undefined;
    const raw = typeof claims.scope === 'string' ? claims.scope.split(' ') : Array.isArray(claims.scp) ? claims.scp : [];
    return {
      subject: typeof claims.sub === 'string' ? claims.sub : undefined,
      scopes: raw.filter((s) => typeof s === 'string' && s !== ''),
      models: Array.isArray(claims.models) ? claims.models.filter((m) => typeof m === 'string') : undefined,
      expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : undefined,
    };
  } catch {
    return undefined;
  }
}

/** An answer of 400 or more: the API's error body, and the scope the route needs. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code the API's stable error code (`FORBIDDEN`, `MISSING_FEATURE`, ...)
   * @param {string} message the API's message, meant for a person
   * @param {string} path the field the error is about (`features.sepal_length_cm`), or ''
   * @param {string | undefined} requestId
   * @param {string | undefined} scope the scope the route needs (from the server's table)
   */
  constructor(status, code, message, path, requestId, scope) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
    this.requestId = requestId;
    this.scope = scope;
  }
}

/** @type {Promise<{ routeScopes: Record<string, string>, alsoOpenedBy: Record<string, string[]> }> | undefined} */
let config;

function scopesConfig() {
  config ??= fetch('/console/config.json').then(
    (r) => (r.ok ? r.json() : { routeScopes: {}, alsoOpenedBy: {} }),
    () => ({ routeScopes: {}, alsoOpenedBy: {} }),
  );
  return config;
}

/**
 * The scope (or scopes) that open a route, as the 403 message names them: `models:read`, or
 * `models:read or batch:read`.
 * @param {string} method
 * @param {string} template
 */
async function scopeOf(method, template) {
  const { routeScopes, alsoOpenedBy } = await scopesConfig();
  const key = `${method} ${template}`;
  const scopes = [routeScopes[key], ...(alsoOpenedBy[key] ?? [])].filter(Boolean);
  return scopes.length > 0 ? scopes.join(' or ') : undefined;
}

/** Called with the error of any 401: the token is no longer accepted (expired, another key). */
let onUnauthorized = (/** @type {ApiError} */ _error) => {};

/** @param {(error: ApiError) => void} handler */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * Calls the API. `template` is a route of the API's table (`/v1/models/{model}/stats`); its
 * parameters are filled from `params`, percent-encoded.
 *
 * @param {'GET' | 'POST' | 'PUT' | 'DELETE'} method
 * @param {string} template
 * @param {{ params?: Record<string, string>, query?: Record<string, string>, body?: unknown, token?: string, quiet401?: boolean }} [options]
 *   `token`: instead of the stored one (sign-in); `quiet401`: do not sign out on a 401
 * @returns {Promise<any>} the JSON answer
 * @throws {ApiError} for an answer of 400 or more, or when the API cannot be reached (status 0)
 */
export async function api(method, template, options = {}) {
  const params = options.params ?? {};
  const path = template.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(params[name] ?? ''));
  const query = new URLSearchParams(options.query ?? {}).toString();
  const token = options.token ?? storedToken() ?? '';
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json', authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(query ? `${path}?${query}` : path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(
      0,
      'UNREACHABLE',
      `The API did not answer (${String(error)}); is npm start still running?`,
      '',
      undefined,
      undefined,
    );
  }
  const text = await response.text();
  let body;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) return body;
  const error = body?.error ?? {};
  const failure = new ApiError(
    response.status,
    typeof error.code === 'string' ? error.code : `HTTP_${response.status}`,
    typeof error.message === 'string' ? error.message : `The API answered ${response.status} ${response.statusText}.`,
    typeof error.path === 'string' ? error.path : '',
    typeof body?.requestId === 'string' ? body.requestId : undefined,
    response.status === 403 ? await scopeOf(method, template) : undefined,
  );
  if (response.status === 401 && !options.quiet401) onUnauthorized(failure);
  throw failure;
}
