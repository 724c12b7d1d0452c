/**
 * Authorization on localhost: a signing key pair of the local stack (kept in the data folder, so
 * tokens survive a restart), its public JWKS, dev tokens minted with it, and the SAME authorizer
 * (`functions/authorizer`) configured through the same environment variables as on Lambda, with
 * the local public key as `JWT_PUBLIC_KEYS`.
 *
 * @example
 * const key = await loadOrCreateSigningKey('.data');
 * const token = await mintToken(key, { subject: 'me', scopes: ['predict'], models: ['iris'] });
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { MODEL_NAME_PATTERN } from '../functions/core/model.js';
import { MAX_SUBJECT_LENGTH, checkRegisteredClaims } from '../functions/auth/claims.js';
import { TokenRejectedError } from '../functions/auth/errors.js';
import { SCOPES, grantsOf, parseScope } from '../functions/auth/permissions.js';
import { makeHandler, type AuthorizerDeps, type AuthorizerHandler } from '../functions/authorizer/app.js';
import { buildAuthorizerDeps, type AuthorizerIo } from '../functions/authorizer/composition.js';
import { loadAuthorizerConfig } from '../functions/authorizer/config.js';

/** `iss` and `aud` of local tokens; the local authorizer accepts only these. */
export const LOCAL_ISSUER = 'urn:onnx-serving:local';
export const LOCAL_AUDIENCE = 'onnx-serving';
export const LOCAL_ALGORITHM = 'ES256';
/**
 * The longest lifetime of a token the local authorizer accepts, in seconds (7 days): its `exp`
 * may be at most this far ahead of the time it is presented. `modelctl token --ttl` takes at
 * most this; the local authorizer gets it as `JWT_MAX_TOKEN_LIFETIME_SECONDS`
 * ({@link localAuthorizerEnv}). A week covers a working session; a leaked local token does not
 * work for years.
 */
export const LOCAL_MAX_TOKEN_LIFETIME_SECONDS = 7 * 24 * 3600;
/** The lifetime of a minted token when none is given, in seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 3600;

/** Where the key lives inside the data folder. */
export function signingKeyPath(dataDir: string): string {
  return path.join(dataDir, 'auth', 'signing-key.json');
}

export interface SigningKey {
  /** The private JWK (with `kid` and `alg`). */
  readonly privateJwk: JWK;
  /** The public half as a JWKS, as served on `/.well-known/jwks.json`. */
  readonly jwks: JSONWebKeySet;
  readonly kid: string;
}

async function fromPrivateJwk(privateJwk: JWK): Promise<SigningKey> {
  const publicJwk: JWK = {
    kty: privateJwk.kty as string,
    crv: privateJwk.crv as string,
    x: privateJwk.x as string,
    y: privateJwk.y as string,
  };
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return {
    privateJwk: { ...publicJwk, d: privateJwk.d as string, kid, alg: LOCAL_ALGORITHM },
    jwks: { keys: [{ ...publicJwk, kid, alg: LOCAL_ALGORITHM, use: 'sig' }] },
    kid,
  };
}

/** A fresh ES256 key pair, in memory only (throwaway stacks, tests). */
export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey } = await generateKeyPair(LOCAL_ALGORITHM, { extractable: true });
  return fromPrivateJwk(await exportJWK(privateKey));
}

/**
 * The data folder's signing key, created on first use (file mode 0600). Delete
 * `<data>/auth/signing-key.json` to rotate it; every token minted before stops working.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const file = signingKeyPath(dataDir);
  try {
    return await readSigningKey(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = await generateSigningKey();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(key.privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch(
    async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    },
  );
  await chmod(file, 0o600);
  return readSigningKey(file);
}

/** Reads a signing key file; `read` lets the CLI inject its file reader. */
export async function readSigningKey(file: string, read: (file: string) => Promise<Buffer | string> = readFile): Promise<SigningKey> {
  const jwk = JSON.parse((await read(file)).toString()) as JWK;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string')
    throw new Error(`${file} is not a P-256 private key (JWK); delete it and start the local API again to create a new one.`);
  return fromPrivateJwk(jwk);
}

