/**
 * Releases on the emulated alias over real HTTP, driven by `modelctl` as a person would: a 10%
 * canary, a shift to 50%, a rollback, a finalize, each followed by real predict requests whose
 * responses say which version served them; and a managed release of a model that fails at run
 * time on some inputs, rolled back by itself (answers of 500 or more count), while a canary that
 * only answers its callers' errors (4xx) is left alone.
 */
import { readFile } from 'node:fs/promises';
import { buildModel } from '../support/onnx/builder.js';
import { lookupModel, seededRandom } from '../fixtures/models.js';
import type { Deployment } from '../../functions/core/release.js';
import { SAMPLE_MODEL } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { runModelctl } from '../fixtures/modelctl.js';
import { adminCall, adminToken, type Call } from '../fixtures/tokens.js';

let stack: TestStack;
let call: Call;
let token: string;
/** Checks of managed releases done so far (the monitor's timer, counted). */
let ticks = 0;

const IRIS_ROW = { features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 } };

beforeAll(async () => {
  stack = await startTestStack({
    rateLimit: false,
    // Managed releases are checked every 20 ms; they roll back above 5% errors from 20 invocations.
    // The alias picks versions from a seeded source, so the split checks below are reproducible
    // (with Math.random each 99% bound failed one run in a hundred).
    releases: {
      random: seededRandom(20261130),
      tickMs: 20,
      rollback: { errorRate: 0.05, minInvocations: 20 },
      every: (ms, fn) => {
        const timer = setInterval(() => void fn().then(() => ticks++), ms);
        return () => clearInterval(timer);
      },
    },
  });
  call = await adminCall(stack);
  token = await adminToken(stack, 'release-manager');
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function cli(...argv: string[]): Promise<unknown> {
  const { code, out, err } = await runModelctl({ url: stack.url, token }, [...argv, '-o', 'json']);
  if (code !== 0) throw new Error(`modelctl ${argv.join(' ')} exited ${code}: ${err}`);
  return JSON.parse(out) as unknown;
}

/** Registers `bytes` as a new version of `model` and moves it to staging; returns its number. */
async function stagedVersion(model: string, bytes: Uint8Array, metadata: unknown): Promise<string> {
  const registered = await call(stack.url, 'POST', `/v1/models/${model}/versions`, {
    modelBase64: Buffer.from(bytes).toString('base64'),
    metadata,
  });
  expect(registered.status).toBe(201);
  const { version } = registered.body as { version: string };
  const staged = await call(stack.url, 'POST', `/v1/models/${model}/versions/${version}/stage`, { to: 'staging' });
  expect(staged.status).toBe(200);
  return version;
}

interface Served {
  readonly status: number;
  readonly modelVersion?: string;
  readonly functionVersion?: string;
}

/** `count` predict requests, `concurrency` at a time. */
async function predictMany(model: string, body: unknown, count: number, concurrency = 20): Promise<Served[]> {
  const results: Served[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const reply = await call(stack.url, 'POST', `/v1/models/${model}/predict`, body);
      const served = reply.body as { modelVersion?: string; functionVersion?: string };
      results.push({
        status: reply.status,
        ...(served.modelVersion ? { modelVersion: served.modelVersion } : {}),
        ...(served.functionVersion ? { functionVersion: served.functionVersion } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

function countBy(results: readonly Served[], key: 'modelVersion' | 'functionVersion'): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r[key] ?? 'none'] = (counts[r[key] ?? 'none'] ?? 0) + 1;
  return counts;
}

/** |k − np| ≤ 2.576·sqrt(np(1−p)): the 99% two-sided binomial bound. */
function expectWithinBound(k: number, n: number, p: number): void {
  const bound = 2.576 * Math.sqrt(n * p * (1 - p));
  expect({ k, deviation: Math.abs(k - n * p) <= bound }).toEqual({ k, deviation: true });
}

it('splits traffic by the canary weight, shifts, rolls back and finalizes through modelctl', async () => {
  const irisBytes = await readFile(SAMPLE_MODEL.file);
  const irisMetadata = JSON.parse(await readFile(SAMPLE_MODEL.metadata, 'utf8')) as unknown;
  const candidate = await stagedVersion('iris', irisBytes, irisMetadata);
  expect(candidate).toBe('2');

  // A 10% canary.
  const promoted = (await cli('promote', 'iris', candidate, '--canary', '10')) as {
    release: { functionVersion: string };
    deployment: Deployment;
  };
  expect(promoted.deployment).toMatchObject({
    stable: { functionVersion: '$LATEST', modelVersion: '1', percent: 90 },
    canary: { functionVersion: promoted.release.functionVersion, modelVersion: '2', percent: 10 },
  });
  const atTen = await predictMany('iris', IRIS_ROW, 2_000);
  expect(atTen.every((r) => r.status === 200)).toBe(true);
  const byModelAtTen = countBy(atTen, 'modelVersion');
  expectWithinBound(byModelAtTen['2'] ?? 0, 2_000, 0.1);
  // Each response names the function version and the model version pinned there.
  expect(atTen.filter((r) => r.modelVersion === '2').every((r) => r.functionVersion === promoted.release.functionVersion)).toBe(true);
  expect(atTen.filter((r) => r.modelVersion === '1').every((r) => r.functionVersion === '$LATEST')).toBe(true);

  // 50%.
  await cli('shift', 'iris', '50');
  const atFifty = await predictMany('iris', IRIS_ROW, 2_000);
  expectWithinBound(countBy(atFifty, 'modelVersion')['2'] ?? 0, 2_000, 0.5);
  const deployment = (await cli('deployment', 'iris')) as Deployment;
  expect(deployment.canary).toMatchObject({ percent: 50, errors: 0 });
  expect((deployment.canary?.invocations ?? 0) + deployment.stable.invocations).toBeGreaterThanOrEqual(4_000);

  // Rollback: all on stable, the candidate still in staging.
  const rolledBack = (await cli('rollback', 'iris', '--reason', 'checking the rollback')) as Deployment;
  expect(rolledBack.canary).toBeUndefined();
  expect(countBy(await predictMany('iris', IRIS_ROW, 300), 'modelVersion')).toEqual({ 1: 300 });
  const version = await call(stack.url, 'GET', `/v1/models/iris/versions/${candidate}`);
  expect((version.body as { stage: string }).stage).toBe('staging');

  // Promote again, then finalize: all on the new version, which is now production.
  const again = (await cli('promote', 'iris', candidate, '--canary', '10')) as { release: { functionVersion: string } };
  const finalized = (await cli('finalize', 'iris')) as Deployment;
  expect(finalized).toMatchObject({
    productionVersion: '2',
    stable: { functionVersion: again.release.functionVersion, modelVersion: '2', percent: 100 },
  });
  const after = await predictMany('iris', IRIS_ROW, 300);
  expect(countBy(after, 'modelVersion')).toEqual({ 2: 300 });
  expect(countBy(after, 'functionVersion')).toEqual({ [again.release.functionVersion]: 300 });
  const model = await call(stack.url, 'GET', '/v1/models/iris');
  expect((model.body as { productionVersion: string }).productionVersion).toBe('2');
  const history = (await call(stack.url, 'GET', '/v1/models/iris/history')).body as {
    history: { version: string; from: string; to: string; reason?: string }[];
  };
  expect(history.history).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        version: '2',
        from: 'staging',
        to: 'staging',
        reason: expect.stringContaining('checking the rollback') as unknown,
      }),
      expect.objectContaining({ version: '2', from: 'staging', to: 'production' }),
      expect.objectContaining({ version: '1', from: 'production', to: 'archived' }),
    ]),
  );
}, 180_000);

