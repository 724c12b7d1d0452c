/**
 * Values JSON has no plain number for, over real HTTP (local server, real handlers, ONNX Runtime):
 * float16 models, NaN and ±Infinity coming out of a model and going into one (an imputer), and
 * the digits floats are printed with. Each is served equal to ONNX Runtime called directly, as
 * JSON (the strings "NaN", "Infinity", "-Infinity"; float32 and float16 with the shortest digits
 * of their type, float64 with all of a double's) and as binary tensor data, through v2 infer and
 * v1 predict.
 */
import * as ort from 'onnxruntime-node';
import { float16BitsToNumber, float16Json, float32Json, numberToFloat16Bits } from '../../functions/core/codec/numbers.js';
import type { TensorType } from '../../functions/core/model.js';
import { ML_DOMAIN, attr, buildModel } from '../support/onnx/builder.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { postBinary, postJson, publish, rawBytes, readAnswer, runDirect, tensorRaw, type Answer } from '../fixtures/binary-http.js';
import { identityModel, seededRandom } from '../fixtures/models.js';
import { adminCall, adminToken, type Call } from '../fixtures/tokens.js';

let stack: TestStack;
let call: Call;
let token: string;

const OCTET = 'application/octet-stream';

/** x float16 [N, 3] → y = 2x (float16). */
const HALF_MODEL = buildModel({
  inputs: [{ name: 'x', type: 'float16', shape: ['N', 3] }],
  outputs: [{ name: 'y', type: 'float16', shape: ['N', 3] }],
  initializers: [{ name: 'two', type: 'float16', dims: [], data: [numberToFloat16Bits(2)] }],
  nodes: [{ op: 'Mul', inputs: ['x', 'two'], outputs: ['y'] }],
});

/** x float32 [N, 3] → y = x / 0 (0/0 = NaN, 1/0 = +Inf, −1/0 = −Inf), and d = y as float64. */
const DIVIDE_BY_ZERO_MODEL = buildModel({
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
  outputs: [
    { name: 'y', type: 'float32', shape: ['N', 3] },
    { name: 'd', type: 'float64', shape: ['N', 3] },
  ],
  initializers: [{ name: 'zero', dims: [], data: new Float32Array([0]) }],
  nodes: [
    { op: 'Div', inputs: ['x', 'zero'], outputs: ['y'] },
    { op: 'Cast', inputs: ['y'], outputs: ['d'], attributes: { to: 11 } }, // DOUBLE
  ],
});

/** scikit-learn's SimpleImputer as exported: ai.onnx.ml Imputer replacing NaN by a value per column. */
const IMPUTED = [7.5, -1, 0.25];
const IMPUTER_MODEL = buildModel({
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
  outputs: [{ name: 'y', type: 'float32', shape: ['N', 3] }],
  nodes: [
    {
      op: 'Imputer',
      domain: ML_DOMAIN,
      inputs: ['x'],
      outputs: ['y'],
      attributes: { imputed_value_floats: attr.floats(IMPUTED), replaced_value_float: attr.float(Number.NaN) },
    },
  ],
});

/** x float32 [N, 1] → f32 = x · 0.1f (float32), f64 = f32 as float64. */
const DIGITS_MODEL = buildModel({
  inputs: [{ name: 'x', type: 'float32', shape: ['N', 1] }],
  outputs: [
    { name: 'f32', type: 'float32', shape: ['N', 1] },
    { name: 'f64', type: 'float64', shape: ['N', 1] },
  ],
  initializers: [{ name: 'tenth', dims: [], data: new Float32Array([0.1]) }],
  nodes: [
    { op: 'Mul', inputs: ['x', 'tenth'], outputs: ['f32'] },
    { op: 'Cast', inputs: ['f32'], outputs: ['f64'], attributes: { to: 11 } },
  ],
});

