/**
 * The local server's payloads are API Gateway's and Lambda's (`local/server.ts`): a body of the
 * binary media type reaches the function base64-encoded and byte for byte, JSON stays text, a
 * base64 answer is decoded only for a client whose first Accept type is binary, an event over
 * Lambda's 6 MiB (base64 body, headers and request context counted) is refused with 413
 * `REQUEST_TOO_LARGE` before the function runs, and a result over it is a 502
 * `RESULT_TOO_LARGE`, never the function's 200. The function behind the server is a small
 * stand-in that records its events: what is under test is the server's side of the invoke.
 */
import { jest } from '@jest/globals';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { gzipSync } from 'node:zlib';
import { base64Length, LAMBDA_SYNC_PAYLOAD_BYTES, serializedBytes } from '../../functions/core/codec/payload-limits.js';
import type { HttpHandler } from '../../functions/shared/http.js';
import type { FunctionName } from '../../functions/shared/routes.js';
import { startLocalServer, type LocalServer } from '../../local/server.js';

const PREDICT = '/v1/models/iris/predict';
const INFER = '/v2/models/iris/infer';

/** Every byte value, 0x00 to 0xFF, four times over: no UTF-8 reading could carry them intact. */
const ALL_BYTES = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));

let server: LocalServer;
const events: APIGatewayProxyEvent[] = [];
/** What the stand-in function answers next; by default, 200 with a short JSON body. */
let answer: () => APIGatewayProxyResult = () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
const handler = jest.fn<HttpHandler>(async (event) => {
  events.push(event);
  return answer();
});
/** The statuses the emulated alias was told for each invocation (what canaries and stats count). */
const outcomes: number[] = [];

beforeAll(async () => {
  server = await startLocalServer({
    functions: { predict: { handler }, control: { handler } },
    versions: { select: (_fn: FunctionName) => ({ function: { handler }, done: (status) => void outcomes.push(status) }) },
    authorization: { insecure: true },
    warn: () => undefined,
    rateLimit: false,
    accessLog: false,
  });
});

afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  events.length = 0;
  outcomes.length = 0;
  handler.mockClear();
  answer = () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' });
});

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly bytes: Buffer;
  readonly text: string;
}

async function post(path: string, body: string | Buffer, headers: Record<string, string>): Promise<Reply> {
  const response = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, bytes, text: bytes.toString('utf8') };
}

function errorOf(reply: Reply): { code: string; message: string; path: string } {
  return (JSON.parse(reply.text) as { error: { code: string; message: string; path: string } }).error;
}

