/**
 * The codec's hardening catalogue, over real HTTP against the local stack, with real ONNX Runtime
 * sessions (issue 10, faults 1, 2, 3 and 7): unbounded strings and keys, work before the cheap
 * checks, Object.prototype names, and strings ONNX Runtime would alter. Every member of each kind
 * answers a 4xx JSON error (never a 5xx) whose whole body is a few hundred bytes, however much the
 * request sent; or, for names that are merely unusual, the right prediction.
 */
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { buildModel } from '../support/onnx/builder.js';
import type { TensorSpec } from '../../functions/core/model.js';
import { errorOf, type JsonReply } from '../fixtures/http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';
import { identityModel, int64Model, mixedInputModel, stringInputModel, type ModelFixture } from '../fixtures/models.js';

/** Lambda's payload limit, the stack's default: the bodies below go up to it. */
const MAX_BODY_BYTES = 6_000_000;
/** The largest error body any request below may get back. */
const SHORT_REPLY = 1_000;
const MB = 1_000_000;

/** Object.prototype's members a request may carry as keys (`__proto__` is refused everywhere). */
const KEY_NAMES = Object.getOwnPropertyNames(Object.prototype).filter((n) => n !== '__proto__');

let stack: TestStack;
let call: Call;

/** Registers `fixture` over HTTP and makes it the production version. */
async function publish(model: string, fixture: Pick<ModelFixture, 'bytes'>, metadata: Record<string, unknown> = {}): Promise<void> {
  const registered = await call(stack.url, 'POST', `/v1/models/${model}/versions`, {
    modelBase64: Buffer.from(fixture.bytes).toString('base64'),
    metadata,
  });
  expect(registered.status).toBe(201);
  const { version } = registered.body as { version: string };
  expect((await call(stack.url, 'POST', `/v1/models/${model}/versions/${version}/stage`, { to: 'staging' })).status).toBe(200);
  expect((await call(stack.url, 'PUT', `/v1/models/${model}/production`, { version })).status).toBe(200);
}

/** Input `KEY_NAMES[i]` and `b`, float32 [N,1] → their sum, named `KEY_NAMES[i + 1]`. */
function prototypeNamedModel(i: number): { bytes: Uint8Array; input: string; output: string } {
  const input = KEY_NAMES[i] as string;
  const output = KEY_NAMES[(i + 1) % KEY_NAMES.length] as string;
  const inputs: TensorSpec[] = [
    { name: input, type: 'float32', shape: ['N', 1] },
    { name: 'b', type: 'float32', shape: ['N', 1] },
  ];
  const outputs: TensorSpec[] = [{ name: output, type: 'float32', shape: ['N', 1] }];
  return { bytes: buildModel({ inputs, outputs, nodes: [{ op: 'Add', inputs: [input, 'b'], outputs: [output] }] }), input, output };
}

/** Input `x` float32 [N, F] with one declared feature per Object.prototype key name → `y` = x. */
function prototypeFeaturesModel(): Uint8Array {
  const width = KEY_NAMES.length;
  const inputs: TensorSpec[] = [{ name: 'x', type: 'float32', shape: ['N', width] }];
  const outputs: TensorSpec[] = [{ name: 'y', type: 'float32', shape: ['N', width] }];
  return buildModel({ inputs, outputs, nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }] });
}

beforeAll(async () => {
  stack = await startTestStack({ env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES), MAX_ROWS: '1000' }, rateLimit: false });
  call = await adminCall(stack);
  await publish('ids', int64Model());
  await publish('u64', identityModel('uint64'));
  await publish('i32', identityModel('int32'));
  await publish('colors', stringInputModel());
  await publish('mixed', mixedInputModel());
  await publish('proto-features', { bytes: prototypeFeaturesModel() }, { features: KEY_NAMES });
  for (let i = 0; i < KEY_NAMES.length; i++) await publish(`proto-${i}`, prototypeNamedModel(i));
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

const post = (path: string, body: unknown): Promise<JsonReply> => call(stack.url, 'POST', path, body);
const predict = (model: string, body: unknown) => post(`/v1/models/${model}/predict`, body);
const infer = (model: string, body: unknown) => post(`/v2/models/${model}/infer`, body);

