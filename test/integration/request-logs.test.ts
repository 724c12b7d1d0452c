/**
 * The functions' structured logs, through the local stack (the same handlers and Powertools
 * Logger as on Lambda): every line written while serving a request carries that request's id,
 * even with many requests in flight at once; request data appears at DEBUG only.
 */
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';
import { adminCall, type Call } from '../fixtures/tokens.js';

const FEATURES = { sepal_length_cm: 5.7, sepal_width_cm: 2.9, petal_length_cm: 4.2, petal_width_cm: 1.3 };

/** The JSON lines written to stdout and stderr while `act` runs. */
async function logLines(act: () => Promise<void>): Promise<Record<string, unknown>[]> {
  return jsonLines(await captureOutput(act));
}

async function stackAt(level: string): Promise<{ stack: LocalStack; call: Call }> {
  const stack = await startLocalStack({ env: { LOG_LEVEL: level }, rateLimit: false });
  return { stack, call: await adminCall(stack) };
}

describe('request logs at DEBUG', () => {
  let stack: LocalStack;
  let call: Call;

  beforeAll(async () => {
    ({ stack, call } = await stackAt('DEBUG'));
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  it("gives every line of a request that request's id, model, versions, caller and cold-start flag, with 20 requests at once", async () => {
    // Act: a cold first request (the model loads), then 20 concurrent ones, some refused
    const replies: { id: string; status: number }[] = [];
    const lines = await logLines(async () => {
      const first = await call(stack.url, 'POST', '/v1/models/iris/predict', { features: FEATURES });
      replies.push({ id: (first.body as { requestId: string }).requestId, status: first.status });
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call(
            stack.url,
            'POST',
            '/v1/models/iris/predict',
            i % 4 === 0 ? { features: { ...FEATURES, petal_width_cm: 'wide' } } : { instances: [FEATURES, FEATURES] },
          ),
        ),
      );
      for (const reply of many) replies.push({ id: (reply.body as { requestId: string }).requestId, status: reply.status });
    });

    // Assess: every line names one of the requests, and each request's lines agree on its keys
    const ids = new Set(replies.map((r) => r.id));
    expect(ids.size).toBe(21);
    expect(lines.length).toBeGreaterThanOrEqual(2 * 21);
    for (const line of lines) expect(ids.has(String(line['requestId']))).toBe(true);
    for (const { id, status } of replies) {
      const own = lines.filter((l) => l['requestId'] === id);
      expect(own.map((l) => l['message'])).toEqual(expect.arrayContaining(['request received', 'request answered']));
      const answered = own.find((l) => l['message'] === 'request answered');
      expect(answered?.['statusCode']).toBe(status);
      for (const line of own) {
        expect(line).toMatchObject({ caller: 'test-admin', functionVersion: '$LATEST', service: 'onnx-serving' });
        expect(typeof line['coldStart']).toBe('boolean');
      }
      const served = own.filter((l) => l['model'] !== undefined);
      expect(served.every((l) => l['model'] === 'iris' && l['modelVersion'] === '1')).toBe(true);
    }
    const coldLines = lines.filter((l) => l['coldStart'] === true);
    expect(new Set(coldLines.map((l) => l['requestId']))).toEqual(new Set([replies[0]?.id]));
    expect(lines.find((l) => l['message'] === 'model loaded')?.['requestId']).toBe(replies[0]?.id);
  }, 60_000);

  it('shows the request body at DEBUG, cut to its first KB', async () => {
    // Act
    const lines = await logLines(async () => {
      await call(stack.url, 'POST', '/v1/models/iris/predict', { features: FEATURES, padding: 'x'.repeat(5_000) });
    });

    // Assess
    const received = lines.find((l) => l['message'] === 'request received');
    expect(String(received?.['body'])).toContain('sepal_length_cm');
    expect(String(received?.['body']).length).toBeLessThan(1_200);
    expect(String(received?.['body'])).toMatch(/more characters\)$/);
  });
});

describe('request logs at INFO', () => {
  let stack: LocalStack;
  let call: Call;

  beforeAll(async () => {
    ({ stack, call } = await stackAt('INFO'));
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  it('carries no request data: no body, no feature, no output', async () => {
    // Act: a cold request, a bad one and a good one
    let ids: string[] = [];
    const lines = await logLines(async () => {
      const replies = [
        await call(stack.url, 'POST', '/v1/models/iris/predict', { features: FEATURES }),
        await call(stack.url, 'POST', '/v1/models/iris/predict', { features: { ...FEATURES, sepal_width_cm: 'marker-7731' } }),
        await call(stack.url, 'POST', '/v2/models/iris/infer', {
          inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.7, 2.9, 4.2, 1.3] }],
        }),
      ];
      ids = replies.map(
        (r) =>
          (r.body as { requestId?: string; parameters?: { request_id: string } }).requestId ??
          (r.body as { parameters: { request_id: string } }).parameters.request_id,
      );
    });

    // Assess: something was logged (the model load), every line carries a request id, none the data
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(ids).toContain(line['requestId']);
      const text = JSON.stringify(line);
      for (const secret of ['sepal', 'marker-7731', '5.7', 'probabilities', 'versicolor']) expect(text).not.toContain(secret);
    }
  }, 60_000);
});
