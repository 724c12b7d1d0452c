/**
 * Claims in an unexpected shape, and tokens too large for a header, over real HTTP: the local
 * server with the real authorizer (configured through its environment, as on Lambda) in front of
 * spy functions, real keys, a frozen clock. Every claim the API reads is sent in every wrong shape
 * (array, object, number, string, null, boolean, nested, huge, out of range); each is refused
 * with a 401 that names the claim and its expected shape, quotes nothing of the value, and
 * reaches no function. Then a 100 KB token gets the verifier's JSON 401 naming the token length
 * limit, and a header section past the local server's limit a JSON 431, never Node's bare answer.
 */
import { connect } from 'node:net';
import { CompactSign } from 'jose';
import { MAX_HEADER_BYTES } from '../../local/client-errors.js';
import { call, errorOf, type JsonReply } from '../fixtures/http.js';
import {
  bearer,
  jwksOf,
  signToken,
  startGuardedApi,
  testKey,
  type GuardedApi,
  type SignOptions,
  type TestKey,
} from '../fixtures/tokens.js';

const NOW = Date.UTC(2026, 0, 1, 12); // frozen: 2026-01-01T12:00:00Z
const NOW_S = NOW / 1000;
const ISSUER = 'https://issuer.example.com/';
const AUDIENCE = 'onnx-serving';
const USAGE_KEY_CLAIM = 'api_key';

let key: TestKey;
let api: GuardedApi;
/** The same, configured with AUTH_USAGE_KEY_CLAIM (usage plans keyed by the authorizer). */
let keyed: GuardedApi;

beforeAll(async () => {
  key = await testKey('ES256', 'ec-1');
  const env = { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWT_PUBLIC_KEYS: JSON.stringify(jwksOf(key)), JWT_ALGORITHMS: 'ES256' };
  api = await startGuardedApi({ env, now: () => NOW });
  keyed = await startGuardedApi({ env: { ...env, AUTH_USAGE_KEY_CLAIM: USAGE_KEY_CLAIM }, now: () => NOW });
});

afterAll(async () => {
  await api?.close();
  await keyed?.close();
});

beforeEach(() => {
  for (const guarded of [api, keyed]) {
    guarded.predict.mockClear();
    guarded.control.mockClear();
  }
});

const sign = (options: Partial<SignOptions> = {}) => signToken(key, { issuer: ISSUER, audience: AUDIENCE, nowSeconds: NOW_S, ...options });
const predict = (token: string, on: GuardedApi = api) => call(on.url, 'POST', '/v1/models/iris/predict', { features: {} }, bearer(token));

/** A token whose payload is exactly `json` (for numbers JSON.stringify cannot write, like 1e400). */
function signRaw(json: string): Promise<string> {
  return new CompactSign(new TextEncoder().encode(json))
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

function expectShapeRefusal(reply: JsonReply, claim: string, on: GuardedApi = api): void {
  expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
  const { message } = errorOf(reply);
  expect(message).toContain(`"${claim}"`);
  expect(message).toMatch(/must /);
  // Bounded: at most a short excerpt of what was sent.
  expect(message.length).toBeLessThan(300);
  expect(message).not.toContain('x'.repeat(41));
  expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer realm="onnx-serving", error="invalid_token"/);
  expect((reply.body as { requestId?: string }).requestId).toEqual(expect.any(String));
  expect(on.reached()).toBe(0);
}

/** Long, yet the token stays under the verifier's 8,192-byte limit (base64url adds a third). */
const HUGE = 'x'.repeat(4_000);
const many = (count: number, make: (i: number) => unknown) => Array.from({ length: count }, (_, i) => make(i));

it('accepts the documented shapes (the control case)', async () => {
  // Prepare / Act
  const replies = await Promise.all([
    predict(await sign({ claims: { scope: 'predict models:read' } })),
    predict(await sign({ claims: { scp: ['predict', 'models:read'] }, drop: ['scope'] })),
    predict(await sign({ claims: { scp: 'predict' }, drop: ['scope'] })),
    predict(await sign({ claims: { aud: ['another-api', AUDIENCE], models: ['iris'], nbf: NOW_S - 10, exp: NOW_S + 0.5 } })),
  ]);

  // Assess
  expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
});

