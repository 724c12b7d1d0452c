/**
 * Property-based fuzzing of every route of the local API (fast-check): random path parameters,
 * query strings, headers and bodies — random JSON shapes, keys drawn from every `Object.prototype`
 * member name, long and odd strings — with an administrator's token, with a token for another
 * model, with a malformed token and with none. Whatever arrives, the API answers below 500 with
 * the product's JSON error shape, quotes no more than a bounded excerpt of what it was sent, and
 * still answers its health check afterwards.
 *
 * The seed is fixed so a failure reproduces (`FUZZ_SEED`, `FUZZ_RUNS` change it); fast-check
 * prints the shrunk counterexample.
 */
import fc from 'fast-check';
import { ROUTES, type Route } from '../../functions/shared/routes.js';
import { startTestStack, type TestStack } from '../fixtures/stack-log.js';
import { bearer } from '../fixtures/tokens.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261130);
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 100);
/** An error body may quote an excerpt of the request, never the request: 4 KB is far above any excerpt. */
const MAX_ERROR_BYTES = 4096;
const MAX_BODY_BYTES = 200_000;

/** `constructor`, `__proto__`, `toString`, `hasOwnProperty`, … */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
/** Header names fetch refuses to send or that change the framing rather than the request. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-connection',
  'http2-settings',
]);

let stack: TestStack;
const tokens: Record<'admin' | 'otherModel' | 'garbage', string> = { admin: '', otherModel: '', garbage: '' };

beforeAll(async () => {
  stack = await startTestStack({ rateLimit: false, env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES), MAX_ROWS: '1000' } });
  if (!stack.auth) throw new Error('the fuzz test needs the JWT mode');
  tokens.admin = await stack.auth.mint({ subject: 'fuzz-admin', scopes: ['predict', 'models:read', 'models:write', 'models:promote'] });
  tokens.otherModel = await stack.auth.mint({ subject: 'fuzz-other', scopes: ['predict:other', 'models:read:other'] });
  tokens.garbage = `${tokens.admin.slice(0, -8)}AAAAAAAA`;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

// ---------------------------------------------------------------------------------------------
// Arbitraries

const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...PROTOTYPE_NAMES),
  fc.constantFrom('iris', '1', '0', '-1', '1.5', '1e3', '00', '99999999999999999999999', 'latest', '..', '%2F', '\u0000', 'a'.repeat(2043)),
  fc.integer({ min: 200, max: 5000 }).map((n) => 'x'.repeat(n)),
);

const key = fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) }, { weight: 1, arbitrary: oddString });

/** JSON values whose object keys are often prototype member names. */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(1e308, -0, 2 ** 53 + 1, 3.4e39),
    oddString,
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(key, tie('value'), { maxKeys: 6 }),
  ),
})).value;

/** Bodies shaped like the product's requests, with random parts, and bodies of no shape at all. */
const body: fc.Arbitrary<string | undefined> = fc.oneof(
  fc.constant(undefined),
  jsonValue.map((v) => JSON.stringify(v)),
  fc.dictionary(key, jsonValue, { maxKeys: 5 }).map((features) => JSON.stringify({ features })),
  fc
    .array(fc.oneof(fc.dictionary(key, jsonValue, { maxKeys: 5 }), fc.array(jsonValue, { maxLength: 5 })), { maxLength: 5 })
    .map((instances) => JSON.stringify({ instances })),
  fc
    .array(
      fc.record({
        name: oddString,
        shape: jsonValue,
        datatype: fc.oneof(oddString, fc.constantFrom('FP32', 'INT64', 'BYTES', 'BOOL', 'FP16', 'UINT64')),
        data: jsonValue,
      }),
      { maxLength: 3 },
    )
    .map((inputs) => JSON.stringify({ inputs })),
  fc
    .record(
      { version: jsonValue, expectedRevision: jsonValue, reason: jsonValue, to: jsonValue, percent: jsonValue, weight: jsonValue },
      { requiredKeys: [] },
    )
    .map((v) => JSON.stringify(v)),
  fc
    .record({ model: jsonValue, metadata: jsonValue, sha256: jsonValue, uploadId: jsonValue }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
  oddString,
);

/** A header value fetch can send: visible ASCII and spaces, no CR/LF. */
const headerValue = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 300 });
const headerName = fc
  .oneof(
    fc.constantFrom(...PROTOTYPE_NAMES),
    fc.constantFrom(
      'content-type',
      'content-encoding',
      'accept',
      'authorization',
      'if-match',
      'x-request-id',
      'inference-header-content-length',
      'x-amzn-trace-id',
    ),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/),
  )
  .filter((name) => !FORBIDDEN_HEADERS.has(name.toLowerCase()) && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name));
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 });
const query = fc.array(
  fc.tuple(
    key,
    oddString.filter((s) => s.length < 500),
  ),
  { maxLength: 6 },
);
const who = fc.constantFrom<'admin' | 'otherModel' | 'garbage' | 'none'>('admin', 'admin', 'otherModel', 'garbage', 'none');

