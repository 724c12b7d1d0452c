/**
 * ReleaseService over in-memory ports, real ONNX Runtime for the gates, and the local traffic
 * router without HTTP: function versions are stub handlers whose status the test chooses, the
 * managed releases' timer is driven by hand, the version choice by a seeded random source.
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { makeHandler as makeControlHandler } from '../../functions/control/app.js';
import { ConflictError, InternalError } from '../../functions/core/errors.js';
import type { ModelVersion } from '../../functions/core/model.js';
import type { MetricBaseline } from '../../functions/core/gates.js';
import { RegistryService } from '../../functions/core/registry.js';
import { ReleaseService, UNPINNED_VERSION, type ReleaseOutcome } from '../../functions/core/release.js';
import { UploadService } from '../../functions/core/uploads.js';
import { EndpointConfigSchema } from '../../lib/config.js';
import { DEFAULT_ROLLBACK_THRESHOLD, LocalTrafficRouter, type EmulatedVersion } from '../../local/traffic.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, InMemoryUploadStore } from '../fixtures/in-memory.js';
import { mlpModel, seededRandom } from '../fixtures/models.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const MODEL = 'mlp';

interface Setup {
  readonly registry: InMemoryModelRegistry;
  readonly artifacts: InMemoryArtifactStore;
  readonly service: RegistryService;
  readonly traffic: LocalTrafficRouter;
  readonly releases: ReleaseService;
  /** Status each function version answers with (200 unless set). */
  readonly status: Map<string, number>;
  /** Milliseconds each function version's call is reported to take (1 unless set). */
  readonly latency: Map<string, number>;
  /** Predictions each function version's pre-traffic call returns (`undefined`: the golden expected). */
  readonly hookAnswer: { value: unknown[] | undefined };
  /** What each function version's pre-traffic call throws instead, when set. */
  readonly hookError: { value: Error | undefined };
  /** What the local router wrote to its warning stream (the server's log). */
  readonly warnings: string[];
  /** The endpoint's metric baseline the gates apply (none unless set). */
  readonly baseline: { value: MetricBaseline | undefined };
  /** Runs every live timer callback once, as one tick of the clock. */
  tick(): Promise<void>;
  advance(ms: number): void;
  /** Serves `count` requests through the alias; returns the function versions that served them. */
  serve(count: number): Promise<string[]>;
}

function setup(): Setup {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: '/tmp/release-test', intraOpThreads: 1 });
  const service = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 1_000_000, now: () => NOW });
  const status = new Map<string, number>();
  const latency = new Map<string, number>();
  const hookAnswer: { value: unknown[] | undefined } = { value: undefined };
  const hookError: { value: Error | undefined } = { value: undefined };
  const warnings: string[] = [];
  const baseline: { value: MetricBaseline | undefined } = { value: undefined };
  let clock = NOW.getTime();
  const timers = new Set<() => Promise<void>>();
  let releases: ReleaseService | undefined;
  const stub = (functionVersion: string): EmulatedVersion['function'] => ({
    version: functionVersion,
    handler: async () => ({ statusCode: status.get(functionVersion) ?? 200, body: JSON.stringify({ functionVersion }) }),
  });
  const traffic = new LocalTrafficRouter({
    latest: stub(UNPINNED_VERSION),
    registry,
    makeVersion: (_model, functionVersion, modelVersion) => ({
      function: stub(functionVersion),
      predict: async (model) => {
        if (hookError.value) throw hookError.value;
        const version = await registry.getVersion(model, modelVersion);
        return { predictions: hookAnswer.value ?? [...(version?.metadata.goldenInputs?.[0]?.expected ?? [])] };
      },
    }),
    random: seededRandom(7),
    now: () => clock,
    every: (_ms, fn) => {
      timers.add(fn);
      return () => timers.delete(fn);
    },
    tickMs: 1_000,
    minuteMs: 60_000,
    rollback: { errorRate: 0.05, minInvocations: 20, p99LatencyMs: 1_000 },
    onOutcome: async (outcome: ReleaseOutcome) => releases?.recordOutcome(outcome),
    warn: (text) => warnings.push(text),
  });
  releases = new ReleaseService({
    registry,
    service,
    router: traffic,
    now: () => NOW,
    gates: { artifacts, runtime, baselineFor: () => baseline.value },
  });
  return {
    registry,
    artifacts,
    service,
    traffic,
    releases,
    status,
    latency,
    hookAnswer,
    hookError,
    warnings,
    baseline,
    async tick() {
      for (const fn of [...timers]) await fn();
    },
    advance(ms) {
      clock += ms;
    },
    async serve(count) {
      const served: string[] = [];
      for (let i = 0; i < count; i++) {
        const chosen = traffic.select('predict', { model: MODEL });
        if (!chosen) throw new Error('no version selected');
        const result = await chosen.function.handler({} as never, {} as never);
        const version = chosen.function.version ?? UNPINNED_VERSION;
        chosen.done(result.statusCode, latency.get(version) ?? 1);
        served.push(version);
      }
      return served;
    },
  };
}

