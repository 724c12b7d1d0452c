/**
 * The local server's own edge, over raw sockets (a client that sends what fetch never would):
 * duplicate Authorization headers refused every time, the authorizer cache notwithstanding; slow
 * clients (headers or a body that never finish) answered with a JSON 408 within bounded time;
 * and bodies that are not UTF-8 refused with a 400 naming the byte, never altered.
 */
import { jest } from '@jest/globals';
import { connect } from 'node:net';
import type { HttpHandler } from '../../functions/shared/http.js';
import { generateSigningKey, localAuthorizerEnv, mintToken } from '../../local/auth.js';
import { LOCAL_HEADERS_TIMEOUT_MS, LOCAL_REQUEST_TIMEOUT_MS, startLocalServer, type LocalServer } from '../../local/server.js';
import { startGuardedApi, type GuardedApi } from '../fixtures/tokens.js';

const UUID = /^[0-9a-f-]{36}$/;

interface RawReply {
  readonly status: number;
  readonly head: string;
  readonly body: { error: { code: string; message: string; path: string }; requestId: string };
  readonly text: string;
}

/** Writes `request` (raw HTTP/1.1) and nothing more, reads until the server closes the connection, parses the answer. */
function raw(url: string, request: string | Buffer): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split);
      const body = text.slice(split + 4);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), head, body: JSON.parse(body) as RawReply['body'], text: body });
    });
    socket.write(request);
  });
}

function predictRequest(headers: readonly string[], body: string | Buffer = '{"features":{}}', contentLength?: number): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const head = [
    'POST /v1/models/iris/predict HTTP/1.1',
    'host: localhost',
    'content-type: application/json',
    `content-length: ${contentLength ?? bytes.length}`,
    'connection: close',
    ...headers,
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`), bytes]);
}

describe('duplicate Authorization headers', () => {
  const T0 = Date.UTC(2026, 0, 1, 12);
  let api: GuardedApi;
  let token: string;

  beforeAll(async () => {
    const key = await generateSigningKey();
    api = await startGuardedApi({ env: localAuthorizerEnv(key), now: () => T0, cacheTtlSeconds: 60 });
    token = await mintToken(key, { scopes: ['predict'], now: T0 });
  });

  afterAll(async () => {
    await api?.close();
  });

  it('are refused with 401 every time, also once the valid token is in the authorizer cache', async () => {
    // Prepare: the token used alone is accepted, and its policy is now cached
    const alone = await raw(api.url, predictRequest([`authorization: Bearer ${token}`]));
    expect(alone.status).toBe(200);
    api.authorizer.mockClear();
    api.predict.mockClear();

    // Act: the cached token together with another value, in either order and any letter case
    const combinations = [
      [`authorization: Bearer junk`, `authorization: Bearer ${token}`],
      [`authorization: Bearer ${token}`, `authorization: Bearer junk`],
      [`authorization: Bearer ${token}`, `authorization: Bearer ${token}`],
      [`Authorization: Bearer ${token}`, `AUTHORIZATION: Bearer junk`],
      [`authorization: Bearer ${token}`, 'authorization: '],
      [`authorization: Bearer ${token}`, `Authorization: Bearer ${token}`, `authorization: Bearer ${token}`],
    ];
    const replies = [];
    for (const headers of combinations) replies.push(await raw(api.url, predictRequest(headers)));

    // Assess: the same 401 as the authorizer gives when nothing is cached; no function reached
    for (const reply of replies) {
      expect({ status: reply.status, code: reply.body.error.code, message: reply.body.error.message, path: reply.body.error.path }).toEqual(
        { status: 401, code: 'UNAUTHORIZED', message: 'Send exactly one Authorization header.', path: 'headers.authorization' },
      );
      expect(reply.body.requestId).toMatch(UUID);
    }
    expect(api.predict).not.toHaveBeenCalled();
    expect(api.authorizer).not.toHaveBeenCalled();
    // ...and the token alone is still served from the cache.
    expect((await raw(api.url, predictRequest([`authorization: Bearer ${token}`]))).status).toBe(200);
  });
});

describe('slow clients', () => {
  let server: LocalServer;
  const handler = jest.fn<HttpHandler>(async () => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: '{"ok":true}',
  }));
  const lines: string[] = [];

  beforeAll(async () => {
    server = await startLocalServer({
      functions: { predict: { handler }, control: { handler } },
      authorization: { insecure: true },
      warn: () => undefined,
      rateLimit: false,
      accessLog: (line) => lines.push(line),
      headersTimeoutMs: 300,
      requestTimeoutMs: 600,
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  beforeEach(() => {
    handler.mockClear();
    lines.length = 0;
  });

  it("bounds the header and request time by default (not Node's 60 s and 300 s) and checks them often", async () => {
    const defaults = await startLocalServer({
      functions: { predict: { handler }, control: { handler } },
      authorization: { insecure: true },
      warn: () => undefined,
    });
    try {
      expect([defaults.server.headersTimeout, defaults.server.requestTimeout]).toEqual([
        LOCAL_HEADERS_TIMEOUT_MS,
        LOCAL_REQUEST_TIMEOUT_MS,
      ]);
      expect(LOCAL_REQUEST_TIMEOUT_MS).toBeLessThanOrEqual(30_000);
    } finally {
      await defaults.close();
    }
    await expect(
      startLocalServer({
        functions: { predict: { handler }, control: { handler } },
        authorization: { insecure: true },
        headersTimeoutMs: 500,
        requestTimeoutMs: 100,
      }),
    ).rejects.toThrow(RangeError);
  });

  it.each<[string, Buffer, boolean]>([
    ['a body shorter than its Content-Length', predictRequest([], '{"features":', 100), true],
    ['a body of which nothing arrives', predictRequest([], '', 100), true],
    [
      'a chunked body without its last chunk',
      Buffer.from(
        'POST /v1/models/iris/predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"a":\r\n',
      ),
      true,
    ],
    // No request ever began: nothing for the access log.
    [
      'a header section that never ends',
      Buffer.from('POST /v1/models/iris/predict HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/js'),
      false,
    ],
  ])(
    'answers %s with a JSON 408 REQUEST_TIMEOUT and closes the connection; the function never runs',
    async (_what, request, logged) => {
      // Act: the client sends this much and then nothing; the server must end it
      const reply = await raw(server.url, request);

      // Assess
      expect({ status: reply.status, code: reply.body.error.code }).toEqual({ status: 408, code: 'REQUEST_TIMEOUT' });
      expect(reply.body.requestId).toMatch(UUID);
      expect(reply.body.error.message).toContain('Content-Length');
      expect(reply.head.toLowerCase()).toContain('connection: close');
      expect(handler).not.toHaveBeenCalled();
      // The access log shows what was answered, not a 200 (the line is written once the request's
      // reading has ended, which may be just after the client saw the connection close).
      while (logged && lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      if (logged) expect(lines).toEqual([expect.stringMatching(/^POST \/v1\/models\/\{model\}\/predict 408 /)]);
    },
    20_000,
  );

  it("does not count the function's own time: a request that arrived whole waits for its answer", async () => {
    // Prepare: the function takes longer than the request timeout
    handler.mockImplementationOnce(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
    });

    // Act
    const reply = await raw(server.url, predictRequest([]));

    // Assess
    expect(reply.status).toBe(200);
    expect(handler).toHaveBeenCalledTimes(1);
  }, 20_000);
});