/** A 4xx JSON error of `code`, whose whole body is short: nothing the caller sent comes back whole. */
function expectShortError(reply: JsonReply, status: number, code: string | RegExp): void {
  expect(reply.status).toBe(status);
  expect(errorOf(reply).code).toEqual(typeof code === 'string' ? code : expect.stringMatching(code));
  expect(reply.text.length).toBeLessThan(SHORT_REPLY);
  expect(reply.text).not.toMatch(/\bat \S+ \(|node_modules|\.ts:\d+/);
}

describe('fault 1: strings of every type are bounded before any work, and quoted as excerpts', () => {
  const digits = (n: number) => '9'.repeat(n);
  const ids = (value: unknown) => ({ inputs: [{ name: 'ids', shape: [1, 2], datatype: 'INT64', data: [value, '1'] }] });

  it.each<[string, () => Promise<JsonReply>, number, string]>([
    ['an INT64 element of 5.8 M digits (v2)', () => infer('ids', ids(digits(5_800_000))), 400, 'OUT_OF_RANGE'],
    ['an INT64 element of 1 M digits with a sign (v2)', () => infer('ids', ids(`-${digits(MB)}`)), 400, 'OUT_OF_RANGE'],
    ['an INT64 element of 1 M letters (v2)', () => infer('ids', ids('q'.repeat(MB))), 400, 'WRONG_TYPE'],
    ['an INT64 element of 2 M digits (v1 instances)', () => predict('ids', { instances: [[digits(2 * MB), 1]] }), 400, 'OUT_OF_RANGE'],
    [
      'a UINT64 element of 3 M digits (v2)',
      () => infer('u64', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'UINT64', data: [1, 2, digits(3 * MB)] }] }),
      400,
      'OUT_OF_RANGE',
    ],
    ['a UINT64 element of 1 M zeros (v1)', () => predict('u64', { instances: [['0'.repeat(MB), 1, 2]] }), 400, 'OUT_OF_RANGE'],
    [
      'an INT32 element as a 2 M-digit string (v2)',
      () => infer('i32', { inputs: [{ name: 'x', shape: [1, 3], datatype: 'INT32', data: [digits(2 * MB), 1, 2] }] }),
      400,
      'WRONG_TYPE',
    ],
    ['an INT32 element as a 2 M-digit string (v1)', () => predict('i32', { instances: [[1, digits(2 * MB), 2]] }), 400, 'WRONG_TYPE'],
    [
      'a FP32 feature as a 2 MB string',
      () =>
        predict('iris', { features: { sepal_length_cm: 'x'.repeat(2 * MB), sepal_width_cm: 1, petal_length_cm: 1, petal_width_cm: 1 } }),
      400,
      'WRONG_TYPE',
    ],
    [
      'a BYTES element of 2 MB (v2)',
      () => infer('colors', { inputs: [{ name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['r'.repeat(2 * MB)] }] }),
      400,
      'STRING_TOO_LONG',
    ],
    [
      'a BYTES element of 2 MB (v1)',
      () => predict('mixed', { features: { category: 'r'.repeat(2 * MB), amount: 1 } }),
      400,
      'STRING_TOO_LONG',
    ],
  ])('%s', async (_name, send, status, code) => {
    expectShortError(await send(), status, code);
  });

  const huge = `k${'x'.repeat(2 * MB)}`;
  const irisInput = { name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] };
  const good = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };

  it.each<[string, () => Promise<JsonReply>, number, string]>([
    ['an unknown feature named with 2 MB', () => predict('iris', { features: { ...good, [huge]: 1 } }), 400, 'UNKNOWN_FEATURE'],
    [
      'an unknown feature named with 2 MB, in the 3rd instance',
      () => predict('iris', { instances: [good, good, { ...good, [huge]: 1 }] }),
      400,
      'UNKNOWN_FEATURE',
    ],
    [
      'an unknown input named with 2 MB, in a record',
      () => predict('mixed', { features: { category: 'a', amount: 1, [huge]: 1 } }),
      400,
      'UNKNOWN_INPUT',
    ],
    ['an unknown input named with 2 MB, in v2', () => infer('iris', { inputs: [{ ...irisInput, name: huge }] }), 400, 'UNKNOWN_INPUT'],
    ['an output named with 2 MB', () => infer('iris', { inputs: [irisInput], outputs: [{ name: huge }] }), 400, 'UNKNOWN_OUTPUT'],
    ['a datatype of 2 MB', () => infer('iris', { inputs: [{ ...irisInput, datatype: huge }] }), 400, 'DATATYPE_MISMATCH'],
    ['an unknown top-level field of 2 MB (v1)', () => predict('iris', { features: good, [huge]: 1 }), 400, 'UNKNOWN_FIELD'],
    ['an unknown top-level field of 2 MB (v2)', () => infer('iris', { inputs: [irisInput], [huge]: 1 }), 400, 'UNKNOWN_FIELD'],
    ['an unknown field of 2 MB in an input tensor', () => infer('iris', { inputs: [{ ...irisInput, [huge]: 1 }] }), 400, 'UNKNOWN_FIELD'],
    [
      'an unknown field of 2 MB in an output entry',
      () => infer('iris', { inputs: [irisInput], outputs: [{ name: 'probabilities', [huge]: 1 }] }),
      400,
      'UNKNOWN_FIELD',
    ],
    ['a v2 id of 2 MB', () => infer('iris', { id: huge, inputs: [irisInput] }), 400, 'INVALID_REQUEST'],
  ])('%s', async (_name, send, status, code) => {
    expectShortError(await send(), status, code);
  });

  it('keys of 100 KB on the way to a body too deep, or to a __proto__ key, come back as excerpts', async () => {
    // Prepare: 40 levels, each under a 100 KB key (4 MB of keys in the path), and the same to __proto__.
    const key = `"${'k'.repeat(100_000)}"`;
    const deep = `${`{${key}: `.repeat(40)}1${'}'.repeat(40)}`;
    const proto = `${`{${key}: `.repeat(20)}{"__proto__": 1}${'}'.repeat(20)}`;

    // Act
    const tooDeep = await predict('iris', deep);
    const forbidden = await predict('iris', proto);

    // Assess
    expectShortError(tooDeep, 400, 'JSON_TOO_DEEP');
    expectShortError(forbidden, 400, 'FORBIDDEN_KEY');
  });

  it('arrays nested 100,000 deep: JSON_TOO_DEEP, short', async () => {
    expectShortError(await predict('iris', `{"instances": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 400, 'JSON_TOO_DEEP');
    expectShortError(
      await infer(
        'iris',
        `{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": ${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`,
      ),
      400,
      'JSON_TOO_DEEP',
    );
  });
});

describe('fault 2: the cheap limits come before the data', () => {
  it.each<[string, () => string | object, number, string]>([
    ['580,000 one-value rows (5.8 MB)', () => `{"instances": [${new Array(580_000).fill('[5.123]').join(',')}]}`, 413, 'TOO_MANY_ROWS'],
    ['290,000 one-key records', () => `{"instances": [${new Array(290_000).fill('{"a": 1.1}').join(',')}]}`, 413, 'TOO_MANY_ROWS'],
    ['1,001 rows that are not rows at all', () => ({ instances: new Array(1_001).fill('x') }), 413, 'TOO_MANY_ROWS'],
    ['one instance of 1 M values for 4 features', () => `{"instances": [[${new Array(MB).fill('1').join(',')}]]}`, 400, 'SHAPE_MISMATCH'],
    [
      'a record with 200,000 unknown keys',
      () =>
        `{"features": {${new Array(200_000)
          .fill(0)
          .map((_, i) => `"k${i}": 1`)
          .join(',')}}}`,
      400,
      'UNKNOWN_FEATURE',
    ],
    [
      'a body with 200,000 unknown fields',
      () =>
        `{"features": {}, ${new Array(200_000)
          .fill(0)
          .map((_, i) => `"k${i}": 1`)
          .join(',')}}`,
      400,
      'UNKNOWN_FIELD',
    ],
  ])('v1: %s', async (_name, body, status, code) => {
    expectShortError(await predict('iris', body()), status, code);
  });

  const flat = (n: number) => new Array(n).fill(1);

  it.each<[string, () => string | object, number, string]>([
    [
      'a batch of 580,000 rows',
      () => ({ inputs: [{ name: 'features', shape: [580_000, 4], datatype: 'FP32', data: flat(4) }] }),
      413,
      'TOO_MANY_ROWS',
    ],
    [
      'data of 1 M values for a shape of 4',
      () => ({ inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: flat(MB) }] }),
      400,
      'SHAPE_MISMATCH',
    ],
    [
      'a shape of 1 M dimensions',
      () => ({ inputs: [{ name: 'features', shape: flat(MB), datatype: 'FP32', data: [1] }] }),
      400,
      'INVALID_REQUEST',
    ],
    [
      '50,000 input tensors',
      () => ({ inputs: new Array(50_000).fill({ name: 'features', shape: [1, 4], datatype: 'FP32', data: flat(4) }) }),
      400,
      'DUPLICATE_INPUT',
    ],
    [
      '100,000 outputs asked for',
      () => ({
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: flat(4) }],
        outputs: new Array(100_000).fill({ name: 'probabilities' }),
      }),
      400,
      'INVALID_REQUEST',
    ],
    [
      'nested data ragged at its last row',
      () => ({
        inputs: [{ name: 'features', shape: [1_000, 4], datatype: 'FP32', data: [...new Array(999).fill([1, 2, 3, 4]), [1, 2, 3]] }],
      }),
      400,
      'SHAPE_MISMATCH',
    ],
  ])('v2: %s', async (_name, body, status, code) => {
    expectShortError(await infer('iris', body()), status, code);
  });
});