/** Registers an MLP version and moves it to `stage` (production goes through staging). */
async function version(
  s: Setup,
  seed: number,
  stage: 'development' | 'staging' | 'production',
  metadata: Record<string, unknown> = {},
): Promise<ModelVersion> {
  const created = await s.service.register({ model: MODEL, bytes: mlpModel({ seed }).bytes, metadata, actor: 'alice' });
  if (stage !== 'development') await s.service.transition({ model: MODEL, version: created.version, to: 'staging', actor: 'alice' });
  if (stage === 'production') await s.service.setProduction(MODEL, created.version, 'alice');
  return (await s.registry.getVersion(MODEL, created.version)) ?? created;
}

/** 99% two-sided binomial bound around n·p. */
function withinBound(k: number, n: number, p: number): boolean {
  return Math.abs(k - n * p) <= 2.576 * Math.sqrt(n * p * (1 - p));
}

describe('manual releases', () => {
  it('publishes a pinned function version and gives it the canary weight; the stable side serves production', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');

    const result = await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' });

    expect(result.release).toEqual({ mode: 'manual', functionVersion: '1', modelVersion: '2' });
    expect(result.deployment).toMatchObject({
      model: MODEL,
      alias: 'live',
      productionVersion: '1',
      stable: { functionVersion: UNPINNED_VERSION, modelVersion: '1', pinned: false, percent: 90 },
      canary: { functionVersion: '1', modelVersion: '2', pinned: true, percent: 10 },
    });
    const served = await s.serve(10_000);
    expect(withinBound(served.filter((v) => v === '1').length, 10_000, 0.1)).toBe(true);
  });

  it('shifts, counts invocations and errors per version, and rolls back with the reason in the history', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' });
    s.status.set('1', 503);

    const shifted = await s.releases.shift(MODEL, 50);
    const served = await s.serve(2_000);
    const deployment = await s.releases.deployment(MODEL);
    const rolledBack = await s.releases.rollback(MODEL, 'bob', 'errors on the canary');

    const canaryCount = served.filter((v) => v === '1').length;
    expect(shifted.canary?.percent).toBe(50);
    expect(withinBound(canaryCount, 2_000, 0.5)).toBe(true);
    expect(deployment.canary).toMatchObject({ invocations: canaryCount, errors: canaryCount });
    expect(deployment.stable).toMatchObject({ invocations: 2_000 - canaryCount, errors: 0 });
    expect(rolledBack.canary).toBeUndefined();
    expect(rolledBack.stable).toMatchObject({ functionVersion: UNPINNED_VERSION, percent: 100 });
    expect((await s.registry.getVersion(MODEL, '2'))?.stage).toBe('staging');
    expect((await s.registry.listHistory(MODEL)).at(-1)).toMatchObject({
      version: '2',
      from: 'staging',
      to: 'staging',
      actor: 'bob',
      reason: expect.stringMatching(
        /^release rolled back: function version 1 \(model version 2\) took 50% of the traffic; errors on the canary$/,
      ) as unknown,
    });
    expect(new Set(await s.serve(200))).toEqual(new Set([UNPINNED_VERSION]));
  });

  it('shows per version the invocations, errors (5xx), client errors (4xx) and latency over the window', async () => {
    // Prepare: the canary answers 404 (the caller's error) in 20 ms; the stable version 200 in 4 ms.
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 50, actor: 'alice' });
    s.status.set('1', 404);
    s.latency.set('1', 20);
    s.latency.set(UNPINNED_VERSION, 4);

    // Act
    const served = await s.serve(400);
    const deployment = await s.releases.deployment(MODEL);
    s.advance(61 * 60_000);
    const hourLater = await s.releases.deployment(MODEL);

    // Assess
    const canary = served.filter((v) => v === '1').length;
    expect(deployment.canary).toEqual(expect.objectContaining({ invocations: canary, errors: 0, clientErrors: canary }));
    expect(deployment.canary?.latencyMs).toEqual({
      p50: expect.closeTo(20, 0) as unknown,
      p99: expect.closeTo(20, 0) as unknown,
      mean: 20,
    });
    expect(deployment.stable).toEqual(expect.objectContaining({ invocations: 400 - canary, errors: 0, clientErrors: 0 }));
    expect(deployment.stable.latencyMs?.mean).toBe(4);
    // Outside the 60-minute window: nothing served, no latency.
    expect(hourLater.canary).toEqual(expect.objectContaining({ invocations: 0, clientErrors: 0, latencyMs: null }));
  });

  it('finalizes: the registry production version first (previous archived), then all traffic to the canary', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 25, actor: 'alice' });

    const finalized = await s.releases.finalize(MODEL, 'carol');

    expect(finalized).toMatchObject({
      productionVersion: '2',
      stable: { functionVersion: '1', modelVersion: '2', pinned: true, percent: 100 },
    });
    expect(finalized.canary).toBeUndefined();
    expect((await s.registry.getModel(MODEL))?.productionVersion).toBe('2');
    expect((await s.registry.getVersion(MODEL, '1'))?.stage).toBe('archived');
    expect(new Set(await s.serve(100))).toEqual(new Set(['1']));
  });

  it('promotes without a canary straight to all the traffic and production', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');

    const result = await s.releases.promote({ model: MODEL, version: '2', actor: 'alice' });

    expect(result.release.mode).toBe('direct');
    expect(result.deployment).toMatchObject({ productionVersion: '2', stable: { functionVersion: '1', modelVersion: '2', percent: 100 } });
    expect(result.deployment.canary).toBeUndefined();
  });
});

