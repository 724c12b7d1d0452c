/**
 * DynamoDB dies while the API is serving: predictions keep coming (from the loaded session and
 * the last known production pointer), and each request's log record goes out through the
 * fallback, a structured log line carrying the whole record, instead of being lost or failing the
 * request.
 */
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { adminCall, type Call } from '../fixtures/tokens.js';

let stack: TestStack;
let call: Call;
let awsStopped = false;

beforeAll(async () => {
  // Re-read the production pointer on every request, so the outage hits the registry read too.
  stack = await startTestStack({ env: { POINTER_CACHE_MS: '0' } });
  call = await adminCall(stack);
}, 60_000);

afterAll(async () => {
  await stack.api.close();
  stack.clients.destroy();
  if (!awsStopped) await stack.aws.stop();
  stack.log.reportUntaken('the local stack');
});

const features = { sepal_length_cm: 6.7, sepal_width_cm: 3.0, petal_length_cm: 5.2, petal_width_cm: 2.3 };

it('keeps serving with DynamoDB down, and every log record lands in the fallback', async () => {
  // Prepare: a warm model (its log record written), then the DynamoDB- and S3-compatible servers are killed.
  const warm = await call(stack.url, 'POST', '/v1/models/iris/predict', { features });
  expect(warm.status).toBe(200);
  await stack.flush();
  await stack.aws.stop();
  awsStopped = true;

  // Act
  const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', { instances: [features, features] });
  await stack.flush();

  // Assess: the same prediction as before the outage...
  expect(reply.status).toBe(200);
  const body = reply.body as { requestId: string; modelVersion: string; predictions: { label: string }[] };
  expect(body.predictions.map((p) => p.label)).toEqual(['virginica', 'virginica']);
  expect(body.predictions[0]).toEqual((warm.body as { predictions: unknown[] }).predictions[0]);
  // ...and its log record, whole (the caller is the token's subject), in one structured line.
  const fallback = stack.log.take({ message: 'prediction log write failed', requestId: body.requestId });
  expect(fallback).toHaveLength(1);
  const [entry] = fallback as [Record<string, unknown>];
  expect(entry).toMatchObject({
    level: 'ERROR',
    message: 'prediction log write failed',
    requestId: body.requestId,
    record: { requestId: body.requestId, model: 'iris', modelVersion: body.modelVersion, rows: 2, caller: 'test-admin' },
  });
  expect((entry['record'] as { inputSha256: string }).inputSha256).toMatch(/^[0-9a-f]{64}$/);
  expect(JSON.parse((entry['record'] as { outputs: string }).outputs)).toEqual(body.predictions);
  // The registry read that failed is said once, with the version that kept serving.
  expect(stack.log.take({ level: 'WARN', requestId: body.requestId })).toEqual([
    expect.objectContaining({
      message: 'production pointer re-read failed; the version known keeps serving',
      servingVersion: body.modelVersion,
      error: expect.objectContaining({ code: 'REGISTRY_UNAVAILABLE' }),
    }),
  ]);
  expect(stack.log.untaken()).toEqual([]);
}, 60_000);
