/**
 * Every fixture model served through the local HTTP API, in every request form that can express
 * it, against ONNX Runtime called directly on the same data. The stack is the real one: handlers,
 * dynalite, s3rver, real ONNX Runtime sessions.
 */
import { shortestFloat32 } from '../fixtures/float32.js';
import { jest } from '@jest/globals';
import * as ort from 'onnxruntime-node';
import type { TensorType } from '../../functions/core/model.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { errorOf } from '../fixtures/http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';
import {
  identityModel,
  int64Model,
  mixedInputModel,
  stringInputModel,
  treeEnsembleClassifier,
  twoInputModel,
  type ModelFixture,
} from '../fixtures/models.js';

let stack: TestStack;
/** `call` with a token that holds every scope: these tests are about serving, not permissions. */
let call: Call;

beforeAll(async () => {
  stack = await startTestStack();
  call = await adminCall(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/** Registers `bytes` over HTTP and makes it the production version. */
async function publish(model: string, fixture: ModelFixture, metadata: Record<string, unknown> = {}): Promise<string> {
  const registered = await call(stack.url, 'POST', `/v1/models/${model}/versions`, {
    modelBase64: Buffer.from(fixture.bytes).toString('base64'),
    metadata,
  });
  expect(registered.status).toBe(201);
  const version = (registered.body as { version: string }).version;
  const staged = await call(stack.url, 'POST', `/v1/models/${model}/versions/${version}/stage`, { to: 'staging' });
  expect(staged.status).toBe(200);
  const promoted = await call(stack.url, 'PUT', `/v1/models/${model}/production`, { version });
  expect(promoted.status).toBe(200);
  return version;
}

type Row = Record<string, unknown>;

/** ONNX Runtime called directly: one session, one run, the raw output tensors. */
async function runDirect(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return (await session.run(feeds)) as Record<string, ort.Tensor>;
  } finally {
    await session.release();
  }
}

/** A tensor element as the API must write it: exact integers, 64-bit beyond 2^53 as strings. */
function jsonElement(type: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value >= -(2n ** 53n - 1n) && value <= 2n ** 53n - 1n ? Number(value) : value.toString();
  if (type === 'bool') return Boolean(value);
  // float32 values are answered in their shortest digits (0.40235546, not 0.40235546231269836).
  if (type === 'float32') return shortestFloat32(value as number);
  // JSON has no negative zero: JSON.stringify(-0) is "0".
  return Object.is(value, -0) ? 0 : value;
}

function flatJson(tensor: ort.Tensor): unknown[] {
  return Array.from(tensor.data as ArrayLike<unknown>, (v) => jsonElement(tensor.type, v));
}

/** Row `r` of a tensor whose first axis is the batch, nested as the API writes it. */
function rowJson(tensor: ort.Tensor, r: number): unknown {
  const flat = flatJson(tensor);
  const inner = tensor.dims.slice(1);
  const size = inner.reduce((a, b) => a * b, 1);
  const nest = (start: number, shape: readonly number[]): unknown => {
    if (shape.length === 0) return flat[start];
    const [first = 0, ...rest] = shape;
    const stride = rest.reduce((a, b) => a * b, 1);
    return Array.from({ length: first }, (_, i) => nest(start + i * stride, rest));
  };
  return nest(r * size, inner);
}

const V2: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  bool: 'BOOL',
  string: 'BYTES',
};

/** Three rows of edge values per element type, as JSON and as the typed data ONNX Runtime takes. */
const SAMPLES: Record<string, { json: unknown[][]; typed: (rows: unknown[][]) => ort.Tensor['data'] }> = {
  float32: {
    json: [
      [1.5, -2.25, 3.4e38],
      [0, -0, 1e-30],
      [7, 8, 9],
    ],
    typed: (r) => Float32Array.from(r.flat() as number[]),
  },
  float64: {
    json: [
      [1e300, -2.5, 0.1],
      [Number.MIN_VALUE, 3, 4],
      [5, 6, 7],
    ],
    typed: (r) => Float64Array.from(r.flat() as number[]),
  },
  int8: {
    json: [
      [-128, 127, 0],
      [1, 2, 3],
      [-1, -2, -3],
    ],
    typed: (r) => Int8Array.from(r.flat() as number[]),
  },
  int16: {
    json: [
      [-32768, 32767, 0],
      [1, 2, 3],
      [-1, -2, -3],
    ],
    typed: (r) => Int16Array.from(r.flat() as number[]),
  },
  int32: {
    json: [
      [-2147483648, 2147483647, 0],
      [1, 2, 3],
      [-1, -2, -3],
    ],
    typed: (r) => Int32Array.from(r.flat() as number[]),
  },
  int64: {
    json: [
      ['9223372036854775807', '-9223372036854775808', 9007199254740991],
      ['9007199254740993', 1, -1],
      [0, 2, 3],
    ],
    typed: (r) => BigInt64Array.from(r.flat().map((v) => BigInt(v as string | number))),
  },
  uint8: {
    json: [
      [0, 255, 128],
      [1, 2, 3],
      [4, 5, 6],
    ],
    typed: (r) => Uint8Array.from(r.flat() as number[]),
  },
  uint16: {
    json: [
      [0, 65535, 1000],
      [1, 2, 3],
      [4, 5, 6],
    ],
    typed: (r) => Uint16Array.from(r.flat() as number[]),
  },
  bool: {
    json: [
      [true, false, true],
      [false, false, true],
      [true, true, true],
    ],
    typed: (r) => Uint8Array.from(r.flat().map((v) => (v ? 1 : 0))),
  },
  string: {
    json: [
      ['a', 'héllo', ''],
      ['🙂', 'x y', 'z'],
      ['1', '2', '3'],
    ],
    typed: (r) => r.flat() as string[],
  },
};

describe('every element type through every request form', () => {
  const types = Object.keys(SAMPLES) as TensorType[];

  it.each(types)('%s identity model: features, instances (objects and arrays) and v2 match ONNX Runtime', async (type) => {
    // Prepare
    const fixture = identityModel(type);
    const model = `identity-${type}`;
    const version = await publish(model, fixture);
    const sample = SAMPLES[type] as (typeof SAMPLES)[string];
    const direct = await runDirect(fixture.bytes, { x: new ort.Tensor(type, sample.typed(sample.json), [3, 3]) });
    const y = direct['y'] as ort.Tensor;

    // Act
    const one = await call(stack.url, 'POST', `/v1/models/${model}/predict`, { features: { x: sample.json[0] } });
    const objects = await call(stack.url, 'POST', `/v1/models/${model}/predict`, { instances: sample.json.map((x) => ({ x })) });
    const arrays = await call(stack.url, 'POST', `/v1/models/${model}/predict`, { instances: sample.json });
    const v2 = await call(stack.url, 'POST', `/v2/models/${model}/infer`, {
      inputs: [{ name: 'x', shape: [3, 3], datatype: V2[type], data: sample.json.flat() }],
    });

    // Assess
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ model, modelVersion: version, predictions: [{ y: rowJson(y, 0) }] });
    for (const reply of [objects, arrays]) {
      expect(reply.status).toBe(200);
      expect((reply.body as { predictions: Row[] }).predictions).toEqual([0, 1, 2].map((r) => ({ y: rowJson(y, r) })));
    }
    expect(v2.status).toBe(200);
    expect(v2.body).toMatchObject({
      model_name: model,
      model_version: version,
      outputs: [{ name: 'y', datatype: V2[type], shape: [3, 3], data: flatJson(y) }],
    });
  });
});

