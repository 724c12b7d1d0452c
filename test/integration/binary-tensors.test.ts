/**
 * The Open Inference Protocol's binary tensor data extension and Lambda's payload limits, over
 * real HTTP: the local server (API Gateway's binary media types and 10 MB quota, Lambda's 6 MB
 * event and result limits), the real handlers, the embedded S3 and DynamoDB servers and real ONNX
 * Runtime sessions, compared with ONNX Runtime called directly on the same bytes.
 *
 * - An image model ([1, 3, H, W] float32 → [1, 1, H, W]) at 512 × 512 in binary form, both ways;
 *   the same input as JSON is refused with a 413 that says what to send instead.
 * - At 1024 × 1024 (12.6 MB) by reference: a presigned upload, `parameters.data_ref`, and the
 *   output back as binary or, when it would pass 6 MB, by reference (`parameters.data_url`).
 * - An answer that would pass 6 MB is never a 200 with a larger body: offloaded, or refused.
 * - Every datatype both ways in binary, and every way a binary request can be malformed.
 */
import * as ort from 'onnxruntime-node';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../functions/core/codec/payload-limits.js';
import { float16BitsToNumber, float16Json, float32Json } from '../../functions/core/codec/numbers.js';
import type { TensorType } from '../../functions/core/model.js';
import { buildModel } from '../support/onnx/builder.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import {
  base64Bytes,
  framedStrings,
  postBinary,
  postJson,
  publish,
  rawBytes,
  readAnswer,
  runDirect,
  tensorRaw,
  type Answer,
} from '../fixtures/binary-http.js';
import { identityModel, seededRandom, twoInputModel, type ModelFixture } from '../fixtures/models.js';
import { adminCall, adminToken, type Call } from '../fixtures/tokens.js';

let stack: TestStack;
let call: Call;
let token: string;

const OCTET = 'application/octet-stream';
/** The upload route a 413 for a tensor must point to (with the model's name, or the route's template). */
const PAYLOADS_ROUTE = /\/v1\/models\/(image|\{model\})\/payloads/;

/** Grayscale by a 1 × 1 convolution: x [1, 3, H, W] float32 → y [1, 1, H, W], H and W dynamic. */
function imageModel(): ModelFixture {
  const inputs = [{ name: 'x', type: 'float32' as const, shape: [1, 3, 'H', 'W'] }];
  const outputs = [{ name: 'y', type: 'float32' as const, shape: [1, 1, 'H', 'W'] }];
  const bytes = buildModel({
    inputs,
    outputs,
    initializers: [
      { name: 'w', dims: [1, 3, 1, 1], data: new Float32Array([0.299, 0.587, 0.114]) },
      { name: 'b', dims: [1], data: new Float32Array([0.0625]) },
    ],
    nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { kernel_shape: [1, 1] } }],
  });
  return { bytes, inputs, outputs };
}

/** A wide output from a narrow input: x [N, 1] float32 → y = x · w, [N, width]. */
function wideModel(width: number): ModelFixture {
  const inputs = [{ name: 'x', type: 'float32' as const, shape: ['N', 1] }];
  const outputs = [{ name: 'y', type: 'float32' as const, shape: ['N', width] }];
  const random = seededRandom(7);
  const bytes = buildModel({
    inputs,
    outputs,
    initializers: [{ name: 'w', dims: [1, width], data: Float32Array.from({ length: width }, () => random() - 0.5) }],
    nodes: [{ op: 'Mul', inputs: ['x', 'w'], outputs: ['y'] }],
  });
  return { bytes, inputs, outputs };
}

/** Two wide outputs from one narrow input: x [N, 1] float32 → a = x · wa and b = x · wb, each [N, width]. */
function pairModel(width: number): ModelFixture {
  const inputs = [{ name: 'x', type: 'float32' as const, shape: ['N', 1] }];
  const outputs = ['a', 'b'].map((name) => ({ name, type: 'float32' as const, shape: ['N', width] }));
  const random = seededRandom(9);
  const weights = () => Float32Array.from({ length: width }, () => random() - 0.5);
  const bytes = buildModel({
    inputs,
    outputs,
    initializers: [
      { name: 'wa', dims: [1, width], data: weights() },
      { name: 'wb', dims: [1, width], data: weights() },
    ],
    nodes: [
      { op: 'Mul', inputs: ['x', 'wa'], outputs: ['a'] },
      { op: 'Mul', inputs: ['x', 'wb'], outputs: ['b'] },
    ],
  });
  return { bytes, inputs, outputs };
}