beforeAll(async () => {
  stack = await startTestStack({ seedSampleModel: false });
  call = await adminCall(stack);
  token = await adminToken(stack);
  await Promise.all([
    publish(stack, call, 'half', { bytes: HALF_MODEL }),
    publish(stack, call, 'divide', { bytes: DIVIDE_BY_ZERO_MODEL }),
    publish(stack, call, 'imputer', { bytes: IMPUTER_MODEL }),
    publish(stack, call, 'digits', { bytes: DIGITS_MODEL }),
    publish(stack, call, 'id-fp32', identityModel('float32')),
    publish(stack, call, 'id-fp64', identityModel('float64')),
  ]);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const V2_TYPES: Partial<Record<TensorType, string>> = { float16: 'FP16', float32: 'FP32', float64: 'FP64' };

/**
 * The JSON text of each element of an ONNX Runtime output, as the API must write it: float16 and
 * float32 with the shortest digits of their type (`numbers.ts`), float64 as JavaScript prints a
 * double, and NaN / ±Infinity as the strings "NaN", "Infinity", "-Infinity".
 */
function elementTexts(tensor: ort.Tensor): string[] {
  const values = Array.from(tensor.data as ArrayLike<number>);
  if (tensor.type === 'float16') return values.map((bits) => float16Json(float16BitsToNumber(bits)));
  if (tensor.type === 'float32') return values.map((v) => float32Json(v));
  return values.map((v) => (Number.isFinite(v) ? JSON.stringify(v) : `"${String(v)}"`));
}

/** The values those texts stand for (NaN and the infinities as numbers again), for comparisons that tell them apart. */
function valuesOf(data: readonly unknown[]): number[] {
  return data.map((v) => (typeof v === 'string' ? Number(v) : (v as number)));
}

/** Row `r` of `[rows, 3]` texts as the JSON array text v1 predict writes. */
function rowText(texts: readonly string[], r: number, width = 3): string {
  return `[${texts.slice(r * width, (r + 1) * width).join(',')}]`;
}

interface Served {
  readonly json: Answer;
  readonly binary: Answer;
  readonly predict: Answer;
}

/** One input [rows, 3] sent three ways: v2 JSON, v2 binary (both ways), and v1 predict instances. */
async function serveThreeWays(model: string, type: TensorType, json: unknown[][], raw: Uint8Array): Promise<Served> {
  const rows = json.length;
  const width = (json[0] as unknown[]).length;
  const datatype = V2_TYPES[type] as string;
  const url = `${stack.url}/v2/models/${model}/infer`;
  const [jsonReply, binaryReply, predictReply] = await Promise.all([
    postJson(url, token, { inputs: [{ name: 'x', shape: [rows, width], datatype, data: json.flat() }] }).then(readAnswer),
    postBinary(
      url,
      token,
      {
        inputs: [{ name: 'x', shape: [rows, width], datatype, parameters: { binary_data_size: raw.byteLength } }],
        parameters: { binary_data_output: true },
      },
      [raw],
      { accept: OCTET },
    ).then(readAnswer),
    postJson(`${stack.url}/v1/models/${model}/predict`, token, { instances: json }).then(readAnswer),
  ]);
  for (const reply of [jsonReply, binaryReply, predictReply])
    expect({ status: reply.status, body: reply.text.slice(0, 300) }).toMatchObject({ status: 200 });
  return { json: jsonReply, binary: binaryReply, predict: predictReply };
}

/** Every way of `served` carries output `name` exactly as ONNX Runtime gave it. */
function expectServedAsDirect(served: Served, name: string, direct: ort.Tensor): void {
  const texts = elementTexts(direct);
  const rows = direct.dims[0] as number;
  const width = direct.dims[1] as number;
  // v2 JSON: the exact text of every element, and values that tell NaN, +Inf and -Inf apart.
  expect(served.json.text).toContain(`"data":[${texts.join(',')}]`);
  const data = served.json.outputs[name]?.data as unknown[];
  expect(valuesOf(data)).toEqual(texts.map((t) => Number(JSON.parse(t))));
  // v2 binary: ONNX Runtime's own bytes, NaN payloads included.
  expect(served.binary.outputs[name]?.bytes?.toString('hex')).toBe(tensorRaw(direct).toString('hex'));
  // v1 predict: each row's array, same texts.
  const predictions = (served.predict.json as { predictions: Record<string, unknown[]>[] }).predictions;
  expect(predictions).toHaveLength(rows);
  for (let r = 0; r < rows; r++) expect(served.predict.text).toContain(`"${name}":${rowText(texts, r, width)}`);
}

describe('a float16 model', () => {
  it('serves 2x as ONNX Runtime does: half-precision rounding, overflow to Infinity, NaN, as JSON, binary and v1 predict', async () => {
    // Prepare: 0.1 rounds to the half 0.0999755859375; 40000 · 2 overflows float16 to +Infinity
    const json = [
      [0.1, -2.5, 40000],
      ['NaN', '-Infinity', 6.103515625e-5],
      [65504, 1 / 3, -0.007],
    ];
    const bits = Uint16Array.from(json.flat(), (v) => numberToFloat16Bits(Number(v)));
    const direct = (await runDirect(HALF_MODEL, { x: new ort.Tensor('float16', bits, [3, 3]) }))['y'] as ort.Tensor;

    // Act
    const served = await serveThreeWays('half', 'float16', json, rawBytes(bits));

    // Assess
    expectServedAsDirect(served, 'y', direct);
    const y = served.json.outputs['y'];
    expect(y).toMatchObject({ datatype: 'FP16', shape: [3, 3] });
    // Shortest digits for a half: 0.2, not the 0.199951171875 it holds.
    expect(y?.data?.slice(0, 5)).toEqual([0.2, -5, 'Infinity', 'NaN', '-Infinity']);
    expect(served.json.text).not.toContain('0.199951171875');
  });

  it('refuses a JSON number float16 cannot hold (70000) with OUT_OF_RANGE at its path, and takes 65504', async () => {
    // Act
    const replies = await Promise.all(
      [
        [1, 2, 70000],
        [-70000, 0, 0],
        [65504, -65504, 0],
      ].map(async (data) =>
        readAnswer(
          await postJson(`${stack.url}/v2/models/half/infer`, token, { inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP16', data }] }),
        ),
      ),
    );
    const predict = await readAnswer(await postJson(`${stack.url}/v1/models/half/predict`, token, { instances: [[1, 70000, 2]] }));

    // Assess
    const [over, under, edge] = replies as [Answer, Answer, Answer];
    expect(over.status).toBe(400);
    expect(over.json['error']).toMatchObject({
      code: 'OUT_OF_RANGE',
      path: 'inputs[0].data[2]',
      message: expect.stringContaining('float16') as unknown,
    });
    expect(under.json['error']).toMatchObject({ code: 'OUT_OF_RANGE', path: 'inputs[0].data[0]' });
    expect(predict.status).toBe(400);
    expect(predict.json['error']).toMatchObject({ code: 'OUT_OF_RANGE', path: 'instances[0][1]' });
    expect(edge.status).toBe(200);
    expect(edge.outputs['y']?.data).toEqual(['Infinity', '-Infinity', 0]);
  });
});

describe('a model returning NaN, +Infinity and -Infinity', () => {
  it('serves x / 0 as ONNX Runtime does, float32 and float64, the three told apart in JSON, binary and v1 predict', async () => {
    // Prepare
    const values = [
      [0, 1, -1],
      [2, -0.5, 0],
    ];
    const x = Float32Array.from(values.flat());
    const direct = await runDirect(DIVIDE_BY_ZERO_MODEL, { x: new ort.Tensor('float32', x, [2, 3]) });

    // Act
    const served = await serveThreeWays('divide', 'float32', values, rawBytes(x));

    // Assess
    expectServedAsDirect(served, 'y', direct['y'] as ort.Tensor);
    expectServedAsDirect(served, 'd', direct['d'] as ort.Tensor);
    expect(served.json.outputs['y']?.data).toEqual(['NaN', 'Infinity', '-Infinity', 'Infinity', '-Infinity', 'NaN']);
    expect(served.json.outputs['d']).toMatchObject({
      datatype: 'FP64',
      data: ['NaN', 'Infinity', '-Infinity', 'Infinity', '-Infinity', 'NaN'],
    });
    const [first] = (served.predict.json as { predictions: { y: unknown[]; d: unknown[] }[] }).predictions;
    expect(first).toEqual({ y: ['NaN', 'Infinity', '-Infinity'], d: ['NaN', 'Infinity', '-Infinity'] });
    // Never null: JSON.stringify's answer for all three, which loses which one it was.
    expect(served.json.text).not.toContain('null');
    expect(served.predict.text).not.toContain('null');
  });
});

describe('an imputer taking NaN inputs', () => {
  it('replaces NaN inputs sent as "NaN" (JSON, v1 predict) or as NaN bits (binary) as ONNX Runtime does; infinities pass', async () => {
    // Prepare
    const json = [
      ['NaN', 1.5, 'Infinity'],
      [2, 'NaN', '-Infinity'],
      ['NaN', 'NaN', 'NaN'],
    ];
    const x = Float32Array.from(json.flat(), (v) => Number(v));
    const direct = (await runDirect(IMPUTER_MODEL, { x: new ort.Tensor('float32', x, [3, 3]) }))['y'] as ort.Tensor;

    // Act
    const served = await serveThreeWays('imputer', 'float32', json, rawBytes(x));

    // Assess
    expectServedAsDirect(served, 'y', direct);
    expect(served.json.outputs['y']?.data).toEqual([7.5, 1.5, 'Infinity', 2, -1, '-Infinity', ...IMPUTED]);
  });

  it('refuses the spellings the convention does not have ("nan", "inf", "+Infinity", null) with WRONG_TYPE', async () => {
    // Act
    const replies = await Promise.all(
      ['nan', 'inf', '+Infinity', null].map(async (value) =>
        readAnswer(
          await postJson(`${stack.url}/v2/models/imputer/infer`, token, {
            inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, value, 2] }],
          }),
        ),
      ),
    );

    // Assess
    for (const reply of replies) {
      expect(reply.status).toBe(400);
      expect(reply.json['error']).toMatchObject({
        code: 'WRONG_TYPE',
        path: 'inputs[0].data[1]',
        message: expect.stringContaining('"NaN", "Infinity", "-Infinity"') as unknown,
      });
    }
  });
});

describe('the digits of float outputs', () => {
  it('a float32 output prints the shortest digits that read back (0.1); the same value as float64 keeps all of its digits', async () => {
    // Act
    const v2 = await readAnswer(
      await postJson(`${stack.url}/v2/models/digits/infer`, token, { inputs: [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1] }] }),
    );
    const v1 = await readAnswer(await postJson(`${stack.url}/v1/models/digits/predict`, token, { instances: [[1]] }));

    // Assess
    expect(v2.text).toContain('"data":[0.1]');
    expect(v2.text).toContain('"data":[0.10000000149011612]');
    expect(v2.outputs['f32']).toMatchObject({ datatype: 'FP32', data: [0.1] });
    expect(v2.outputs['f64']).toMatchObject({ datatype: 'FP64', data: [0.10000000149011612] });
    expect(v1.text).toContain('"f32":[0.1]');
    expect(v1.text).toContain('"f64":[0.10000000149011612]');
  });

  it('every float32 output reads back to its own float32 with at most 9 significant digits, and as few as it needs', async () => {
    // Prepare: 300 × 3 float32 values of every magnitude, from random bit patterns (finite only)
    const random = seededRandom(11);
    const bits = new Uint32Array(900);
    for (let i = 0; i < bits.length; i++) {
      let b = Math.floor(random() * 2 ** 32) >>> 0;
      while (((b >>> 23) & 0xff) === 0xff) b = Math.floor(random() * 2 ** 32) >>> 0; // not NaN or ±Infinity
      bits[i] = b;
    }
    const x = new Float32Array(bits.buffer);

    // Act
    const reply = await readAnswer(
      await postBinary(
        `${stack.url}/v2/models/id-fp32/infer`,
        token,
        {
          inputs: [{ name: 'x', shape: [300, 3], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
        },
        [rawBytes(x)],
      ),
    );

    // Assess
    expect(reply.status).toBe(200);
    const texts = /"data":\[([^\]]*)\]/.exec(reply.text)?.[1]?.split(',') ?? [];
    expect(texts).toHaveLength(900);
    const wrong: string[] = [];
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i] as string;
      const v = x[i] as number;
      const digits = text.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
      const backToSelf = Math.fround(Number(text)) === v || (v === 0 && Number(text) === 0);
      // A float32 value with fewer digits would be shorter still: check none with one digit fewer reads back.
      const shorter = digits.length > 1 ? Number(v.toPrecision(digits.length - 1)) : Number.NaN;
      if (!backToSelf || digits.length > 9 || Math.fround(shorter) === v) wrong.push(`${v}: ${text}`);
    }
    expect(wrong).toEqual([]);
  });

  it("float64 outputs keep a double's shortest digits (0.30000000000000004, π)", async () => {
    // Act
    const reply = await readAnswer(
      await postJson(`${stack.url}/v2/models/id-fp64/infer`, token, {
        inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP64', data: [0.1 + 0.2, Math.PI, 1e-300] }],
      }),
    );

    // Assess
    expect(reply.text).toContain('"data":[0.30000000000000004,3.141592653589793,1e-300]');
  });
});
