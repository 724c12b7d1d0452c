/**
 * JWT verification: an adapter over jose with the policy of this API. The clock and the key
 * source are injected, so tests run with a frozen clock and a local JWKS server.
 *
 * What a token must be to pass, in order (the cheap checks run before any key is looked up):
 * 1. at most `maxTokenBytes`, three base64url parts (compact JWS; no JWE, no JSON serialization);
 * 2. a header without `jku`, `x5u`, `jwk` or `x5c`: keys come only from the configured key source,
 *    never from the token, so those headers cause no fetch and no trust; a `kid` of at most 256
 *    characters;
 * 3. an `alg` on the allow-list (`none` never is; HS256 only when a secret is configured, and
 *    then it is checked against that secret only, never against a public key);
 * 4. a signature that verifies with the key jose selects for that `alg` and `kid` (a key of
 *    another type never matches);
 * 5. no `crit` header parameter we do not understand (jose refuses every one);
 * 6. a JSON object payload whose registered claims have their shape (`claims.ts`: `iss` and
 *    `sub` strings, `aud` a string or an array of strings, `exp`/`nbf`/`iat` numbers a clock can
 *    show), with `iss` and `aud` among the accepted ones, `exp` in the future, `nbf` (if any) in
 *    the past, `iat` (if any) not in the future, within `clockToleranceSeconds`; when configured, `iat` no older than
 *    `maxTokenAgeSeconds`, `exp` no further ahead than `maxTokenLifetimeSeconds`, and the header
 *    `typ`. A claim in the wrong shape is reported as such,
 *    before (and instead of) what its value would mean.
 *
 * @example
 * const verifier = new JwtVerifier({ issuer: 'https://issuer.example.com/', audience: 'onnx-serving',
 *   algorithms: ['RS256'], keys: new RemoteKeySource({ url: new URL('https://issuer.example.com/jwks.json') }) });
 * const { subject, claims } = await verifier.verify(token); // or throws TokenRejectedError / KeysUnavailableError
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type JWSHeaderParameters } from 'jose';
import { clip } from '../core/errors.js';
import { checkRegisteredClaims, MAX_NUMERIC_DATE } from './claims.js';
import { KeysUnavailableError, TokenRejectedError } from './errors.js';
import type { KeySource } from './jwks.js';

/** Asymmetric algorithms a key source may serve. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
export const DEFAULT_ALGORITHMS: readonly AsymmetricAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

/** Header parameters that point at (or carry) a key: refused, so a token never picks its own key. */
export const KEY_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;
const MAX_KID_LENGTH = 256;
/** HS256 secrets shorter than its 256-bit output are brute-forceable. */
export const MIN_HS256_SECRET_BYTES = 32;

