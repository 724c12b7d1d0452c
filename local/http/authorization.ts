/**
 * API Gateway's authorization of a route, step by step, for the local API: the identity source
 * check (one Authorization header), the REQUEST authorizer (the same `functions/authorizer` code as
 * on Lambda) or its cached policy (per Authorization header, `cacheTtlSeconds`), the policy
 * evaluated against the request's method ARN, and the refusals (401 `UNAUTHORIZED`, 403
 * `FORBIDDEN`, 500 `AUTHORIZER_FAILURE`) with their `WWW-Authenticate`. Also the public keys the
 * local API publishes at {@link JWKS_PATH}.
 */
import type http from 'node:http';
import type { JSONWebKeySet } from 'jose';
import { describeNeed, describeTokenScopes } from '../../functions/auth/permissions.js';
import { evaluatePolicy } from '../../functions/auth/policy.js';
import type { AuthorizerHandler, AuthorizerResult } from '../../functions/authorizer/app.js';
import { clip } from '../../functions/core/errors.js';
import type { Route } from '../../functions/shared/routes.js';
import { authorizerEvent, decodePathParameters, type RequestParts } from './events.js';
import { sendJson } from './responses.js';

/** Where the local API publishes the public keys of its tokens. */
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * How requests are authorized; there is no default, so authorization cannot be left out by
 * forgetting an option. `insecure` accepts every caller and says so on stderr at every start.
 */
export type LocalAuthorization =
  | {
      /** The authorizer handler (`functions/authorizer/app.ts`'s `makeHandler`). */
      readonly authorizer: AuthorizerHandler;
      /** Like the API's authorizer result cache, keyed by the Authorization header; 0 turns it off. @default 60 */
      readonly cacheTtlSeconds?: number;
      /** Served publicly at {@link JWKS_PATH} when given. */
      readonly jwks?: JSONWebKeySet;
    }
  | { readonly insecure: true };

/** The authorizer's results by Authorization header, each until `expiresAt` (ms since the epoch); at most 10,000. */
export type PolicyCache = Map<string, { readonly result: AuthorizerResult; readonly expiresAt: number }>;

/** What `authorize` keeps and uses between requests. */
export interface AuthorizationState {
  /** The cache's clock, ms since the epoch. */
  readonly now: () => number;
  readonly cache: PolicyCache;
  /** Where an authorizer that failed is reported, a line ending in a newline. */
  readonly warn: (text: string) => void;
}

/** An answer the server gives itself instead of calling the function. */
export interface Refusal {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
}

const REALM = 'Bearer realm="onnx-serving"';

/** Answers a request to {@link JWKS_PATH}: the key set to GET (cacheable for 5 minutes), 405 `METHOD_NOT_ALLOWED` to any other method. */
export function serveJwks(response: http.ServerResponse, method: string, jwks: JSONWebKeySet, requestId: string): void {
  if (method !== 'GET') {
    sendJson(
      response,
      405,
      { error: { code: 'METHOD_NOT_ALLOWED', message: `${clip(method, 16)} is not allowed here; use GET.`, path: 'method' }, requestId },
      { allow: 'GET' },
    );
  } else {
    sendJson(response, 200, jwks, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' });
  }
}

/**
 * API Gateway's part for a route with the authorizer: identity source check, cached or fresh
 * authorizer result, policy evaluation against the method ARN. Allowed: the context the function
 * gets in `requestContext.authorizer` (`principalId`, the authorizer's context as strings,
 * `integrationLatency` in ms); else the refusal to answer.
 */
export async function authorize(
  state: AuthorizationState,
  auth: Extract<LocalAuthorization, { authorizer: AuthorizerHandler }>,
  route: Route,
  pathParameters: Record<string, string>,
  url: URL,
  parts: RequestParts,
  requestId: string,
): Promise<{ context: Record<string, string> } | { refusal: Refusal }> {
  const unauthorized = (message: string, error?: string): { refusal: Refusal } => ({
    refusal: {
      status: 401,
      body: { error: { code: 'UNAUTHORIZED', message, path: 'headers.authorization' }, requestId },
      headers: { 'www-authenticate': error ? `${REALM}, error="${error}"` : REALM },
    },
  });
  // Every Authorization value, whatever the case of its name: the cache is keyed by one value, so
  // a request carrying two (a cached token and anything else) is refused here, before the cache
  // is read, as the authorizer refuses it; else it would pass once the token had been used alone.
  const identities = Object.entries(parts.multiValueHeaders)
    .filter(([name]) => name.toLowerCase() === 'authorization')
    .flatMap(([, values]) => values);
  if (identities.length > 1) return unauthorized('Send exactly one Authorization header.', 'invalid_token');
  const identity = identities[0];
  // API Gateway answers 401 itself when the identity source is missing: the authorizer never runs.
  if (identity === undefined || identity === '')
    return unauthorized(
      'This route needs a token: send "Authorization: Bearer <JWT>". Locally: npm run -s modelctl -- token --scope <scope>.',
    );
  const methodArn = `arn:aws:execute-api:local:000000000000:local/local/${route.method}${url.pathname.replace(/\/+$/, '') || '/'}`;
  const ttlMs = (auth.cacheTtlSeconds ?? 60) * 1000;
  const started = state.now();
  let result = ttlMs > 0 ? state.cache.get(identity) : undefined;
  if (result && result.expiresAt <= started) {
    state.cache.delete(identity);
    result = undefined;
  }
  let authorizerResult: AuthorizerResult;
  if (result) {
    authorizerResult = result.result;
  } else {
    try {
      authorizerResult = await auth.authorizer(authorizerEvent(parts, url, route, pathParameters, methodArn, requestId));
    } catch (error) {
      if (error instanceof Error && error.message === 'Unauthorized') {
        const reason = 'reason' in error && typeof error.reason === 'string' ? error.reason : 'The token was refused.';
        return unauthorized(reason, 'invalid_token');
      }
      state.warn(`local authorizer failed: ${error instanceof Error ? error.message : String(error)}\n`);
      return {
        refusal: {
          status: 500,
          body: {
            error: {
              code: 'AUTHORIZER_FAILURE',
              message: 'The authorizer could not check the token (see the server log); try again shortly.',
              path: '',
            },
            requestId,
          },
          headers: {},
        },
      };
    }
    if (ttlMs > 0) {
      if (state.cache.size >= 10_000) state.cache.delete(state.cache.keys().next().value as string);
      state.cache.set(identity, { result: authorizerResult, expiresAt: started + ttlMs });
    }
  }
  if (evaluatePolicy(authorizerResult.policyDocument, methodArn) !== 'Allow') {
    const decoded = decodePathParameters(pathParameters);
    return {
      refusal: {
        status: 403,
        body: {
          error: {
            code: 'FORBIDDEN',
            message: `This token (${describeTokenScopes(authorizerResult.context.scope, authorizerResult.context['unknownScopes'])}) does not allow ${route.method} ${clip(url.pathname)}; that needs ${clip(describeNeed(route, decoded), 200)}. Ask for a token with that scope.`,
            path: 'headers.authorization',
          },
          requestId,
        },
        headers: { 'www-authenticate': `${REALM}, error="insufficient_scope"` },
      },
    };
  }
  // No prototype: the function reads it as a map (see normalizeEvent in functions/shared/http.ts).
  const context: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
    principalId: authorizerResult.principalId,
  });
  for (const [key, value] of Object.entries(authorizerResult.context)) context[key] = String(value);
  context['integrationLatency'] = String(Math.max(0, Math.round(state.now() - started)));
  return { context };
}