describe('request bodies', () => {
  it('an application/octet-stream body reaches the function base64-encoded, every byte 0x00-0xFF intact, never checked as UTF-8', async () => {
    // Act
    const reply = await post(INFER, ALL_BYTES, { 'content-type': 'application/octet-stream', 'inference-header-content-length': '0' });

    // Assess
    expect(reply.status).toBe(200);
    const [event] = events;
    expect(event?.isBase64Encoded).toBe(true);
    expect(Buffer.from(event?.body ?? '', 'base64').equals(ALL_BYTES)).toBe(true);
    expect(event?.body).toBe(ALL_BYTES.toString('base64'));
    // The header the binary form's reader needs travels as sent.
    expect(event?.headers['inference-header-content-length']).toBe('0');
  });

  it('matches the binary media type as API Gateway does: with parameters and in any case', async () => {
    await post(INFER, ALL_BYTES, { 'content-type': 'Application/Octet-Stream; charset=binary' });
    expect(events[0]?.isBase64Encoded).toBe(true);
    expect(Buffer.from(events[0]?.body ?? '', 'base64').equals(ALL_BYTES)).toBe(true);
  });

  it('a gzip binary body is inflated first, then base64-encoded (API Gateway decodes the coding before the integration)', async () => {
    await post(INFER, gzipSync(ALL_BYTES), { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
    expect(events[0]?.isBase64Encoded).toBe(true);
    expect(Buffer.from(events[0]?.body ?? '', 'base64').equals(ALL_BYTES)).toBe(true);
  });

  it('a JSON body stays text (isBase64Encoded false), character for character', async () => {
    const json = '{"features":{"sepal_length_cm":5.1,"name":"é ü ✓"}}';
    await post(PREDICT, json, { 'content-type': 'application/json' });
    expect(events[0]).toMatchObject({ isBase64Encoded: false, body: json });
  });

  it('a body that is not UTF-8 and not of the binary type is still refused with 400 MALFORMED_UTF8, the function never called', async () => {
    const reply = await post(PREDICT, ALL_BYTES, { 'content-type': 'application/json' });
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 400, code: 'MALFORMED_UTF8' });
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('binary answers', () => {
  beforeEach(() => {
    answer = () => ({
      statusCode: 200,
      headers: { 'content-type': 'application/octet-stream' },
      body: ALL_BYTES.toString('base64'),
      isBase64Encoded: true,
    });
  });

  it.each<[string, string]>([
    ['application/octet-stream', 'the binary type'],
    ['APPLICATION/OCTET-STREAM;q=0.9, application/json', 'the binary type first, with a quality and capitals'],
  ])('are decoded to their bytes for Accept: %s (%s)', async (accept) => {
    const reply = await post(INFER, '{}', { 'content-type': 'application/json', accept });
    expect(reply.status).toBe(200);
    expect(reply.bytes.equals(ALL_BYTES)).toBe(true);
    expect(reply.headers.get('content-length')).toBe(String(ALL_BYTES.length));
    expect(reply.headers.get('content-type')).toBe('application/octet-stream');
  });

  it.each<[string, string]>([
    ['application/json, application/octet-stream', 'the binary type, but not first: API Gateway reads the first media type only'],
    ['*/*', "anything (fetch's default): */* is not one of the API's binary media types"],
    ['application/json', 'JSON'],
  ])('stay base64 text for Accept: %s (%s)', async (accept) => {
    const reply = await post(INFER, '{}', { 'content-type': 'application/json', accept });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(ALL_BYTES.toString('base64'));
  });

  it('a text answer is sent as it is, whatever the Accept header', async () => {
    answer = () => ({
      statusCode: 400,
      headers: { 'content-type': 'application/json' },
      body: '{"error":{"code":"X","message":"m","path":""}}',
    });
    const reply = await post(INFER, '{}', { 'content-type': 'application/json', accept: 'application/octet-stream' });
    expect({ status: reply.status, text: reply.text }).toEqual({ status: 400, text: '{"error":{"code":"X","message":"m","path":""}}' });
  });
});

describe("Lambda's 6 MiB on the serialized event", () => {
  const HEADERS = { 'content-type': 'application/json' };
  /** A JSON body of `n` padding characters (none of which JSON escapes), plus 11 of framing. */
  const padded = (n: number) => `{"pad":"${'x'.repeat(n)}"}`;
  /** The pad length whose event is exactly LAMBDA_SYNC_PAYLOAD_BYTES, measured from a probe of the same digit count. */
  let fitting: number;

  beforeAll(async () => {
    // Prepare: a probe whose Content-Length has as many digits as the bodies below, so that only
    // the pad's length differs between the probe's event and theirs (request id and time have fixed widths).
    const probe = 5_000_000;
    events.length = 0;
    await post(PREDICT, padded(probe), HEADERS);
    const [event] = events;
    if (!event) throw new Error('the probe did not reach the function');
    fitting = probe + LAMBDA_SYNC_PAYLOAD_BYTES - serializedBytes(event);
  });

  it('an event of exactly the limit reaches the function (and is that large as it serializes)', async () => {
    const reply = await post(PREDICT, padded(fitting), HEADERS);
    expect(reply.status).toBe(200);
    expect(serializedBytes(events[0])).toBe(LAMBDA_SYNC_PAYLOAD_BYTES);
    // The body alone is below the limit: the rest is the event's headers and request context.
    expect(padded(fitting).length).toBeLessThan(LAMBDA_SYNC_PAYLOAD_BYTES - 500);
  });

  it('one byte more is a 413 REQUEST_TOO_LARGE that says what to send instead; the function is not invoked', async () => {
    // Act
    const reply = await post(PREDICT, padded(fitting + 1), HEADERS);

    // Assess
    expect(reply.status).toBe(413);
    const error = errorOf(reply);
    expect({ code: error.code, path: error.path }).toEqual({ code: 'REQUEST_TOO_LARGE', path: 'body' });
    expect(error.message).toContain(`${LAMBDA_SYNC_PAYLOAD_BYTES + 1}-byte Lambda event`);
    expect(error.message).toContain('Content-Type: application/octet-stream');
    expect(error.message).toContain('fewer rows');
    expect(error.message).toContain('POST /v1/models/iris/payloads');
    expect((JSON.parse(reply.text) as { requestId: string }).requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(handler).not.toHaveBeenCalled();
    expect(outcomes).toEqual([]);
  });

  it('headers count: the body that fit is refused once the request carries one more header', async () => {
    const reply = await post(PREDICT, padded(fitting), { ...HEADERS, 'x-trace': 'abc' });
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(handler).not.toHaveBeenCalled();
  });

  it('a binary body counts base64-encoded: 4.8 MB of bytes make a 6.4 MB event, refused, and the advice is not the binary form it already uses', async () => {
    // Prepare: below 6 MiB raw, above it once base64-encoded.
    const raw = Buffer.alloc(4_800_000, 7);
    expect(raw.length).toBeLessThan(LAMBDA_SYNC_PAYLOAD_BYTES);
    expect(base64Length(raw.length)).toBeGreaterThan(LAMBDA_SYNC_PAYLOAD_BYTES);

    // Act
    const reply = await post(INFER, raw, { 'content-type': 'application/octet-stream' });

    // Assess
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(errorOf(reply).message).toContain('the body base64-encoded');
    expect(errorOf(reply).message).not.toContain('binary form');
    expect(errorOf(reply).message).toContain('POST /v1/models/iris/payloads');
    expect(handler).not.toHaveBeenCalled();
  });

  it('a binary body whose base64 fits reaches the function', async () => {
    const raw = Buffer.alloc(4_500_000, 7);
    const reply = await post(INFER, raw, { 'content-type': 'application/octet-stream' });
    expect(reply.status).toBe(200);
    expect(Buffer.from(events[0]?.body ?? '', 'base64').equals(raw)).toBe(true);
  });

  it('to the control plane, the advice is its presigned uploads', async () => {
    const reply = await post('/v1/models/iris/versions', padded(fitting + 1), HEADERS);
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 413, code: 'REQUEST_TOO_LARGE' });
    expect(errorOf(reply).message).toContain('POST /v1/models/iris/uploads');
    expect(errorOf(reply).message).not.toContain('payloads');
  });
});

describe("Lambda's 6 MiB on the serialized result", () => {
  /** A 200 whose serialized size is exactly `bytes`. */
  function resultOf(bytes: number, base64 = false): APIGatewayProxyResult {
    const frame: APIGatewayProxyResult = {
      statusCode: 200,
      headers: { 'content-type': 'text/plain' },
      body: '',
      ...(base64 ? { isBase64Encoded: true } : {}),
    };
    return { ...frame, body: 'y'.repeat(bytes - serializedBytes(frame)) };
  }

  it('a result of exactly the limit is answered as the function gave it', async () => {
    const result = resultOf(LAMBDA_SYNC_PAYLOAD_BYTES);
    expect(serializedBytes(result)).toBe(LAMBDA_SYNC_PAYLOAD_BYTES);
    answer = () => result;
    const reply = await post(PREDICT, '{}', { 'content-type': 'application/json' });
    expect(reply.status).toBe(200);
    expect(reply.text).toBe(result.body);
    expect(outcomes).toEqual([200]);
  });

  it('one byte more is a 502 RESULT_TOO_LARGE (what API Gateway answers when Lambda refuses the result), never the 200, and counts as a failure of the version', async () => {
    // Prepare
    answer = () => resultOf(LAMBDA_SYNC_PAYLOAD_BYTES + 1);

    // Act
    const reply = await post(PREDICT, '{}', { 'content-type': 'application/json' });

    // Assess
    expect(reply.status).toBe(502);
    const error = errorOf(reply);
    expect({ code: error.code, path: error.path }).toEqual({ code: 'RESULT_TOO_LARGE', path: '' });
    expect(error.message).toContain(`${LAMBDA_SYNC_PAYLOAD_BYTES + 1} bytes`);
    expect(error.message).toContain('API Gateway answers 502');
    expect(reply.text.length).toBeLessThan(1_000);
    expect(handler).toHaveBeenCalledTimes(1);
    expect(outcomes).toEqual([502]);
  });

  it('a binary answer counts base64-encoded: 4.8 MB of bytes are a 6.4 MB result, refused even for a client that takes bytes', async () => {
    answer = () => ({
      statusCode: 200,
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4_800_000, 1).toString('base64'),
      isBase64Encoded: true,
    });
    const reply = await post(INFER, '{}', { 'content-type': 'application/json', accept: 'application/octet-stream' });
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 502, code: 'RESULT_TOO_LARGE' });
  });
});