describe('fault 3: Object.prototype member names are plain names', () => {
  it.each(KEY_NAMES)('%s as a feature: served, missing, and unknown to a model without it', async (name) => {
    // Prepare
    const features = Object.fromEntries(KEY_NAMES.map((n, i) => [n, i]));
    const { [name]: _dropped, ...without } = features;

    // Act
    const served = await predict('proto-features', { features });
    const missing = await predict('proto-features', { features: without });
    const unknown = await predict('iris', {
      features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2, [name]: 1 },
    });

    // Assess
    expect(served.status).toBe(200);
    expect((served.body as { predictions: { y: number[] }[] }).predictions[0]?.y).toEqual(KEY_NAMES.map((_, i) => i));
    expectShortError(missing, 400, 'MISSING_FEATURE');
    expect(errorOf(missing).path).toBe(`features.${name}`);
    expectShortError(unknown, 400, 'UNKNOWN_FEATURE');
    expect(errorOf(unknown).path).toBe(`features.${name}`);
  });

  it.each(KEY_NAMES.map((_, i) => prototypeNamedModel(i)).map((m, i) => [m.input, m.output, i] as const))(
    '%s as an input and %s as an output: served in v1 and v2, missing when left out, unknown elsewhere',
    async (input, output, i) => {
      // Act
      const v1 = await predict(`proto-${i}`, { instances: [{ [input]: 2, b: 3 }] });
      const v2 = await infer(`proto-${i}`, {
        inputs: [
          { name: input, shape: [1, 1], datatype: 'FP32', data: [2] },
          { name: 'b', shape: [1, 1], datatype: 'FP32', data: [3] },
        ],
        outputs: [{ name: output }],
      });
      const v2Missing = await infer(`proto-${i}`, { inputs: [{ name: 'b', shape: [1, 1], datatype: 'FP32', data: [3] }] });
      const v1Missing = await predict(`proto-${i}`, { features: { b: 3 } });
      const unknownInput = await infer('iris', { inputs: [{ name: input, shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] });
      const unknownOutput = await infer('iris', {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        outputs: [{ name: output }],
      });

      // Assess
      expect(v1.status).toBe(200);
      expect((v1.body as { predictions: Record<string, unknown>[] }).predictions[0]).toEqual(
        JSON.parse(`{${JSON.stringify(output)}: [5]}`),
      );
      expect(v2.status).toBe(200);
      expect((v2.body as { outputs: unknown[] }).outputs).toEqual([{ name: output, datatype: 'FP32', shape: [1, 1], data: [5] }]);
      expectShortError(v2Missing, 400, 'MISSING_INPUT');
      expectShortError(v1Missing, 400, 'MISSING_INPUT');
      expectShortError(unknownInput, 400, 'UNKNOWN_INPUT');
      expectShortError(unknownOutput, 400, 'UNKNOWN_OUTPUT');
    },
  );

  it('__proto__ as an input name in v2 is an unknown input, not a prototype', async () => {
    expectShortError(
      await infer('iris', { inputs: [{ name: '__proto__', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
      400,
      'UNKNOWN_INPUT',
    );
    expectShortError(
      await infer('iris', {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }],
        outputs: [{ name: '__proto__' }],
      }),
      400,
      'UNKNOWN_OUTPUT',
    );
  });

  it('a model with an input or output named __proto__, or such a feature, is refused at registration', async () => {
    // Prepare
    const spec = (name: string): TensorSpec => ({ name, type: 'float32', shape: ['N', 1] });
    const input = buildModel({
      inputs: [spec('__proto__')],
      outputs: [spec('y')],
      nodes: [{ op: 'Identity', inputs: ['__proto__'], outputs: ['y'] }],
    });
    const output = buildModel({
      inputs: [spec('x')],
      outputs: [spec('__proto__')],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['__proto__'] }],
    });
    const register = (bytes: Uint8Array, metadata: unknown = {}) =>
      post('/v1/models/proto-bad/versions', { modelBase64: Buffer.from(bytes).toString('base64'), metadata });

    // Act
    const replies = [
      await register(input),
      await register(output),
      await register(prototypeFeaturesModel(), { features: [...KEY_NAMES.slice(1), '__proto__'] }),
    ];

    // Assess
    for (const reply of replies) expectShortError(reply, 400, 'FORBIDDEN_KEY');
  });
});