it('refuses a second release while one is in progress, and bad weights', async () => {
  const bytes = await readFile(SAMPLE_MODEL.file);
  const metadata = JSON.parse(await readFile(SAMPLE_MODEL.metadata, 'utf8')) as unknown;
  const first = await stagedVersion('iris', bytes, metadata);
  const second = await stagedVersion('iris', bytes, metadata);

  const invalid = await call(stack.url, 'POST', `/v1/models/iris/versions/${first}/promote`, { canary: 100 });
  const promoted = await call(stack.url, 'POST', `/v1/models/iris/versions/${first}/promote`, { canary: 5 });
  const busy = await call(stack.url, 'POST', `/v1/models/iris/versions/${second}/promote`, { canary: 5 });
  const rolledBack = await call(stack.url, 'POST', '/v1/models/iris/deployment/rollback', {});
  const nothing = await call(stack.url, 'POST', '/v1/models/iris/deployment/finalize', {});

  expect(invalid.status).toBe(400);
  expect((invalid.body as { error: { code: string } }).error.code).toBe('INVALID_WEIGHT');
  expect(promoted.status).toBe(200);
  expect(busy.status).toBe(409);
  expect((busy.body as { error: { code: string } }).error.code).toBe('RELEASE_IN_PROGRESS');
  expect(rolledBack.status).toBe(200);
  expect(nothing.status).toBe(409);
  expect((nothing.body as { error: { code: string } }).error.code).toBe('NO_RELEASE');
}, 60_000);