describe('models with several inputs, string inputs and int64', () => {
  it('two named inputs: features, instances and v2 agree with ONNX Runtime', async () => {
    const fixture = twoInputModel();
    await publish('two-inputs', fixture);
    const a = [
      [1, 2],
      [3, 4],
    ];
    const b = [
      [0.5, -1],
      [10, 0.25],
    ];
    const direct = await runDirect(fixture.bytes, {
      a: new ort.Tensor('float32', Float32Array.from(a.flat()), [2, 2]),
      b: new ort.Tensor('float32', Float32Array.from(b.flat()), [2, 2]),
    });

    const one = await call(stack.url, 'POST', '/v1/models/two-inputs/predict', { features: { a: a[0], b: b[0] } });
    const many = await call(stack.url, 'POST', '/v1/models/two-inputs/predict', {
      instances: [
        { b: b[0], a: a[0] },
        { a: a[1], b: b[1] },
      ],
    });
    const v2 = await call(stack.url, 'POST', '/v2/models/two-inputs/infer', {
      inputs: [
        { name: 'b', shape: [2, 2], datatype: 'FP32', data: b },
        { name: 'a', shape: [2, 2], datatype: 'FP32', data: a.flat() },
      ],
      outputs: [{ name: 'product' }],
    });
    const arrays = await call(stack.url, 'POST', '/v1/models/two-inputs/predict', { instances: [[1, 2]] });

    const expected = (r: number) => ({
      sum: rowJson(direct['sum'] as ort.Tensor, r),
      product: rowJson(direct['product'] as ort.Tensor, r),
    });
    expect((one.body as { predictions: Row[] }).predictions).toEqual([expected(0)]);
    expect((many.body as { predictions: Row[] }).predictions).toEqual([expected(0), expected(1)]);
    expect((v2.body as { outputs: unknown[] }).outputs).toEqual([
      { name: 'product', datatype: 'FP32', shape: [2, 2], data: flatJson(direct['product'] as ort.Tensor) },
    ]);
    // An array row cannot say which input is which.
    expect(arrays.status).toBe(400);
    expect(errorOf(arrays)).toMatchObject({ code: 'AMBIGUOUS_ROW', path: 'instances[0]' });
  });

  it('a string input (LabelEncoder) in every form', async () => {
    const fixture = stringInputModel();
    await publish('colors', fixture);
    const colors = ['red', 'blue', 'mauve'];
    const direct = await runDirect(fixture.bytes, { color: new ort.Tensor('string', colors, [3, 1]) });
    const code = direct['code'] as ort.Tensor;

    const one = await call(stack.url, 'POST', '/v1/models/colors/predict', { features: { color: 'blue' } });
    const objects = await call(stack.url, 'POST', '/v1/models/colors/predict', { instances: colors.map((color) => ({ color: [color] })) });
    const arrays = await call(stack.url, 'POST', '/v1/models/colors/predict', { instances: colors.map((c) => [c]) });
    const v2 = await call(stack.url, 'POST', '/v2/models/colors/infer', {
      inputs: [{ name: 'color', shape: [3, 1], datatype: 'BYTES', data: colors }],
    });

    expect((one.body as { predictions: Row[] }).predictions).toEqual([{ code: rowJson(code, 1) }]);
    expect((objects.body as { predictions: Row[] }).predictions).toEqual([0, 1, 2].map((r) => ({ code: rowJson(code, r) })));
    expect((arrays.body as { predictions: Row[] }).predictions).toEqual([0, 1, 2].map((r) => ({ code: rowJson(code, r) })));
    expect((v2.body as { outputs: { data: unknown[] }[] }).outputs[0]?.data).toEqual([2, 2, -1].map((v, i) => (i === 0 ? 0 : v)));
    expect((v2.body as { outputs: { data: unknown[] }[] }).outputs[0]?.data).toEqual(flatJson(code));
  });

  it('a string and a float input together', async () => {
    const fixture = mixedInputModel();
    await publish('mixed', fixture);
    const direct = await runDirect(fixture.bytes, {
      category: new ort.Tensor('string', ['large', 'small'], [2, 1]),
      amount: new ort.Tensor('float32', Float32Array.from([4, 3]), [2, 1]),
    });
    const many = await call(stack.url, 'POST', '/v1/models/mixed/predict', {
      instances: [
        { category: 'large', amount: 4 },
        { category: ['small'], amount: [3] },
      ],
    });
    const v2 = await call(stack.url, 'POST', '/v2/models/mixed/infer', {
      inputs: [
        { name: 'category', shape: [2, 1], datatype: 'BYTES', data: ['large', 'small'] },
        { name: 'amount', shape: [2, 1], datatype: 'FP32', data: [4, 3] },
      ],
    });
    const score = direct['score'] as ort.Tensor;
    expect((many.body as { predictions: Row[] }).predictions).toEqual([{ score: rowJson(score, 0) }, { score: rowJson(score, 1) }]);
    expect((v2.body as { outputs: { data: unknown[] }[] }).outputs[0]?.data).toEqual([10, 1.5]);
  });

  it('int64 in and out stays exact beyond 2^53', async () => {
    const fixture = int64Model();
    await publish('ids', fixture);
    const ids = [
      ['9007199254740993', '-9223372036854775808'],
      [41, '9223372036854775806'],
    ];
    const direct = await runDirect(fixture.bytes, {
      ids: new ort.Tensor('int64', BigInt64Array.from(ids.flat().map((v) => BigInt(v))), [2, 2]),
    });
    const next = direct['next'] as ort.Tensor;

    const many = await call(stack.url, 'POST', '/v1/models/ids/predict', { instances: ids });
    const v2 = await call(stack.url, 'POST', '/v2/models/ids/infer', {
      inputs: [{ name: 'ids', shape: [2, 2], datatype: 'INT64', data: ids }],
    });
    const rounded = await call(stack.url, 'POST', '/v1/models/ids/predict', { instances: [[9007199254740993, 1]] });

    expect((many.body as { predictions: Row[] }).predictions).toEqual([{ next: rowJson(next, 0) }, { next: rowJson(next, 1) }]);
    expect((many.body as { predictions: Row[] }).predictions[0]).toEqual({ next: ['9007199254740994', '-9223372036854775807'] });
    expect((v2.body as { outputs: { data: unknown[] }[] }).outputs[0]?.data).toEqual([
      '9007199254740994',
      '-9223372036854775807',
      42,
      '9223372036854775807',
    ]);
    // A JSON number past 2^53 has already lost its last digits: refused, never rounded.
    expect(rounded.status).toBe(400);
    expect(errorOf(rounded)).toMatchObject({ code: 'INEXACT_INTEGER', path: 'instances[0][0]' });
  });
});