/** `count` seeded float32 values in [0, 1): pixels. */
function pixels(count: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => random());
}

const IMAGE = imageModel();
const WIDE_WIDTH = 1600;
const WIDE = wideModel(WIDE_WIDTH);
const PAIR_WIDTH = 340;
const PAIR = pairModel(PAIR_WIDTH);

function inferUrl(model: string): string {
  return `${stack.url}/v2/models/${model}/infer`;
}

/** The JSON error body every 4xx must have: code, message, path, request id; no stack, bounded. */
function expectError(reply: Answer, status: number, code: string, path?: string): { code: string; message: string; path: string } {
  expect({ status: reply.status, text: reply.text.slice(0, 400) }).toEqual({ status, text: expect.any(String) as unknown });
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  const body = reply.json as { error: { code: string; message: string; path: string }; requestId: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'requestId']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'path']);
  expect(body.error.code).toBe(code);
  if (path !== undefined) expect(body.error.path).toBe(path);
  expect(typeof body.requestId).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(20);
  expect(reply.text.length).toBeLessThan(1_500);
  expect(reply.text).not.toMatch(/\n\s+at |\.ts:\d+|node_modules/);
  return body.error;
}

/** Lambda's limit holds for a 200: the body as Lambda carries it (base64 for a binary answer) fits. */
function expectWithinLambda(reply: Answer): void {
  const carried = reply.headers.get('content-type')?.startsWith(OCTET) ? base64Bytes(reply.raw.byteLength) : reply.raw.byteLength;
  expect(carried).toBeLessThan(LAMBDA_SYNC_PAYLOAD_BYTES);
}

// ---------------------------------------------------------------------------------------------
// Every datatype, both ways

/** Six values per datatype (edge values first) as raw bytes, and as the JSON the API writes for them. */
interface Sample {
  readonly type: TensorType;
  readonly raw: Buffer;
  readonly json: unknown[];
}

const INT64_SAFE = 2n ** 53n - 1n;
const int64Json = (v: bigint): unknown => (v >= -INT64_SAFE && v <= INT64_SAFE ? Number(v) : v.toString());

const HALF = new Uint16Array([0x3c00, 0x2e66, 0x7e00, 0x7c00, 0xfc00, 0x7bff]); // 1, ~0.1, NaN, +Inf, -Inf, 65504
const SINGLE = new Float32Array([
  Math.fround(0.1),
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e-45,
  3.4028234663852886e38,
]);
const DOUBLE = new Float64Array([0.1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE, Number.MAX_VALUE]);
const STRINGS = ['', 'héllo', '🙂', 'a b', '日本語', 'z'];

const SAMPLES: Record<string, Sample> = {
  FP16: { type: 'float16', raw: rawBytes(HALF), json: Array.from(HALF, (b) => JSON.parse(float16Json(float16BitsToNumber(b))) as unknown) },
  FP32: { type: 'float32', raw: rawBytes(SINGLE), json: Array.from(SINGLE, (v) => JSON.parse(float32Json(v)) as unknown) },
  FP64: { type: 'float64', raw: rawBytes(DOUBLE), json: [0.1, 'NaN', 'Infinity', '-Infinity', Number.MIN_VALUE, Number.MAX_VALUE] },
  INT8: { type: 'int8', raw: rawBytes(new Int8Array([-128, 127, 0, -1, 1, 2])), json: [-128, 127, 0, -1, 1, 2] },
  INT16: { type: 'int16', raw: rawBytes(new Int16Array([-32768, 32767, 0, -1, 1, 2])), json: [-32768, 32767, 0, -1, 1, 2] },
  INT32: {
    type: 'int32',
    raw: rawBytes(new Int32Array([-2147483648, 2147483647, 0, -1, 1, 2])),
    json: [-2147483648, 2147483647, 0, -1, 1, 2],
  },
  INT64: (() => {
    const values = [-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n, -1n, 0n, INT64_SAFE];
    return { type: 'int64' as const, raw: rawBytes(BigInt64Array.from(values)), json: values.map(int64Json) };
  })(),
  UINT8: { type: 'uint8', raw: rawBytes(new Uint8Array([0, 255, 128, 1, 2, 3])), json: [0, 255, 128, 1, 2, 3] },
  UINT16: { type: 'uint16', raw: rawBytes(new Uint16Array([0, 65535, 1000, 1, 2, 3])), json: [0, 65535, 1000, 1, 2, 3] },
  UINT32: { type: 'uint32', raw: rawBytes(new Uint32Array([0, 4294967295, 65536, 1, 2, 3])), json: [0, 4294967295, 65536, 1, 2, 3] },
  UINT64: (() => {
    const values = [0n, 2n ** 64n - 1n, 2n ** 53n + 1n, 1n, 2n, INT64_SAFE];
    return { type: 'uint64' as const, raw: rawBytes(BigUint64Array.from(values)), json: values.map(int64Json) };
  })(),
  BOOL: { type: 'bool', raw: Buffer.from([1, 0, 0, 1, 1, 0]), json: [true, false, false, true, true, false] },
  BYTES: { type: 'string', raw: framedStrings(STRINGS), json: STRINGS },
};
const DATATYPES = Object.keys(SAMPLES);

