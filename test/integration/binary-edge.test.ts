/**
 * The edges of the binary form and of payload uploads a new user hit: `Accept` with `q=0`, a
 * per-output `binary_data: false` under `binary_data_output`, an empty binary body, a header
 * length that covers the whole body, a BYTES element refused by name, payload tickets for models
 * that do not exist or with unknown fields, a declared size the upload must keep, payload ids in
 * upper case, and a classifier whose probabilities are all NaN. Through the local HTTP server.
 */
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { binaryBody, postBinary, postJson, publish, readAnswer, rawBytes } from '../fixtures/binary-http.js';
import { identityModel } from '../fixtures/models.js';
import { adminCall, adminToken, type Call } from '../fixtures/tokens.js';

let stack: TestStack;
let call: Call;
let token: string;

const OCTET = 'application/octet-stream';
const X = new Float32Array([5.1, 3.5, 1.4, 0.2]);

beforeAll(async () => {
  stack = await startTestStack();
  call = await adminCall(stack);
  token = await adminToken(stack);
  await publish(stack, call, 'words', identityModel('string'));
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const infer = (model: string) => `${stack.url}/v2/models/${model}/infer`;
const irisHeader = (parameters: Record<string, unknown> = {}, outputs?: unknown[]) => ({
  inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: X.byteLength } }],
  parameters,
  ...(outputs ? { outputs } : {}),
});

async function errorOf(response: Response): Promise<{ status: number; code: string; message: string; path: string }> {
  const body = (await response.json()) as { error: { code: string; message: string; path: string } };
  return { status: response.status, ...body.error };
}

describe('Accept and binary outputs', () => {
  it('refuses binary outputs to a client whose Accept gives application/octet-stream q=0 (406), and says the first media type counts', async () => {
    const response = await postBinary(infer('iris'), token, irisHeader({ binary_data_output: true }), [rawBytes(X)], {
      accept: `${OCTET};q=0`,
    });
    const error = await errorOf(response);
    expect([error.status, error.code, error.path]).toEqual([406, 'NOT_ACCEPTABLE', 'headers.accept']);
    expect(error.message).toContain('first media type');
  });

  it('answers binary with Accept: application/octet-stream;q=0.9 (a weight other than 0 accepts)', async () => {
    const answer = await readAnswer(
      await postBinary(infer('iris'), token, irisHeader({ binary_data_output: true }), [rawBytes(X)], { accept: `${OCTET};q=0.9` }),
    );
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe(OCTET);
  });

  it("lets an output's binary_data: false win over binary_data_output: that output comes as JSON, the other as bytes", async () => {
    const header = irisHeader({ binary_data_output: true }, [
      { name: 'label', parameters: { binary_data: false } },
      { name: 'probabilities' },
    ]);
    const answer = await readAnswer(await postBinary(infer('iris'), token, header, [rawBytes(X)], { accept: OCTET }));
    expect(answer.status).toBe(200);
    expect(answer.outputs['label']?.data).toEqual(['setosa']);
    expect(answer.outputs['probabilities']?.parameters?.['binary_data_size']).toBe(12);
  });

  it('answers JSON, without asking for Accept, when every listed output says binary_data: false', async () => {
    const header = irisHeader({ binary_data_output: true }, [{ name: 'label', parameters: { binary_data: false } }]);
    const answer = await readAnswer(await postBinary(infer('iris'), token, header, [rawBytes(X)]));
    expect([answer.status, answer.headers.get('content-type')]).toEqual([200, 'application/json; charset=utf-8']);
    expect(answer.outputs['label']?.data).toEqual(['setosa']);
  });
});

