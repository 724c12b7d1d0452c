/**
 * Open Inference Protocol (KServe v2) conformance over real HTTP: every v2 route of the route
 * table, driven through the local server (real handlers, dynalite, s3rver, ONNX Runtime, JWT
 * authorization), each request and answer checked against the shapes of the protocol's REST
 * specification.
 *
 * The schemas below were written from the specification's text (kserve/open-inference-protocol,
 * `specification/protocol/inference_rest.md` and `open_inference_rest.yaml`; the older KServe
 * "Predict Protocol - Version 2" for the health status codes), field by field: what it marks
 * optional is optional here, and extra members are allowed, as the specification does not
 * forbid them. Where we differ on purpose (the error body), the test checks our documented
 * shape and says so; the README lists every difference.
 */
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { ROUTES } from '../../functions/shared/routes.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { call } from '../fixtures/http.js';
import { mlpModel, twoInputModel, type ModelFixture } from '../fixtures/models.js';
import { invoke, lambdaHandlers, proxyEvent } from '../fixtures/proxy-events.js';
import { adminCall, bearer, type Call } from '../fixtures/tokens.js';

// ---------------------------------------------------------------------------------------------
// The specification's shapes.

/** "Tensor Data Types": the datatype strings (BF16 is named in the Tensor Data section). */
const DATATYPE = z.enum([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
  'BYTES',
]);

/** `$parameters`: name → `$string | $number | $boolean`, nothing else ("Parameters"). */
const PARAMETERS = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

/** `$tensor_data`: a JSON array, flat or nested, of numbers, strings or booleans ("Tensor Data"). */
type TensorData = Array<number | string | boolean | TensorData>;
const TENSOR_DATA: z.ZodType<TensorData> = z.lazy(() => z.array(z.union([z.number(), z.string(), z.boolean(), TENSOR_DATA])));

/** `$metadata_server_response`. */
const SERVER_METADATA = z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) });

/** `$live_server_response`. */
const SERVER_LIVE = z.object({ live: z.boolean() });

/** `$ready_server_response`: the REST text names the member `live`, a slip its gRPC twin (`ServerReadyResponse.ready`) shows; we answer `ready`. */
const SERVER_READY = z.object({ ready: z.boolean() });

/** `$ready_model_response`. */
const MODEL_READY = z.object({ name: z.string(), ready: z.boolean() });

/** `$metadata_tensor`: "Variable-size dimensions are specified as -1". */
const METADATA_TENSOR = z.object({ name: z.string(), datatype: DATATYPE, shape: z.array(z.number().int().min(-1)) });

/**
 * `$metadata_model_response`; `platform` is `<project>_<format>` ("Platforms"). The
 * specification defines no `parameters` here; ours carries `$parameters`-shaped values.
 */
const MODEL_METADATA = z.object({
  name: z.string(),
  versions: z.array(z.string()).optional(),
  platform: z.string().regex(/^[a-z0-9]+_[a-z0-9]+$/),
  inputs: z.array(METADATA_TENSOR),
  outputs: z.array(METADATA_TENSOR),
  parameters: PARAMETERS.optional(),
});

/** `$request_input`: "Each dimension must be an integer representable as an unsigned 64-bit integer". */
const REQUEST_INPUT = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  datatype: DATATYPE,
  parameters: PARAMETERS.optional(),
  data: TENSOR_DATA,
});

/** `$inference_request`. */
const INFERENCE_REQUEST = z.object({
  id: z.string().optional(),
  parameters: PARAMETERS.optional(),
  inputs: z.array(REQUEST_INPUT),
  outputs: z.array(z.object({ name: z.string(), parameters: PARAMETERS.optional() })).optional(),
});

/** `$response_output`. */
const RESPONSE_OUTPUT = z.object({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  datatype: DATATYPE,
  parameters: PARAMETERS.optional(),
  data: TENSOR_DATA,
});

