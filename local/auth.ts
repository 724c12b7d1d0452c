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
import { SCOPES, parseScope } from '../functions/auth/permissions.js';
import { makeHandler, type AuthorizerDeps, type AuthorizerHandler } from '../functions/authorizer/app.js';
import { buildAuthorizerDeps, type AuthorizerIo } from '../functions/authorizer/composition.js';
import { loadAuthorizerConfig } from '../functions/authorizer/config.js';

/** `iss` and `aud` of local tokens; the local authorizer accepts only these. */
export const LOCAL_ISSUER = 'urn:onnx-serving:local';
export const LOCAL_AUDIENCE = 'onnx-serving';
export const LOCAL_ALGORITHM = 'ES256';

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
  const publicJwk: JWK = { kty: privateJwk.kty as string, crv: privateJwk.crv as string, x: privateJwk.x as string, y: privateJwk.y as string };
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
  await writeFile(file, `${JSON.stringify(key.privateJwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' }).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await chmod(file, 0o600);
  return readSigningKey(file);
}

/** Reads a signing key file; `read` lets the CLI inject its file reader. */
export async function readSigningKey(file: string, read: (file: string) => Promise<Buffer | string> = readFile): Promise<SigningKey> {
  const jwk = JSON.parse((await read(file)).toString()) as JWK;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error(`${file} is not a P-256 private key (JWK); delete it and start the local API again to create a new one.`);
  return fromPrivateJwk(jwk);
}

export interface MintOptions {
  /** `sub`: who the token is for; prediction logs and the registry record it. @default 'local-dev' */
  readonly subject?: string;
  /** Scopes (`predict`, `models:read`, `predict:iris`, ...). */
  readonly scopes: readonly string[];
  /** Limits every scope to these models (the `models` claim). @default every model */
  readonly models?: readonly string[];
  /** Lifetime in seconds. @default 3600 */
  readonly ttlSeconds?: number;
  /** Milliseconds since the epoch. @default Date.now() */
  readonly now?: number;
  /** Extra claims (tests). */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/** Refuses what the authorizer would silently ignore, so a typo fails here and not at a 403. */
export function checkMintOptions(options: MintOptions): void {
  if (options.scopes.length === 0) throw new Error(`Give at least one scope: ${SCOPES.join(', ')} (or <scope>:<model>).`);
  for (const scope of options.scopes) {
    if (!parseScope(scope)) throw new Error(`Unknown scope "${scope}"; use ${SCOPES.join(', ')}, or <scope>:<model>.`);
  }
  for (const model of options.models ?? []) {
    if (!MODEL_NAME_PATTERN.test(model)) throw new Error(`"${model}" is not a model name (a-z, 0-9, "-", "_").`);
  }
  const ttl = options.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error('The lifetime must be a whole number of seconds.');
}

/** A token the local authorizer accepts. */
export async function mintToken(key: SigningKey, options: MintOptions): Promise<string> {
  checkMintOptions(options);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  return new SignJWT({
    ...options.claims,
    scope: options.scopes.join(' '),
    ...(options.models ? { models: [...options.models] } : {}),
  })
    .setProtectedHeader({ alg: LOCAL_ALGORITHM, kid: key.kid, typ: 'JWT' })
    .setIssuer(LOCAL_ISSUER)
    .setAudience(LOCAL_AUDIENCE)
    .setSubject(options.subject ?? 'local-dev')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 3600))
    .sign(await importJWK(key.privateJwk, LOCAL_ALGORITHM));
}

/** The environment the local authorizer runs with: the same variables as on Lambda. */
export function localAuthorizerEnv(key: SigningKey): Record<string, string> {
  return {
    JWT_ISSUER: LOCAL_ISSUER,
    JWT_AUDIENCE: LOCAL_AUDIENCE,
    JWT_PUBLIC_KEYS: JSON.stringify(key.jwks),
    JWT_ALGORITHMS: LOCAL_ALGORITHM,
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
