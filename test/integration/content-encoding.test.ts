/**
 * Compressed and BOM-prefixed bodies, through the local server (which does what API Gateway does
 * with `Content-Encoding`: inflates gzip and deflate, refuses any other coding, passes the
 * inflated body on with the header) and through the Lambda handler invoked with API Gateway
 * events (a body still compressed, base64-encoded; or one API Gateway already inflated).
 */
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { startLocalStack, type LocalStack } from '../../local/stack.js';
import type { FunctionName } from '../../functions/shared/routes.js';
import type { HttpHandler } from '../../functions/shared/http.js';
import { errorOf, type JsonReply } from '../fixtures/http.js';
import { invoke, lambdaHandlers, proxyEvent } from '../fixtures/proxy-events.js';
import { adminToken } from '../fixtures/tokens.js';

const MAX_BODY_BYTES = 200_000;
const FEATURES = { sepal_length_cm: 5.1, sepal_width_cm: 3.5, petal_length_cm: 1.4, petal_width_cm: 0.2 };
const JSON_BODY = JSON.stringify({ features: FEATURES });
const UUID = /^[0-9a-f-]{36}$/;

/** 1 MB on the wire (under the API's 10 MB), 1 GB inflated: 100 gzip members of 10 MiB of zeros. */
const GZIP_BOMB = Buffer.concat(Array.from({ length: 100 }, () => gzipSync(Buffer.alloc(10 * 1024 * 1024))));
/** 65 KB on the wire, 64 MiB inflated. */
const DEFLATE_BOMB = deflateSync(Buffer.alloc(64 * 1024 * 1024));
/** Under the API's limit once inflated, over the function's. */
const OVER_FUNCTION_LIMIT = gzipSync(JSON.stringify({ features: FEATURES, pad: 'x'.repeat(MAX_BODY_BYTES) }));

let stack: LocalStack;
let token: string;
let handlers: Record<FunctionName, HttpHandler>;