beforeAll(async () => {
  stack = await startTestStack({ seedSampleModel: false });
  call = await adminCall(stack);
  token = await adminToken(stack);
  await Promise.all([
    publish(stack, call, 'image', IMAGE),
    publish(stack, call, 'wide', WIDE),
    publish(stack, call, 'pair', PAIR),
    publish(stack, call, 'two', twoInputModel()),
    ...DATATYPES.map((datatype) => publish(stack, call, `id-${datatype.toLowerCase()}`, identityModel((SAMPLES[datatype] as Sample).type))),
  ]);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('an image model at 512 × 512 in binary form', () => {
  const H = 512;
  const W = 512;
  const x = pixels(3 * H * W, 1);

  it("binary in, binary out: the output bytes are ONNX Runtime's, and both bodies fit Lambda's 6 MB once base64-encoded", async () => {
    // Prepare
    const direct = await runDirect(IMAGE.bytes, { x: new ort.Tensor('float32', x, [1, 3, H, W]) });
    const header = {
      inputs: [{ name: 'x', shape: [1, 3, H, W], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    };

    // Act
    const reply = await readAnswer(await postBinary(inferUrl('image'), token, header, [rawBytes(x)], { accept: OCTET }));

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe(OCTET);
    expect(x.byteLength).toBe(3_145_728); // 3.1 MB of raw floats ...
    expect(base64Bytes(x.byteLength + 200)).toBeLessThan(LAMBDA_SYNC_PAYLOAD_BYTES); // ... 4.2 MB as Lambda's event carries them
    expect(reply.json).toMatchObject({ model_name: 'image', model_version: '1' });
    const y = reply.outputs['y'];
    expect(y).toMatchObject({ name: 'y', datatype: 'FP32', shape: [1, 1, H, W], parameters: { binary_data_size: H * W * 4 } });
    expect(y?.bytes?.equals(tensorRaw(direct['y'] as ort.Tensor))).toBe(true);
    expectWithinLambda(reply);
  });

  it('binary in, JSON out: the same values as JSON numbers', async () => {
    // Prepare
    const direct = await runDirect(IMAGE.bytes, { x: new ort.Tensor('float32', x, [1, 3, H, W]) });
    const header = { inputs: [{ name: 'x', shape: [1, 3, H, W], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }] };

    // Act
    const reply = await readAnswer(await postBinary(inferUrl('image'), token, header, [rawBytes(x)]));

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    const data = reply.outputs['y']?.data as number[];
    const expected = direct['y']?.data as Float32Array;
    expect(data).toHaveLength(H * W);
    let different = 0;
    for (let i = 0; i < data.length; i++) if (Math.fround(data[i] as number) !== expected[i]) different++;
    expect(different).toBe(0);
    expectWithinLambda(reply);
  });

  /** The 512 × 512 input as a JSON request, its values written by `digits`, padded with spaces to `padTo` bytes. */
  function jsonRequest(digits: (v: number) => number, side = H, padTo?: number): string {
    const values = side === H ? x : pixels(3 * side * side, 2);
    const text = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, side, side], datatype: 'FP32', data: Array.from(values, digits) }] });
    return padTo === undefined ? text : text.replace('{', `{${' '.repeat(padTo - Buffer.byteLength(text))}`);
  }

  /** The advice a 413 for a tensor request must give: the binary form, or an upload sent by reference. */
  function expectAdvice(message: string): void {
    expect(message).toContain(OCTET);
    expect(message).toMatch(PAYLOADS_ROUTE);
  }

  it("as JSON with a double's digits (as Python's json.dumps writes numpy floats: 16 MB, over API Gateway's 10 MB): 413 BODY_TOO_LARGE with the advice", async () => {
    // Prepare
    const body = jsonRequest((v) => v);

    // Act
    const reply = await readAnswer(await postJson(inferUrl('image'), token, body));

    // Assess
    expect(Buffer.byteLength(body)).toBeGreaterThan(10 * 1024 * 1024);
    expectAdvice(expectError(reply, 413, 'BODY_TOO_LARGE', 'body').message);
  });

  it("as JSON with the shortest float32 digits (8.6 MB: under API Gateway's 10 MB, over Lambda's 6 MB event): 413 REQUEST_TOO_LARGE with the advice", async () => {
    // Prepare
    const body = jsonRequest((v) => Number(v.toPrecision(8)));

    // Act
    const reply = await readAnswer(await postJson(inferUrl('image'), token, body));

    // Assess
    expect(Buffer.byteLength(body)).toBeGreaterThan(LAMBDA_SYNC_PAYLOAD_BYTES);
    expect(Buffer.byteLength(body)).toBeLessThan(10 * 1024 * 1024);
    expectAdvice(expectError(reply, 413, 'REQUEST_TOO_LARGE', 'body').message);
  });

  it("as JSON of 6.1 MB (under Lambda's 6 MiB event, over the function's MAX_BODY_BYTES of 6,000,000): 413 BODY_TOO_LARGE with the advice", async () => {
    // Prepare: a 256 × 256 image padded with spaces, so the size is exact
    const body = jsonRequest((v) => v, 256, 6_100_000);

    // Act
    const reply = await readAnswer(await postJson(inferUrl('image'), token, body));

    // Assess
    expect(Buffer.byteLength(body)).toBe(6_100_000);
    expectAdvice(expectError(reply, 413, 'BODY_TOO_LARGE', 'body').message);
  });
});

