/**
 * The bounded set of model sessions one process holds: least recently used first out, by count
 * and by bytes, with reference counting so that a session is never freed under a run.
 *
 * - `acquire(key, ...)` hands out a lease on the session of `key`, creating it at most once
 *   however many callers ask at the same time; every lease is given back with `release()`.
 * - A session some lease holds (or that is still being created) is *busy*: never evicted. The
 *   bounds apply to the idle ones. When busy sessions alone pass a bound (more versions in use at
 *   once than the bound allows), nothing busy is dropped: the cache holds more until they are
 *   released, then trims back.
 * - An evicted session is freed (`free`, ONNX Runtime's `InferenceSession.release()`) exactly
 *   once, at once, since only idle sessions are evicted.
 *
 * The policy is independent of ONNX Runtime (`S` is any session type), so it is unit-tested with
 * stand-in sessions (test/unit/session-cache.test.ts).
 */

/** How much a process keeps; see `SESSION_CACHE_MAX_SESSIONS` / `SESSION_CACHE_MAX_BYTES` in functions/shared/config.ts. */
export interface SessionCacheLimits {
  /** Sessions kept at most, busy ones included as long as idle ones can make room (0: none kept idle). */
  readonly maxSessions: number;
  /** Their summed size at most, in bytes (each session counts as its model file's size). */
  readonly maxBytes: number;
}

/** A caller's hold on a session: `release()` once when done; later calls do nothing. */
export interface Lease<S> {
  readonly session: S;
  /** Whether this acquire created the session (the one caller that paid for the load). */
  readonly created: boolean;
  release(): void;
}

/** What `create` resolves to: the session and its size in bytes. */
export interface Created<S> {
  readonly session: S;
  readonly bytes: number;
}

interface Entry<S> {
  readonly key: string;
  /** Counted size: the estimate until the session exists, then what `create` reported. */
  bytes: number;
  readonly ready: Promise<S>;
  session?: S;
  /** Leases held, plus callers waiting for the session to be created. */
  refs: number;
  freed: boolean;
}

/** What the cache holds now. */
export interface SessionCacheStats {
  readonly sessions: number;
  readonly bytes: number;
  /** Sessions some lease holds or that are being created. */
  readonly busy: number;
  /** Sessions freed since the cache was made. */
  readonly freed: number;
}

export class SessionCache<S> {
  /** Insertion order is recency order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry<S>>();
  private bytes = 0;
  private freedCount = 0;

  /**
   * @param limits the bounds (validated: whole numbers, not negative)
   * @param free frees a session; called exactly once per session, when it is evicted idle. Its
   *   failure is reported to `onFreeError` and otherwise ignored (the entry is gone either way).
   */
  constructor(
    readonly limits: SessionCacheLimits,
    private readonly free: (session: S) => Promise<void> | void,
    private readonly onFreeError: (error: unknown, key: string) => void = () => undefined,
  ) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isInteger(value) || value < 0)
        throw new RangeError(`SessionCache ${name} must be a whole number ≥ 0, not ${String(value)}.`);
    }
  }

  /**
   * A lease on the session of `key`: the cached one (now the most recently used), or one made by
   * `create` (called once per key while it is cached; a failed `create` is not cached, so the
   * next call tries again). `estimatedBytes` sizes the session before it exists, so that idle
   * sessions make room for it before it is created rather than after.
   */
  async acquire(key: string, estimatedBytes: number, create: () => Promise<Created<S>>): Promise<Lease<S>> {
    let entry = this.entries.get(key);
    const created = entry === undefined;
    if (entry) {
      // Most recently used: moved to the end.
      this.entries.delete(key);
      this.entries.set(key, entry);
      entry.refs++;
    } else {
      entry = this.insert(key, Math.max(0, estimatedBytes), create);
    }
    let session: S;
    try {
      session = await entry.ready;
    } catch (error) {
      entry.refs--;
      throw error;
    }
    const held = entry;
    let released = false;
    return {
      session,
      created,
      release: () => {
        if (released) return;
        released = true;
        this.unref(held);
      },
    };
  }

  stats(): SessionCacheStats {
    let busy = 0;
    for (const entry of this.entries.values()) if (entry.refs > 0) busy++;
    return { sessions: this.entries.size, bytes: this.bytes, busy, freed: this.freedCount };
  }

  private insert(key: string, estimate: number, create: () => Promise<Created<S>>): Entry<S> {
    // Idle sessions make room first, so the process never holds the evicted and the new at once.
    this.trim(1, estimate);
    const entry: Entry<S> = {
      key,
      bytes: estimate,
      refs: 1,
      freed: false,
      ready: create().then(
        (created) => {
          entry.session = created.session;
          this.resize(entry, Math.max(0, created.bytes));
          return created.session;
        },
        (error: unknown) => {
          this.remove(entry);
          throw error;
        },
      ),
    };
    this.entries.set(key, entry);
    this.bytes += estimate;
    return entry;
  }

  private resize(entry: Entry<S>, bytes: number): void {
    if (this.entries.get(entry.key) !== entry) return;
    this.bytes += bytes - entry.bytes;
    entry.bytes = bytes;
    this.trim();
  }

  private unref(entry: Entry<S>): void {
    entry.refs--;
    if (entry.refs === 0) this.trim();
  }

  /**
   * Evicts idle sessions, least recently used first, until both bounds hold with room for
   * `count` more sessions of `bytes` more, or only busy ones remain.
   */
  private trim(count = 0, bytes = 0): void {
    const { maxSessions, maxBytes } = this.limits;
    const fits = () => this.entries.size + count <= maxSessions && this.bytes + bytes <= maxBytes;
    if (fits()) return;
    for (const entry of [...this.entries.values()]) {
      if (fits()) return;
      if (entry.refs > 0 || entry.session === undefined) continue;
      this.remove(entry);
      this.release(entry);
    }
  }

  private remove(entry: Entry<S>): void {
    if (this.entries.get(entry.key) !== entry) return;
    this.entries.delete(entry.key);
    this.bytes -= entry.bytes;
  }

  private release(entry: Entry<S>): void {
    if (entry.freed || entry.session === undefined) return;
    entry.freed = true;
    this.freedCount++;
    try {
      const done = this.free(entry.session);
      if (done) done.catch((error: unknown) => this.onFreeError(error, entry.key));
    } catch (error) {
      this.onFreeError(error, entry.key);
    }
  }
}