describe('refusals', () => {
  it('refuses a second release while a canary is out (RELEASE_IN_PROGRESS) and publishes nothing', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await version(s, 3, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' });

    const error = await rejection(s.releases.promote({ model: MODEL, version: '3', canaryPercent: 10, actor: 'alice' }));

    expect(error).toMatchObject({ status: 409, code: 'RELEASE_IN_PROGRESS' });
    expect((await s.traffic.getRouting(MODEL)).versions.map((v) => v.functionVersion)).toEqual([UNPINNED_VERSION, '1']);
  });

  it.each([0, 100, -5, 150, Number.NaN, 1e-200, 0.009, 99.999_999_999_999_99, 99.995])(
    'refuses the weight %p (INVALID_WEIGHT)',
    async (percent) => {
      const s = setup();
      await version(s, 1, 'production');
      await version(s, 2, 'staging');

      const promote = await rejection(s.releases.promote({ model: MODEL, version: '2', canaryPercent: percent, actor: 'alice' }));
      await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' });
      const shift = await rejection(s.releases.shift(MODEL, percent));

      expect(promote).toMatchObject({ status: 400, code: 'INVALID_WEIGHT' });
      expect(shift).toMatchObject({ status: 400, code: 'INVALID_WEIGHT' });
    },
  );

  it('refuses shift, rollback and finalize without a release (NO_RELEASE)', async () => {
    const s = setup();
    await version(s, 1, 'production');

    for (const act of [s.releases.shift(MODEL, 20), s.releases.rollback(MODEL, 'a'), s.releases.finalize(MODEL, 'a')]) {
      expect(await rejection(act)).toMatchObject({ status: 409, code: 'NO_RELEASE' });
    }
  });

  it('releases only staging versions, and runs the gates again before publishing', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'development');
    await version(s, 3, 'staging');
    s.baseline.value = { accuracy: { min: 0.9 } };

    const notStaged = await rejection(s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' }));
    const missing = await rejection(s.releases.promote({ model: MODEL, version: '9', canaryPercent: 10, actor: 'alice' }));

    expect(notStaged).toMatchObject({ status: 409, code: 'NOT_IN_STAGING' });
    expect(missing).toMatchObject({ status: 404, code: 'VERSION_NOT_FOUND' });
    expect(await rejection(s.releases.promote({ model: MODEL, version: '3', canaryPercent: 10, actor: 'alice' }))).toMatchObject({
      status: 422,
      code: 'GATE_METRICS',
    });
    expect((await s.traffic.getRouting(MODEL)).versions).toHaveLength(1);
  });

  it('of 10 concurrent canary promotions, the 9 that lose (ALIAS_CHANGED) leave no function version behind', async () => {
    // Prepare
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');

    // Act
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' })),
    );

    // Assess
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as ConflictError] : []));
    expect(won).toHaveLength(1);
    expect(lost.map((e) => [e.status, e.code])).toEqual(Array(9).fill([409, 'ALIAS_CHANGED']));
    const { routing, versions } = await s.traffic.getRouting(MODEL);
    expect(versions.map((v) => v.functionVersion)).toEqual([UNPINNED_VERSION, won[0]?.release.functionVersion]);
    expect(routing.canary?.version).toBe(won[0]?.release.functionVersion);
  });

  it('a direct release the registry refuses (a concurrent promotion won) deletes the version it published', async () => {
    // Prepare: version 2 goes to production behind the release's back, between its read and its write
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await version(s, 3, 'staging');
    const publish = s.traffic.publishVersion.bind(s.traffic);
    s.traffic.publishVersion = async (model, modelVersion) => {
      const published = await publish(model, modelVersion);
      await s.service.setProduction(MODEL, '2', 'bob');
      await s.service.transition({ model: MODEL, version: '3', to: 'archived', actor: 'bob' });
      return published;
    };

    // Act
    const error = await rejection(s.releases.promote({ model: MODEL, version: '3', actor: 'alice' }));

    // Assess
    expect(error.status).toBe(409);
    expect((await s.traffic.getRouting(MODEL)).versions.map((v) => v.functionVersion)).toEqual([UNPINNED_VERSION]);
  });

  it('of 10 shifts decided from the same reading (expectedCanary), only the first applies, even when none overlaps another', async () => {
    // Prepare
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' });
    const read = (await s.releases.deployment(MODEL)).canary;
    const expected = { functionVersion: read?.functionVersion ?? '', percent: read?.percent ?? 0 };

    // Act: ten operators, each from the same reading, each to another weight, one after another
    // (requests that do not overlap: the alias's own compare-and-set cannot tell them apart)
    const results: PromiseSettledResult<unknown>[] = [];
    for (let i = 0; i < 10; i++) results.push(...(await Promise.allSettled([s.releases.shift(MODEL, 20 + i * 5, expected)])));

    // Assess
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as ConflictError] : []));
    expect(results[0]?.status).toBe('fulfilled');
    expect(lost.map((e) => [e.status, e.code, e.path])).toEqual(Array(9).fill([409, 'ALIAS_CHANGED', ['expectedCanary']]));
    expect(lost[0]?.message).toBe(
      'Alias "live" of "mlp" changed since it was read: its canary is function version 1 (model version 2) at 20%, not function version 1 at 10% as expected. Read the deployment again and decide anew.',
    );
    expect((await s.traffic.getRouting(MODEL)).routing.canary?.weight).toBe(0.2);
  });

  it('applies shift, rollback and finalize only to the canary the caller read, when it says which (expectedCanary)', async () => {
    // Prepare: function version 1 was rolled back and version 2 (another model version) is now the canary at 10%
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await version(s, 3, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 10, actor: 'alice' });
    await s.releases.rollback(MODEL, 'bob');
    await s.releases.promote({ model: MODEL, version: '3', canaryPercent: 10, actor: 'bob' });
    const before = (await s.traffic.getRouting(MODEL)).routing;

    // Act: alice still acts on what she read before: function version 1 at 10%
    const stale = { functionVersion: '1', percent: 10 };
    const refused = [
      await rejection(s.releases.shift(MODEL, 50, stale)),
      await rejection(s.releases.rollback(MODEL, 'alice', undefined, { functionVersion: '1' })),
      await rejection(s.releases.finalize(MODEL, 'alice', undefined, stale)),
      await rejection(s.releases.shift(MODEL, 50, { functionVersion: '2', percent: 20 })),
    ];
    const applied = await s.releases.shift(MODEL, 50, { functionVersion: '2', percent: 10 });

    // Assess
    expect(refused.map((e) => [e.status, e.code])).toEqual(Array(4).fill([409, 'ALIAS_CHANGED']));
    expect(before).toEqual({ stable: UNPINNED_VERSION, canary: { version: '2', weight: 0.1 } });
    expect(applied.canary).toMatchObject({ functionVersion: '2', modelVersion: '3', percent: 50 });
    expect((await s.registry.getModel(MODEL))?.productionVersion).toBe('1');
  });

  it('changes the alias only if it is still what was read (ALIAS_CHANGED)', async () => {
    const s = setup();
    await version(s, 1, 'production');
    const fv = await s.traffic.publishVersion(MODEL, '1');

    await s.traffic.setRouting(MODEL, { stable: fv }, { stable: UNPINNED_VERSION });
    const error = await rejection(s.traffic.setRouting(MODEL, { stable: UNPINNED_VERSION }, { stable: UNPINNED_VERSION }));

    expect(error).toBeInstanceOf(ConflictError);
    expect(error.code).toBe('ALIAS_CHANGED');
    expect((await s.traffic.getRouting(MODEL)).routing).toEqual({ stable: fv });
  });
});

