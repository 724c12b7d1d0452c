/**
 * Shadow tests on the local stack (issue 14, item 4): with 100% shadowing every answer is what it
 * is without, every request's log record carries both outputs, the report agrees with what the
 * candidate is; a candidate that throws on every request fails no caller.
 */
import { readFile } from 'node:fs/promises';
import { buildModel } from '../support/onnx/builder.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';
import type { ShadowReport } from '../../functions/core/shadow/report.js';
import { SAMPLE_MODEL } from '../../local/stack.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call, errorOf } from '../fixtures/http.js';

const FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [5.9, 3.0, 4.2, 1.5],
  [6.7, 3.1, 5.6, 2.4],
  [4.9, 2.4, 3.3, 1.0],
  [6.3, 2.8, 5.1, 1.5],
];

/** A classifier whose run fails on every input: it reshapes the 4 features of each row into rows of 3. */
function failingModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'features', type: 'float32', shape: ['N', 4] }],
    outputs: [{ name: 'probabilities', type: 'float32', shape: ['N', 3] }],
    initializers: [{ name: 'shape', type: 'int64', dims: [2], data: [-1, 3] }],
    nodes: [
      { op: 'Reshape', inputs: ['features', 'shape'], outputs: ['reshaped'] },
      { op: 'Softmax', inputs: ['reshaped'], outputs: ['probabilities'], attributes: { axis: 1 } },
    ],
  });
}

let stack: TestStack;
let metadata: Record<string, unknown>;

beforeAll(async () => {
  stack = await startTestStack({ auth: 'insecure', rateLimit: false, driftIntervalMs: 0, env: { POINTER_CACHE_MS: '50' } });
  metadata = JSON.parse(await readFile(SAMPLE_MODEL.metadata, 'utf8')) as Record<string, unknown>;
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Registers `bytes` as a new version of iris (development stage); returns its number. */
async function register(bytes: Uint8Array, meta: Record<string, unknown>): Promise<string> {
  const reply = await call(stack.url, 'POST', '/v1/models/iris/versions', {
    modelBase64: Buffer.from(bytes).toString('base64'),
    metadata: meta,
  });
  expect(reply.status).toBe(201);
  return (reply.body as { version: string }).version;
}

/** Every row as a v1 request and as a v2 request: the answers without their per-request fields. */
async function answers(): Promise<{ bodies: unknown[]; requestIds: string[] }> {
  const bodies: unknown[] = [];
  const requestIds: string[] = [];
  for (const row of ROWS) {
    const v1 = await call(stack.url, 'POST', '/v1/models/iris/predict', {
      features: Object.fromEntries(FEATURES.map((f, i) => [f, row[i]])),
    });
    expect(v1.status).toBe(200);
    const { predictions, modelVersion, requestId } = v1.body as { predictions: unknown; modelVersion: string; requestId: string };
    bodies.push({ predictions, modelVersion });
    requestIds.push(requestId);
    const v2 = await call(stack.url, 'POST', '/v2/models/iris/infer', {
      inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: row }],
    });
    expect(v2.status).toBe(200);
    const {
      outputs,
      model_version: version,
      parameters,
    } = v2.body as { outputs: unknown; model_version: string; parameters: { request_id: string } };
    bodies.push({ outputs, version });
    requestIds.push(parameters.request_id);
  }
  return { bodies, requestIds };
}

