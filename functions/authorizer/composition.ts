/**
 * Builds the authorizer's dependencies from its configuration. `handler.ts` calls it once per
 * cold start; the local server calls it with the local stack's keys, so both run the same code.
 */
import { RemoteKeySource, StaticKeySource, type KeySource } from '../auth/jwks.js';
import { JwtVerifier } from '../auth/verifier.js';
import type { AuthorizerDeps } from './app.js';
import type { AuthorizerConfig } from './config.js';
import { secretsExtensionReader } from './secrets.js';

export interface AuthorizerIo {
  /** Used for the JWKS URL and the secrets extension. @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** Replaces the Secrets Manager read of the HS256 secret (tests, local use). */
  readonly hs256Secret?: () => Promise<Uint8Array>;
  readonly log?: AuthorizerDeps['log'];
}

export function buildAuthorizerDeps(config: AuthorizerConfig, io: AuthorizerIo = {}): AuthorizerDeps {
  let keys: KeySource | undefined;
  if (config.JWKS_URL) {
    keys = new RemoteKeySource({
      url: config.JWKS_URL,
      ...(io.fetch ? { fetch: io.fetch } : {}),
      ...(io.now ? { now: io.now } : {}),
      timeoutMs: config.JWKS_TIMEOUT_MS,
      cooldownMs: config.JWKS_COOLDOWN_SECONDS * 1000,
      maxAgeMs: config.JWKS_CACHE_MAX_AGE_SECONDS * 1000,
    });
  } else if (config.JWT_PUBLIC_KEYS) {
    keys = new StaticKeySource(config.JWT_PUBLIC_KEYS);
  }
  const hs256Secret =
    io.hs256Secret ??
    (config.JWT_HS256_SECRET_ARN
      ? secretsExtensionReader({
          secretId: config.JWT_HS256_SECRET_ARN,
          port: config.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT,
          sessionToken: config.AWS_SESSION_TOKEN,
          ...(io.fetch ? { fetch: io.fetch } : {}),
        })
      : undefined);
  const verifier = new JwtVerifier({
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    algorithms: config.algorithms,
    ...(keys ? { keys } : {}),
    ...(hs256Secret ? { hs256Secret } : {}),
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
    ...(config.JWT_MAX_TOKEN_AGE_SECONDS !== undefined ? { maxTokenAgeSeconds: config.JWT_MAX_TOKEN_AGE_SECONDS } : {}),
    ...(config.JWT_MAX_TOKEN_LIFETIME_SECONDS !== undefined ? { maxTokenLifetimeSeconds: config.JWT_MAX_TOKEN_LIFETIME_SECONDS } : {}),
    ...(config.JWT_TYP !== undefined ? { typ: config.JWT_TYP } : {}),
    maxTokenBytes: config.JWT_MAX_TOKEN_BYTES,
    ...(io.now ? { now: io.now } : {}),
  });
  return {
    verifier,
    ...(config.JWT_SCOPE_PREFIX ? { grantOptions: { scopePrefix: config.JWT_SCOPE_PREFIX } } : {}),
    ...(config.AUTH_USAGE_KEY_CLAIM ? { usageKeyClaim: config.AUTH_USAGE_KEY_CLAIM } : {}),
    ...(io.log ? { log: io.log } : {}),
  };
}