describe('managed releases', () => {
  it('steps a linear release on the timer and, at 100%, makes the version production', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');

    const result = await s.releases.promote({
      model: MODEL,
      version: '2',
      managed: { kind: 'linear', percent: 40, intervalMinutes: 5 },
      actor: 'alice',
    });
    const weights = [result.deployment.canary?.percent];
    for (let step = 0; step < 3; step++) {
      s.advance(5 * 60_000);
      await s.tick();
      weights.push((await s.releases.deployment(MODEL)).canary?.percent);
    }

    expect(result.release).toMatchObject({
      mode: 'managed',
      functionVersion: '1',
      deploymentId: expect.stringMatching(/^local-/) as unknown,
    });
    expect(weights).toEqual([40, 80, undefined, undefined]);
    expect(await s.releases.deployment(MODEL)).toMatchObject({ productionVersion: '2', stable: { functionVersion: '1', percent: 100 } });
    expect((await s.registry.listHistory(MODEL)).at(-2)).toMatchObject({ version: '2', to: 'production', actor: 'release-monitor' });
  });

  it('rolls back by itself when the canary error rate passes the threshold, and says why in the history', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', managed: { kind: 'canary', percent: 50, intervalMinutes: 10 }, actor: 'alice' });
    s.status.set('1', 500);

    await s.serve(10); // fewer than the 20 invocations the rate is judged from
    await s.tick();
    const before = await s.releases.deployment(MODEL);
    await s.serve(60);
    await s.tick();

    expect(before.canary).toBeDefined();
    const after = await s.releases.deployment(MODEL);
    expect(after.canary).toBeUndefined();
    expect(after).toMatchObject({ productionVersion: '1', stable: { functionVersion: UNPINNED_VERSION } });
    expect(s.traffic.managedRelease(MODEL)).toBeUndefined();
    expect((await s.registry.listHistory(MODEL)).at(-1)).toMatchObject({
      version: '2',
      from: 'staging',
      to: 'staging',
      actor: 'release-monitor',
      reason: expect.stringMatching(/rolled back automatically.*error rate \d+\/\d+ .*passed the threshold of 5%/) as unknown,
    });
  });

  it("rolls back by itself when the canary's p99 latency passes the threshold, with the numbers in the history", async () => {
    // Prepare: the canary fails nothing but takes 1.5 s per request.
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', managed: { kind: 'canary', percent: 50, intervalMinutes: 10 }, actor: 'alice' });
    s.latency.set('1', 1_500);

    // Act
    await s.serve(20); // about 10 on the canary: fewer than the 20 a p99 is judged from
    await s.tick();
    const before = await s.releases.deployment(MODEL);
    await s.serve(80);
    await s.tick();

    // Assess
    expect(before.canary).toBeDefined();
    expect((await s.releases.deployment(MODEL)).canary).toBeUndefined();
    expect((await s.registry.listHistory(MODEL)).at(-1)).toMatchObject({
      version: '2',
      to: 'staging',
      actor: 'release-monitor',
      reason: expect.stringMatching(
        /rolled back automatically.*p99 latency 15\d\d(\.\d)? ms over its \d+ invocations passed the threshold of 1000 ms/,
      ) as unknown,
    });
  });

  it("never rolls back a canary for its callers' errors: a canary answering only 4xx completes", async () => {
    // Prepare
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', managed: { kind: 'canary', percent: 50, intervalMinutes: 10 }, actor: 'alice' });
    s.status.set('1', 400);

    // Act
    await s.serve(200);
    await s.tick();
    const during = await s.releases.deployment(MODEL);
    s.advance(10 * 60_000);
    await s.tick();

    // Assess
    expect(during.canary).toMatchObject({ percent: 50, errors: 0 });
    expect(during.canary?.clientErrors).toBeGreaterThan(20);
    expect(await s.releases.deployment(MODEL)).toMatchObject({ productionVersion: '2', stable: { functionVersion: '1', percent: 100 } });
    expect((await s.registry.listHistory(MODEL)).some((h) => h.actor === 'release-monitor' && h.to === 'staging')).toBe(false);
  });

  it('judges only what the canary served since the release started', async () => {
    // Prepare: function version 1 failed everything in an earlier manual canary, then was rolled back.
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', canaryPercent: 50, actor: 'alice' });
    s.status.set('1', 500);
    await s.serve(100);
    await s.releases.rollback(MODEL, 'alice');
    await s.registry.getVersion(MODEL, '2');
    s.status.delete('1');

    // Act: a managed release of the same model version publishes function version 2, which works.
    await s.releases.promote({ model: MODEL, version: '2', managed: { kind: 'canary', percent: 50, intervalMinutes: 10 }, actor: 'alice' });
    await s.serve(100);
    await s.tick();

    // Assess
    expect((await s.releases.deployment(MODEL)).canary).toMatchObject({ functionVersion: '2', percent: 50 });
  });

  it('never sends traffic to a version that fails its golden inputs (pre-traffic hook)', async () => {
    const s = setup();
    await version(s, 1, 'production');
    const golden = { request: { instances: [[0.1, 0.2, 0.3, 0.4]] }, expected: [] as unknown[] };
    // The gate computes the real expected output; register it as golden, then let the hook see another one.
    const probe = await version(s, 2, 'development');
    const runtime = new OnnxRuntime(s.artifacts, { cacheDir: '/tmp/release-test', intraOpThreads: 1 });
    const { served, predictRecords } = await import('../../functions/core/predict.js');
    golden.expected = (await predictRecords(served(probe, await runtime.load(probe)), golden.request, 10)).predictions;
    await version(s, 2, 'staging', { goldenInputs: [golden] });
    s.hookAnswer.value = [[0.5, 0.25, 0.25]];

    const result = await s.releases.promote({
      model: MODEL,
      version: '3',
      managed: { kind: 'canary', percent: 10, intervalMinutes: 5 },
      actor: 'alice',
    });

    expect(result.deployment.canary).toBeUndefined();
    expect((await s.registry.listHistory(MODEL)).at(-1)).toMatchObject({
      version: '3',
      to: 'staging',
      reason: expect.stringContaining('pre-traffic hook: golden input 0 on function version 1') as unknown,
    });
  });

  it('records a server-side failure of the pre-traffic hook by its code only: the history is readable through the API', async () => {
    const s = setup();
    await version(s, 1, 'production');
    const golden = { request: { instances: [[0.1, 0.2, 0.3, 0.4]] }, expected: [] as unknown[] };
    const probe = await version(s, 2, 'development');
    const runtime = new OnnxRuntime(s.artifacts, { cacheDir: '/tmp/release-test', intraOpThreads: 1 });
    const { served, predictRecords } = await import('../../functions/core/predict.js');
    golden.expected = (await predictRecords(served(probe, await runtime.load(probe)), golden.request, 10)).predictions;
    await version(s, 2, 'staging', { goldenInputs: [golden] });
    s.hookError.value = new InternalError(
      'ARTIFACT_NOT_FOUND',
      'The model file s3://onnx-artifacts/models/mlp/ab12.onnx (version 3) does not exist.',
    );

    await s.releases.promote({ model: MODEL, version: '3', managed: { kind: 'canary', percent: 10, intervalMinutes: 5 }, actor: 'alice' });

    const reason = (await s.registry.listHistory(MODEL)).at(-1)?.reason ?? '';
    expect(reason).toContain('pre-traffic hook: golden input 0 failed on function version 1: a server error (ARTIFACT_NOT_FOUND');
    expect(reason).not.toMatch(/s3:|onnx-artifacts|models\//);
    expect(s.warnings.join('')).toContain('s3://onnx-artifacts/models/mlp/ab12.onnx');
  });

  it('hands the alias back to the operator: a manual change stops the managed release', async () => {
    const s = setup();
    await version(s, 1, 'production');
    await version(s, 2, 'staging');
    await s.releases.promote({ model: MODEL, version: '2', managed: { kind: 'linear', percent: 10, intervalMinutes: 1 }, actor: 'alice' });

    await s.releases.shift(MODEL, 30);
    s.advance(10 * 60_000);
    await s.tick();

    expect(s.traffic.managedRelease(MODEL)).toBeUndefined();
    expect((await s.releases.deployment(MODEL)).canary?.percent).toBe(30);
  });
});

