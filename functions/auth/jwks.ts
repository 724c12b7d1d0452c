/**
 * Where the verifier's public keys come from: a fixed JSON Web Key Set from configuration, or an
 * issuer's JWKS URL, fetched with a timeout and a size limit, cached, and refetched at most once
 * per cooldown (so a flood of tokens with made-up `kid`s cannot turn into a flood of fetches).
 * Keys are only ever taken from here: a token's own `jku`, `x5u`, `jwk` or `x5c` header is
 * refused by the verifier before a key is looked up.
 *
 * Why not jose's own `createRemoteJWKSet`: its cooldown runs from the last successful fetch, so
 * while the issuer's endpoint is down or hangs, every token costs a fetch (and, hanging, a full
 * timeout of the authorizer's time), and it reads a document of any size. This source also cools
 * down after a failure and caps the size; `test/unit/auth/jwks.test.ts` ("what jose's
 * createRemoteJWKSet does not do") runs both against the same endpoint and fails once jose
 * catches up. The two cost the same at cold start (the authorizer bundle differs by under 100
 * bytes; jose's set loads Node's fetch when built, this one at its first fetch).
 */
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters, type LocalJWKSet } from 'jose';
import { KeysUnavailableError } from './errors.js';

/** A key (or a set of candidate keys, jose's JWKSMultipleMatchingKeys) for one token. */
export type KeyLookup = (header: JWSHeaderParameters, token: FlattenedJWSInput) => ReturnType<LocalJWKSet>;

export interface KeySource {
  /** The key for this token's header; jose's `JWKSNoMatchingKey` when the set has none. */
  readonly lookup: KeyLookup;
}

/** Keys given in configuration (`JWT_PUBLIC_KEYS`): never fetched, never refreshed. */
export class StaticKeySource implements KeySource {
  private readonly set: LocalJWKSet;

  constructor(jwks: JSONWebKeySet) {
    this.set = createLocalJWKSet(jwks);
  }

  readonly lookup: KeyLookup = (header, token) => this.set(header, token);
}

export interface RemoteKeySourceOptions {
  /** The issuer's JWKS URL (https, or http on localhost). */
  readonly url: URL;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /** Give up on one fetch after this long. @default 1500 (what API Gateway's own JWT authorizer allows) */
  readonly timeoutMs?: number;
  /** Minimum time between two fetches, successful or not. @default 30000 */
  readonly cooldownMs?: number;
  /** Refetch a key set older than this before using it. @default 600000 (10 minutes) */
  readonly maxAgeMs?: number;
  /** Largest JWKS document accepted. @default 150000 bytes */
  readonly maxBytes?: number;
}

interface Cached {
  readonly set: LocalJWKSet;
  readonly fetchedAt: number;
}

/**
 * An issuer's JWKS URL as a key source.
 *
 * - First use, or a set older than `maxAgeMs`: fetch (one fetch shared by concurrent callers).
 * - A `kid` the cached set does not have: refetch once (key rotation), unless the last fetch
 *   started less than `cooldownMs` ago, in which case the token is simply unknown (401).
 * - A fetch that fails, times out or answers something that is not a key set: a
 *   {@link KeysUnavailableError} (500); no fetch is retried before the cooldown ends.
 *
 * @example
 * const keys = new RemoteKeySource({ url: new URL('https://issuer.example.com/.well-known/jwks.json') });
 */
export class RemoteKeySource implements KeySource {
  private readonly url: URL;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly maxBytes: number;
  private cached: Cached | undefined;
  private lastAttemptAt: number | undefined;
  private lastFailure: KeysUnavailableError | undefined;
  private pending: Promise<Cached> | undefined;

  constructor(options: RemoteKeySourceOptions) {
    this.url = options.url;
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? 1_500;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.maxBytes = options.maxBytes ?? 150_000;
  }

  readonly lookup: KeyLookup = async (header, token) => {
    const cached = this.cached && this.now() - this.cached.fetchedAt < this.maxAgeMs ? this.cached : await this.refresh();
    try {
      return await cached.set(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // Perhaps the issuer rotated its keys. A refetch under way, or one that finished since
      // this lookup began, may have the key; otherwise refetch, at most once per cooldown.
      if (this.pending) return (await this.pending).set(header, token);
      if (this.cached && this.cached !== cached) return this.cached.set(header, token);
      if (this.coolingDown()) throw error;
      return (await this.refresh()).set(header, token);
    }
  };

  private coolingDown(): boolean {
    return this.lastAttemptAt !== undefined && this.now() - this.lastAttemptAt < this.cooldownMs;
  }

  private refresh(): Promise<Cached> {
    if (this.pending) return this.pending;
    if (this.coolingDown()) {
      // A fetch started less than a cooldown ago and gave us nothing newer: do not fetch again.
      if (this.lastFailure) return Promise.reject(this.lastFailure);
      if (this.cached) return Promise.resolve(this.cached);
    }
    this.lastAttemptAt = this.now();
    this.pending = this.fetchSet()
      .then(
        (set) => {
          this.cached = { set, fetchedAt: this.now() };
          this.lastFailure = undefined;
          return this.cached;
        },
        (error: unknown) => {
          this.lastFailure =
            error instanceof KeysUnavailableError
              ? error
              : new KeysUnavailableError(`Cannot read the JWKS at ${this.url.href}.`, { cause: error });
          throw this.lastFailure;
        },
      )
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }

  private async fetchSet(): Promise<LocalJWKSet> {
    const where = this.url.href;
    let response: Response;
    try {
      response = await this.fetchFn(this.url, {
        headers: { accept: 'application/json, application/jwk-set+json' },
        // A redirect could lead anywhere; the configured URL is the only place keys come from.
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new KeysUnavailableError(
        isTimeout(error) ? `The JWKS at ${where} did not answer within ${this.timeoutMs} ms.` : `Cannot reach the JWKS at ${where}.`,
        { cause: error },
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new KeysUnavailableError(`The JWKS at ${where} answered HTTP ${response.status}.`);
    }
    const text = await readLimited(response, this.maxBytes, where, this.timeoutMs);
    try {
      return createLocalJWKSet(JSON.parse(text) as JSONWebKeySet);
    } catch (error) {
      throw new KeysUnavailableError(`The document at ${where} is not a JSON Web Key Set.`, { cause: error });
    }
  }
}

/** The body as text, refusing anything past `maxBytes` without reading it all. */
async function readLimited(response: Response, maxBytes: number, where: string, timeoutMs: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel();
    throw new KeysUnavailableError(`The JWKS at ${where} is ${declared} bytes; at most ${maxBytes} are accepted.`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw new KeysUnavailableError(`The JWKS at ${where} is larger than ${maxBytes} bytes.`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof KeysUnavailableError) throw error;
    throw new KeysUnavailableError(
      isTimeout(error) ? `The JWKS at ${where} did not finish within ${timeoutMs} ms.` : `Reading the JWKS at ${where} failed.`,
      { cause: error },
    );
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The abort of `AbortSignal.timeout` (a DOMException, not always an `Error` of this realm). */
function isTimeout(error: unknown): boolean {
  const name = typeof error === 'object' && error !== null && 'name' in error ? error.name : undefined;
  return name === 'TimeoutError' || name === 'AbortError';
}
