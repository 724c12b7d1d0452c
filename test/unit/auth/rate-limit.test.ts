/**
 * The local server's per-client token bucket, on a frozen clock.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_RATE_LIMIT, TokenBucketLimiter } from '../../../local/server.js';

let now: number;
beforeEach(() => {
  now = 1_000_000;
});

it("defaults to the per-client limit AWS applies: cdk.json's default usage plan", () => {
  const cdk = JSON.parse(readFileSync('cdk.json', 'utf8')) as {
    context: { onnxServing: { auth: { usagePlans: { name: string; rateLimit: number; burstLimit: number }[] } } };
  };
  const plan = cdk.context.onnxServing.auth.usagePlans.find((p) => p.name === 'default');
  expect(DEFAULT_RATE_LIMIT).toEqual({ ratePerSecond: plan?.rateLimit, burst: plan?.burstLimit });
});

it('lets a burst through, then refuses with the wait until the next token', () => {
  const limiter = new TokenBucketLimiter({ ratePerSecond: 2, burst: 3 }, () => now);

  const burst = [1, 2, 3].map(() => limiter.take('alice').allowed);
  const fourth = limiter.take('alice');

  expect(burst).toEqual([true, true, true]);
  expect(fourth).toEqual({ allowed: false, retryAfterSeconds: 1 });
});

it('refills at the rate, never above the burst', () => {
  const limiter = new TokenBucketLimiter({ ratePerSecond: 10, burst: 5 }, () => now);
  for (let i = 0; i < 5; i++) limiter.take('alice');

  now += 100; // one token
  const afterOne = [limiter.take('alice').allowed, limiter.take('alice').allowed];
  now += 60_000; // a minute idle: back to 5, not 600
  const afterIdle = Array.from({ length: 6 }, () => limiter.take('alice').allowed);

  expect(afterOne).toEqual([true, false]);
  expect(afterIdle).toEqual([true, true, true, true, true, false]);
});

it('keeps one bucket per client', () => {
  const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 1 }, () => now);
  expect([limiter.take('alice').allowed, limiter.take('alice').allowed, limiter.take('bob').allowed]).toEqual([true, false, true]);
});

it('says how long to wait when the rate is below one per second', () => {
  const limiter = new TokenBucketLimiter({ ratePerSecond: 0.25, burst: 1 }, () => now);
  limiter.take('alice');
  expect(limiter.take('alice')).toEqual({ allowed: false, retryAfterSeconds: 4 });
});

it('forgets idle clients once it tracks too many', () => {
  const limiter = new TokenBucketLimiter({ ratePerSecond: 1, burst: 1 }, () => now, 2);
  limiter.take('a');
  limiter.take('b');
  now += 5_000; // a and b are full again: forgettable
  limiter.take('c');
  // a was forgotten, so it starts with a full bucket again (the same answer it would get anyway).
  expect(limiter.take('a').allowed).toBe(true);
  expect(() => new TokenBucketLimiter({ ratePerSecond: 0, burst: 1 })).toThrow(RangeError);
});