describe('a tree-ensemble classifier from the ai.onnx.ml domain', () => {
  const features = ['f0', 'f1', 'f2', 'f3'];

  it('serves labels, probabilities keyed by class label and confidence, as ONNX Runtime computes them', async () => {
    const fixture = treeEnsembleClassifier({ trees: 10, depth: 4 });
    const classLabels = fixture.classLabels as string[];
    await publish('trees', fixture, { features, classLabels, algorithm: 'random forest' });
    const rows = [
      [0.2, 0.8, 0.5, 0.1],
      [0.9, 0.1, 0.3, 0.7],
      [0.5, 0.5, 0.5, 0.5],
    ];
    const direct = await runDirect(fixture.bytes, { input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 4]) });
    const probabilities = direct['probabilities'] as ort.Tensor;
    const labels = direct['label'] as ort.Tensor;

    const one = await call(stack.url, 'POST', '/v1/models/trees/predict', {
      features: Object.fromEntries(features.map((f, j) => [f, rows[0]?.[j]]).reverse()),
    });
    const objects = await call(stack.url, 'POST', '/v1/models/trees/predict', {
      instances: rows.map((row) => Object.fromEntries(features.map((f, j) => [f, row[j]]))),
    });
    const arrays = await call(stack.url, 'POST', '/v1/models/trees/predict', { instances: rows });
    const v2 = await call(stack.url, 'POST', '/v2/models/trees/infer', {
      inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: rows }],
    });

    const expected = rows.map((_, r) => {
      const p = Array.from((probabilities.data as Float32Array).slice(r * 3, r * 3 + 3), shortestFloat32);
      return {
        label: (labels.data as string[])[r],
        confidence: Math.max(...p),
        probabilities: Object.fromEntries(classLabels.map((l, j) => [l, p[j]])),
      };
    });
    expect((one.body as { predictions: unknown[] }).predictions).toEqual([expected[0]]);
    expect((objects.body as { predictions: unknown[] }).predictions).toEqual(expected);
    expect((arrays.body as { predictions: unknown[] }).predictions).toEqual(expected);
    expect((v2.body as { outputs: unknown[] }).outputs).toEqual([
      { name: 'label', datatype: 'BYTES', shape: [3], data: flatJson(labels) },
      { name: 'probabilities', datatype: 'FP32', shape: [3, 3], data: flatJson(probabilities) },
    ]);
  });

  it('runs a 1000-instance request as exactly one session.run', async () => {
    const fixture = treeEnsembleClassifier({ trees: 20, depth: 5, seed: 3 });
    await publish('trees-batch', fixture, { features, classLabels: fixture.classLabels as string[] });
    const rows = Array.from({ length: 1000 }, (_, i) => features.map((_, j) => ((i * 7 + j * 13) % 100) / 100));
    await call(stack.url, 'GET', '/v2/models/trees-batch/ready');
    // Every session the runtime adapter creates is an InferenceSession: count the runs on them all.
    const sessions = ort.InferenceSession as unknown as { prototype: ort.InferenceSession };
    const run = jest.spyOn(sessions.prototype, 'run');
    try {
      const reply = await call(stack.url, 'POST', '/v1/models/trees-batch/predict', { instances: rows });
      expect(reply.status).toBe(200);
      expect((reply.body as { predictions: unknown[] }).predictions).toHaveLength(1000);
      expect(run).toHaveBeenCalledTimes(1);
      const feeds = run.mock.calls[0]?.[0] as Record<string, ort.Tensor>;
      expect(feeds['input']?.dims).toEqual([1000, 4]);
    } finally {
      run.mockRestore();
    }
  });
});

