/**
 * The drift function (`functions/drift/app.ts`), as an endpoint's EventBridge schedule invokes
 * it, over the local stack's registry, capture bucket and profiles: it skips what cannot be
 * judged (capture off, no profile, a bad event) without throwing, and for a model with capture on
 * stores a report and prints the EMF line each model's drift alarm watches.
 */
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { createMetrics, publishDriftMetrics } from '../../functions/adapters/emf-metrics.js';
import { makeHandler, type DriftHandlerDeps, type DriftRunOutcome } from '../../functions/drift/app.js';
import { S3CaptureReader } from '../../functions/adapters/s3-capture.js';
import { recordCanaryShift } from '../../functions/core/drift/canary-gate.js';
import { buildModel } from '../support/onnx/builder.js';
import { LOCAL_CAPTURE_BUCKET, SAMPLE_MODEL } from '../../local/stack.js';
import { readFile } from 'node:fs/promises';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call } from '../fixtures/http.js';
import { captureOutput } from '../fixtures/output.js';

describe('the scheduled drift function', () => {
  let stack: TestStack;
  let handler: (event: unknown) => Promise<DriftRunOutcome>;
  const logged: { level: string; message: string; fields: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ auth: 'insecure', rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '100' } });
    const metrics = createMetrics('OnnxServing');
    handler = makeHandler({
      drift: stack.drift,
      registry: new DynamoDbRegistry({ client: stack.clients.documents, tableName: stack.config.REGISTRY_TABLE }),
      emit: (report) => publishDriftMetrics(metrics, report),
      log: (level, message, fields) => logged.push({ level, message, fields }),
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('skips a bad event, an unknown model and a model with capture off, without throwing', async () => {
    for (const event of [{}, { model: 'Not A Name' }, 'iris', null]) {
      await expect(handler(event)).resolves.toMatchObject({ status: 'skipped', reason: expect.stringContaining('"model"') });
    }
    await expect(handler({ model: 'nobody' })).resolves.toEqual({
      status: 'skipped',
      model: 'nobody',
      reason: 'no such model in the registry',
    });
    await expect(handler({ model: 'iris' })).resolves.toMatchObject({
      status: 'skipped',
      model: 'iris',
      reason: expect.stringContaining('capture is off'),
    });
  });

  it('judges a model with capture on, stores the report and prints its metrics', async () => {
    // Prepare: capture on, some traffic, written
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100 })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const shifted = Array.from({ length: 100 }, (_, i) => ({
      sepal_length_cm: 5 + (i % 10) / 10,
      sepal_width_cm: 3.4,
      petal_length_cm: 9 + (i % 7) / 10,
      petal_width_cm: 0.2,
    }));
    expect((await call(stack.url, 'POST', '/v1/models/iris/predict', { instances: shifted })).status).toBe(200);
    await stack.flush();

    // Act
    let outcome: DriftRunOutcome | undefined;
    const printed = await captureOutput(async () => {
      outcome = await handler({ model: 'iris' });
    });

    // Assess
    expect(outcome).toMatchObject({ status: 'reported', model: 'iris', modelVersion: '1', drifted: true, records: 1 });
    const stored = await call(stack.url, 'GET', '/v1/models/iris/drift');
    expect(stored.body).toMatchObject({ trigger: 'schedule', modelVersion: '1', drifted: true });
    const driftedFeatures = (stored.body as { totals: { driftedFeatures: number } }).totals.driftedFeatures;
    expect(driftedFeatures).toBeGreaterThanOrEqual(1);
    const emf = printed
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => '_aws' in l);
    expect(emf).toMatchObject({
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'OnnxServing',
            Dimensions: [['Model']],
            Metrics: expect.arrayContaining([
              { Name: 'DriftedFeatures', Unit: 'Count' },
              { Name: 'DriftedPredictions', Unit: 'Count' },
            ]),
          },
        ],
      },
      Model: 'iris',
      DriftedFeatures: driftedFeatures,
    });
    expect(logged.at(-1)).toMatchObject({
      level: 'WARN',
      message: 'drift detected',
      fields: { model: 'iris', drifted: expect.arrayContaining(['petal_length_cm']) },
    });
  }, 60_000);

  it("checks a live canary's predictions: emits CanaryPredictionShift and records the reason once", async () => {
    // Prepare: "blooms" with the iris classifier in production and, as a 50% manual canary, a
    // classifier that always answers "virginica"; capture on; traffic to both.
    const metadata = {
      features: ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'],
      classLabels: ['setosa', 'versicolor', 'virginica'],
    };
    const oneClass = buildModel({
      inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
      outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
      initializers: [
        { name: 'W', type: 'float32', dims: [4, 3], data: new Array<number>(12).fill(0) },
        { name: 'B', type: 'float32', dims: [3], data: [0, 0, 8] },
      ],
      nodes: [
        { op: 'MatMul', inputs: ['features', 'W'], outputs: ['l0'] },
        { op: 'Add', inputs: ['l0', 'B'], outputs: ['l1'] },
        { op: 'Softmax', inputs: ['l1'], outputs: ['probabilities'], attributes: { axis: 1 } },
      ],
    });
    const versions: string[] = [];
    for (const bytes of [await readFile(SAMPLE_MODEL.file), oneClass]) {
      const registered = await call(stack.url, 'POST', '/v1/models/blooms/versions', {
        modelBase64: Buffer.from(bytes).toString('base64'),
        metadata,
      });
      const { version } = registered.body as { version: string };
      expect((await call(stack.url, 'POST', `/v1/models/blooms/versions/${version}/stage`, { to: 'staging' })).status).toBe(200);
      versions.push(version);
    }
    expect((await call(stack.url, 'PUT', '/v1/models/blooms/production', { version: versions[0] })).status).toBe(200);
    expect((await call(stack.url, 'PUT', '/v1/models/blooms/capture', { samplePercent: 100 })).status).toBe(200);
    const registry = new DynamoDbRegistry({ client: stack.clients.documents, tableName: stack.config.REGISTRY_TABLE });
    const emitted: [string, boolean][] = [];
    const canary: NonNullable<DriftHandlerDeps['canary']> = {
      routing: async (model) => {
        const { routing, versions: pins } = await stack.traffic.getRouting(model);
        const pinOf = (v: string | undefined) => pins.find((p) => p.functionVersion === v)?.modelVersion;
        return { stable: pinOf(routing.stable), canary: routing.canary ? pinOf(routing.canary.version) : undefined };
      },
      gate: { registry, capture: new S3CaptureReader({ client: stack.clients.s3, bucket: LOCAL_CAPTURE_BUCKET }) },
      emit: (model, shifted) => emitted.push([model, shifted]),
      record: async (model, version, reason) => {
        await recordCanaryShift(registry, model, version, reason);
      },
    };
    const check = makeHandler({ drift: stack.drift, registry, emit: () => undefined, log: () => undefined, canary });
    await expect(check({ model: 'blooms', check: 'canary' })).resolves.toMatchObject({
      status: 'skipped',
      reason: 'alias live routes to no canary',
    });
    expect((await call(stack.url, 'POST', `/v1/models/blooms/versions/${versions[1]}/promote`, { canary: 50 })).status).toBe(200);
    const rows = Array.from({ length: 300 }, (_, i) => ({
      sepal_length_cm: 4.5 + (i % 30) / 10,
      sepal_width_cm: 3,
      petal_length_cm: 1 + (i % 60) / 10,
      petal_width_cm: 0.1 + (i % 25) / 10,
    }));
    for (let i = 0; i < rows.length; i += 3)
      expect((await call(stack.url, 'POST', '/v1/models/blooms/predict', { instances: rows.slice(i, i + 3) })).status).toBe(200);
    await stack.flush();

    // Act: two checks, a minute apart on AWS
    const first = await check({ model: 'blooms', check: 'canary' });
    const second = await check({ model: 'blooms', check: 'canary' });

    // Assess
    expect(first).toMatchObject({
      status: 'canary-checked',
      model: 'blooms',
      canaryVersion: versions[1],
      judged: true,
      shifted: true,
      reason: expect.stringContaining('(distribution gate): prediction'),
    });
    expect(second).toMatchObject({ shifted: true });
    expect(emitted).toEqual([
      ['blooms', true],
      ['blooms', true],
    ]);
    const history = (await call(stack.url, 'GET', '/v1/models/blooms/history')).body as {
      history: { version: string; actor: string; reason?: string }[];
    };
    const recorded = history.history.filter((h) => h.actor === 'release-monitor');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({
      version: versions[1],
      reason: expect.stringMatching(/^canary rolled back by its CanaryPredictionShift alarm: the canary's predictions shifted/) as unknown,
    });
  }, 60_000);
});