/** `$inference_response`: `id` is a `$string` (required in the text; the YAML leaves it optional). */
const INFERENCE_RESPONSE = z.object({
  model_name: z.string(),
  model_version: z.string().optional(),
  id: z.string(),
  parameters: PARAMETERS.optional(),
  outputs: z.array(RESPONSE_OUTPUT),
});

/**
 * The specification's error objects are `{"error": $string}` with an HTTP error status. Ours,
 * documented in the README, keeps the descriptive message at `error.message` beside a stable code
 * and the field path; the request id is at the top.
 */
const OUR_ERROR = z.object({
  error: z.object({ code: z.string().regex(/^[A-Z][A-Z0-9_]*$/), message: z.string().min(1), path: z.string() }),
  requestId: z.string().min(1),
});

/** Parses `value` with `schema`, failing with zod's account of what does not fit. */
function conforms<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success)
    throw new Error(
      `does not match the specification's shape: ${JSON.stringify(result.error.issues)}\n${JSON.stringify(value).slice(0, 2_000)}`,
    );
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// The stack: a classifier with versions in every stage, and a two-output model.

const MODEL = 'oip-mlp';
const PAIR = 'oip-pair';
const FEATURES = ['f0', 'f1', 'f2', 'f3'];
const LABELS = ['a', 'b', 'c'];
/** v1 production, v2 staging, v3 archived. */
const VERSIONS = { 1: mlpModel({ seed: 1 }), 2: mlpModel({ seed: 2 }), 3: mlpModel({ seed: 3 }) } as const;
const pair = twoInputModel();

let stack: TestStack;
let admin: Call;

async function register(model: string, fixture: ModelFixture, metadata: Record<string, unknown>): Promise<string> {
  const reply = await admin(stack.url, 'POST', `/v1/models/${model}/versions`, {
    modelBase64: Buffer.from(fixture.bytes).toString('base64'),
    metadata,
  });
  expect(reply.status).toBe(201);
  return (reply.body as { version: string }).version;
}

async function stage(model: string, version: string, to: string): Promise<void> {
  expect((await admin(stack.url, 'POST', `/v1/models/${model}/versions/${version}/stage`, { to })).status).toBe(200);
}