describe('the sample model and the v2 metadata routes', () => {
  const setosa = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };

  it('is registered and live on start, and the README curl gets a correct prediction', async () => {
    const reply = await call(stack.url, 'POST', '/v1/models/iris/predict', { features: setosa });
    expect(stack.sample).toBe('registered');
    expect(reply.status).toBe(200);
    const body = reply.body as Record<string, unknown> & {
      predictions: { label: string; confidence: number; probabilities: Record<string, number> }[];
    };
    expect(body.predictions[0]?.label).toBe('setosa');
    expect(body.predictions[0]?.confidence).toBeGreaterThan(0.8);
    expect(Object.keys(body.predictions[0]?.probabilities ?? {})).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(body).toMatchObject({ model: 'iris', modelVersion: '1', functionVersion: '$LATEST' });
    expect(body['requestId']).toEqual(expect.any(String));
    expect(body['processingTimeMs']).toEqual(expect.any(Number));
    expect(body['timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('answers the v2 metadata, readiness and health routes', async () => {
    const meta = await call(stack.url, 'GET', '/v2/models/iris');
    const ready = await call(stack.url, 'GET', '/v2/models/iris/ready');
    const live = await call(stack.url, 'GET', '/v2/health/live');
    const healthy = await call(stack.url, 'GET', '/v2/health/ready');
    expect(meta.body).toMatchObject({
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 4] }],
    });
    expect(ready).toMatchObject({ status: 200, body: { name: 'iris', ready: true } });
    expect(live).toMatchObject({ status: 200, body: { live: true } });
    expect(healthy).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('lists models and versions on the control plane', async () => {
    const models = await call(stack.url, 'GET', '/v1/models');
    const versions = await call(stack.url, 'GET', '/v1/models/iris/versions');
    expect((models.body as { models: { model: string }[] }).models.map((m) => m.model)).toContain('iris');
    const [v1] = (versions.body as { versions: Record<string, unknown>[] }).versions;
    expect(v1).toMatchObject({ model: 'iris', version: '1', stage: 'production', registeredBy: 'local-setup' });
    expect(v1?.['artifact']).toMatchObject({ bucket: 'onnx-artifacts', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });
});