describe.each<[string, [string, unknown][]]>([
  [
    'scope',
    [
      ['an array of one scope', ['predict']],
      ['an array of scopes', ['predict', 'models:read']],
      ['a nested array', [['predict']]],
      ['an object', { predict: true }],
      ['a number', 1],
      ['a boolean', true],
      ['null', null],
      ['a huge array', many(1_000, () => 'p')],
      ['a huge string (1,000 scopes)', many(1_000, () => 'p').join(' ')],
    ],
  ],
  [
    'scp',
    [
      ['an object', { 0: 'predict' }],
      ['a number', 7],
      ['null', null],
      ['an array holding a number', ['predict', 1]],
      ['an array holding an array', [['predict']]],
      ['an array holding an object', [{ scope: 'predict' }]],
      ['an array holding null', [null]],
      ['an entry with two scopes in it', ['predict models:read']],
      ['an empty entry', ['']],
      ['a huge array', many(1_000, () => 'x')],
    ],
  ],
  [
    'sub',
    [
      ['an array', ['alice']],
      ['an object', { id: 'alice' }],
      ['a number', 42],
      ['null', null],
      ['a boolean', false],
      ['an empty string', ''],
      ['a huge string', HUGE],
      ['a string with a NUL', 'alice\u0000admin'],
      ['a string with a line break', 'alice\nlevel=ERROR'],
      ['a string with DEL', 'alice\u007f'],
      ['a string with a lone high surrogate', 'alice\ud800'],
      ['a string with a lone low surrogate', '\udc00alice'],
    ],
  ],
  [
    'models',
    [
      ['a string', 'iris'],
      ['an object', { iris: true }],
      ['a number', 3],
      ['null', null],
      ['an array holding a number', ['iris', 2]],
      ['a nested array', [['iris']]],
      ['an array holding a name no model can have', ['Iris!']],
      ['an array holding a huge string', [HUGE]],
      ['a huge array (more models than a token may name)', many(500, (i) => `m${i}`)],
    ],
  ],
  [
    'aud',
    [
      ['a number', 42],
      ['an object', { aud: AUDIENCE }],
      ['null', null],
      ['an empty array', []],
      ['an array with our audience and a number', [AUDIENCE, 42]],
      ['an array with our audience and null', [AUDIENCE, null]],
      ['an array with our audience and an object', [AUDIENCE, { a: 1 }]],
      ['a nested array', [[AUDIENCE]]],
      ['an array with an empty string', [AUDIENCE, '']],
    ],
  ],
  [
    'iss',
    [
      ['an array of our issuer', [ISSUER]],
      ['an object', { iss: ISSUER }],
      ['a number', 42],
      ['null', null],
      ['an empty string', ''],
    ],
  ],
  [
    'exp',
    [
      ['a numeric string', String(NOW_S + 300)],
      ['an array', [NOW_S + 300]],
      ['an object', { at: NOW_S + 300 }],
      ['null', null],
      ['a boolean', true],
      ['a number past any date (1e20)', 1e20],
    ],
  ],
  [
    'nbf',
    [
      ['a numeric string', String(NOW_S - 10)],
      ['an array', [NOW_S - 10]],
      ['null', null],
      ['a number past any date in the future (1e13)', 1e13],
      ['a number past any date in the past (-1e13)', -1e13],
    ],
  ],
  [
    'iat',
    [
      ['a numeric string', String(NOW_S)],
      ['an object', { at: NOW_S }],
      ['null', null],
      ['a number past any date (1e300)', 1e300],
    ],
  ],
])('a "%s" claim', (claim, shapes) => {
  it.each(shapes)('in the wrong shape is refused with a 401 naming it: %s', async (_name, value) => {
    // Prepare: scp is read alongside scope, so it stands alone here
    const token = await sign({ claims: { [claim]: value }, drop: claim === 'scp' ? ['scope'] : [] });

    // Act
    const reply = await predict(token);

    // Assess
    expectShapeRefusal(reply, claim);
  });
});

it.each<[string, string]>([
  ['exp', `"exp":1e400`],
  ['exp', `"exp":-1e400`],
  ['nbf', `"nbf":1e400`],
  ['iat', `"iat":-1e400`],
])('refuses a "%s" that JSON parses to an infinity (%s)', async (claim, member) => {
  // Prepare: a payload JSON.stringify could not have written
  const base = `"iss":"${ISSUER}","aud":"${AUDIENCE}","sub":"tester","scope":"predict"`;
  const token = await signRaw(`{${base},${claim === 'exp' ? member : `"exp":${NOW_S + 300},${member}`}}`);

  // Act / Assess
  expectShapeRefusal(await predict(token), claim);
});