/** Waits until the endpoint serves with (`on`) or without the model's shadow test. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 60));
  // The first request after POINTER_CACHE_MS re-reads the record; the ones after it see the change.
  await call(stack.url, 'POST', '/v1/models/iris/predict', { features: Object.fromEntries(FEATURES.map((f, i) => [f, ROWS[0]?.[i]])) });
  await new Promise((resolve) => setTimeout(resolve, 30));
  await stack.flush();
}

async function logged(requestIds: readonly string[]): Promise<PredictionLogRecord[]> {
  const reply = await call(stack.url, 'GET', '/v1/models/iris/predictions?since=1h&limit=100');
  expect(reply.status).toBe(200);
  const records = (reply.body as { records: PredictionLogRecord[] }).records;
  return requestIds.map((id) => {
    const record = records.find((r) => r.requestId === id);
    if (!record) throw new Error(`request ${id} is not in the prediction log`);
    return record;
  });
}

describe('a shadow test at 100%', () => {
  it('changes no answer, logs both outputs of every request, and reports full agreement with an identical candidate', async () => {
    // Prepare: the answers without a shadow test, then a candidate that is the same file.
    const before = await answers();
    const candidate = await register(await readFile(SAMPLE_MODEL.file), metadata);
    const started = await call(stack.url, 'POST', '/v1/models/iris/shadow', { version: candidate, samplePercent: 100 });
    expect(started.status).toBe(201);
    await settle();

    // Act
    const during = await answers();
    await stack.flush();

    // Assess: the answers, the log, the report
    expect(during.bodies).toEqual(before.bodies);
    for (const record of await logged(during.requestIds)) {
      expect(record.modelVersion).toBe('1');
      expect(record.shadow).toMatchObject({ version: candidate, comparison: { maxAbsDiff: 0 } });
      expect(typeof record.shadow?.latencyMs).toBe('number');
      // Both outputs, in the same form: the candidate's are the same file's.
      expect(record.shadow?.outputs).toBe(record.outputs);
      expect(record.study).toBe(`shadow#iris#${(started.body as { shadow: { id: string } }).shadow.id}`);
    }
    const status = await call(stack.url, 'GET', '/v1/models/iris/shadow');
    const report = (status.body as { report: ShadowReport }).report;
    expect(report).toMatchObject({
      requests: during.requestIds.length,
      compared: during.requestIds.length,
      maxAbsDiff: 0,
      failed: { total: 0 },
    });
    expect(report.labels).toMatchObject({ rows: ROWS.length * 2, identical: ROWS.length * 2, share: 1 });
    expect(report.latencyMs.candidate.n).toBe(during.requestIds.length);

    const stopped = await call(stack.url, 'DELETE', '/v1/models/iris/shadow');
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ shadow: { state: 'stopped' }, report: { requests: during.requestIds.length } });
    await settle();
  }, 60_000);

  it('fails no caller when the candidate throws on every request, and counts the failures', async () => {
    // Prepare
    const before = await answers();
    const candidate = await register(failingModel(), { features: FEATURES, classLabels: ['setosa', 'versicolor', 'virginica'] });
    expect((await call(stack.url, 'POST', '/v1/models/iris/shadow', { version: candidate })).status).toBe(201);
    await settle();

    // Act
    const during = await answers();
    await stack.flush();

    // Assess
    expect(during.bodies).toEqual(before.bodies);
    for (const record of await logged(during.requestIds)) {
      expect(record.shadow).toMatchObject({
        version: candidate,
        error: { code: expect.any(String) as unknown, message: expect.any(String) as unknown },
      });
      expect(record.shadow?.error?.message).not.toMatch(/\/work\/|\.ts:|at \w+ \(/);
    }
    const report = ((await call(stack.url, 'GET', '/v1/models/iris/shadow')).body as { report: ShadowReport }).report;
    expect(report).toMatchObject({ requests: during.requestIds.length, compared: 0, failed: { total: during.requestIds.length } });
    expect((await call(stack.url, 'DELETE', '/v1/models/iris/shadow')).status).toBe(200);
  }, 60_000);

  it('refuses what cannot be shadowed, with the field', async () => {
    const cases: Array<[unknown, number, string, string]> = [
      [{ version: '99' }, 404, 'VERSION_NOT_FOUND', 'version'],
      [{ version: '1', samplePercent: 0 }, 400, 'INVALID_REQUEST', 'samplePercent'],
      [{ version: '1', samplePercent: 101 }, 400, 'INVALID_REQUEST', 'samplePercent'],
      [{ version: 'latest' }, 400, 'INVALID_REQUEST', 'version'],
      [{ samplePercent: 5 }, 400, 'MISSING_FIELD', 'version'],
      [{ version: '1' }, 409, 'CANDIDATE_IS_PRODUCTION', 'version'],
    ];
    for (const [body, status, code, at] of cases) {
      const reply = await call(stack.url, 'POST', '/v1/models/iris/shadow', body);
      expect([reply.status, errorOf(reply).code, errorOf(reply).path]).toEqual([status, code, at]);
    }
    const none = await call(stack.url, 'DELETE', '/v1/models/iris/shadow');
    expect([none.status, errorOf(none).code]).toEqual([404, 'NO_SHADOW_TEST']);
    const second = await call(stack.url, 'POST', '/v1/models/iris/shadow', { version: '2' });
    expect(second.status).toBe(201);
    const third = await call(stack.url, 'POST', '/v1/models/iris/shadow', { version: '2' });
    expect([third.status, errorOf(third).code]).toEqual([409, 'SHADOW_RUNNING']);
    const experiment = await call(stack.url, 'POST', '/v1/models/iris/experiments', {
      variants: [
        { name: 'a', version: '1', weight: 50 },
        { name: 'b', version: '1', weight: 50 },
      ],
    });
    expect([experiment.status, errorOf(experiment).code]).toEqual([409, 'SHADOW_RUNNING']);
    expect((await call(stack.url, 'DELETE', '/v1/models/iris/shadow')).status).toBe(200);
  });
});
