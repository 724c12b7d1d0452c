/**
 * The distribution gate of managed releases on the local stack (`functions/core/drift/canary-gate.ts`,
 * `local/traffic.ts`): with capture on, a canary whose predictions shift from the stable version's
 * (a model that always answers one class) is rolled back by itself, with the reason in the model's
 * history, though it never fails a request; a canary that predicts like the stable version is left
 * to go on.
 */
import { readFile } from 'node:fs/promises';
import { buildModel } from '../support/onnx/builder.js';
import type { Deployment } from '../../functions/core/release.js';
import {
  CLASS_LABELS,
  FEATURES,
  TARGET,
  TRAINING,
  parseCsv,
  seededRandom,
  stratifiedSplit,
  toExamples,
} from '../../scripts/sample-model.js';
import { SAMPLE_MODEL } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call } from '../fixtures/http.js';

const METADATA = { features: [...FEATURES], classLabels: [...CLASS_LABELS] };

/** A classifier that answers "virginica" whatever it is given: softmax of a constant. */
function oneClassModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
    outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
    initializers: [
      { name: 'W', type: 'float32', dims: [4, 3], data: new Array<number>(12).fill(0) },
      { name: 'B', type: 'float32', dims: [3], data: [0, 0, 8] },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['features', 'W'], outputs: ['logits0'] },
      { op: 'Add', inputs: ['logits0', 'B'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: 1 } },
    ],
  });
}

describe('the canary distribution gate', () => {
  let stack: TestStack;
  let rows: Record<string, number>[];
  let iris: Uint8Array;

  beforeAll(async () => {
    stack = await startTestStack({
      auth: 'insecure',
      rateLimit: false,
      driftIntervalMs: 0,
      env: { POINTER_CACHE_MS: '100', CAPTURE_FLUSH_MS: '50' },
      releases: { random: seededRandom(7), tickMs: 50, rollback: { minInvocations: 20 } },
    });
    iris = await readFile(SAMPLE_MODEL.file);
    const csv = await readFile(new URL('../../data/iris.csv', import.meta.url), 'utf8');
    const train = stratifiedSplit(toExamples(parseCsv(csv), FEATURES, TARGET, CLASS_LABELS), TRAINING.testFraction, TRAINING.seed).train;
    // Drawn at random from the training split: every request a sample of the same distribution.
    const random = seededRandom(11);
    rows = Array.from({ length: 5_000 }, () => {
      const e = train[Math.floor(random() * train.length)] as (typeof train)[number];
      return Object.fromEntries(FEATURES.map((f, j) => [f, e.features[j] as number]));
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  /** Registers `bytes` as a version of `model`, in staging; returns its number. */
  async function staged(model: string, bytes: Uint8Array): Promise<string> {
    const registered = await call(stack.url, 'POST', `/v1/models/${model}/versions`, {
      modelBase64: Buffer.from(bytes).toString('base64'),
      metadata: METADATA,
    });
    expect(registered.status).toBe(201);
    const { version } = registered.body as { version: string };
    expect((await call(stack.url, 'POST', `/v1/models/${model}/versions/${version}/stage`, { to: 'staging' })).status).toBe(200);
    return version;
  }

  /** A model with the iris classifier in production and capture on. */
  async function modelInProduction(model: string): Promise<void> {
    const stable = await staged(model, iris);
    expect((await call(stack.url, 'PUT', `/v1/models/${model}/production`, { version: stable })).status).toBe(200);
    expect((await call(stack.url, 'PUT', `/v1/models/${model}/capture`, { samplePercent: 100 })).status).toBe(200);
  }

  /** Requests of 5 training rows each until the canary is gone or `rounds` pass; every answer must be 200. */
  async function traffic(model: string, rounds: number): Promise<Deployment> {
    let deployment = (await call(stack.url, 'GET', `/v1/models/${model}/deployment`)).body as Deployment;
    for (let round = 0; round < rounds && deployment.canary; round++) {
      for (let i = 0; i < 10; i++) {
        const at = (round * 50 + i * 5) % (rows.length - 5);
        const reply = await call(stack.url, 'POST', `/v1/models/${model}/predict`, { instances: rows.slice(at, at + 5) });
        expect(reply.status).toBe(200);
      }
      await new Promise((resolve) => setTimeout(resolve, 60));
      deployment = (await call(stack.url, 'GET', `/v1/models/${model}/deployment`)).body as Deployment;
    }
    return deployment;
  }

  it('rolls back a canary that always answers one class, with the reason in the history', async () => {
    // Prepare
    await modelInProduction('flowers');
    const candidate = await staged('flowers', oneClassModel());

    // Act
    const started = await call(stack.url, 'POST', `/v1/models/flowers/versions/${candidate}/promote`, {
      managed: { kind: 'canary', percent: 50, intervalMinutes: 60 },
    });
    expect(started.status).toBe(202);
    const deployment = await traffic('flowers', 60);

    // Assess: rolled back (no canary, the stable version serves), and the history says why
    expect(deployment.canary).toBeUndefined();
    expect(deployment.productionVersion).toBe('1');
    const history = (await call(stack.url, 'GET', '/v1/models/flowers/history')).body as {
      history: { version: string; actor: string; reason?: string }[];
    };
    expect(history.history.at(-1)).toMatchObject({
      version: candidate,
      actor: 'release-monitor',
      reason: expect.stringMatching(
        /rolled back automatically: function version \d+: the canary's predictions shifted from the stable version's \(distribution gate\): prediction "[^"]+" shifted: PSI [\d.]+ between stable version 1 \(\d+ rows\) and canary version 2 \(\d+ rows\)/,
      ) as unknown,
    });
    // Not for errors: the canary answered every request.
    expect(deployment.stable.errors).toBe(0);
  }, 120_000);

  it('lets a canary that predicts like the stable version go on', async () => {
    // Prepare: the same classifier again, as a new version
    await modelInProduction('petals');
    const candidate = await staged('petals', iris);

    // Act
    const started = await call(stack.url, 'POST', `/v1/models/petals/versions/${candidate}/promote`, {
      managed: { kind: 'canary', percent: 50, intervalMinutes: 60 },
    });
    expect(started.status).toBe(202);
    const deployment = await traffic('petals', 12);

    // Assess: judged (both sides well past 50 rows) and still live
    expect(deployment.canary).toMatchObject({ modelVersion: candidate, percent: 50 });
    expect(deployment.canary?.invocations).toBeGreaterThanOrEqual(20);
    const history = (await call(stack.url, 'GET', '/v1/models/petals/history')).body as { history: { actor: string; reason?: string }[] };
    expect(history.history.filter((h) => h.actor === 'release-monitor')).toEqual([]);
    expect((await call(stack.url, 'POST', '/v1/models/petals/deployment/rollback', {})).status).toBe(200);
  }, 120_000);
});