export interface JwtVerifierOptions {
  /** Accepted `iss` value(s). Required: a token from another issuer is refused. */
  readonly issuer: string | readonly string[];
  /** Accepted `aud` value(s). Required: a token for another API is refused. */
  readonly audience: string | readonly string[];
  /** Asymmetric algorithms accepted. @default ['RS256', 'ES256', 'EdDSA'] */
  readonly algorithms?: readonly AsymmetricAlgorithm[];
  /** Public keys for the asymmetric algorithms. */
  readonly keys?: KeySource;
  /**
   * The HS256 shared secret, read once when first needed (Secrets Manager on AWS). HS256 is
   * accepted only when this is given.
   */
  readonly hs256Secret?: () => Promise<Uint8Array>;
  /** Leeway for `exp`, `nbf` and `iat`, in seconds. @default 0 */
  readonly clockToleranceSeconds?: number;
  /** Refuse tokens whose `iat` is older than this. @default no limit */
  readonly maxTokenAgeSeconds?: number;
  /**
   * Refuse tokens whose `exp` is further than this many seconds ahead of now (plus the clock
   * tolerance): a lifetime cap that holds whatever `iat` says. The local stack sets it
   * (`LOCAL_MAX_TOKEN_LIFETIME_SECONDS` in `local/auth.ts`). @default no limit
   */
  readonly maxTokenLifetimeSeconds?: number;
  /** Required header `typ` (e.g. `at+jwt`, RFC 9068). @default not checked */
  readonly typ?: string;
  /** Longest token accepted, in bytes. @default 8192 */
  readonly maxTokenBytes?: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

export interface VerifiedToken {
  readonly subject: string;
  readonly claims: JWTPayload;
  readonly header: JWSHeaderParameters;
}

export interface TokenVerifier {
  /** Resolves to the verified token; rejects with {@link TokenRejectedError} (401) or {@link KeysUnavailableError} (500). */
  verify(token: string): Promise<VerifiedToken>;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export class JwtVerifier implements TokenVerifier {
  private readonly algorithms: readonly string[];
  private readonly maxTokenBytes: number;
  private readonly now: () => number;
  private secret: Promise<Uint8Array> | undefined;

  constructor(private readonly options: JwtVerifierOptions) {
    const asymmetric = options.algorithms ?? DEFAULT_ALGORITHMS;
    if (asymmetric.length > 0 && !options.keys)
      throw new Error('JwtVerifier: asymmetric algorithms need a key source (a JWKS URL or public keys).');
    if (asymmetric.length === 0 && !options.hs256Secret)
      throw new Error('JwtVerifier: no algorithm is accepted; configure keys or an HS256 secret.');
    this.algorithms = [...asymmetric, ...(options.hs256Secret ? ['HS256'] : [])];
    this.maxTokenBytes = options.maxTokenBytes ?? 8_192;
    this.now = options.now ?? Date.now;
  }

  async verify(token: string): Promise<VerifiedToken> {
    const header = this.precheck(token);
    const verifyOptions: JWTVerifyOptions = {
      algorithms: [...this.algorithms],
      issuer: [...toList(this.options.issuer)],
      audience: [...toList(this.options.audience)],
      requiredClaims: ['exp', 'sub'],
      clockTolerance: this.options.clockToleranceSeconds ?? 0,
      currentDate: new Date(this.now()),
      ...(this.options.maxTokenAgeSeconds !== undefined ? { maxTokenAge: this.options.maxTokenAgeSeconds } : {}),
      ...(this.options.typ !== undefined ? { typ: this.options.typ } : {}),
    };
    let payload: JWTPayload;
    try {
      ({ payload } = await this.verifyWithKeys(token, verifyOptions));
    } catch (error) {
      throw this.explain(error, header);
    }
    checkRegisteredClaims(payload);
    this.checkLifetime(payload);
    // Required by jose's options and a non-empty string by the check above.
    const subject = payload.sub as string;
    return { subject, claims: payload, header };
  }

  /**
   * `iat` (if any) not in the future, and `exp` at most `maxTokenLifetimeSeconds` ahead of now,
   * both within the clock tolerance. A token issued in the future is refused whether or not
   * `maxTokenAgeSeconds` is set (jose checks it only then): no issuer's clock is hours ahead.
   */
  private checkLifetime(payload: JWTPayload): void {
    const tolerance = this.options.clockToleranceSeconds ?? 0;
    if (typeof payload.iat === 'number' && payload.iat > this.now() / 1000 + tolerance) {
      throw new TokenRejectedError(
        `The token says it was issued at ${new Date(payload.iat * 1000).toISOString()}, in the future; check the issuer's clock.`,
      );
    }
    const max = this.options.maxTokenLifetimeSeconds;
    // `exp` is required and a number within ±MAX_NUMERIC_DATE by now.
    if (max === undefined || typeof payload.exp !== 'number') return;
    const remaining = payload.exp - this.now() / 1000;
    if (remaining > max + tolerance) {
      throw new TokenRejectedError(
        `The token expires at ${new Date(payload.exp * 1000).toISOString()}, more than ${max} s from now; this API accepts tokens that expire within ${max} s. Get one with a shorter lifetime.`,
      );
    }
  }

  /** Size, shape and header checks that need no key and no crypto. */
  private precheck(token: string): JWSHeaderParameters {
    const bytes = Buffer.byteLength(token, 'utf8');
    if (bytes > this.maxTokenBytes) {
      throw new TokenRejectedError(`The token is ${bytes} bytes; tokens longer than ${this.maxTokenBytes} bytes are refused.`);
    }
    if (!COMPACT_JWS.test(token)) {
      throw new TokenRejectedError('The bearer token is not a JWT (three base64url parts separated by dots).');
    }
    let header: JWSHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as JWSHeaderParameters;
    } catch {
      throw new TokenRejectedError("The token's header is not a base64url-encoded JSON object.");
    }
    for (const name of KEY_HEADERS) {
      if (Object.hasOwn(header, name)) {
        throw new TokenRejectedError(
          `The token carries a "${name}" header; this API takes keys only from its configured issuer, never from the token.`,
        );
      }
    }
    if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > MAX_KID_LENGTH)) {
      throw new TokenRejectedError(`The token's "kid" must be a string of 1 to ${MAX_KID_LENGTH} characters.`);
    }
    return header;
  }

  private async verifyWithKeys(token: string, options: JWTVerifyOptions) {
    const keys = this.options.keys;
    try {
      return await jwtVerify(
        token,
        async (protectedHeader, input) => {
          if (protectedHeader.alg === 'HS256') return this.hs256Secret();
          if (!keys) throw new errors.JWKSNoMatchingKey();
          return keys.lookup(protectedHeader, input);
        },
        options,
      );
    } catch (error) {
      // Several keys fit (a token without `kid`, or a set that repeats one): try each, as jose documents.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      for await (const key of error) {
        try {
          return await jwtVerify(token, key, options);
        } catch (inner) {
          if (inner instanceof errors.JWSSignatureVerificationFailed) continue;
          throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  private hs256Secret(): Promise<Uint8Array> {
    const read = this.options.hs256Secret;
    if (!read) return Promise.reject(new errors.JOSEAlgNotAllowed('HS256 is not configured'));
    this.secret ??= read().then(
      (secret) => {
        if (secret.byteLength < MIN_HS256_SECRET_BYTES)
          throw new KeysUnavailableError(
            `The HS256 secret is ${secret.byteLength} bytes; at least ${MIN_HS256_SECRET_BYTES} are required.`,
          );
        return secret;
      },
      (error: unknown) => {
        throw error instanceof KeysUnavailableError ? error : new KeysUnavailableError('Cannot read the HS256 secret.', { cause: error });
      },
    );
    // A failed read is retried on the next token rather than cached for the life of the process.
    this.secret.catch(() => {
      this.secret = undefined;
    });
    return this.secret;
  }

  /** jose's error as a message a person can act on; key-source failures stay 500s. */
  private explain(error: unknown, header: JWSHeaderParameters): Error {
    if (error instanceof KeysUnavailableError || error instanceof TokenRejectedError) return error;
    if (error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired) {
      // The signature verified, so the claims are the issuer's: a claim in the wrong shape is
      // the thing to report, not what jose made of its value (an "iss" of 42 is not "another issuer").
      try {
        checkRegisteredClaims(error.payload);
      } catch (shape) {
        return shape as TokenRejectedError;
      }
    }
    const at = (seconds: unknown) =>
      typeof seconds === 'number' && Math.abs(seconds) <= MAX_NUMERIC_DATE ? new Date(seconds * 1000).toISOString() : 'an invalid time';
    if (error instanceof errors.JWTExpired) {
      return new TokenRejectedError(`The token expired at ${at(error.payload.exp)}; get a new one.`, { cause: error });
    }
    if (error instanceof errors.JWTClaimValidationFailed) {
      const { claim, reason, payload } = error;
      if (reason === 'missing')
        return new TokenRejectedError(`The token has no "${claim}" claim; this API requires iss, aud, sub and exp.`, { cause: error });
      switch (claim) {
        case 'iss':
          return new TokenRejectedError(`The token's issuer (iss) is not one this API trusts; it accepts ${listOf(this.options.issuer)}.`, {
            cause: error,
          });
        case 'aud':
          return new TokenRejectedError(
            `The token's audience (aud) does not include this API; ask for a token for ${listOf(this.options.audience)}.`,
            { cause: error },
          );
        case 'nbf':
          return new TokenRejectedError(`The token is not valid before ${at(payload.nbf)}.`, { cause: error });
        case 'iat':
          return new TokenRejectedError(
            this.options.maxTokenAgeSeconds !== undefined
              ? `The token was issued at ${at(payload.iat)}; this API accepts tokens at most ${this.options.maxTokenAgeSeconds} s old (or not issued in the future).`
              : `The token's "iat" is not a valid time.`,
            { cause: error },
          );
        case 'typ':
          return new TokenRejectedError(`The token's "typ" header must be "${this.options.typ ?? ''}".`, { cause: error });
        default:
          return new TokenRejectedError(`The token's "${claim}" claim is invalid.`, { cause: error });
      }
    }
    if (error instanceof errors.JOSEAlgNotAllowed) {
      return new TokenRejectedError(
        `The token is signed with "${clip(String(header.alg), 40)}"; this API accepts ${this.algorithms.join(', ')}.`,
        { cause: error },
      );
    }
    if (error instanceof errors.JWSSignatureVerificationFailed) {
      return new TokenRejectedError("The token's signature does not verify; it was altered or signed with another key.", { cause: error });
    }
    if (error instanceof errors.JOSENotSupported) {
      // An unrecognized "crit" extension, for one.
      return new TokenRejectedError(`The token uses something this API does not support: ${clip(error.message, 200)}.`, { cause: error });
    }
    if (error instanceof errors.JWKSNoMatchingKey) {
      const kid = typeof header.kid === 'string' ? ` with kid "${header.kid.slice(0, 64)}"` : '';
      return new TokenRejectedError(
        `No key of the issuer verifies ${String(header.alg)} tokens${kid}; the token was signed with a key this API does not know.`,
        { cause: error },
      );
    }
    if (error instanceof errors.JOSEError) {
      // JWSInvalid, JWTInvalid and friends: format problems, described by jose without secrets.
      return new TokenRejectedError(`The token is malformed: ${clip(error.message, 200)}.`, { cause: error });
    }
    if (error instanceof TypeError) {
      // A key jose cannot use for this algorithm (e.g. an RSA key under "ES256" in a JWKS entry).
      return new TokenRejectedError("The token does not match the issuer's key for its algorithm.", { cause: error });
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}

function toList(value: string | readonly string[]): readonly string[] {
  return typeof value === 'string' ? [value] : value;
}

function listOf(value: string | readonly string[]): string {
  return toList(value)
    .map((v) => `"${v}"`)
    .join(' or ');
}
