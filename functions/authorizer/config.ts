/**
 * The authorizer's configuration, parsed once from its environment with zod. Separate from the
 * serving functions' config (`functions/shared/config.ts`): the authorizer needs none of their
 * tables and buckets, and they need none of this. A missing or malformed variable fails the cold
 * start with a message that names it.
 *
 * @example the CDK side
 * new NodejsFunction(this, 'Authorizer', { entry: 'functions/authorizer/handler.ts', environment: {
 *   JWT_ISSUER: 'https://issuer.example.com/', JWT_AUDIENCE: 'onnx-serving',
 *   JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json' } });
 */
import * as z from 'zod';
import { environmentProblems, plainParse } from '../core/messages.js';
import { MAX_NUMERIC_DATE } from '../auth/claims.js';
import { ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, type AsymmetricAlgorithm } from '../auth/verifier.js';

const list = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()).min(1, 'give at least one value (comma-separated)'));

const seconds = (fallback: number, max: number) => z.coerce.number().int().min(0).max(max).default(fallback);

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

const jwksUrl = z
  .url()
  .transform((value) => new URL(value))
  .refine((url) => url.protocol === 'https:' || (url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname)), {
    message: 'must be an https URL (plain http only on localhost)',
  });

const algorithms = list.transform((values, ctx) => {
  const accepted: AsymmetricAlgorithm[] = [];
  for (const value of values) {
    if (value === 'HS256') {
      ctx.addIssue({ code: 'custom', message: 'HS256 is turned on by JWT_HS256_SECRET_ARN (the secret), not listed here' });
    } else if ((ASYMMETRIC_ALGORITHMS as readonly string[]).includes(value)) {
      accepted.push(value as AsymmetricAlgorithm);
    } else {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not accepted; choose from ${ASYMMETRIC_ALGORITHMS.join(', ')}` });
    }
  }
  return accepted;
});

const publicKeys = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON Web Key Set: {"keys": [...]}' });
      return z.NEVER;
    }
  })
  .pipe(
    z.object({
      keys: z
        .array(z.looseObject({ kty: z.string() }).refine((jwk) => !('d' in jwk), { message: 'is a private key; give public keys only' }))
        .min(1, 'must hold at least one key'),
    }),
  );

export const AuthorizerConfigSchema = z
  .object({
    /** Accepted token issuer(s) (`iss`), comma-separated. */
    JWT_ISSUER: list,
    /** Accepted audience(s) (`aud`), comma-separated. */
    JWT_AUDIENCE: list,
    /** The issuer's JWKS URL. One of JWKS_URL, JWT_PUBLIC_KEYS (or only an HS256 secret). */
    JWKS_URL: jwksUrl.optional(),
    /** Public keys as a JSON Web Key Set document, instead of a URL. */
    JWT_PUBLIC_KEYS: publicKeys.optional(),
    /** Asymmetric algorithms accepted. @default RS256,ES256,EdDSA */
    JWT_ALGORITHMS: algorithms.optional(),
    /** Secrets Manager secret (ARN or name) holding the HS256 secret; HS256 is refused without it. */
    JWT_HS256_SECRET_ARN: z.string().min(1).optional(),
    /** Leeway on exp / nbf / iat, in seconds. @default 0 */
    JWT_CLOCK_TOLERANCE_SECONDS: seconds(0, 300),
    /** Refuse tokens issued (`iat`) longer ago than this. @default no limit */
    JWT_MAX_TOKEN_AGE_SECONDS: z.coerce.number().int().positive().optional(),
    /** Refuse tokens whose `exp` is further ahead than this. @default no limit (the local stack: 7 days) */
    JWT_MAX_TOKEN_LIFETIME_SECONDS: z.coerce.number().int().positive().max(MAX_NUMERIC_DATE).optional(),
    /** Required `typ` header, e.g. `at+jwt`. @default not checked */
    JWT_TYP: z.string().min(1).optional(),
    /** Longest token accepted, in bytes. @default 8192 */
    JWT_MAX_TOKEN_BYTES: z.coerce.number().int().min(256).max(10_240).default(8_192),
    /** Only scopes with this prefix count, prefix removed (Cognito: `https://api.example.com/`). */
    JWT_SCOPE_PREFIX: z.string().min(1).optional(),
    /** A claim whose value is returned as `usageIdentifierKey` (usage plans keyed by the authorizer). */
    AUTH_USAGE_KEY_CLAIM: z.string().min(1).optional(),
    /** @default 1500 */
    JWKS_TIMEOUT_MS: z.coerce.number().int().min(100).max(10_000).default(1_500),
    /** Minimum time between two JWKS fetches. @default 30 */
    JWKS_COOLDOWN_SECONDS: seconds(30, 3_600),
    /** Refetch the JWKS when the cached copy is older. @default 600 */
    JWKS_CACHE_MAX_AGE_SECONDS: seconds(600, 86_400),
    /** Set by the AWS Parameters and Secrets Lambda Extension. @default 2773 */
    PARAMETERS_SECRETS_EXTENSION_HTTP_PORT: z.coerce.number().int().min(1).max(65_535).default(2_773),
    /** Set by Lambda; the extension requires it on every call. */
    AWS_SESSION_TOKEN: z.string().optional(),
  })
  .superRefine((env, ctx) => {
    if (env.JWKS_URL && env.JWT_PUBLIC_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['JWT_PUBLIC_KEYS'], message: 'set JWKS_URL or JWT_PUBLIC_KEYS, not both' });
    }
    if (!env.JWKS_URL && !env.JWT_PUBLIC_KEYS && !env.JWT_HS256_SECRET_ARN) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWKS_URL'],
        message: 'no keys configured: set JWKS_URL, JWT_PUBLIC_KEYS or JWT_HS256_SECRET_ARN',
      });
    }
    if (env.JWT_ALGORITHMS && env.JWT_ALGORITHMS.length > 0 && !env.JWKS_URL && !env.JWT_PUBLIC_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['JWT_ALGORITHMS'], message: 'asymmetric algorithms need JWKS_URL or JWT_PUBLIC_KEYS' });
    }
  })
  .transform((env) => ({
    ...env,
    /** The asymmetric algorithms in force: none when there is no key source (HS256 only). */
    algorithms: env.JWKS_URL || env.JWT_PUBLIC_KEYS ? (env.JWT_ALGORITHMS ?? [...DEFAULT_ALGORITHMS]) : [],
  }));

export type AuthorizerConfig = z.infer<typeof AuthorizerConfigSchema>;

/** Parses `env` (default: `process.env`), throwing one error that lists every bad variable. */
export function loadAuthorizerConfig(env: Record<string, string | undefined> = process.env): AuthorizerConfig {
  const result = plainParse(AuthorizerConfigSchema, env);
  if (result.success) return result.data;
  throw new Error(`Invalid authorizer configuration (environment variables): ${environmentProblems(result.issues, env)}`);
}