/** A path parameter: sometimes the live model and version, else anything. */
function parameter(name: string): fc.Arbitrary<string> {
  const real = name === 'model' ? fc.constant('iris') : fc.constantFrom('1', '2');
  return fc.oneof(
    real,
    oddString.filter((s) => s.length > 0),
  );
}

function concretePath(route: Route, values: Record<string, string>): string {
  return route.resource.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(values[name] ?? 'x'));
}

// ---------------------------------------------------------------------------------------------
// The property

interface Outcome {
  readonly status: number;
  readonly text: string;
  readonly contentType: string | null;
}

async function send(
  route: Route,
  params: Record<string, string>,
  q: ReadonlyArray<[string, string]>,
  h: ReadonlyArray<[string, string]>,
  b: string | undefined,
  as: keyof typeof tokens | 'none',
): Promise<Outcome> {
  const search = new URLSearchParams();
  for (const [k, v] of q) search.append(k, v);
  const requestHeaders = new Headers();
  for (const [name, value] of h) requestHeaders.append(name, value);
  if (b !== undefined && !requestHeaders.has('content-type')) requestHeaders.set('content-type', 'application/json');
  if (as !== 'none') requestHeaders.set('authorization', bearer(tokens[as]).authorization as string);
  const qs = search.toString();
  const response = await fetch(`${stack.url}${concretePath(route, params)}${qs ? `?${qs}` : ''}`, {
    method: route.method,
    headers: requestHeaders,
    ...(b !== undefined && route.method !== 'GET' ? { body: b } : {}),
  });
  return { status: response.status, text: await response.text(), contentType: response.headers.get('content-type') };
}

function checkOutcome(outcome: Outcome): void {
  const context = `${outcome.status} ${outcome.text.slice(0, 300)}`;
  if (outcome.status >= 500) throw new Error(`answered 5xx: ${context}`);
  if (outcome.status < 400) return;
  if (!outcome.contentType?.startsWith('application/json')) throw new Error(`error without a JSON content type: ${context}`);
  if (Buffer.byteLength(outcome.text) > MAX_ERROR_BYTES)
    throw new Error(`error body of ${Buffer.byteLength(outcome.text)} bytes (an unbounded echo?): ${context}`);
  if (/\bat [\w.<>$]+ \(.*:\d+:\d+\)|node_modules|\.[jt]s:\d+|onnxruntime_src|\.(cc|h|cpp):\d+/.test(outcome.text))
    throw new Error(`internal text in an error: ${context}`);
  const parsed = JSON.parse(outcome.text) as { error?: { code?: unknown; message?: unknown }; requestId?: unknown };
  const error = parsed.error;
  if (typeof error?.code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(error.code)) throw new Error(`no stable error code: ${context}`);
  if (typeof error.message !== 'string' || error.message.length === 0) throw new Error(`no message: ${context}`);
  if (typeof parsed.requestId !== 'string' || parsed.requestId.length === 0) throw new Error(`no requestId: ${context}`);
}

describe.each(ROUTES.map((route) => [`${route.method} ${route.resource}`, route] as const))('fuzzing %s', (_name, route) => {
  const names = [...route.resource.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);

  it('answers every random request below 500 with the JSON error shape, and stays up', async () => {
    const paramsArb = fc.record(Object.fromEntries(names.map((name) => [name, parameter(name)]))) as fc.Arbitrary<Record<string, string>>;
    await fc.assert(
      fc.asyncProperty(paramsArb, query, headers, body, who, async (params, q, h, b, as) => {
        checkOutcome(await send(route, params, q, h, b, as));
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    const health = await fetch(`${stack.url}/v2/health/live`);
    expect(health.status).toBe(200);
  }, 120_000);
});

describe('fuzzing paths the API does not have', () => {
  it('answers 404 or 405 with the JSON error shape', async () => {
    const segment = oddString.filter((s) => s.length > 0).map((s) => encodeURIComponent(s));
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { minLength: 1, maxLength: 6 }),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        who,
        async (segments, method, as) => {
          const response = await fetch(`${stack.url}/${segments.join('/')}`, {
            method,
            ...(as === 'none' ? {} : { headers: bearer(tokens[as]) }),
          });
          const outcome = { status: response.status, text: await response.text(), contentType: response.headers.get('content-type') };
          if (method === 'OPTIONS' && outcome.status < 300) return;
          checkOutcome(outcome);
        },
      ),
      { seed: SEED, numRuns: RUNS * 4, endOnFailure: true },
    );
    expect((await fetch(`${stack.url}/v2/health/ready`)).status).toBe(200);
  }, 120_000);
});