it('of 10 concurrent shifts decided from one reading of the deployment (expectedCanary), exactly one applies', async () => {
  // Prepare: model "petals" in production, a second version out as a 10% canary
  const bytes = await readFile(SAMPLE_MODEL.file);
  const metadata = JSON.parse(await readFile(SAMPLE_MODEL.metadata, 'utf8')) as unknown;
  const stable = await stagedVersion('petals', bytes, metadata);
  expect((await call(stack.url, 'PUT', '/v1/models/petals/production', { version: stable })).status).toBe(200);
  const candidate = await stagedVersion('petals', bytes, metadata);
  expect((await call(stack.url, 'POST', `/v1/models/petals/versions/${candidate}/promote`, { canary: 10 })).status).toBe(200);
  const read = ((await call(stack.url, 'GET', '/v1/models/petals/deployment')).body as Deployment).canary;
  const expectedCanary = { functionVersion: read?.functionVersion, percent: read?.percent };

  // Act: ten operators, one reading, ten different weights, all at once; then the same without
  // expectedCanary (each applies to what it finds: the last writer wins, as the README says)
  const guarded = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      call(stack.url, 'POST', '/v1/models/petals/deployment/shift', { percent: 20 + i * 5, expectedCanary }),
    ),
  );
  const unguarded = await Promise.all(
    Array.from({ length: 10 }, (_, i) => call(stack.url, 'POST', '/v1/models/petals/deployment/shift', { percent: 20 + i * 5 })),
  );
  const stale = await runModelctl({ url: stack.url, token }, [
    'shift',
    'petals',
    '30',
    '--expect-canary',
    String(read?.functionVersion),
    '--expect-percent',
    '10',
  ]);
  const badField = await call(stack.url, 'POST', '/v1/models/petals/deployment/shift', {
    percent: 30,
    expectedCanary: { functionVersion: '$LATEST' },
  });
  const rolledBack = await call(stack.url, 'POST', '/v1/models/petals/deployment/rollback', {
    expectedCanary: { functionVersion: read?.functionVersion },
  });

  // Assess
  const refused = guarded.filter((r) => r.status !== 200);
  expect(guarded.filter((r) => r.status === 200)).toHaveLength(1);
  expect(refused.map((r) => [r.status, (r.body as { error: { code: string } }).error.code])).toEqual(Array(9).fill([409, 'ALIAS_CHANGED']));
  for (const r of refused)
    expect(r.body).toEqual({
      error: {
        code: 'ALIAS_CHANGED',
        message: expect.stringContaining('Read the deployment again') as unknown,
        path: expect.any(String) as unknown,
      },
      requestId: expect.any(String) as unknown,
    });
  expect(unguarded.map((r) => r.status)).toEqual(Array(10).fill(200));
  expect(stale).toMatchObject({
    code: 1,
    err: expect.stringMatching(/^409 ALIAS_CHANGED: .+, not function version \d+ at 10% as expected/) as unknown,
  });
  expect(badField.status).toBe(400);
  expect((badField.body as { error: { path: string } }).error.path).toBe('expectedCanary.functionVersion');
  expect(rolledBack.status).toBe(200);
}, 60_000);

/** Input `x` float32 [N,1] → `y` = x. */
function identityModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', type: 'float32', shape: ['N', 1] }],
    outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
  });
}

