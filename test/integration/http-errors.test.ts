/**
 * The bad-input catalogue, over real HTTP against the local stack: every mistake a caller can
 * make gets a 4xx JSON error with a stable code, an actionable message and the field path, and
 * never a 500 or a stack trace.
 */
import { createHash } from 'node:crypto';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { errorOf, type JsonReply } from '../fixtures/http.js';
import { adminCall, type Call } from '../fixtures/tokens.js';
import { linearClassifier, sequenceOutputModel } from '../fixtures/models.js';

const MAX_BODY_BYTES = 200_000;
let stack: TestStack;
/** `call` with a token that holds every scope: these tests are about requests, not permissions. */
let call: Call;

beforeAll(async () => {
  stack = await startTestStack({ env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES), MAX_ROWS: '1000' } });
  call = await adminCall(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const good = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };
const predict = (body: unknown, headers?: Record<string, string>) => call(stack.url, 'POST', '/v1/models/iris/predict', body, headers);

function expectError(reply: JsonReply, status: number, code: string, path: string): void {
  expect({ status: reply.status, ...errorOf(reply) }).toMatchObject({ status, code, path });
  expect(errorOf(reply).message.length).toBeGreaterThan(10);
  expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
  // Nothing internal leaks: no stack frames ("at fn (file:1:2)"), no file paths.
  expect(reply.text).not.toMatch(/\bat \S+ \([^)]*:\d+:\d+\)|node_modules|\.ts:\d+/);
}