describe('an image model at 1024 × 1024 by reference', () => {
  const H = 1024;
  const W = 1024;
  const x = pixels(3 * H * W, 3);
  let payloadId: string;
  let direct: Buffer;

  beforeAll(async () => {
    direct = tensorRaw((await runDirect(IMAGE.bytes, { x: new ort.Tensor('float32', x, [1, 3, H, W]) }))['y'] as ort.Tensor);
    const ticket = await call(stack.url, 'POST', '/v1/models/image/payloads', { bytes: x.byteLength });
    expect(ticket.status).toBe(201);
    const upload = ticket.body as {
      payloadId: string;
      url: string;
      method: string;
      headers: Record<string, string>;
      maxBytes: number;
      expiresAt: string;
    };
    expect(upload).toMatchObject({ method: 'PUT', payloadId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown });
    expect(upload.maxBytes).toBeGreaterThanOrEqual(x.byteLength);
    const put = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: rawBytes(x) });
    expect(put.status).toBe(200);
    payloadId = upload.payloadId;
  }, 30_000);

  function request(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { inputs: [{ name: 'x', shape: [1, 3, H, W], datatype: 'FP32', parameters: { data_ref: payloadId } }], ...extra };
  }

  it("is over API Gateway's 10 MB inline, even in binary form: 413 BODY_TOO_LARGE that says to upload it", async () => {
    // Act
    const reply = await readAnswer(
      await postBinary(
        inferUrl('image'),
        token,
        {
          inputs: [{ name: 'x', shape: [1, 3, H, W], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
        },
        [rawBytes(x)],
      ),
    );

    // Assess
    expect(x.byteLength).toBe(12_582_912);
    const error = expectError(reply, 413, 'BODY_TOO_LARGE', 'body');
    expect(error.message).toMatch(PAYLOADS_ROUTE);
  });

  it("data_ref in, binary out (4 MB raw, 5.6 MB base64: it fits): the output bytes are ONNX Runtime's", async () => {
    // Act
    const reply = await readAnswer(
      await postJson(inferUrl('image'), token, request({ parameters: { binary_data_output: true } }), { accept: OCTET }),
    );

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe(OCTET);
    expect(reply.outputs['y']).toMatchObject({ datatype: 'FP32', shape: [1, 1, H, W], parameters: { binary_data_size: H * W * 4 } });
    expect(reply.outputs['y']?.bytes?.equals(direct)).toBe(true);
    expectWithinLambda(reply);
  });

  it("data_ref in, JSON asked: the output would pass 6 MB as JSON, so it comes back by reference (data_url) and equals ONNX Runtime's", async () => {
    // Act
    const reply = await readAnswer(await postJson(inferUrl('image'), token, request()));

    // Assess
    expect(reply.status).toBe(200);
    const y = reply.outputs['y'];
    expect(y).toMatchObject({
      name: 'y',
      datatype: 'FP32',
      shape: [1, 1, H, W],
      parameters: { data_url: expect.stringContaining('/onnx-payloads/') as unknown },
    });
    expect(y?.data).toBeUndefined();
    expect(y?.bytes?.equals(direct)).toBe(true);
    expect(reply.raw.byteLength).toBeLessThan(10_000);
    // 12 MB through the local S3 twice: the guard against a hang, not a speed limit.
  }, 30_000);

  it('a payload whose size does not match the shape is BINARY_SIZE_MISMATCH; one uploaded for another model is not found', async () => {
    // Act
    const mismatch = await readAnswer(
      await postJson(inferUrl('image'), token, {
        inputs: [{ name: 'x', shape: [1, 3, 512, 512], datatype: 'FP32', parameters: { data_ref: payloadId } }],
      }),
    );
    const elsewhere = await readAnswer(
      await postJson(inferUrl('id-fp32'), token, {
        inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { data_ref: payloadId } }],
      }),
    );

    // Assess
    expectError(mismatch, 400, 'BINARY_SIZE_MISMATCH', 'inputs[0].parameters.data_ref');
    expectError(elsewhere, 404, 'PAYLOAD_NOT_FOUND');
  });

  it('the same request as JSON is refused with the 413 and its advice', async () => {
    // Prepare
    const body = JSON.stringify({
      inputs: [{ name: 'x', shape: [1, 3, H, W], datatype: 'FP32', data: Array.from(x, (v) => Number(v.toPrecision(8))) }],
    });

    // Act
    const reply = await readAnswer(await postJson(inferUrl('image'), token, body));

    // Assess
    const error = expectError(reply, 413, 'BODY_TOO_LARGE', 'body');
    expect(error.message).toMatch(PAYLOADS_ROUTE);
  });
});