beforeAll(async () => {
  stack = await startLocalStack({ rateLimit: false, env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  token = await adminToken(stack);
  handlers = lambdaHandlers(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function post(body: Buffer | string, encoding?: string, extra: Record<string, string> = {}): Promise<JsonReply> {
  const response = await fetch(`${stack.url}/v1/models/iris/predict`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(encoding === undefined ? {} : { 'content-encoding': encoding }), ...extra },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as unknown) : undefined, text };
}

function onLambda(body: Buffer | string, codings: readonly string[] = []) {
  return invoke(handlers.predict, proxyEvent({
    method: 'POST',
    resource: '/v1/models/{model}/predict',
    pathParameters: [['model', 'iris']],
    headers: [['Content-Type', 'application/json'], ...codings.map((coding) => ['Content-Encoding', coding] as const)],
    body,
  }));
}

function expectRefusal(status: number, body: unknown, text: string, expected: { status: number; code: string; path: string }): void {
  expect({ status, code: (body as { error: { code: string } }).error.code, path: (body as { error: { path: string } }).error.path }).toEqual(expected);
  expect((body as { requestId: string }).requestId).toMatch(UUID);
  expect(text.length).toBeLessThan(1_000);
  expect(text).not.toMatch(/[\u0000-\u0008\u000e-\u001f\ufffd]/);
}

describe('the local server', () => {
  it.each<[string, Buffer | string, string | undefined]>([
    ['gzip', gzipSync(JSON_BODY), 'gzip'],
    ['deflate (zlib)', deflateSync(JSON_BODY), 'deflate'],
    ['GZIP in capitals', gzipSync(JSON_BODY), 'GZIP'],
    ['identity', JSON_BODY, 'identity'],
    ['a UTF-8 byte-order mark', `\ufeff${JSON_BODY}`, undefined],
    ['gzip of a body with a byte-order mark', gzipSync(`\ufeff${JSON_BODY}`), 'gzip'],
  ])('serves %s', async (_what, body, encoding) => {
    const reply = await post(body, encoding);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ model: 'iris', predictions: [{ label: 'setosa' }] });
  });

  it.each<[string, string]>([
    ['br', 'br'],
    ['compress', 'compress'],
    ['x-gzip', 'x-gzip'],
    ['two codings', 'gzip, gzip'],
    ['gzip then deflate', 'gzip, deflate'],
    ['a 4,000-character coding', 'z'.repeat(4_000)],
  ])('refuses %s with 415 UNSUPPORTED_MEDIA_TYPE naming it', async (_what, encoding) => {
    const reply = await post(gzipSync(JSON_BODY), encoding);
    expectRefusal(reply.status, reply.body, reply.text, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', path: 'headers.content-encoding' });
    expect(errorOf(reply).message).toContain(encoding.slice(0, 30));
  });

  it.each<[string, Buffer | string, string]>([
    ['a truncated gzip stream', gzipSync(JSON_BODY).subarray(0, 30), 'gzip'],
    ['plain JSON that says it is gzip', JSON_BODY, 'gzip'],
    ['raw deflate without the zlib wrapper', deflateRawSync(JSON_BODY), 'deflate'],
  ])('refuses %s with 400 MALFORMED_ENCODING', async (_what, body, encoding) => {
    const reply = await post(body, encoding);
    expectRefusal(reply.status, reply.body, reply.text, { status: 400, code: 'MALFORMED_ENCODING', path: 'body' });
  });

  it('refuses a 1 MB gzip body that would inflate to 1 GB with 413, and keeps serving', async () => {
    // Act
    const reply = await post(GZIP_BOMB, 'gzip');
    const after = await post(gzipSync(JSON_BODY), 'gzip');

    // Assess
    expectRefusal(reply.status, reply.body, reply.text, { status: 413, code: 'BODY_TOO_LARGE', path: 'body' });
    expect(after.status).toBe(200);
  });

  it("refuses a deflate body that inflates past the function's limit with 413", async () => {
    const deflated = await post(DEFLATE_BOMB, 'deflate');
    const gzipped = await post(OVER_FUNCTION_LIMIT, 'gzip');
    expectRefusal(deflated.status, deflated.body, deflated.text, { status: 413, code: 'BODY_TOO_LARGE', path: 'body' });
    expectRefusal(gzipped.status, gzipped.body, gzipped.text, { status: 413, code: 'BODY_TOO_LARGE', path: 'body' });
  });

  it('answers a gzip body sent without Content-Encoding with MALFORMED_JSON quoting no binary bytes', async () => {
    const reply = await post(gzipSync(JSON_BODY));
    expectRefusal(reply.status, reply.body, reply.text, { status: 400, code: 'MALFORMED_JSON', path: 'body' });
    expect(errorOf(reply).message).toContain('Content-Encoding: gzip');
  });
});

describe('the Lambda handler (API Gateway events)', () => {
  it.each<[string, Buffer | string, string[]]>([
    ['a gzip body still compressed (base64-encoded)', gzipSync(JSON_BODY), ['gzip']],
    ['a deflate body still compressed', deflateSync(JSON_BODY), ['deflate']],
    ['a body API Gateway already inflated, the header still saying gzip', JSON_BODY, ['gzip']],
    ['a base64 body API Gateway already inflated', Buffer.from(JSON_BODY), ['deflate']],
    ['a byte-order mark', `\ufeff${JSON_BODY}`, []],
  ])('serves %s', async (_what, body, codings) => {
    const result = await onLambda(body, codings);
    expect(result.statusCode).toBe(200);
    expect(result.json).toMatchObject({ model: 'iris' });
  });

  it('refuses a compressed body that inflates past MAX_BODY_BYTES with 413', async () => {
    for (const result of [await onLambda(GZIP_BOMB, ['gzip']), await onLambda(OVER_FUNCTION_LIMIT, ['gzip'])]) {
      expectRefusal(result.statusCode, result.json, result.body, { status: 413, code: 'BODY_TOO_LARGE', path: 'body' });
    }
  });

  it('refuses a corrupt gzip body with 400 and other codings with 415', async () => {
    const corrupt = await onLambda(Buffer.concat([gzipSync(JSON_BODY).subarray(0, 12), Buffer.from('garbage')]), ['gzip']);
    const br = await onLambda(JSON_BODY, ['br']);
    const twice = await onLambda(gzipSync(gzipSync(JSON_BODY)), ['gzip', 'gzip']);
    expectRefusal(corrupt.statusCode, corrupt.json, corrupt.body, { status: 400, code: 'MALFORMED_ENCODING', path: 'body' });
    expectRefusal(br.statusCode, br.json, br.body, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', path: 'headers.content-encoding' });
    expectRefusal(twice.statusCode, twice.json, twice.body, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', path: 'headers.content-encoding' });
  });
});