describe('bad requests to the predict route', () => {
  it.each<[string, unknown, Record<string, string> | undefined, number, string, string]>([
    ['malformed JSON', '{"features": {"sepal_length_cm": 5.1,', undefined, 400, 'MALFORMED_JSON', 'body'],
    ['a JSON array body', '[1, 2, 3]', undefined, 400, 'WRONG_TYPE', 'body'],
    ['an empty body', '', { 'content-type': 'application/json' }, 400, 'EMPTY_BODY', 'body'],
    [
      'the wrong content type',
      JSON.stringify({ features: good }),
      { 'content-type': 'text/plain' },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'headers.content-type',
    ],
    [
      'a missing feature',
      { features: { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4 } },
      undefined,
      400,
      'MISSING_FEATURE',
      'features.petal_width_cm',
    ],
    ['an extra feature', { features: { ...good, colour: 1 } }, undefined, 400, 'UNKNOWN_FEATURE', 'features.colour'],
    [
      'a string where a number belongs',
      { features: { ...good, sepal_width_cm: '3.5' } },
      undefined,
      400,
      'WRONG_TYPE',
      'features.sepal_width_cm',
    ],
    [
      'an object where a number belongs',
      { instances: [good, { ...good, petal_length_cm: { cm: 1 } }] },
      undefined,
      400,
      'WRONG_TYPE',
      'instances[1].petal_length_cm',
    ],
    ['null for a feature', { features: { ...good, petal_width_cm: null } }, undefined, 400, 'WRONG_TYPE', 'features.petal_width_cm'],
    [
      'Infinity (1e999 parses to it)',
      `{"features": {"sepal_length_cm": 1e999, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}}`,
      undefined,
      400,
      'NOT_FINITE',
      'features.sepal_length_cm',
    ],
    ['NaN (not JSON at all)', `{"features": {"sepal_length_cm": NaN}}`, undefined, 400, 'MALFORMED_JSON', 'body'],
    [
      'a value beyond float32',
      { features: { ...good, sepal_length_cm: 1e39 } },
      undefined,
      400,
      'OUT_OF_RANGE',
      'features.sepal_length_cm',
    ],
    ['an array row of the wrong width', { instances: [[5.1, 3.5, 1.4]] }, undefined, 400, 'SHAPE_MISMATCH', 'instances[0]'],
    ['objects and arrays mixed', { instances: [good, [5.1, 3.5, 1.4, 0.2]] }, undefined, 400, 'MIXED_INSTANCES', 'instances[1]'],
    ['both features and instances', { features: good, instances: [good] }, undefined, 400, 'CONFLICTING_FIELDS', 'instances'],
    ['no instances', { instances: [] }, undefined, 400, 'INVALID_REQUEST', 'instances'],
    ['an unknown top-level field', { features: good, debug: true }, undefined, 400, 'UNKNOWN_FIELD', 'debug'],
    ['neither features nor instances', { rows: [good] }, undefined, 400, 'UNKNOWN_FIELD', 'rows'],
    [
      'a __proto__ key',
      `{"features": {"__proto__": {"polluted": 1}, "sepal_length_cm": 5.1}}`,
      undefined,
      400,
      'FORBIDDEN_KEY',
      'features.__proto__',
    ],
    ['deep nesting', `{"features": ${'['.repeat(200)}${']'.repeat(200)}}`, undefined, 400, 'JSON_TOO_DEEP', ''],
  ])('%s', async (_name, body, headers, status, code, path) => {
    const reply = await predict(body, headers);
    if (code === 'JSON_TOO_DEEP') {
      expect(reply.status).toBe(status);
      expect(errorOf(reply).code).toBe(code);
      expect(errorOf(reply).path).toMatch(/^features(\[0\])+$/);
      return;
    }
    expectError(reply, status, code, path);
  });

  it('too many rows: 413 that names the limit', async () => {
    const reply = await predict({ instances: Array.from({ length: 1001 }, () => [5.1, 3.5, 1.4, 0.2]) });
    expectError(reply, 413, 'TOO_MANY_ROWS', 'instances');
    expect(errorOf(reply).message).toContain('1000');
  });

  it('a body over the function limit: 413 BODY_TOO_LARGE', async () => {
    const reply = await predict({
      instances: Array.from({ length: 900 }, () => ({ ...good, sepal_length_cm: 5.123456789012345 })),
      pad: 'x'.repeat(MAX_BODY_BYTES),
    });
    expectError(reply, 413, 'BODY_TOO_LARGE', 'body');
  });

  it('a body over the API limit is refused before it is read', async () => {
    const reply = await predict(`{"pad": "${'x'.repeat(11 * 1024 * 1024)}"}`);
    expectError(reply, 413, 'BODY_TOO_LARGE', 'body');
  });

  it('an unknown model: 404 MODEL_NOT_FOUND', async () => {
    expectError(await call(stack.url, 'POST', '/v1/models/no-such-model/predict', { features: good }), 404, 'MODEL_NOT_FOUND', 'model');
    expectError(await call(stack.url, 'GET', '/v2/models/no-such-model'), 404, 'MODEL_NOT_FOUND', 'model');
    expectError(await call(stack.url, 'GET', '/v2/models/no-such-model/ready'), 404, 'MODEL_NOT_FOUND', 'model');
  });

  it('an unknown route: 404; a wrong method: 405 with Allow', async () => {
    expectError(await call(stack.url, 'GET', '/v1/nothing-here'), 404, 'ROUTE_NOT_FOUND', 'path');
    const wrong = await call(stack.url, 'GET', '/v1/models/iris/predict');
    expectError(wrong, 405, 'METHOD_NOT_ALLOWED', 'method');
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});

describe('bad v2 inference requests', () => {
  const infer = (body: unknown) => call(stack.url, 'POST', '/v2/models/iris/infer', body);
  const input = { name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] };

  it.each<[string, unknown, string, string]>([
    ['an unknown input', { inputs: [{ ...input, name: 'x' }] }, 'UNKNOWN_INPUT', 'inputs[0].name'],
    ['the wrong datatype', { inputs: [{ ...input, datatype: 'INT32' }] }, 'DATATYPE_MISMATCH', 'inputs[0].datatype'],
    [
      'a shape that does not fit the model',
      { inputs: [{ ...input, shape: [1, 3], data: [1, 2, 3] }] },
      'SHAPE_MISMATCH',
      'inputs[0].shape[1]',
    ],
    ['data that does not fill the shape', { inputs: [{ ...input, shape: [2, 4] }] }, 'SHAPE_MISMATCH', 'inputs[0].data'],
    ['a string in FP32 data', { inputs: [{ ...input, data: [5.1, '3.5', 1.4, 0.2] }] }, 'WRONG_TYPE', 'inputs[0].data[1]'],
    ['an unknown output', { inputs: [input], outputs: [{ name: 'nope' }] }, 'UNKNOWN_OUTPUT', 'outputs[0].name'],
    ['no inputs', { inputs: [] }, 'INVALID_REQUEST', 'inputs'],
    ['a negative dimension', { inputs: [{ ...input, shape: [-1, 4] }] }, 'INVALID_REQUEST', 'inputs[0].shape[0]'],
  ])('%s', async (_name, body, code, path) => {
    expectError(await infer(body), 400, code, path);
  });
});

describe('bad requests to the control plane', () => {
  it.each<[string, string, string, unknown, number, string, string]>([
    ['a model name with capitals', 'POST', '/v1/models/Iris/versions', { modelBase64: 'AAAA' }, 400, 'INVALID_MODEL_NAME', 'model'],
    [
      'a file that is not ONNX',
      'POST',
      '/v1/models/junk/versions',
      { modelBase64: Buffer.from('not a model').toString('base64') },
      400,
      'INVALID_MODEL',
      'model',
    ],
    ['a body that is not base64', 'POST', '/v1/models/junk/versions', { modelBase64: '***' }, 400, 'INVALID_REQUEST', 'modelBase64'],
    [
      'features that do not fit the model',
      'POST',
      '/v1/models/iris-copy/versions',
      'IRIS_WITH_THREE_FEATURES',
      400,
      'FEATURES_MISMATCH',
      'metadata.features',
    ],
    [
      'an unknown metadata field',
      'POST',
      '/v1/models/iris-copy/versions',
      'IRIS_WITH_UNKNOWN_FIELD',
      400,
      'UNKNOWN_FIELD',
      'metadata.stage',
    ],
    ['a version that does not exist', 'PUT', '/v1/models/iris/production', { version: '99' }, 404, 'VERSION_NOT_FOUND', 'version'],
    ['a version that is not a number', 'PUT', '/v1/models/iris/production', { version: 'latest' }, 400, 'INVALID_REQUEST', 'version'],
    ['an unknown model', 'GET', '/v1/models/ghost/versions', undefined, 404, 'MODEL_NOT_FOUND', 'model'],
    [
      'a model with a sequence output',
      'POST',
      '/v1/models/seq/versions',
      { modelBase64: Buffer.from(sequenceOutputModel()).toString('base64') },
      400,
      'NON_TENSOR_OUTPUT',
      'outputs.parts',
    ],
    [
      'a ZipMap export whose ZipMap output feeds another node',
      'POST',
      '/v1/models/sk/versions',
      { modelBase64: Buffer.from(linearClassifier({ zipMap: 'behind-identity' }).bytes).toString('base64') },
      400,
      'ZIPMAP_NOT_REWRITABLE',
      'model',
    ],
  ])('%s', async (_name, method, path, body, status, code, errorPath) => {
    const { readFile } = await import('node:fs/promises');
    const iris = (await readFile('models/iris/model.onnx')).toString('base64');
    const payload =
      body === 'IRIS_WITH_THREE_FEATURES'
        ? { modelBase64: iris, metadata: { features: ['a', 'b', 'c'] } }
        : body === 'IRIS_WITH_UNKNOWN_FIELD'
          ? { modelBase64: iris, metadata: { stage: 'production' } }
          : body;
    const reply = await call(stack.url, method, path, payload);
    expectError(reply, status, code, errorPath);
    if (code === 'ZIPMAP_NOT_REWRITABLE') expect(errorOf(reply).message).toContain("'zipmap': False");
    // ONNX Runtime's whole reason for refusing the file goes to the log, with the file's size and digest.
    const refusals = stack.log.take({ level: 'WARN', message: 'ONNX Runtime refused a model file' });
    if (code === 'INVALID_MODEL') {
      const file = Buffer.from((payload as { modelBase64: string }).modelBase64, 'base64');
      expect(refusals).toEqual([
        expect.objectContaining({
          sizeBytes: file.byteLength,
          sha256: createHash('sha256').update(file).digest('hex'),
          reference: expect.stringMatching(/^ort-[0-9a-f]{10}$/),
          ortMessage: expect.any(String),
        }),
      ]);
    } else expect(refusals).toEqual([]);
  });
});

describe('stage changes over HTTP', () => {
  it('refuses skipping staging, an unknown stage, a stale revision and a failed gate; records what it does', async () => {
    // Prepare: a second version of iris, in development.
    const { readFile } = await import('node:fs/promises');
    const iris = (await readFile('models/iris/model.onnx')).toString('base64');
    const metadata = JSON.parse(await readFile('models/iris/metadata.json', 'utf8')) as Record<string, unknown>;
    const bare = await call(stack.url, 'POST', '/v1/models/iris/versions', { modelBase64: iris });
    const registered = await call(stack.url, 'POST', '/v1/models/iris/versions', { modelBase64: iris, metadata });
    const version = (registered.body as { version: string }).version;
    const model = (await call(stack.url, 'GET', '/v1/models/iris')).body as { revision: number };

    // Act
    const skip = await call(stack.url, 'PUT', '/v1/models/iris/production', { version });
    const unknown = await call(stack.url, 'POST', `/v1/models/iris/versions/${version}/stage`, { to: 'live' });
    const stale = await call(stack.url, 'POST', `/v1/models/iris/versions/${version}/stage`, {
      to: 'staging',
      expectedRevision: model.revision + 5,
    });
    const ungated = await call(stack.url, 'POST', `/v1/models/iris/versions/${(bare.body as { version: string }).version}/stage`, {
      to: 'staging',
    });
    const staged = await call(stack.url, 'POST', `/v1/models/iris/versions/${version}/stage`, {
      to: 'staging',
      reason: 'shadow test passed',
    });
    const history = await call(stack.url, 'GET', '/v1/models/iris/history');

    // Assess
    expectError(skip, 409, 'ILLEGAL_TRANSITION', 'to');
    expect(errorOf(skip).message).toBe(`Version ${version} of "iris" is in development; it can go to staging or archived, not production.`);
    expectError(unknown, 400, 'INVALID_REQUEST', 'to');
    expectError(stale, 409, 'STALE_REVISION', 'expectedRevision');
    // The local stack's baseline for iris is accuracy ≥ 0.7: a version declaring no metrics fails that gate.
    expectError(ungated, 422, 'GATE_METRICS', 'version');
    expect(errorOf(ungated).message).toContain('declares no "accuracy"; this endpoint requires ≥ 0.7');
    expect(staged.status).toBe(200);
    const changes = (history.body as { history: { version: string; to: string; reason?: string }[] }).history;
    expect(changes.at(-1)).toMatchObject({ version, to: 'staging', reason: 'shadow test passed' });
  });
});