beforeAll(async () => {
  stack = await startTestStack({ seedSampleModel: false });
  admin = await adminCall(stack);
  const metadata = { features: FEATURES, classLabels: LABELS };
  for (const fixture of Object.values(VERSIONS)) await register(MODEL, fixture, metadata);
  await stage(MODEL, '1', 'staging');
  expect((await admin(stack.url, 'PUT', `/v1/models/${MODEL}/production`, { version: '1' })).status).toBe(200);
  await stage(MODEL, '2', 'staging');
  await stage(MODEL, '3', 'archived');
  await register(PAIR, pair, {});
  await stage(PAIR, '1', 'staging');
  expect((await admin(stack.url, 'PUT', `/v1/models/${PAIR}/production`, { version: '1' })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** ONNX Runtime called directly on one version's file: the flat float32 values of `output`. */
async function direct(fixture: ModelFixture, feeds: Record<string, ort.Tensor>, output: string): Promise<number[]> {
  const session = await ort.InferenceSession.create(fixture.bytes);
  try {
    const outputs = await session.run(feeds);
    return Array.from((outputs[output] as ort.Tensor).data as Float32Array);
  } finally {
    await session.release();
  }
}

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];
const feeds = () => ({ input: new ort.Tensor('float32', Float32Array.from(ROWS.flat()), [2, 4]) });

/** A request in the specification's shape (checked before it is sent). */
function inferRequest(extra: Partial<z.infer<typeof INFERENCE_REQUEST>> = {}): z.infer<typeof INFERENCE_REQUEST> {
  return conforms(INFERENCE_REQUEST, { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: ROWS.flat() }], ...extra });
}

// ---------------------------------------------------------------------------------------------

describe('the v2 routes of the route table', () => {
  it('are the six of the specification, each with and without a version where it takes one', () => {
    // Act
    const v2 = ROUTES.filter((r) => r.resource === '/v2' || r.resource.startsWith('/v2/')).map((r) => `${r.method} ${r.resource}`);

    // Assess: "Server Live", "Server Ready", "Server Metadata", "Model Ready", "Model Metadata", "Inference"
    expect(v2.sort()).toEqual([
      'GET /v2',
      'GET /v2/health/live',
      'GET /v2/health/ready',
      'GET /v2/models/{model}',
      'GET /v2/models/{model}/ready',
      'GET /v2/models/{model}/versions/{version}',
      'GET /v2/models/{model}/versions/{version}/ready',
      'POST /v2/models/{model}/infer',
      'POST /v2/models/{model}/versions/{version}/infer',
    ]);
  });
});

describe('server metadata, live and ready', () => {
  it('GET /v2 answers 200 with the server metadata, without a token, with or without the trailing slash', async () => {
    // Act
    const bare = await call(stack.url, 'GET', '/v2');
    const slashed = await call(stack.url, 'GET', '/v2/');

    // Assess
    expect([bare.status, slashed.status]).toEqual([200, 200]);
    const metadata = conforms(SERVER_METADATA, bare.body);
    expect(metadata).toEqual({
      name: 'onnx-lambda-serving',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      extensions: ['binary_tensor_data'],
    });
    expect(slashed.body).toEqual(bare.body);
    expect(bare.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('GET /v2/health/live and /v2/health/ready answer 200 ("200 indicates true"), without a token', async () => {
    // Act
    const live = await call(stack.url, 'GET', '/v2/health/live');
    const ready = await call(stack.url, 'GET', '/v2/health/ready');

    // Assess
    expect([live.status, ready.status]).toEqual([200, 200]);
    expect(conforms(SERVER_LIVE, live.body).live).toBe(true);
    expect(conforms(SERVER_READY, ready.body).ready).toBe(true);
  });
});

describe('model ready', () => {
  it.each([
    ['the version in service', `/v2/models/${MODEL}/ready`, '1'],
    ['version 1 (production) by number', `/v2/models/${MODEL}/versions/1/ready`, '1'],
    ['version 2 (staging) by number', `/v2/models/${MODEL}/versions/2/ready`, '2'],
  ])('%s: 200 with the model ready response', async (_, path, version) => {
    // Act
    const reply = await admin(stack.url, 'GET', path);

    // Assess
    expect(reply.status).toBe(200);
    expect(conforms(MODEL_READY, reply.body)).toEqual({ name: MODEL, ready: true });
    expect(reply.body).toMatchObject({ version });
  });
});

describe('model metadata', () => {
  it.each([
    ['the version in service', `/v2/models/${MODEL}`, '1'],
    ['version 2 (staging) by number', `/v2/models/${MODEL}/versions/2`, '2'],
  ])('%s: the model metadata response, tensors as ONNX Runtime reports them, and what the record forms need', async (_, path, version) => {
    // Act
    const reply = await admin(stack.url, 'GET', path);

    // Assess
    expect(reply.status).toBe(200);
    const metadata = conforms(MODEL_METADATA, reply.body);
    expect(metadata).toEqual({
      name: MODEL,
      versions: [version],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      parameters: {
        model_version: version,
        record_keys: 'features',
        feature_input: 'input',
        features: JSON.stringify(FEATURES),
        class_labels: JSON.stringify(LABELS),
        probabilities_output: 'probabilities',
        max_rows: 1000,
      },
    });
    expect(JSON.parse(String(metadata.parameters?.['features']))).toEqual(FEATURES);
    expect(JSON.parse(String(metadata.parameters?.['class_labels']))).toEqual(LABELS);
  });

  it('describes a model without declared features as records keyed by input name', async () => {
    // Act
    const reply = await admin(stack.url, 'GET', `/v2/models/${PAIR}/versions/1`);

    // Assess
    const metadata = conforms(MODEL_METADATA, reply.body);
    expect(metadata.inputs.map((i) => i.name)).toEqual(['a', 'b']);
    expect(metadata.parameters).toEqual({ model_version: '1', record_keys: 'inputs', max_rows: 1000 });
  });
});

describe('inference', () => {
  it.each([
    ['the version in service', `/v2/models/${MODEL}/infer`, '1' as const],
    ['version 1 by number', `/v2/models/${MODEL}/versions/1/infer`, '1' as const],
    ['version 2 (staging) by number', `/v2/models/${MODEL}/versions/2/infer`, '2' as const],
  ])('%s: the inference response, with the id echoed and the outputs of that version', async (_, path, version) => {
    // Prepare
    const expected = await direct(VERSIONS[version], feeds(), 'probabilities');

    // Act
    const reply = await admin(
      stack.url,
      'POST',
      path,
      inferRequest({ id: 'request-42', parameters: { note: 'conformance', retries: 0, dry: false } }),
    );

    // Assess
    expect(reply.status).toBe(200);
    const response = conforms(INFERENCE_RESPONSE, reply.body);
    expect(response).toMatchObject({ model_name: MODEL, model_version: version, id: 'request-42' });
    expect(response.outputs.map(({ name, shape, datatype }) => ({ name, shape, datatype }))).toEqual([
      { name: 'probabilities', shape: [2, 3], datatype: 'FP32' },
    ]);
    expect((response.outputs[0]?.data as number[]).map(Math.fround)).toEqual(expected);
  });

  it('answers an id when the request gives none (the response\'s "id" is a $string)', async () => {
    // Act
    const reply = await admin(stack.url, 'POST', `/v2/models/${MODEL}/versions/2/infer`, inferRequest());

    // Assess
    const response = conforms(INFERENCE_RESPONSE, reply.body);
    expect(response.id).toBe(response.parameters?.['request_id']);
  });

  it('returns only the outputs the request names, and every output when it names none', async () => {
    // Prepare: the specification's example shape, two inputs, nested and flat data
    const inputs = [
      {
        name: 'a',
        shape: [2, 2],
        datatype: 'FP32',
        data: [
          [1, 2],
          [3, 4],
        ],
      },
      { name: 'b', shape: [2, 2], datatype: 'FP32', data: [10, 20, 30, 40], parameters: { source: 'test' } },
    ];

    // Act
    const one = await admin(
      stack.url,
      'POST',
      `/v2/models/${PAIR}/versions/1/infer`,
      conforms(INFERENCE_REQUEST, { inputs, outputs: [{ name: 'product' }] }),
    );
    const all = await admin(stack.url, 'POST', `/v2/models/${PAIR}/infer`, conforms(INFERENCE_REQUEST, { inputs }));

    // Assess
    expect(conforms(INFERENCE_RESPONSE, one.body).outputs).toEqual([
      { name: 'product', shape: [2, 2], datatype: 'FP32', data: [10, 40, 90, 160] },
    ]);
    expect(conforms(INFERENCE_RESPONSE, all.body).outputs.map((o) => [o.name, o.data])).toEqual([
      ['sum', [11, 22, 33, 44]],
      ['product', [10, 40, 90, 160]],
    ]);
  });

  it('serves a version by number from whichever function version the alias picks, each loading that version whatever its pin', async () => {
    // Prepare: alias live of the model sends everything to a function version pinned to model version 1
    const pinned = await stack.traffic.publishVersion(MODEL, '1');
    await stack.traffic.setRouting(MODEL, { stable: pinned }, { stable: '$LATEST' });
    const expected = await direct(VERSIONS[2], feeds(), 'probabilities');

    try {
      // Act
      const byNumber = await admin(stack.url, 'POST', `/v2/models/${MODEL}/versions/2/infer`, inferRequest());
      const unaddressed = await admin(stack.url, 'POST', `/v2/models/${MODEL}/infer`, inferRequest());
      const metadata = await admin(stack.url, 'GET', `/v2/models/${MODEL}/versions/2`);

      // Assess
      const response = conforms(INFERENCE_RESPONSE, byNumber.body);
      expect(response.model_version).toBe('2');
      expect(response.parameters?.['function_version']).toBe(pinned);
      expect((response.outputs[0]?.data as number[]).map(Math.fround)).toEqual(expected);
      expect(conforms(INFERENCE_RESPONSE, unaddressed.body).model_version).toBe('1');
      expect(conforms(MODEL_METADATA, metadata.body).versions).toEqual(['2']);
    } finally {
      await stack.traffic.setRouting(MODEL, { stable: '$LATEST' }, { stable: pinned });
    }
  });
});

describe('errors: an HTTP error status and a descriptive message, in our documented shape', () => {
  it.each([
    ['GET', `/v2/models/nope`, 404, 'MODEL_NOT_FOUND', 'model'],
    ['GET', `/v2/models/nope/versions/1`, 404, 'MODEL_NOT_FOUND', 'model'],
    ['GET', `/v2/models/nope/versions/1/ready`, 404, 'MODEL_NOT_FOUND', 'model'],
    ['GET', `/v2/models/${MODEL}/versions/9`, 404, 'VERSION_NOT_FOUND', 'version'],
    ['GET', `/v2/models/${MODEL}/versions/9/ready`, 404, 'VERSION_NOT_FOUND', 'version'],
    ['POST', `/v2/models/${MODEL}/versions/9/infer`, 404, 'VERSION_NOT_FOUND', 'version'],
    ['GET', `/v2/models/${MODEL}/versions/3`, 409, 'VERSION_ARCHIVED', 'version'],
    ['GET', `/v2/models/${MODEL}/versions/3/ready`, 409, 'VERSION_ARCHIVED', 'version'],
    ['POST', `/v2/models/${MODEL}/versions/3/infer`, 409, 'VERSION_ARCHIVED', 'version'],
    ['GET', `/v2/models/${MODEL}/versions/latest`, 400, 'INVALID_VERSION', 'version'],
    ['POST', `/v2/models/${MODEL}/versions/0/infer`, 400, 'INVALID_VERSION', 'version'],
    ['GET', `/v2/models/Not_A_Name/versions/1`, 400, 'INVALID_MODEL_NAME', 'model'],
  ])('%s %s: %d %s', async (method, path, status, code, field) => {
    // Act
    const reply = await admin(stack.url, method, path, method === 'POST' ? inferRequest() : undefined);

    // Assess
    expect(reply.status).toBe(status);
    expect(conforms(OUR_ERROR, reply.body).error).toMatchObject({ code, path: field });
  });

  it('answers 400 with the field path for an inference request the model cannot take, on both infer routes', async () => {
    // Prepare: a well-formed request (the specification's shape) with a shape the model refuses
    const request = conforms(INFERENCE_REQUEST, { inputs: [{ name: 'input', shape: [2, 5], datatype: 'FP32', data: Array(10).fill(1) }] });

    // Act
    const replies = await Promise.all(
      [`/v2/models/${MODEL}/infer`, `/v2/models/${MODEL}/versions/2/infer`].map((path) => admin(stack.url, 'POST', path, request)),
    );

    // Assess
    for (const reply of replies) {
      expect(reply.status).toBe(400);
      expect(conforms(OUR_ERROR, reply.body).error).toMatchObject({ code: 'SHAPE_MISMATCH', path: expect.stringMatching(/^inputs\[0\]/) });
    }
  });

  it('answers 405 to a method a v2 path does not take', async () => {
    // Act
    const reply = await call(stack.url, 'POST', '/v2');

    // Assess
    expect(reply.status).toBe(405);
    expect(reply.headers.get('allow')).toBe('GET');
    expect(conforms(OUR_ERROR, reply.body).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('authorization of the v2 routes', () => {
  it('needs a token with predict for that model on every model route, versioned or not; the server routes need none', async () => {
    // Prepare
    if (!stack.auth) throw new Error('the stack runs without authorization');
    const other = bearer(await stack.auth.mint({ subject: 'other-model', scopes: ['predict:iris'] }));
    const mine = bearer(await stack.auth.mint({ subject: 'this-model', scopes: [`predict:${MODEL}`] }));
    const routes = ROUTES.filter((r) => r.resource.startsWith('/v2/models/'));
    const path = (resource: string) => resource.replace('{model}', MODEL).replace('{version}', '2');
    const body = (method: string) => (method === 'POST' ? inferRequest() : undefined);

    // Act
    const anonymous = await Promise.all(routes.map((r) => call(stack.url, r.method, path(r.resource), body(r.method))));
    const refused = await Promise.all(routes.map((r) => call(stack.url, r.method, path(r.resource), body(r.method), other)));
    const allowed = await Promise.all(routes.map((r) => call(stack.url, r.method, path(r.resource), body(r.method), mine)));

    // Assess
    expect(routes).toHaveLength(6);
    expect(anonymous.map((r) => [r.status, conforms(OUR_ERROR, r.body).error.code])).toEqual(Array(6).fill([401, 'UNAUTHORIZED']));
    expect(refused.map((r) => [r.status, conforms(OUR_ERROR, r.body).error.code])).toEqual(Array(6).fill([403, 'FORBIDDEN']));
    expect(allowed.map((r) => r.status)).toEqual(Array(6).fill(200));
  });
});

describe("on Lambda: the events API Gateway sends for an endpoint's literal resources", () => {
  it('serves a version by number from /v2/models/<model>/versions/{version}/..., the version a path parameter under the literal model', async () => {
    // Prepare: what API Gateway sends for the endpoint's literal resources (no `model` parameter)
    const { predict } = lambdaHandlers(stack);
    const body = JSON.stringify(inferRequest({ id: 'lambda-1' }));
    const headers = [['Content-Type', 'application/json']] as const;

    // Act
    const inferred = await invoke(
      predict,
      proxyEvent({
        method: 'POST',
        resource: `/v2/models/${MODEL}/versions/{version}/infer`,
        path: `/v2/models/${MODEL}/versions/2/infer`,
        pathParameters: [['version', '2']],
        headers,
        body,
      }),
    );
    const metadata = await invoke(
      predict,
      proxyEvent({
        method: 'GET',
        resource: `/v2/models/${MODEL}/versions/{version}`,
        path: `/v2/models/${MODEL}/versions/2`,
        pathParameters: [['version', '2']],
      }),
    );
    const ready = await invoke(
      predict,
      proxyEvent({
        method: 'GET',
        resource: `/v2/models/${MODEL}/versions/{version}/ready`,
        path: `/v2/models/${MODEL}/versions/3/ready`,
        pathParameters: [['version', '3']],
      }),
    );
    const server = await invoke(predict, proxyEvent({ method: 'GET', resource: '/v2' }));

    // Assess
    expect(inferred.statusCode).toBe(200);
    expect(conforms(INFERENCE_RESPONSE, inferred.json)).toMatchObject({ model_name: MODEL, model_version: '2', id: 'lambda-1' });
    expect(conforms(MODEL_METADATA, metadata.json).versions).toEqual(['2']);
    expect([ready.statusCode, conforms(OUR_ERROR, ready.json).error.code]).toEqual([409, 'VERSION_ARCHIVED']);
    expect(conforms(SERVER_METADATA, server.json).extensions).toContain('binary_tensor_data');
  });
});
