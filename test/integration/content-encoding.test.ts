/**
 * Compressed, BOM-prefixed and not-UTF-8 bodies, through the local server (which does what API Gateway does
 * with `Content-Encoding`: inflates gzip and deflate, refuses any other coding, passes the
 * inflated body on with the header) and through the Lambda handler invoked with API Gateway
 * events (a body still compressed, base64-encoded; or one API Gateway already inflated).
 */
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
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

let stack: TestStack;
let token: string;
let handlers: Record<FunctionName, HttpHandler>;

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false, env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
  token = await adminToken(stack);
  handlers = lambdaHandlers(stack);
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function post(body: Buffer | string, encoding?: string, extra: Record<string, string> = {}): Promise<JsonReply> {
  const response = await fetch(`${stack.url}/v1/models/iris/predict`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      ...(encoding === undefined ? {} : { 'content-encoding': encoding }),
      ...extra,
    },
    body,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as unknown) : undefined, text };
}

function onLambda(body: Buffer | string, codings: readonly string[] = []) {
  return invoke(
    handlers.predict,
    proxyEvent({
      method: 'POST',
      resource: '/v1/models/{model}/predict',
      pathParameters: [['model', 'iris']],
      headers: [['Content-Type', 'application/json'], ...codings.map((coding) => ['Content-Encoding', coding] as const)],
      body,
    }),
  );
}

function expectRefusal(status: number, body: unknown, text: string, expected: { status: number; code: string; path: string }): void {
  expect({
    status,
    code: (body as { error: { code: string } }).error.code,
    path: (body as { error: { path: string } }).error.path,
  }).toEqual(expected);
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
    // Both say the body inflates past a limit, not that it was sent that large.
    // The bomb passes the local API's gateway cap first: the message says which limit that is.
    expect(errorOf(deflated).message).toMatch(
      /^The deflate body inflates to more than 10485760 bytes, the most the API takes \(API Gateway's 10 MB payload quota/,
    );
    expect(errorOf(gzipped).message).toMatch(
      /^The gzip body inflates to \d+ bytes, past the most this endpoint accepts after inflating, 200000/,
    );
  });

  it('answers a gzip body sent without Content-Encoding with MALFORMED_UTF8 quoting no binary bytes, and says what it looks like', async () => {
    const reply = await post(gzipSync(JSON_BODY));
    expectRefusal(reply.status, reply.body, reply.text, { status: 400, code: 'MALFORMED_UTF8', path: 'body' });
    expect(errorOf(reply).message).toContain('Content-Encoding: gzip');
  });
});

/**
 * Bodies whose bytes are not UTF-8, each with the offset of its first bad byte: a byte UTF-8
 * never uses, a stray continuation byte, overlong forms, encoded surrogates, a code point past
 * U+10FFFF, sequences cut short (in a BYTES element, a feature name, at the very end).
 */
const NOT_UTF8: ReadonlyArray<readonly [string, Buffer, number]> = (() => {
  const prefix = '{"inputs":[{"name":"text","shape":[1],"datatype":"BYTES","data":["';
  const at = Buffer.byteLength(prefix);
  const inElement = (bytes: number[]) => Buffer.concat([Buffer.from(prefix), Buffer.from([0x61, ...bytes, 0x62]), Buffer.from('"]}]}')]);
  return [
    ['0xff 0xfe inside a BYTES element', inElement([0xff, 0xfe]), at + 1],
    ['an overlong NUL (C0 80)', inElement([0xc0, 0x80]), at + 1],
    ['an overlong slash (E0 80 AF)', inElement([0xe0, 0x80, 0xaf]), at + 1],
    ['an encoded surrogate (ED A0 80)', inElement([0xed, 0xa0, 0x80]), at + 1],
    ['a code point past U+10FFFF (F4 90 80 80)', inElement([0xf4, 0x90, 0x80, 0x80]), at + 1],
    ['a stray continuation byte after an Ã', inElement([0xc3, 0x83, 0x80]), at + 3],
    ['a sequence cut short by an ASCII byte (E2 82 41)', inElement([0xe2, 0x82]), at + 1],
    ['a genuine U+FFFD (EF BF BD), then EF BF and an ASCII byte', inElement([0xef, 0xbf, 0xbd, 0xef, 0xbf]), at + 4],
    ['a feature name with 0xf8', Buffer.concat([Buffer.from('{"features":{"'), Buffer.from([0xf8]), Buffer.from('":1}}')]), 14],
    ['a body cut short in a character', Buffer.concat([Buffer.from('{"features":{}}'), Buffer.from([0xe2, 0x82])]), 15],
  ];
})();