it.each<[string, number]>([
  ['a minute ahead', 60],
  ['a day ahead', 86_400],
  ['in the year 2286', 9_999_999_999 - NOW_S],
])('refuses a token issued in the future (%s), with no maximum age configured', async (_name, ahead) => {
  // Act
  const reply = await predict(await sign({ claims: { iat: NOW_S + ahead, exp: NOW_S + ahead + 300 } }));

  // Assess
  expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
  expect(errorOf(reply).message).toContain('in the future');
  expect(api.reached()).toBe(0);
});

it('accepts a subject with any printable Unicode, a surrogate pair included', async () => {
  expect((await predict(await sign({ claims: { sub: 'zoë 😀 ∑' } }))).status).toBe(200);
});

describe('the usage key claim (AUTH_USAGE_KEY_CLAIM)', () => {
  it.each<[string, unknown]>([
    ['a number', 12345],
    ['an array', ['key-1']],
    ['an object', { key: 'key-1' }],
    ['null', null],
    ['an empty string', ''],
  ])('in the wrong shape is refused with a 401: %s', async (_name, value) => {
    expectShapeRefusal(await predict(await sign({ claims: { [USAGE_KEY_CLAIM]: value } }), keyed), USAGE_KEY_CLAIM, keyed);
  });

  it('is passed on when it is a string, and a token without it still reaches the usage plan check', async () => {
    expect((await predict(await sign({ claims: { [USAGE_KEY_CLAIM]: 'key-123' } }), keyed)).status).toBe(200);
    expect((await predict(await sign(), keyed)).status).toBe(200);
  });
});

describe('header size', () => {
  /** Sends `head` (request line and headers, without the final blank line) on a raw socket; the whole answer. */
  function rawRequest(url: string, head: string): Promise<string> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      socket.on('close', () => resolve(answer));
      // The server may close while this side is still writing a header it will never read.
      socket.on('error', (error: NodeJS.ErrnoException) => (answer ? resolve(answer) : reject(error)));
      socket.write(`${head}\r\n\r\n`);
    });
  }

  function parseAnswer(answer: string): {
    status: number;
    headers: string;
    body: { error: { code: string; message: string; path: string }; requestId: string };
  } {
    const split = answer.indexOf('\r\n\r\n');
    const headers = answer.slice(0, split);
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]), headers, body: JSON.parse(answer.slice(split + 4)) as never };
  }

  it("answers a 100 KB token with the verifier's JSON 401 naming the token length limit", async () => {
    // Prepare: a real, correctly signed token of about 100 KB
    const token = await sign({ claims: { pad: 'x'.repeat(100 * 1024) } });
    expect(token.length).toBeGreaterThan(100 * 1024);

    // Act
    const reply = await predict(token);

    // Assess
    expect({ status: reply.status, code: errorOf(reply).code }).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    expect(errorOf(reply).message).toMatch(/^The token is \d+ bytes; tokens longer than 8192 bytes are refused\.$/);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    expect(api.reached()).toBe(0);
  });

  it.each<[string, (url: string) => string]>([
    [
      'one header',
      (url) =>
        `POST /v1/models/iris/predict HTTP/1.1\r\nHost: ${new URL(url).host}\r\nAuthorization: Bearer ${'a'.repeat(MAX_HEADER_BYTES + 1)}`,
    ],
    [
      'many headers',
      (url) =>
        `GET /v2/health/live HTTP/1.1\r\nHost: ${new URL(url).host}\r\n${many(300, (i) => `x-pad-${i}: ${'b'.repeat(1_000)}`).join('\r\n')}`,
    ],
  ])("answers a header section over the server's limit (%s) with a JSON 431, not Node's bare one", async (_name, head) => {
    // Act
    const answer = parseAnswer(await rawRequest(api.url, head(api.url)));

    // Assess
    expect(answer.status).toBe(431);
    expect(answer.headers).toMatch(/^content-type: application\/json/im);
    expect(answer.body.error).toMatchObject({ code: 'HEADERS_TOO_LARGE', path: 'headers' });
    expect(answer.body.error.message).toContain(`${MAX_HEADER_BYTES} bytes`);
    expect(answer.body.error.message).not.toContain('aaaa');
    expect(answer.body.requestId).toEqual(expect.any(String));
    expect(api.reached()).toBe(0);
  });

  it('answers bytes that are not HTTP with a JSON 400, and keeps serving', async () => {
    // Act
    const answer = parseAnswer(await rawRequest(api.url, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\nbad header line without a colon'));

    // Assess
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('MALFORMED_REQUEST');
    expect(answer.body.requestId).toEqual(expect.any(String));
    expect((await call(api.url, 'GET', '/v2/health/live')).status).toBe(200);
  });
});