describe('malformed binary bodies', () => {
  it('answers an empty binary body EMPTY_BODY, as an empty JSON body is answered', async () => {
    const response = await fetch(infer('iris'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': OCTET, 'inference-header-content-length': '0' },
    });
    const error = await errorOf(response);
    expect([error.status, error.code]).toEqual([400, 'EMPTY_BODY']);
  });

  it('says that Inference-Header-Content-Length counts the JSON part only when it covers the tensor bytes too', async () => {
    const { body } = binaryBody(irisHeader(), [rawBytes(new Float32Array([0.1, 0.2, 0.3, 0.4]))]);
    const response = await fetch(infer('iris'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': OCTET, 'inference-header-content-length': String(body.byteLength) },
      body,
    });
    const error = await errorOf(response);
    expect(error.status).toBe(400);
    expect(error.message).toContain('JSON part only');
  });

  it('points a binary body sent as JSON to application/octet-stream', async () => {
    const { body, headerLength } = binaryBody(irisHeader(), [rawBytes(new Float32Array([0.1, 0.2, 0.3, 1e-30]))]);
    const response = await fetch(infer('iris'), {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'inference-header-content-length': String(headerLength),
      },
      body,
    });
    const error = await errorOf(response);
    expect([error.status, error.code]).toEqual([400, 'MALFORMED_UTF8']);
    expect(error.message).toContain('application/octet-stream');
  });

  it('names the BYTES element a string rule refuses', async () => {
    const strings = ['ok', 'a\u0000b', 'c'].map((s) => Buffer.from(s, 'utf8'));
    const framed = Buffer.concat(strings.flatMap((s) => [Buffer.from(Uint32Array.of(s.byteLength).buffer), s]));
    const header = { inputs: [{ name: 'x', shape: [1, 3], datatype: 'BYTES', parameters: { binary_data_size: framed.byteLength } }] };
    const error = await errorOf(await postBinary(infer('words'), token, header, [framed]));
    expect([error.status, error.code]).toEqual([400, 'NUL_IN_STRING']);
    expect(error.message).toMatch(/^BYTES element 1: /);
  });
});

describe('payload tickets', () => {
  it('refuses a ticket for a model this API does not serve (404), and a ticket request with an unknown field (400)', async () => {
    const missing = await call(stack.url, 'POST', '/v1/models/no-such-model/payloads', { bytes: 32 });
    expect([missing.status, (missing.body as { error: { code: string } }).error.code]).toEqual([404, 'MODEL_NOT_FOUND']);
    const unknown = await call(stack.url, 'POST', '/v1/models/iris/payloads', { bytes: 32, extra: 1 });
    expect([unknown.status, (unknown.body as { error: { code: string; path: string } }).error.code]).toEqual([400, 'UNKNOWN_FIELD']);
  });

  it('signs the declared size: an upload of another size is refused, one of that size is read, by its id in any case', async () => {
    const ticket = await call(stack.url, 'POST', '/v1/models/iris/payloads', { bytes: X.byteLength });
    const upload = ticket.body as { payloadId: string; url: string; headers: Record<string, string> };
    expect(upload.headers['content-length']).toBe(String(X.byteLength));
    const larger = await fetch(upload.url, { method: 'PUT', headers: { 'content-type': OCTET }, body: Buffer.alloc(48) });
    expect(larger.status).toBeGreaterThanOrEqual(400);
    const exact = await fetch(upload.url, { method: 'PUT', headers: upload.headers, body: rawBytes(X) });
    expect(exact.status).toBe(200);
    const answer = await readAnswer(
      await postJson(infer('iris'), token, {
        inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', parameters: { data_ref: upload.payloadId.toUpperCase() } }],
      }),
    );
    expect(answer.status).toBe(200);
    expect(answer.outputs['label']?.data).toEqual(['setosa']);
  });
});

describe('a classifier whose probabilities are all NaN', () => {
  it('names no label (null) and a NaN confidence, through v1 predict', async () => {
    const response = await postJson(`${stack.url}/v1/models/iris/predict`, token, { instances: [['NaN', 3.5, 1.4, 0.2]] });
    const body = (await response.json()) as {
      predictions: { label: unknown; confidence: unknown; probabilities: Record<string, unknown> }[];
    };
    expect(response.status).toBe(200);
    const [prediction] = body.predictions;
    expect(prediction?.label).toBeNull();
    expect(prediction?.confidence).toBe('NaN');
    expect(Object.values(prediction?.probabilities ?? {})).toEqual(['NaN', 'NaN', 'NaN']);
  });
});