describe('the local rollback threshold', () => {
  it("defaults to the CDK app's endpoint alarm defaults (lib/config.ts) and cdk.json's endpoint alarms", () => {
    // Prepare
    const schemaDefaults = EndpointConfigSchema.parse({ model: 'any' }).alarms as unknown as Record<string, number>;
    const cdk = JSON.parse(readFileSync('cdk.json', 'utf8')) as {
      context: { onnxServing: { endpoints: { alarms?: Record<string, number> }[] } };
    };
    const configured = cdk.context.onnxServing.endpoints[0]?.alarms ?? {};
    const asThreshold = (alarms: Record<string, number | undefined>) => ({
      errorRate: (alarms['errorRatePercent'] ?? Number.NaN) / 100,
      minInvocations: alarms['minInvocations'],
      p99LatencyMs: alarms['p99LatencyMs'],
    });

    // Act / Assess
    expect(DEFAULT_ROLLBACK_THRESHOLD).toEqual(asThreshold(schemaDefaults));
    expect(DEFAULT_ROLLBACK_THRESHOLD).toEqual(asThreshold({ ...schemaDefaults, ...configured }));
  });
});

describe('the control plane without a traffic router', () => {
  it('answers the release routes with 501 RELEASES_NOT_CONFIGURED', async () => {
    const s = setup();
    const uploads = new UploadService({ uploads: new InMemoryUploadStore(), service: s.service, maxArtifactBytes: 1_000_000 });
    const handler = makeControlHandler({ service: s.service, uploads, limits: { maxBodyBytes: 10_000, maxJsonDepth: 10 } });
    const event = {
      httpMethod: 'GET',
      resource: '/v1/models/{model}/deployment',
      path: `/v1/models/${MODEL}/deployment`,
      pathParameters: { model: MODEL },
      headers: {},
      body: null,
      isBase64Encoded: false,
      requestContext: { requestId: 'r-1' },
    } as unknown as APIGatewayProxyEvent;

    const result = await handler(event, {} as Context);

    expect(result.statusCode).toBe(501);
    expect(JSON.parse(result.body)).toMatchObject({
      error: { code: 'RELEASES_NOT_CONFIGURED', message: expect.stringContaining('no traffic router') as unknown },
      requestId: 'r-1',
    });
  });
});