it('rolls back a managed canary whose model fails at run time, by itself, and records why', async () => {
  const stable = await stagedVersion('lookup', identityModel(), { features: ['x'] });
  const promoted = await call(stack.url, 'PUT', '/v1/models/lookup/production', { version: stable });
  expect(promoted.status).toBe(200);
  const candidate = await stagedVersion('lookup', lookupModel(), { features: ['x'] });
  // In range the candidate works.
  const started = await call(stack.url, 'POST', `/v1/models/lookup/versions/${candidate}/promote`, {
    managed: { kind: 'canary', percent: 50, intervalMinutes: 60 },
  });
  expect(started.status).toBe(202);
  expect((started.body as { deployment: Deployment }).deployment.canary).toMatchObject({ modelVersion: candidate, percent: 50 });

  // Rows the candidate cannot serve: half of them reach it and fail (500) until it is rolled back.
  let deployment: Deployment | undefined;
  const failures: Served[] = [];
  for (let round = 0; round < 50; round++) {
    failures.push(...(await predictMany('lookup', { features: { x: 7 } }, 20, 5)));
    deployment = (await call(stack.url, 'GET', '/v1/models/lookup/deployment')).body as Deployment;
    if (!deployment.canary) break;
    await new Promise((resolve) => setTimeout(resolve, 30));
  }

  expect(deployment?.canary).toBeUndefined();
  expect(deployment).toMatchObject({ productionVersion: stable, stable: { functionVersion: '$LATEST', percent: 100 } });
  expect(failures.some((r) => r.status === 500)).toBe(true);
  // Each 500 is an ERROR line of the candidate with ONNX Runtime's reason, which the answer leaves out.
  const logged = stack.log.take({ level: 'ERROR', message: 'request failed', model: 'lookup' });
  expect(logged).toHaveLength(failures.filter((r) => r.status === 500).length);
  for (const line of logged) {
    expect(line).toMatchObject({
      modelVersion: candidate,
      code: 'MODEL_RUN_FAILED',
      error: { message: expect.stringContaining('out of data bounds') },
    });
  }
  const after = await predictMany('lookup', { features: { x: 7 } }, 100);
  expect(countBy(after, 'modelVersion')).toEqual({ [stable]: 100 });
  const history = (await call(stack.url, 'GET', '/v1/models/lookup/history')).body as {
    history: { version: string; to: string; actor: string; reason?: string }[];
  };
  expect(history.history.at(-1)).toMatchObject({
    version: candidate,
    to: 'staging',
    actor: 'release-monitor',
    reason: expect.stringMatching(
      /rolled back automatically: function version \d+: the canary's error rate \d+\/\d+ \([\d.]+%, answers of 500 or more\) passed the threshold of 5%/,
    ) as unknown,
  });
}, 60_000);

/** Resolves once the release monitor has checked `count` more times. */
async function monitorChecks(count: number): Promise<void> {
  const target = ticks + count;
  while (ticks < target) await new Promise((resolve) => setTimeout(resolve, 5));
}

it("leaves a managed canary alone when it answers only its callers' errors (4xx)", async () => {
  // Prepare
  const stable = await stagedVersion('strict', identityModel(), { features: ['x'] });
  expect((await call(stack.url, 'PUT', '/v1/models/strict/production', { version: stable })).status).toBe(200);
  const candidate = await stagedVersion('strict', identityModel(), { features: ['x'] });
  const started = await call(stack.url, 'POST', `/v1/models/strict/versions/${candidate}/promote`, {
    managed: { kind: 'canary', percent: 50, intervalMinutes: 60 },
  });
  expect(started.status).toBe(202);

  // Act: requests the callers got wrong (a feature the model does not have): 400 from both versions.
  const mistakes = await predictMany('strict', { features: { z: 1 } }, 100, 5);
  await monitorChecks(3);

  // Assess
  expect(new Set(mistakes.map((r) => r.status))).toEqual(new Set([400]));
  const deployment = (await call(stack.url, 'GET', '/v1/models/strict/deployment')).body as Deployment;
  expect(deployment.canary).toMatchObject({ modelVersion: candidate, percent: 50, errors: 0 });
  expect(deployment.canary?.clientErrors).toBeGreaterThanOrEqual(20);
  const history = (await call(stack.url, 'GET', '/v1/models/strict/history')).body as { history: { actor: string }[] };
  expect(history.history.some((h) => h.actor === 'release-monitor')).toBe(false);
  expect((await call(stack.url, 'POST', '/v1/models/strict/deployment/rollback', {})).status).toBe(200);
}, 60_000);
