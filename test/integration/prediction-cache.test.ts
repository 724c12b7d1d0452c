/**
 * The prediction cache over real HTTP (local stack, real ONNX Runtime): a repeated request is
 * answered from the version's cache (the access log's `cache=hit`, the prediction log's
 * `cacheHit`), with the same answer; the same rows in another form hit the same entry; another
 * version with the same file and the same input never does; a version without the declaration is
 * never cached; an entry past its TTL or pushed out by `maxEntries` is run again.
 */
import { buildModel } from '../support/onnx/builder.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { publish } from '../fixtures/binary-http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';
import type { PredictionLogRecord } from '../../functions/core/ports.js';

let stack: TestStack;
let call: Call;
const lines: string[] = [];

/** y [N, 2] = x [N, 2] · W, float32: small enough that the answer is all about the cache. */
const bytes = buildModel({
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 2] }],
  initializers: [{ name: 'w', dims: [2, 2], data: new Float32Array([1, 2, 3, 4]) }],
  nodes: [{ op: 'MatMul', inputs: ['x', 'w'], outputs: ['y'] }],
});
const metadata = { features: ['a', 'b'] };

/** The access log line of a request (`... cache=hit`), by the model route and position: the last line for `model`. */
function lastLine(model: string): string {
  const line = [...lines].reverse().find((l) => l.includes(` ${model}@`));
  if (!line) throw new Error(`no access log line for ${model}`);
  return line;
}

async function predict(model: string, body: unknown): Promise<Record<string, unknown>> {
  const reply = await call(stack.url, 'POST', `/v1/models/${model}/predict`, body);
  expect(reply.status).toBe(200);
  return reply.body as Record<string, unknown>;
}

async function records(model: string): Promise<PredictionLogRecord[]> {
  await stack.flush();
  const reply = await call(stack.url, 'GET', `/v1/models/${model}/predictions?limit=100`);
  return (reply.body as { records: PredictionLogRecord[] }).records;
}

beforeAll(async () => {
  stack = await startTestStack({ seedSampleModel: false, accessLog: (line) => lines.push(line) });
  call = await adminCall(stack);
  await publish(stack, call, 'cached', { bytes }, { ...metadata, predictionCache: { maxEntries: 2 } });
  await publish(stack, call, 'uncached', { bytes }, metadata);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

it('a repeated request is answered from the cache, with the same predictions, and logged as a hit', async () => {
  const body = { instances: [{ a: 1, b: 2 }] };
  const first = await predict('cached', body);
  expect(lastLine('cached')).toMatch(/ cached@1 rows=1 cache=miss$/);
  const second = await predict('cached', body);
  expect(lastLine('cached')).toMatch(/ cached@1 rows=1 cache=hit$/);
  expect(second['predictions']).toEqual(first['predictions']);
  expect(second['predictions']).toEqual([{ y: [7, 10] }]);
  const logged = await records('cached');
  const byId = new Map(logged.map((r) => [r.requestId, r]));
  expect(byId.get(first['requestId'] as string)).toMatchObject({ cacheHit: false });
  expect(byId.get(second['requestId'] as string)).toMatchObject({ cacheHit: true, outputs: JSON.stringify(first['predictions']) });
  expect(byId.get(second['requestId'] as string)?.inputSha256).toBe(byId.get(first['requestId'] as string)?.inputSha256);
});

it('the same rows in another form share the entry: features, arrays, v2 tensors', async () => {
  await predict('cached', { features: { a: 5, b: 6 } });
  expect(lastLine('cached')).toMatch(/cache=miss$/);
  await predict('cached', { instances: [[5, 6]] });
  expect(lastLine('cached')).toMatch(/cache=hit$/);
  const v2 = await call(stack.url, 'POST', '/v2/models/cached/infer', {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [5, 6] }],
  });
  expect(v2.status).toBe(200);
  expect(lastLine('cached')).toMatch(/cache=hit$/);
  expect((v2.body as { outputs: { data: number[] }[] }).outputs[0]?.data).toEqual([23, 34]);
});

it("another version of the same file never answers from this version's entries", async () => {
  const infer = async (version: string) => {
    const reply = await call(stack.url, 'POST', `/v2/models/cached/versions/${version}/infer`, {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [9, 9] }],
    });
    expect(reply.status).toBe(200);
    return reply.body as { model_version: string; outputs: unknown[] };
  };
  await infer('1');
  const kept = await infer('1');
  expect(lastLine('cached')).toMatch(/cached@1 rows=1 cache=hit$/);
  // Version 2: the same bytes and the same cache declaration; the same input is a miss there.
  const version = await publish(stack, call, 'cached', { bytes }, { ...metadata, predictionCache: { maxEntries: 2 } });
  expect(version).toBe('2');
  const other = await infer('2');
  expect(other.model_version).toBe('2');
  expect(lastLine('cached')).toMatch(/cached@2 rows=1 cache=miss$/);
  expect(other.outputs).toEqual(kept.outputs);
  await infer('2');
  expect(lastLine('cached')).toMatch(/cached@2 rows=1 cache=hit$/);
  await infer('1');
  expect(lastLine('cached')).toMatch(/cached@1 rows=1 cache=hit$/);
});

it('maxEntries bounds the entries: the least recently used one is run again', async () => {
  // Each version keeps 2 entries: after p, q, r, the first (p) is gone and q, r are kept.
  for (const a of [101, 102, 103]) await predict('cached', { features: { a, b: 0 } });
  await predict('cached', { features: { a: 103, b: 0 } });
  expect(lastLine('cached')).toMatch(/cache=hit$/);
  await predict('cached', { features: { a: 102, b: 0 } });
  expect(lastLine('cached')).toMatch(/cache=hit$/);
  await predict('cached', { features: { a: 101, b: 0 } });
  expect(lastLine('cached')).toMatch(/cache=miss$/);
});

it('a version without predictionCache is never cached and its lines say nothing of a cache', async () => {
  const body = { instances: [{ a: 1, b: 2 }] };
  await predict('uncached', body);
  await predict('uncached', body);
  expect(lastLine('uncached')).not.toContain('cache=');
  const logged = await records('uncached');
  expect(logged.length).toBeGreaterThanOrEqual(2);
  for (const record of logged) expect(record.cacheHit).toBeUndefined();
});