describe('an answer that would pass 6 MB is never a 200 with a larger body', () => {
  const rows = 1000;
  const x = Float32Array.from({ length: rows }, (_, i) => (i % 17) - 8.5);

  it('v2: binary outputs asked for, 6.4 MB raw (8.5 MB base64): offloaded to data_url, equal to ONNX Runtime', async () => {
    // Prepare
    const direct = await runDirect(WIDE.bytes, { x: new ort.Tensor('float32', x, [rows, 1]) });

    // Act
    const reply = await readAnswer(
      await postBinary(
        inferUrl('wide'),
        token,
        {
          inputs: [{ name: 'x', shape: [rows, 1], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
          parameters: { binary_data_output: true },
        },
        [rawBytes(x)],
        { accept: OCTET },
      ),
    );

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.outputs['y']).toMatchObject({
      shape: [rows, WIDE_WIDTH],
      parameters: { data_url: expect.any(String) as unknown, data_bytes: rows * WIDE_WIDTH * 4 },
    });
    expect(reply.outputs['y']?.bytes?.equals(tensorRaw(direct['y'] as ort.Tensor))).toBe(true);
    expectWithinLambda(reply);
  });

  it("v2: one output binary (1.4 MB), one JSON (4 MB): 5.8 MB counted output by output, 7.2 MB once the whole binary body is base64-encoded: still a 200 within Lambda's limit, equal to ONNX Runtime", async () => {
    // Prepare
    const random = seededRandom(5);
    const xs = Float32Array.from({ length: rows }, () => random() * 2 - 1);
    const direct = await runDirect(PAIR.bytes, { x: new ort.Tensor('float32', xs, [rows, 1]) });

    // Act
    const reply = await readAnswer(
      await postBinary(
        inferUrl('pair'),
        token,
        {
          inputs: [{ name: 'x', shape: [rows, 1], datatype: 'FP32', parameters: { binary_data_size: xs.byteLength } }],
          outputs: [{ name: 'a', parameters: { binary_data: true } }, { name: 'b' }],
        },
        [rawBytes(xs)],
        { accept: OCTET },
      ),
    );

    // Assess
    expect({ status: reply.status, text: reply.text.slice(0, 300) }).toMatchObject({ status: 200 });
    expectWithinLambda(reply);
    expect(reply.outputs['a']?.bytes?.equals(tensorRaw(direct['a'] as ort.Tensor))).toBe(true);
    const b = reply.outputs['b'];
    const expectedB = tensorRaw(direct['b'] as ort.Tensor);
    if (b?.bytes) expect(b.bytes.equals(expectedB)).toBe(true);
    else expect(Buffer.from(Float32Array.from(b?.data as number[]).buffer).equals(expectedB)).toBe(true);
  });

  it('v1 predict: 1,000 rows of 1,600 floats (about 17 MB of JSON) is refused with 413 RESPONSE_TOO_LARGE and what to do', async () => {
    // Act
    const reply = await readAnswer(await postJson(`${stack.url}/v1/models/wide/predict`, token, { instances: Array.from(x, (v) => [v]) }));

    // Assess
    const error = expectError(reply, 413, 'RESPONSE_TOO_LARGE');
    expect(error.message).toMatch(/fewer rows/);
    expect(error.message).toContain('batch-jobs');
  });
});

describe('without a payload bucket', () => {
  let bare: TestStack;
  let bareToken: string;

  beforeAll(async () => {
    bare = await startTestStack({ seedSampleModel: false, env: { PAYLOAD_BUCKET: '' } });
    bareToken = await adminToken(bare);
    await publish(bare, await adminCall(bare), 'wide', WIDE);
  }, 60_000);

  afterAll(async () => {
    await bare?.stop();
  });

  it('a v2 answer too large for Lambda is refused with 413 RESPONSE_TOO_LARGE, and payload uploads with PAYLOADS_DISABLED', async () => {
    // Prepare
    const rows = 1000;
    const x = Float32Array.from({ length: rows }, (_, i) => i / 7);

    // Act
    const binary = await readAnswer(
      await postBinary(
        `${bare.url}/v2/models/wide/infer`,
        bareToken,
        {
          inputs: [{ name: 'x', shape: [rows, 1], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
          parameters: { binary_data_output: true },
        },
        [rawBytes(x)],
        { accept: OCTET },
      ),
    );
    const json = await readAnswer(
      await postJson(`${bare.url}/v2/models/wide/infer`, bareToken, {
        inputs: [{ name: 'x', shape: [rows, 1], datatype: 'FP32', data: Array.from(x) }],
      }),
    );
    const ticket = await readAnswer(await postJson(`${bare.url}/v1/models/wide/payloads`, bareToken, {}));

    // Assess
    for (const reply of [binary, json]) {
      const error = expectError(reply, 413, 'RESPONSE_TOO_LARGE', 'outputs');
      expect(error.message).toContain('fewer rows');
    }
    expectError(ticket, 400, 'PAYLOADS_DISABLED');
  });
});

// ---------------------------------------------------------------------------------------------

describe('every datatype in binary form, both ways', () => {
  it.each(DATATYPES)(
    '%s: binary in → binary out gives the bytes sent; binary in → JSON out and JSON in → binary out agree with them',
    async (datatype) => {
      // Prepare
      const sample = SAMPLES[datatype] as Sample;
      const url = inferUrl(`id-${datatype.toLowerCase()}`);
      const input = { name: 'x', shape: [2, 3], datatype };

      // Act
      const binaryBoth = await readAnswer(
        await postBinary(
          url,
          token,
          {
            inputs: [{ ...input, parameters: { binary_data_size: sample.raw.byteLength } }],
            parameters: { binary_data_output: true },
          },
          [sample.raw],
          { accept: OCTET },
        ),
      );
      const binaryIn = await readAnswer(
        await postBinary(url, token, { inputs: [{ ...input, parameters: { binary_data_size: sample.raw.byteLength } }] }, [sample.raw]),
      );
      const binaryOut = await readAnswer(
        await postJson(
          url,
          token,
          {
            inputs: [{ ...input, data: sample.json }],
            outputs: [{ name: 'y', parameters: { binary_data: true } }],
          },
          { accept: OCTET },
        ),
      );

      // Assess
      expect(binaryBoth.status).toBe(200);
      expect(binaryBoth.outputs['y']).toMatchObject({ datatype, shape: [2, 3], parameters: { binary_data_size: sample.raw.byteLength } });
      expect(binaryBoth.outputs['y']?.bytes?.toString('hex')).toBe(sample.raw.toString('hex'));
      expect(binaryIn.status).toBe(200);
      expect(binaryIn.headers.get('content-type')).toMatch(/^application\/json/);
      expect(binaryIn.outputs['y']).toEqual({ name: 'y', datatype, shape: [2, 3], data: sample.json });
      expect(binaryOut.status).toBe(200);
      expect(binaryOut.outputs['y']?.bytes?.toString('hex')).toBe(sample.raw.toString('hex'));
    },
  );

  it('outputs may be asked in binary one by one: the others stay JSON', async () => {
    // Prepare
    const a = new Float32Array([1, 2, 3, 4]);
    const b = new Float32Array([0.5, -1, 10, 0.25]);

    // Act
    const reply = await readAnswer(
      await postBinary(
        inferUrl('two'),
        token,
        {
          inputs: [
            { name: 'a', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } },
            { name: 'b', shape: [2, 2], datatype: 'FP32', data: Array.from(b) },
          ],
          outputs: [{ name: 'product', parameters: { binary_data: true } }, { name: 'sum' }],
        },
        [rawBytes(a)],
        { accept: `${OCTET}, application/json` },
      ),
    );

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.outputs['sum']).toEqual({ name: 'sum', datatype: 'FP32', shape: [2, 2], data: [1.5, 1, 13, 4.25] });
    expect(reply.outputs['product']?.bytes?.equals(rawBytes(new Float32Array([0.5, -2, 30, 1])))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed binary requests

describe('malformed binary requests get a 4xx that says what is wrong, and nothing more', () => {
  const fp32 = (size: number) => ({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: size } }] });
  const three = rawBytes(new Float32Array([1, 2, 3]));

  it('a byte count that does not match the shape: BINARY_SIZE_MISMATCH', async () => {
    // Act
    const short = await readAnswer(await postBinary(inferUrl('id-fp32'), token, fp32(8), [three.subarray(0, 8)]));
    const announcedMore = await readAnswer(await postBinary(inferUrl('id-fp32'), token, fp32(16), [three]));

    // Assess
    expect(expectError(short, 400, 'BINARY_SIZE_MISMATCH', 'inputs[0].parameters.binary_data_size').message).toContain('12 bytes');
    expectError(announcedMore, 400, 'BINARY_SIZE_MISMATCH', 'inputs[0].parameters.binary_data_size');
  });

  it('bytes after the last tensor: BINARY_SIZE_MISMATCH', async () => {
    // Act
    const reply = await readAnswer(await postBinary(inferUrl('id-fp32'), token, fp32(12), [three, Buffer.from([0])]));

    // Assess
    expect(expectError(reply, 400, 'BINARY_SIZE_MISMATCH', 'inputs').message).toContain('13 bytes');
  });

  it('a missing, malformed or too large Inference-Header-Content-Length: INVALID_HEADER_LENGTH', async () => {
    // Act
    const replies = await Promise.all(
      [undefined, 'abc', '-1', '0', '1e2', '100000'].map(async (length) =>
        readAnswer(await postBinary(inferUrl('id-fp32'), token, fp32(12), [three], { 'inference-header-content-length': length })),
      ),
    );

    // Assess
    for (const reply of replies) expectError(reply, 400, 'INVALID_HEADER_LENGTH', 'headers.inference-header-content-length');
    expect((replies[5] as Answer).json['error']).toMatchObject({ message: expect.stringContaining('100000') as unknown });
  });

  it('a header length that cuts the JSON short: MALFORMED_JSON in the header', async () => {
    // Act
    const reply = await readAnswer(
      await postBinary(inferUrl('id-fp32'), token, fp32(12), [three], { 'inference-header-content-length': '20' }),
    );

    // Assess
    expectError(reply, 400, 'MALFORMED_JSON', 'body.header');
  });

  it('a BOOL byte other than 0 or 1: INVALID_BOOL', async () => {
    // Act
    const reply = await readAnswer(
      await postBinary(
        inferUrl('id-bool'),
        token,
        {
          inputs: [{ name: 'x', shape: [1, 3], datatype: 'BOOL', parameters: { binary_data_size: 3 } }],
        },
        [Buffer.from([1, 2, 0])],
      ),
    );

    // Assess
    expectError(reply, 400, 'INVALID_BOOL', 'inputs[0].parameters.binary_data_size');
  });

  it('BYTES that are not UTF-8: MALFORMED_UTF8, and a cut length prefix: BINARY_SIZE_MISMATCH', async () => {
    // Prepare
    const bad = framedStrings(['ok', Buffer.from([0xff, 0xfe]), 'z']);
    const cut = Buffer.concat([framedStrings(['ok', 'z']), Buffer.from([1, 0])]);

    // Act
    const malformed = await readAnswer(
      await postBinary(
        inferUrl('id-bytes'),
        token,
        {
          inputs: [{ name: 'x', shape: [1, 3], datatype: 'BYTES', parameters: { binary_data_size: bad.byteLength } }],
        },
        [bad],
      ),
    );
    const truncated = await readAnswer(
      await postBinary(
        inferUrl('id-bytes'),
        token,
        {
          inputs: [{ name: 'x', shape: [1, 3], datatype: 'BYTES', parameters: { binary_data_size: cut.byteLength } }],
        },
        [cut],
      ),
    );

    // Assess
    expectError(malformed, 400, 'MALFORMED_UTF8', 'inputs[0].parameters.binary_data_size');
    expectError(truncated, 400, 'BINARY_SIZE_MISMATCH', 'inputs[0].parameters.binary_data_size');
  });

  it('binary_data_size in a JSON request: BINARY_DATA_WITHOUT_BODY; data and binary_data_size both: CONFLICTING_FIELDS', async () => {
    // Act
    const json = await readAnswer(await postJson(inferUrl('id-fp32'), token, fp32(12)));
    const both = await readAnswer(
      await postBinary(
        inferUrl('id-fp32'),
        token,
        {
          inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3], parameters: { binary_data_size: 12 } }],
        },
        [three],
      ),
    );

    // Assess
    expect(expectError(json, 400, 'BINARY_DATA_WITHOUT_BODY', 'inputs[0].parameters.binary_data_size').message).toContain(OCTET);
    expectError(both, 400, 'CONFLICTING_FIELDS', 'inputs[0]');
  });

  it('binary outputs asked for without Accept: application/octet-stream: 406 NOT_ACCEPTABLE', async () => {
    // Act
    const replies = await Promise.all(
      [undefined, 'application/json', `application/json, ${OCTET}`].map(async (accept) =>
        readAnswer(
          await postJson(
            inferUrl('id-fp32'),
            token,
            {
              inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }],
              parameters: { binary_data_output: true },
            },
            accept === undefined ? {} : { accept },
          ),
        ),
      ),
    );

    // Assess
    for (const reply of replies) expect(expectError(reply, 406, 'NOT_ACCEPTABLE', 'headers.accept').message).toContain(`Accept: ${OCTET}`);
  });

  it('a data_ref nobody uploaded: 404 PAYLOAD_NOT_FOUND; one that is no payload id: 400 INVALID_PAYLOAD_ID, quoting only an excerpt', async () => {
    // Prepare
    const ref = (id: string) => ({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { data_ref: id } }] });
    const long = `../${'Q'.repeat(5_000)}`;

    // Act
    const unknown = await readAnswer(await postJson(inferUrl('id-fp32'), token, ref('0b5a1f8e-3c1d-4e8a-9f1b-2d3c4b5a6f7e')));
    const malformed = await readAnswer(await postJson(inferUrl('id-fp32'), token, ref(long)));

    // Assess
    expect(expectError(unknown, 404, 'PAYLOAD_NOT_FOUND', 'inputs[0].parameters.data_ref').message).toContain(
      '/v1/models/id-fp32/payloads',
    );
    expectError(malformed, 400, 'INVALID_PAYLOAD_ID', 'inputs[0].parameters.data_ref');
    expect(malformed.text).not.toContain('Q'.repeat(100));
  });

  it('a payload announced larger than allowed: 413 PAYLOAD_TOO_LARGE before any upload', async () => {
    // Act
    const reply = await readAnswer(await postJson(`${stack.url}/v1/models/id-fp32/payloads`, token, { bytes: 2 ** 40 }));

    // Assess
    expectError(reply, 413, 'PAYLOAD_TOO_LARGE', 'bytes');
  });

  it('long caller text in a binary request is quoted as an excerpt only', async () => {
    // Prepare
    const name = 'Z'.repeat(5_000);

    // Act
    const unknownInput = await readAnswer(
      await postBinary(
        inferUrl('id-fp32'),
        token,
        {
          inputs: [{ name, shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } }],
        },
        [three],
      ),
    );
    const badLength = await readAnswer(
      await postBinary(inferUrl('id-fp32'), token, fp32(12), [three], { 'inference-header-content-length': name }),
    );

    // Assess
    expectError(unknownInput, 400, 'UNKNOWN_INPUT', 'inputs[0].name');
    expectError(badLength, 400, 'INVALID_HEADER_LENGTH');
    for (const reply of [unknownInput, badLength]) expect(reply.text).not.toContain('Z'.repeat(100));
  });
});
