/**
 * The HTTP edge's parts on their own: maps of caller-chosen names without a prototype, the
 * registry's rules for path parameters (and that every parameter of the route table has one),
 * content codings, inflating with a cap that stops the work, not just the answer, and bodies
 * whose bytes are not UTF-8 refused at the first bad byte.
 */
import { deflateSync, gzipSync } from 'node:zlib';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { REGISTRY_KEYS } from '../../functions/adapters/tables.js';
import { AppError } from '../../functions/core/errors.js';
import { checkModelNameParam, checkVersionParam, MAX_VERSION_DIGITS } from '../../functions/core/names.js';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import {
  CHECKED_PATH_PARAMETERS,
  carriesCoding,
  contentCoding,
  decodeUtf8Body,
  inflateBounded,
  invalidUtf8Offset,
  normalizeEvent,
  parseJsonBody,
} from '../../functions/shared/http.js';
import { matchRoute, ROUTES, routeParameters } from '../../functions/shared/routes.js';
import { proxyEvent } from '../fixtures/proxy-events.js';

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

/** A 1 MB body that inflates to 1 GB: 100 gzip members of 10 MiB of zeros each. */
const GZIP_BOMB = Buffer.concat(Array.from({ length: 100 }, () => gzipSync(Buffer.alloc(10 * 1024 * 1024))));

function errorOf(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('no error');
}

