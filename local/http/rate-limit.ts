/**
 * The local API's throttling, API Gateway's usage-plan terms: a token bucket per client (the
 * token's subject, or the source address on public routes), refilled at `ratePerSecond` and
 * holding at most `burst`. The server answers a refused request 429 `RATE_LIMITED` with
 * `Retry-After` (`local/http/gateway.ts`).
 */

/** A token bucket per client: `ratePerSecond` refill, `burst` capacity (API Gateway's terms). */
export interface RateLimit {
  readonly ratePerSecond: number;
  readonly burst: number;
}

/**
 * Per client, as on AWS: the default usage plan of `cdk.json` (`auth.usagePlans`, plan
 * `default`), which throttles each client there. A test keeps the two equal.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { ratePerSecond: 50, burst: 100 };

/**
 * One token bucket per client key: refilled at `ratePerSecond`, holding at most `burst`. Idle
 * clients (full buckets) are forgotten once many clients have been seen.
 *
 * @example
 * const limiter = new TokenBucketLimiter({ ratePerSecond: 50, burst: 100 });
 * limiter.take('alice'); // { allowed: true } or { allowed: false, retryAfterSeconds: 1 }
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
    private readonly maxClients = 10_000,
  ) {
    if (!(limit.ratePerSecond > 0) || !(limit.burst >= 1)) throw new RangeError('A rate limit needs ratePerSecond > 0 and burst >= 1.');
  }

  take(client: string): { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number } {
    const now = this.now();
    const bucket = this.buckets.get(client) ?? { tokens: this.limit.burst, at: now };
    const tokens = Math.min(this.limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.limit.ratePerSecond);
    if (tokens >= 1) {
      if (!this.buckets.has(client) && this.buckets.size >= this.maxClients) this.forgetIdle(now);
      this.buckets.set(client, { tokens: tokens - 1, at: now });
      return { allowed: true };
    }
    this.buckets.set(client, { tokens, at: now });
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.limit.ratePerSecond)) };
  }

  private forgetIdle(now: number): void {
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.limit.ratePerSecond >= this.limit.burst) this.buckets.delete(client);
    }
  }
}
