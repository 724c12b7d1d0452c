/**
 * The JWT authorizer: a REQUEST authorizer event in, an IAM policy out. Thin: read the bearer
 * token, verify it, read its grants, and answer with the policy for every route those grants
 * open (see `functions/auth/policy.ts` for why the policy never depends on the route asked).
 *
 * How API Gateway reads the outcome (and the local server does the same):
 * - throws `Error('Unauthorized')` → 401 (missing, malformed, forged, expired, foreign token);
 * - returns a policy → API Gateway evaluates it against the request's method ARN: Allow, or 403;
 * - throws anything else (keys unavailable) → 500; never an Allow.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { usageKeyOf } from '../auth/claims.js';
import { KeysUnavailableError, TokenRejectedError } from '../auth/errors.js';
import { describeGrants, grantsOf, unknownScopes, type GrantOptions } from '../auth/permissions.js';
import { evaluatePolicy, policyFor } from '../auth/policy.js';
import type { TokenVerifier } from '../auth/verifier.js';
import { logLine } from '../shared/http.js';
import { ROUTES, type Route } from '../shared/routes.js';

export interface AuthorizerDeps {
  readonly verifier: TokenVerifier;
  /** @default ROUTES */
  readonly routes?: readonly Route[];
  readonly grantOptions?: GrantOptions;
  /**
   * A claim returned as `usageIdentifierKey` (API keys from the authorizer): a token without it
   * gets no key (403 where one is required), one with it in another shape than a non-empty
   * string is refused (401).
   */
  readonly usageKeyClaim?: string;
  /** Structured log; never given the token. @default logLine */
  readonly log?: (level: 'INFO' | 'WARN' | 'ERROR', message: string, fields?: Record<string, unknown>) => void;
}

/**
 * What Lambda needs to answer 401: an error whose message is exactly `Unauthorized`. The reason
 * goes to the log, and the local server shows it in the 401 body.
 */
export class UnauthorizedError extends Error {
  constructor(readonly reason: string) {
    super('Unauthorized');
    this.name = 'UnauthorizedError';
  }
}

/** Context values the authorizer returns; API Gateway passes them to the function. */
export interface AuthorizerContext {
  /** The token's grants, normalized: `models:read predict:iris`. */
  readonly scope: string;
  /** Only when `scope` is empty: the scopes the token carried that this API does not know, comma-separated. */
  readonly unknownScopes?: string;
  readonly [key: string]: string | undefined;
}

export type AuthorizerResult = APIGatewayAuthorizerResult & { context: AuthorizerContext };

export type AuthorizerHandler = (event: APIGatewayRequestAuthorizerEvent) => Promise<AuthorizerResult>;

export function makeHandler(deps: AuthorizerDeps): AuthorizerHandler {
  const log = deps.log ?? logLine;
  const routes = deps.routes ?? ROUTES;
  return async (event) => {
    const where = { httpMethod: event.httpMethod, path: event.path, requestId: event.requestContext?.requestId };
    try {
      const token = bearerToken(event);
      const { subject, claims, header } = await deps.verifier.verify(token);
      const grants = grantsOf(claims, deps.grantOptions);
      const usageKey = deps.usageKeyClaim ? usageKeyOf(claims, deps.usageKeyClaim) : undefined;
      const policyDocument = policyFor(grants, event.methodArn, routes);
      const scope = describeGrants(grants);
      // A token that grants nothing: the scopes it did carry, which this API does not know, for the 403.
      const unknown = scope === '' ? unknownScopes(claims, deps.grantOptions).join(', ') : '';
      log('INFO', 'token accepted', {
        ...where,
        principalId: subject,
        scope,
        kid: header.kid,
        decision: evaluatePolicy(policyDocument, event.methodArn),
      });
      return {
        principalId: subject,
        policyDocument,
        // Route-independent, like the policy: it is cached with it.
        context: { scope, ...(unknown ? { unknownScopes: unknown } : {}) },
        ...(usageKey !== undefined ? { usageIdentifierKey: usageKey } : {}),
      };
    } catch (error) {
      if (error instanceof TokenRejectedError) {
        log('WARN', 'token rejected', { ...where, reason: error.message });
        throw new UnauthorizedError(error.message);
      }
      if (error instanceof UnauthorizedError) {
        log('WARN', 'token rejected', { ...where, reason: error.reason });
        throw error;
      }
      log('ERROR', error instanceof KeysUnavailableError ? 'keys unavailable' : 'authorizer failed', {
        ...where,
        error:
          error instanceof Error
            ? { name: error.name, message: error.message, cause: error.cause instanceof Error ? error.cause.message : undefined }
            : String(error),
      });
      throw error;
    }
  };
}

/** The token of the one `Authorization: Bearer <token>` header. */
export function bearerToken(event: Pick<APIGatewayRequestAuthorizerEvent, 'headers' | 'multiValueHeaders'>): string {
  const values: string[] = [];
  for (const [name, list] of Object.entries(event.multiValueHeaders ?? {})) {
    if (name.toLowerCase() === 'authorization') values.push(...(list ?? []));
  }
  if (values.length === 0) {
    for (const [name, value] of Object.entries(event.headers ?? {})) {
      if (name.toLowerCase() === 'authorization' && value !== undefined) values.push(value);
    }
  }
  if (values.length === 0) throw new UnauthorizedError('This route needs a token: send "Authorization: Bearer <JWT>".');
  if (values.length > 1) throw new UnauthorizedError('Send exactly one Authorization header.');
  const match = /^Bearer +(\S+) *$/i.exec(values[0] as string);
  if (!match) {
    // "Bearer" with nothing after it (an unset shell variable, say) is the scheme with no token.
    if (/^Bearer *$/i.test(values[0] as string)) {
      throw new UnauthorizedError(
        'The Authorization header says "Bearer" but holds no token after it: send "Authorization: Bearer <JWT>".',
      );
    }
    throw new UnauthorizedError('Use the Bearer scheme: "Authorization: Bearer <JWT>".');
  }
  return match[1] as string;
}