export interface MintOptions {
  /** `sub`: who the token is for (1 to 256 characters); prediction logs and the registry record it. @default 'local-dev' */
  readonly subject?: string;
  /** Scopes (`predict`, `models:read`, `predict:iris`, ...). */
  readonly scopes: readonly string[];
  /** Limits every scope to these models (the `models` claim). @default every model */
  readonly models?: readonly string[];
  /** Lifetime in seconds, 1 to {@link LOCAL_MAX_TOKEN_LIFETIME_SECONDS}. @default 3600 */
  readonly ttlSeconds?: number;
  /** Milliseconds since the epoch. @default Date.now() */
  readonly now?: number;
  /** Extra claims (tests). */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * Refuses what the local authorizer would refuse or silently ignore, so a mistake fails here and
 * not at a 401 or 403: an unknown scope, a model name that is not one, a `sub` outside 1 to
 * {@link MAX_SUBJECT_LENGTH} characters, a lifetime outside 1 to
 * {@link LOCAL_MAX_TOKEN_LIFETIME_SECONDS} whole seconds, and anything else the authorizer's own
 * readers (`checkRegisteredClaims`, `grantsOf`: at most 50 models, 200 scopes) refuse in the
 * claims this would sign. Throws `Error` with a message for a person.
 */
export function checkMintOptions(options: MintOptions): void {
  if (options.scopes.length === 0) throw new Error(`Give at least one scope: ${SCOPES.join(', ')} (or <scope>:<model>).`);
  for (const scope of options.scopes) {
    if (!parseScope(scope)) throw new Error(`Unknown scope "${clipped(scope)}"; use ${SCOPES.join(', ')}, or <scope>:<model>.`);
  }
  for (const model of options.models ?? []) {
    if (!MODEL_NAME_PATTERN.test(model))
      throw new Error(`"${clipped(model)}" is not a model name (a-z, 0-9, "-", "_", at most 63 characters).`);
  }
  const subject = options.subject ?? 'local-dev';
  if (subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
    throw new Error(`The subject must be 1 to ${MAX_SUBJECT_LENGTH} characters (the API refuses a longer "sub"); it is ${subject.length}.`);
  }
  const ttl = options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > LOCAL_MAX_TOKEN_LIFETIME_SECONDS) {
    throw new Error(
      `The lifetime must be a whole number of seconds from 1 to ${LOCAL_MAX_TOKEN_LIFETIME_SECONDS} (7 days, the most the local API accepts).`,
    );
  }
  // The authorizer's own readers, on the claims that would be signed: one source of the limits.
  try {
    const claims = mintedClaims(options, Math.floor((options.now ?? Date.now()) / 1000));
    checkRegisteredClaims(claims);
    grantsOf(claims);
  } catch (error) {
    if (error instanceof TokenRejectedError) throw new Error(`The API would refuse this token: ${error.message}`);
    throw error;
  }
}

/** An excerpt of what was given, for a message. */
function clipped(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}

/** The claims {@link mintToken} signs (without `options.claims`), `now` in seconds. */
function mintedClaims(options: MintOptions, now: number): Record<string, unknown> {
  return {
    iss: LOCAL_ISSUER,
    aud: LOCAL_AUDIENCE,
    sub: options.subject ?? 'local-dev',
    iat: now,
    exp: now + (options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS),
    scope: options.scopes.join(' '),
    ...(options.models ? { models: [...options.models] } : {}),
  };
}

/** A token the local authorizer accepts; throws as {@link checkMintOptions} does. */
export async function mintToken(key: SigningKey, options: MintOptions): Promise<string> {
  checkMintOptions(options);
  const { iss, aud, sub, iat, exp, ...rest } = mintedClaims(options, Math.floor((options.now ?? Date.now()) / 1000));
  return new SignJWT({ ...options.claims, ...rest })
    .setProtectedHeader({ alg: LOCAL_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setIssuer(iss as string)
    .setAudience(aud as string)
    .setSubject(sub as string)
    .setIssuedAt(iat as number)
    .setExpirationTime(exp as number)
    .sign(await importJWK(key.privateJwk, LOCAL_ALGORITHM));
}

/** The environment the local authorizer runs with: the same variables as on Lambda. */
export function localAuthorizerEnv(key: SigningKey): Record<string, string> {
  return {
    JWT_ISSUER: LOCAL_ISSUER,
    JWT_AUDIENCE: LOCAL_AUDIENCE,
    JWT_PUBLIC_KEYS: JSON.stringify(key.jwks),
    JWT_ALGORITHMS: LOCAL_ALGORITHM,
    JWT_MAX_TOKEN_LIFETIME_SECONDS: String(LOCAL_MAX_TOKEN_LIFETIME_SECONDS),
  };
}

/**
 * The authorizer handler of the local stack: `functions/authorizer`'s `makeHandler`, configured
 * from `env` (the local key by default) with `loadAuthorizerConfig`, as on Lambda.
 */
export function localAuthorizer(env: Record<string, string>, io: AuthorizerIo = {}): { handler: AuthorizerHandler; deps: AuthorizerDeps } {
  const deps = buildAuthorizerDeps(loadAuthorizerConfig(env), io);
  return { handler: makeHandler(deps), deps };
}
