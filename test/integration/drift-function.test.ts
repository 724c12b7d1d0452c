/**
 * The drift function (`functions/drift/app.ts`), as an endpoint's EventBridge schedule invokes
 * it, over the local stack's registry, capture bucket and profiles: it skips what cannot be
 * judged (capture off, no profile, a bad event) without throwing, and for a model with capture on
 * stores a report and prints the EMF line each model's drift alarm watches.
 */
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { createMetrics, publishDriftMetrics } from '../../functions/adapters/emf-metrics.js';
import { makeHandler, type DriftRunOutcome } from '../../functions/drift/app.js';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { call } from '../fixtures/http.js';
import { captureOutput } from '../fixtures/output.js';

describe('the scheduled drift function', () => {
  let stack: LocalStack;
  let handler: (event: unknown) => Promise<DriftRunOutcome>;
  const logged: { level: string; message: string; fields: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ auth: 'insecure', rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '100' } });
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
    await expect(handler({ model: 'nobody' })).resolves.toEqual({ status: 'skipped', model: 'nobody', reason: 'no such model in the registry' });
    await expect(handler({ model: 'iris' })).resolves.toMatchObject({ status: 'skipped', model: 'iris', reason: expect.stringContaining('capture is off') });
  });

  it('judges a model with capture on, stores the report and prints its metrics', async () => {
    // Prepare: capture on, some traffic, written
    expect((await call(stack.url, 'PUT', '/v1/models/iris/capture', { samplePercent: 100 })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await call(stack.url, 'GET', '/v2/models/iris/ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const shifted = Array.from({ length: 100 }, (_, i) => ({ sepal_length_cm: 5 + (i % 10) / 10, sepal_width_cm: 3.4, petal_length_cm: 9 + (i % 7) / 10, petal_width_cm: 0.2 }));
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
    const emf = printed.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => '_aws' in l);
    expect(emf).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'OnnxServing', Dimensions: [['Model']], Metrics: expect.arrayContaining([{ Name: 'DriftedFeatures', Unit: 'Count' }, { Name: 'DriftedPredictions', Unit: 'Count' }]) }] },
      Model: 'iris',
      DriftedFeatures: driftedFeatures,
    });
    expect(logged.at(-1)).toMatchObject({ level: 'WARN', message: 'drift detected', fields: { model: 'iris', drifted: expect.arrayContaining(['petal_length_cm']) } });
  }, 60_000);
});