function expectNotUtf8(status: number, body: unknown, text: string, offset: number, byte: number | undefined): void {
  expectRefusal(status, body, text, { status: 400, code: 'MALFORMED_UTF8', path: 'body' });
  expect((body as { error: { message: string } }).error.message).toContain(
    `offset ${offset} (0x${(byte ?? 0).toString(16).padStart(2, '0')})`,
  );
}

describe('bodies that are not UTF-8', () => {
  it.each(NOT_UTF8)('the local server refuses %s with 400 MALFORMED_UTF8 naming the first bad byte', async (_what, body, offset) => {
    const reply = await post(body);
    expectNotUtf8(reply.status, reply.body, reply.text, offset, body[offset]);
  });

  it.each(NOT_UTF8)('the local server refuses %s gzip-compressed, counting in the inflated body', async (_what, body, offset) => {
    const reply = await post(gzipSync(body), 'gzip');
    expectNotUtf8(reply.status, reply.body, reply.text, offset, body[offset]);
    expect(errorOf(reply).message).toContain('inflated body');
  });

  it.each(NOT_UTF8)('the Lambda handler refuses %s (base64-encoded, and still compressed)', async (_what, body, offset) => {
    const plain = await onLambda(body);
    const compressed = await onLambda(deflateSync(body), ['deflate']);
    expectNotUtf8(plain.statusCode, plain.json, plain.body, offset, body[offset]);
    expectNotUtf8(compressed.statusCode, compressed.json, compressed.body, offset, body[offset]);
  });

  it('still serves every well-formed character: 1 to 4 bytes, U+FFFD itself, and a byte-order mark', async () => {
    const reply = await post(Buffer.from(`\ufeff${JSON.stringify({ features: FEATURES, note: 'aé€😀\ufffd' })}`));
    // The note is an unknown field (400 UNKNOWN_FIELD), not a refusal of its bytes.
    expect(errorOf(reply).code).not.toBe('MALFORMED_UTF8');
    expect((await post(Buffer.from(`\ufeff${JSON_BODY}`))).status).toBe(200);
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

  it('says that a body API Gateway inflated is over the limit once inflated, not that it was sent that large', async () => {
    const inflated = JSON.stringify({ features: FEATURES, pad: 'x'.repeat(MAX_BODY_BYTES) });
    const result = await onLambda(inflated, ['gzip']);
    const plain = await onLambda(inflated);
    expectRefusal(result.statusCode, result.json, result.body, { status: 413, code: 'BODY_TOO_LARGE', path: 'body' });
    expect((result.json as { error: { message: string } }).error.message).toContain(`The gzip body inflates to ${inflated.length} bytes`);
    expect((plain.json as { error: { message: string } }).error.message).toContain(`The body is ${inflated.length} bytes`);
  });

  it('refuses a corrupt gzip body with 400 and other codings with 415', async () => {
    const corrupt = await onLambda(Buffer.concat([gzipSync(JSON_BODY).subarray(0, 12), Buffer.from('garbage')]), ['gzip']);
    const br = await onLambda(JSON_BODY, ['br']);
    const twice = await onLambda(gzipSync(gzipSync(JSON_BODY)), ['gzip', 'gzip']);
    expectRefusal(corrupt.statusCode, corrupt.json, corrupt.body, { status: 400, code: 'MALFORMED_ENCODING', path: 'body' });
    expectRefusal(br.statusCode, br.json, br.body, { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', path: 'headers.content-encoding' });
    expectRefusal(twice.statusCode, twice.json, twice.body, {
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      path: 'headers.content-encoding',
    });
  });
});