describe('fault 7: no string reaches the model altered', () => {
  const NUL = 'key=1\u0000key=2';

  it.each<[string, () => Promise<JsonReply>, string, string]>([
    ['v1 features, a bare value', () => predict('colors', { features: { color: NUL } }), 'NUL_IN_STRING', 'features.color'],
    ['v1 features, a one-value array', () => predict('colors', { features: { color: [NUL] } }), 'NUL_IN_STRING', 'features.color[0]'],
    ['v1 instances as arrays', () => predict('colors', { instances: [['red'], [NUL]] }), 'NUL_IN_STRING', 'instances[1][0]'],
    [
      'v1 instances keyed by input name',
      () =>
        predict('mixed', {
          instances: [
            { category: 'large', amount: 1 },
            { category: NUL, amount: 2 },
          ],
        }),
      'NUL_IN_STRING',
      'instances[1].category',
    ],
    [
      'v2 flat data',
      () => infer('colors', { inputs: [{ name: 'color', shape: [2, 1], datatype: 'BYTES', data: ['red', NUL] }] }),
      'NUL_IN_STRING',
      'inputs[0].data[1]',
    ],
    [
      'v2 nested data',
      () => infer('colors', { inputs: [{ name: 'color', shape: [2, 1], datatype: 'BYTES', data: [['red'], [NUL]] }] }),
      'NUL_IN_STRING',
      'inputs[0].data[1][0]',
    ],
    ['a NUL alone', () => predict('colors', { features: { color: '\u0000' } }), 'NUL_IN_STRING', 'features.color'],
    ['a lone high surrogate (v1)', () => predict('colors', { features: { color: 'red\ud800' } }), 'UNPAIRED_SURROGATE', 'features.color'],
    [
      'a lone low surrogate (v2)',
      () => infer('colors', { inputs: [{ name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['\udc00red'] }] }),
      'UNPAIRED_SURROGATE',
      'inputs[0].data[0]',
    ],
  ])('%s: 400 naming the element', async (_name, send, code, path) => {
    const reply = await send();
    expectShortError(reply, 400, code);
    expect(errorOf(reply).path).toBe(path);
  });

  it('strings ONNX Runtime keeps as sent are served: accents, emoji, control characters other than NUL', async () => {
    const reply = await infer('colors', {
      inputs: [{ name: 'color', shape: [4, 1], datatype: 'BYTES', data: ['red', 'rouge é', '🟥', 'tab\there'] }],
    });
    expect(reply.status).toBe(200);
    expect((reply.body as { outputs: { data: number[] }[] }).outputs[0]?.data).toEqual([0, -1, -1, -1]);
  });
});

it('the stack still answers after the whole catalogue', async () => {
  expect((await call(stack.url, 'GET', '/v2/health/live')).status).toBe(200);
});