async function rejectionOf(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`);
  return error;
}

describe('normalizeEvent', () => {
  it('copies headers, query, path parameters and the authorizer context into maps without a prototype', () => {
    // Prepare: what the Lambda runtime parses; `__proto__` is an own key of each map.
    const pairs = PROTOTYPE_NAMES.map((name) => [name, `v-${name}`] as const);
    const event = proxyEvent({
      method: 'GET',
      resource: '/v1/models/{model}/stats',
      pathParameters: [['model', 'iris']],
      headers: [['X-Mixed-Case', 'a'], ['x-mixed-case', 'b'], ...pairs],
      query: pairs,
      authorizer: [['principalId', 'alice'], ...pairs],
    });

    // Act
    normalizeEvent(event);

    // Assess
    const maps = [
      event.headers,
      event.multiValueHeaders,
      event.queryStringParameters,
      event.multiValueQueryStringParameters,
      event.pathParameters,
      event.requestContext.authorizer,
    ];
    for (const map of maps) expect(Object.getPrototypeOf(map)).toBeNull();
    for (const name of PROTOTYPE_NAMES) {
      expect(Object.hasOwn(event.headers, name.toLowerCase())).toBe(true);
      expect(event.queryStringParameters?.[name]).toBe(`v-${name}`);
      expect(event.multiValueQueryStringParameters?.[name]).toEqual([`v-${name}`]);
      expect(event.requestContext.authorizer?.[name]).toBe(`v-${name}`);
    }
    // Names that differ only in case are one header: the last value, and every value in order.
    expect(event.headers['x-mixed-case']).toBe('b');
    expect(event.multiValueHeaders['x-mixed-case']).toEqual(['a', 'b']);
    // A name the caller did not send is absent, whatever Object has.
    expect(event.headers['constructor'.toLowerCase()]).toBe('v-constructor');
    expect((event.pathParameters as Record<string, string | undefined>)['toString']).toBeUndefined();
  });

  it('leaves absent maps absent', () => {
    const event = {
      httpMethod: 'GET',
      resource: '/x',
      path: '/x',
      headers: undefined,
      multiValueHeaders: undefined,
      queryStringParameters: null,
      multiValueQueryStringParameters: null,
      pathParameters: null,
    } as unknown as APIGatewayProxyEvent;
    normalizeEvent(event);
    expect([event.queryStringParameters, event.multiValueQueryStringParameters, event.pathParameters]).toEqual([null, null, null]);
    expect(Object.keys(event.headers)).toEqual([]);
  });
});

describe('path parameter rules', () => {
  it('every parameter a route of the table names has a check', () => {
    const named = new Set(ROUTES.flatMap((route) => routeParameters(route.resource)));
    expect([...named].filter((name) => !CHECKED_PATH_PARAMETERS.includes(name))).toEqual([]);
  });

  it("the version rule's digit limit is the registry key's", () => {
    expect(MAX_VERSION_DIGITS).toBe(REGISTRY_KEYS.versionDigits);
  });

  it.each(['1', '42', '9999999999'])('accepts the version %s', (version) => {
    expect(checkVersionParam(version)).toBe(version);
  });

  it.each(['0', '-1', '1.5', '1e3', '01', '+1', ' 1', '1 ', '0x10', 'latest', '', '12345678901', '٣'])(
    'refuses the version %j',
    (version) => {
      expect(errorOf(() => checkVersionParam(version))).toMatchObject({ status: 400, code: 'INVALID_VERSION', path: ['version'] });
    },
  );

  it('quotes at most an excerpt of a refused name, control characters escaped', () => {
    const error = errorOf(() => checkModelNameParam(`${'\u0000'.repeat(10)}${'a'.repeat(100_000)}`));
    expect(error).toMatchObject({ code: 'INVALID_MODEL_NAME', path: ['model'] });
    expect(error.message.length).toBeLessThan(300);
    expect(error.message).not.toMatch(/\u0000/);
  });
});

describe('matchRoute', () => {
  it('strips trailing slashes in one pass (200,000 slashes before a letter cost no more than one)', () => {
    // A regex like /\/+$/ retries from every slash: quadratic, minutes for this path.
    expect(matchRoute('GET', `/v2/health/live${'/'.repeat(200_000)}x`).route).toBeUndefined();
    expect(matchRoute('GET', `/v2/health/live${'/'.repeat(200_000)}`).route?.resource).toBe('/v2/health/live');
  });
});

describe('contentCoding', () => {
  it.each<[string[], string | undefined]>([
    [[], undefined],
    [[''], undefined],
    [['identity'], undefined],
    [['gzip'], 'gzip'],
    [['GZip'], 'gzip'],
    [[' deflate '], 'deflate'],
    [['identity, gzip'], 'gzip'],
  ])('%j → %s', (values, coding) => {
    expect(contentCoding(values)).toBe(coding);
  });

  it.each<[string, string[]]>([
    ['br', ['br']],
    ['compress', ['compress']],
    ['x-gzip (API Gateway decodes gzip, deflate and identity only)', ['x-gzip']],
    ['zstd', ['zstd']],
    ['two codings in one header', ['gzip, gzip']],
    ['two codings in two headers', ['gzip', 'deflate']],
    ['a 10,000-character name', ['q'.repeat(10_000)]],
  ])('refuses %s with a 415 that names it in an excerpt', (_what, values) => {
    const error = errorOf(() => contentCoding(values));
    expect(error).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', path: ['headers', 'content-encoding'] });
    expect(error.message).toContain(values[0]?.slice(0, 20));
    expect(error.message.length).toBeLessThan(400);
  });

  it('tells gzip and zlib framing from JSON (how a body API Gateway already inflated is recognized)', () => {
    expect(carriesCoding(gzipSync('{}'), 'gzip')).toBe(true);
    expect(carriesCoding(deflateSync('{}'), 'deflate')).toBe(true);
    for (const text of ['{}', '\ufeff{}', ' {"a":1}', 'x', '']) {
      expect([carriesCoding(Buffer.from(text), 'gzip'), carriesCoding(Buffer.from(text), 'deflate')]).toEqual([false, false]);
    }
  });
});

describe('inflateBounded', () => {
  it('inflates gzip and deflate', async () => {
    expect((await inflateBounded(gzipSync('{"a":1}'), 'gzip', 100)).toString()).toBe('{"a":1}');
    expect((await inflateBounded(deflateSync('{"a":1}'), 'deflate', 100)).toString()).toBe('{"a":1}');
  });

  it('stops inflating a 1 MB body that would become 1 GB once it passes the limit: 413, the rest never produced', async () => {
    // Prepare
    let produced = 0;
    const limit = 6_000_000;

    // Act
    const error = await rejectionOf(
      inflateBounded(GZIP_BOMB, 'gzip', limit, (bytes) => {
        produced += bytes;
      }),
    );

    // Assess: refused, and the work stopped within a chunk or two of the limit (not at 1 GB).
    expect(error).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE', path: ['body'] });
    expect(produced).toBeGreaterThan(limit);
    expect(produced).toBeLessThan(limit + 1024 * 1024);
  });

  it.each<[string, Buffer]>([
    ['a truncated stream', gzipSync(JSON.stringify({ instances: [[1, 2, 3, 4]] })).subarray(0, 20)],
    ['garbage after the magic number', Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('not really gzip at all')])],
    ['plain JSON', Buffer.from('{"features": {}}')],
  ])('refuses %s with 400 MALFORMED_ENCODING', async (_what, bytes) => {
    const error = await rejectionOf(inflateBounded(bytes, 'gzip', 1_000_000));
    expect(error).toMatchObject({ status: 400, code: 'MALFORMED_ENCODING', path: ['body'] });
    expect(error.message).toContain('gzip');
  });
});

describe('parseJsonBody', () => {
  const limits = { maxBodyBytes: 1_000, maxJsonDepth: 8 };
  const event = (body: string | Buffer, coding?: string) =>
    proxyEvent({
      method: 'POST',
      resource: '/x',
      headers: [['content-type', 'application/json'], ...(coding ? [['content-encoding', coding] as const] : [])],
      body,
    });

  it('accepts a UTF-8 byte-order mark before the JSON, as text and base64-encoded', async () => {
    await expect(parseJsonBody(event('\ufeff{"a":1}'), limits)).resolves.toEqual({ a: 1 });
    await expect(parseJsonBody(event(Buffer.from('\ufeff{"a":1}')), limits)).resolves.toEqual({ a: 1 });
    await expect(parseJsonBody(event(gzipSync('\ufeff{"a":1}'), 'gzip'), limits)).resolves.toEqual({ a: 1 });
  });

  it('reads a body API Gateway already inflated (text, the header still saying gzip) as it is', async () => {
    await expect(parseJsonBody(event('{"a":1}', 'gzip'), limits)).resolves.toEqual({ a: 1 });
  });

  it('refuses a gzip body that inflates past maxBodyBytes, though it is small itself', async () => {
    const small = gzipSync(JSON.stringify({ pad: 'x'.repeat(5_000) }));
    expect(small.length).toBeLessThan(limits.maxBodyBytes);
    expect(await rejectionOf(parseJsonBody(event(small, 'gzip'), limits))).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE' });
  });

  it('quotes no raw bytes of a binary body that is not JSON, and says what it looks like', async () => {
    const error = await rejectionOf(parseJsonBody(event(gzipSync('{"a":1}')), limits));
    expect(error).toMatchObject({ status: 400, code: 'MALFORMED_UTF8' });
    expect(error.message).toContain('offset 1 (0x8b)');
    expect(error.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\ufffd]/);
    expect(error.message).toContain('Content-Encoding: gzip');
  });
});

describe('invalidUtf8Offset', () => {
  /** What the offset means: the bytes before it are UTF-8, and no character starts at it. */
  function isFirstBadByte(bytes: Buffer, offset: number): boolean {
    if (!isUtf8(bytes.subarray(0, offset))) return false;
    return [1, 2, 3, 4].every((length) => offset + length > bytes.length || !isUtf8(bytes.subarray(offset, offset + length)));
  }

  it.each<[string, number[], number]>([
    ['0xff 0xfe', [0x61, 0xff, 0xfe, 0x62], 1],
    ['an overlong NUL', [0x61, 0xc0, 0x80], 1],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf], 0],
    ['an encoded high surrogate', [0x61, 0xed, 0xa0, 0x80], 1],
    ['an encoded low surrogate', [0xed, 0xbf, 0xbf], 0],
    ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['a stray continuation byte', [0x61, 0x80], 1],
    ['a sequence cut short at the end', [0x61, 0xe2, 0x82], 1],
    ['U+FFFD itself, then EF BF cut short by an ASCII byte', [0xef, 0xbf, 0xbd, 0xef, 0xbf, 0x41], 3],
    ['4-byte U+1F600, then F0 9F cut short', [0xf0, 0x9f, 0x98, 0x80, 0xf0, 0x9f], 4],
  ])('finds %s', (_what, bytes, offset) => {
    expect(invalidUtf8Offset(Buffer.from(bytes))).toBe(offset);
    expect(() => decodeUtf8Body(Buffer.from(bytes))).toThrow(`offset ${offset} (0x${(bytes[offset] ?? 0).toString(16).padStart(2, '0')})`);
  });

  it('is -1 for UTF-8, and decodeUtf8Body then returns the text unchanged', () => {
    const text = '\ufeffaé€😀\ufffd\u0000';
    expect(invalidUtf8Offset(Buffer.from(text))).toBe(-1);
    expect(decodeUtf8Body(Buffer.from(text))).toBe(text);
  });

  it('names the first bad byte of any byte string (mixed valid text and random bytes), past 64 KiB too', () => {
    const piece = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8 }).map((text) => Buffer.from(text)),
      fc.uint8Array({ maxLength: 4 }).map((bytes) => Buffer.from(bytes)),
      fc.constant(Buffer.from([0xef, 0xbf, 0xbd])),
      fc.constant(Buffer.alloc(70_000, 0x61)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const bytes = Buffer.concat(pieces);
        const offset = invalidUtf8Offset(bytes);
        if (isUtf8(bytes)) return offset === -1;
        return offset >= 0 && isFirstBadByte(bytes, offset);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a base64 body that is not UTF-8 instead of passing U+FFFD to the model, and counts in the inflated body', async () => {
    const limits = { maxBodyBytes: 1_000, maxJsonDepth: 8 };
    const body = Buffer.concat([
      Buffer.from('{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","data":["a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('b"]}]}'),
    ]);
    const plain = proxyEvent({ method: 'POST', resource: '/x', headers: [['content-type', 'application/json']], body });
    const gzipped = proxyEvent({
      method: 'POST',
      resource: '/x',
      headers: [
        ['content-type', 'application/json'],
        ['content-encoding', 'gzip'],
      ],
      body: gzipSync(body),
    });

    const errors = [await rejectionOf(parseJsonBody(plain, limits)), await rejectionOf(parseJsonBody(gzipped, limits))];

    for (const error of errors) {
      expect(error).toMatchObject({ status: 400, code: 'MALFORMED_UTF8', path: ['body'] });
      expect(error.message).toContain(`offset ${body.indexOf(0xff)} (0xff)`);
      expect(error.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\ufffd]/);
    }
    expect(errors[1]?.message).toContain('inflated body');
  });
});
