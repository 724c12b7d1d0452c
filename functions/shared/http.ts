/**
 * The HTTP edge shared by every handler: API Gateway proxy events in, JSON out. What it does,
 * in order, before any route's own code runs:
 * 1. copies every map built from caller-chosen names (headers, query, path parameters, the
 *    authorizer's context) into maps without a prototype, header names lower-cased;
 * 2. stamps the request id;
 * 3. finds the route (404 `ROUTE_NOT_FOUND`, 405 `METHOD_NOT_ALLOWED` with `Allow`) and checks each
 *    path parameter with the registry's rules (`{model}`, `{version}`: `functions/core/names.ts`);
 * 4. checks the query string against the names the route declares (`EdgeOptions.queryParameters`;
 *    none unless declared): 400 `UNKNOWN_PARAMETER`, `REPEATED_PARAMETER`;
 * 5. reads a JSON body for methods that carry one: content type, content coding (gzip and
 *    deflate inflated up to the size limit), size, UTF-8, BOM, syntax, depth and `__proto__` keys.
 * Errors become responses in one place (`httpErrors`).
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import { AppError, PayloadTooLargeError, ValidationError, clip, formatPath, type FieldPath } from '../core/errors.js';
import { checkJsonSafety } from '../core/codec/request.js';
import { BINARY_MEDIA_TYPE, INFERENCE_HEADER_CONTENT_LENGTH, headerLength } from '../core/codec/binary.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES, serializedBytes } from '../core/codec/payload-limits.js';
import { MODEL_NAME_PATTERN } from '../core/model.js';
import { checkExperimentIdParam, checkJobIdParam, checkModelNameParam, checkVersionParam, quote, unreadableParam } from '../core/names.js';
import { newFacts, type RequestFacts, type RequestLog, type RequestObserver } from '../core/observability.js';
import { didYouMean } from '../core/messages.js';
import { describeError, requestLog, sharedLogger } from './logger.js';
import { matchRoute, routeKey, routeParameters, ROUTES, type HttpMethod, type Route } from './routes.js';

/** The event after our middlewares ran: a parsed body and who/what the request is. */
export interface HttpEvent extends APIGatewayProxyEvent {
  /** The parsed JSON body (`undefined` for requests without one); for a binary request, its JSON header. */
  parsedBody?: unknown;
  /** The bytes after the JSON header of a binary request (Open Inference Protocol binary extension). */
  binaryBody?: Uint8Array;
  requestId: string;
  startedAt: number;
  /** This request's log: every line carries its request id, caller, model and versions. */
  log: RequestLog;
  /** What the serving core learned while serving (model version, rows, model time). */
  facts: RequestFacts;
  /** The code of the error answered, set by the error mapping. */
  errorCode?: string;
}

export interface BodyLimits {
  /** Largest body accepted, in bytes, after any content coding is undone. */
  readonly maxBodyBytes: number;
  /** Deepest nesting accepted in a JSON body. */
  readonly maxJsonDepth: number;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

/** How much of a body a DEBUG line shows. */
const DEBUG_BODY_CHARS = 1_024;

export function jsonResponse(statusCode: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** A response whose body is JSON text already (written by the codec). */
export function textResponse(statusCode: number, json: string, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: json };
}

/** A map whose keys are the caller's: no prototype, so `constructor` or `__proto__` are plain keys. */
type SafeMap<T> = Record<string, T>;

function safeMap<T>(): SafeMap<T> {
  return Object.create(null) as SafeMap<T>;
}

/** An own-keys copy of `source` without a prototype, keys passed through `name`; `null` stays `null`. */
function safeCopy<T>(
  source: Readonly<Record<string, T>> | null | undefined,
  name: (key: string) => string = (key) => key,
): SafeMap<T> | null {
  if (source === null || source === undefined) return null;
  const copy = safeMap<T>();
  for (const key of Object.keys(source)) copy[name(key)] = source[key] as T;
  return copy;
}

const lower = (name: string) => name.toLowerCase();

/**
 * Replaces every map of `event` whose keys a caller chooses with a copy that has no prototype:
 * headers and multi-value headers (names lower-cased, values of names that differ only in case
 * merged), the query string's maps, the path parameters and the authorizer's context. API
 * Gateway's event is JSON, so a header named `__proto__` arrives as an own key; in a plain object
 * that key would be lost or, worse, become the map's prototype (`@middy/http-header-normalizer`
 * builds plain objects, which is why it is not used here).
 */
export function normalizeEvent(event: APIGatewayProxyEvent): void {
  const headers = safeMap<string | undefined>();
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[lower(name)] = value;
  event.headers = headers;
  const multi = safeMap<string[] | undefined>();
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    const key = lower(name);
    multi[key] = [...(multi[key] ?? []), ...(Array.isArray(values) ? values : [])];
  }
  event.multiValueHeaders = multi;
  event.queryStringParameters = safeCopy(event.queryStringParameters);
  event.multiValueQueryStringParameters = safeCopy(event.multiValueQueryStringParameters);
  event.pathParameters = safeCopy(event.pathParameters);
  const context = event.requestContext as APIGatewayProxyEvent['requestContext'] | undefined;
  if (context?.authorizer) context.authorizer = safeCopy(context.authorizer);
}

/** Every value of header `name` (lower-case): all of its multi-value entries, else its single value. */
function headerValues(event: APIGatewayProxyEvent, name: string): string[] {
  const values: string[] = [];
  for (const [key, list] of Object.entries(event.multiValueHeaders ?? {})) {
    if (key.toLowerCase() === name && Array.isArray(list)) values.push(...list);
  }
  if (values.length > 0) return values;
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === name && typeof value === 'string') values.push(value);
  }
  return values;
}

/** A request header by its lower-case name. */
export function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  // normalizeEvent lower-cases every name, so the direct lookup finds it; the loop is for events
  // that did not come through it.
  const direct = event.headers?.[name];
  if (direct !== undefined) return direct;
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === name) return value ?? undefined;
  return undefined;
}

/** The caller as the authorizer named it, `anonymous` when no authorizer ran. */
export function callerOf(event: APIGatewayProxyEvent): string {
  const authorizer = event.requestContext?.authorizer;
  const principal = authorizer && Object.hasOwn(authorizer, 'principalId') ? authorizer['principalId'] : undefined;
  return typeof principal === 'string' && principal.length > 0 ? principal : 'anonymous';
}

/** A route of this function and what serves it. */
interface RouteEntry {
  readonly route: Route;
  readonly action: RouteAction;
  /** The path parameters its template names, each with its check (found once, at cold start). */
  readonly parameters: ReadonlyArray<readonly [string, PathParameterCheck]>;
  /** The query parameters it takes (`EdgeOptions.queryParameters`); any other is refused. */
  readonly query: readonly string[];
}

/** This function's routes, by `"<method> <resource>"`, and the same routes as a list for matching paths. */
interface RouteTable {
  readonly byKey: ReadonlyMap<string, RouteEntry>;
  readonly routes: readonly Route[];
}

/**
 * How each path parameter a route template may name is checked and decoded, before any handler
 * code runs. A template naming a parameter that is not here fails `httpFunction` at cold start.
 */
interface PathParameterCheck {
  readonly check: (value: string) => string;
  readonly name: 'model' | 'version' | 'job' | 'experiment';
}

const PATH_PARAMETER_CHECKS: ReadonlyMap<string, PathParameterCheck> = new Map([
  ['model', { check: checkModelNameParam, name: 'model' as const }],
  ['version', { check: checkVersionParam, name: 'version' as const }],
  ['job', { check: checkJobIdParam, name: 'job' as const }],
  ['experiment', { check: checkExperimentIdParam, name: 'experiment' as const }],
]);

/** The path parameters every route template of the product may name. */
export const CHECKED_PATH_PARAMETERS: readonly string[] = [...PATH_PARAMETER_CHECKS.keys()];

function routeTable(actions: Readonly<Record<string, RouteAction>>, queryParameters: QueryDeclarations = {}): RouteTable {
  for (const key of Object.keys(queryParameters)) {
    if (!Object.hasOwn(actions, key)) throw new Error(`Query parameters are declared for ${key}, which this function does not serve.`);
  }
  const byKey = new Map<string, RouteEntry>();
  for (const key of Object.keys(actions)) {
    const space = key.indexOf(' ');
    const route: Route = ROUTES.find((r) => routeKey(r.method, r.resource) === key) ?? {
      method: key.slice(0, space) as HttpMethod,
      resource: key.slice(space + 1),
      fn: 'predict',
    };
    const parameters = routeParameters(route.resource).map((name) => {
      const check = PATH_PARAMETER_CHECKS.get(name);
      if (!check)
        throw new Error(
          `Route ${key} names the path parameter {${name}}, which the HTTP edge has no check for: add one to PATH_PARAMETER_CHECKS.`,
        );
      return [name, check] as const;
    });
    const query = Object.keys(Object.hasOwn(queryParameters, key) ? (queryParameters[key] ?? {}) : {});
    byKey.set(key, { route, action: actions[key] as RouteAction, parameters, query });
  }
  return { byKey, routes: [...byKey.values()].map((entry) => entry.route) };
}

/** 405: the path exists, not with this method; `allow` becomes the `Allow` header. */
export class MethodNotAllowedError extends AppError {
  constructor(
    method: string,
    readonly allow: readonly string[],
  ) {
    super(405, 'METHOD_NOT_ALLOWED', `${clip(method, 16)} is not allowed here; use ${allow.join(' or ')}.`, ['method']);
  }
}

/**
 * The route of `event` in `table`, with the event's `resource` set to its template and its
 * `pathParameters` to the template's parameters, each decoded and checked. On AWS each
 * endpoint's routes are literal resources (`/v1/models/iris/predict`, integrated with that model's
 * own function), so they arrive without path parameters: they are matched to their template here.
 */
function resolveRoute(event: HttpEvent, table: RouteTable): RouteEntry {
  const { routes } = table;
  let entry = table.byKey.get(routeKey(event.httpMethod, event.resource));
  let given: Readonly<Record<string, string | undefined>> = event.pathParameters ?? {};
  if (!entry) {
    const match = matchRoute(event.httpMethod, event.resource ?? '', routes);
    if (match.route) {
      entry = table.byKey.get(routeKey(match.route.method, match.route.resource));
      given = Object.assign(safeMap<string | undefined>(), match.pathParameters, given);
    } else {
      const byPath = event.path && event.path !== event.resource ? matchRoute(event.httpMethod, event.path, routes) : undefined;
      const allowed = [...new Set([...match.methodsAllowed, ...(byPath && !byPath.route ? byPath.methodsAllowed : [])])];
      if (allowed.length > 0) throw new MethodNotAllowedError(event.httpMethod, allowed);
      throw new AppError(
        404,
        'ROUTE_NOT_FOUND',
        `This function does not serve ${clip(String(event.httpMethod), 16)} ${clip(event.path ?? '')}. The API's routes are in its OpenAPI document: GET /openapi.json.`,
        ['path'],
      );
    }
  }
  if (!entry) throw new Error(`route table has no entry for ${event.httpMethod} ${event.resource}`);
  const checked = safeMap<string>();
  for (const [name, rule] of entry.parameters) {
    const raw = Object.hasOwn(given, name) ? given[name] : undefined;
    if (raw === undefined || raw === '') throw unreadableParam(rule.name, `The path gives no ${name}`);
    let value: string;
    try {
      // API Gateway may pass the parameter still percent-encoded; a valid name decodes to itself.
      value = decodeURIComponent(raw);
    } catch {
      throw unreadableParam(rule.name, `The ${name} in the path, ${quote(raw)}, is not valid percent-encoding`);
    }
    checked[name] = rule.check(value);
  }
  event.resource = entry.route.resource;
  event.pathParameters = checked;
  return entry;
}

/**
 * Stamps the request id (API Gateway's, else a fresh UUID) on the event and its log (the arrival
 * time, the facts and the log are set by `httpFunction` before), finds the route and checks its
 * path parameters, then reads a JSON body for methods that carry one (see `parseJsonBody`):
 * all before any handler code sees the request.
 */
export function httpRequest(
  limits: BodyLimits,
  table: RouteTable,
  binaryRoutes: ReadonlySet<string> = new Set(),
): MiddlewareObj<HttpEvent, APIGatewayProxyResult> {
  return {
    before: async (request) => {
      const event = request.event;
      event.requestId = event.requestContext?.requestId || randomUUID();
      event.log.set({ requestId: event.requestId, caller: callerOf(event) });
      if (event.log.isDebug()) {
        // Request data is logged at DEBUG only, and only its first KB.
        event.log.debug('request received', {
          method: event.httpMethod,
          path: clip(event.path ?? '', 256),
          body: clip(event.body ?? '', DEBUG_BODY_CHARS),
        });
      }
      checkQuery(event, resolveRoute(event, table).query);
      if (event.httpMethod === 'GET' || event.httpMethod === 'HEAD' || event.httpMethod === 'DELETE') return;
      if (binaryRoutes.has(routeKey(event.httpMethod, event.resource)) && mediaTypeOf(event) === BINARY_MEDIA_TYPE) {
        const { json, binary } = await parseBinaryBody(event, limits);
        event.parsedBody = json;
        event.binaryBody = binary;
        return;
      }
      event.parsedBody = await parseJsonBody(event, limits);
    },
  };
}

/** Content codings a body may arrive in: what API Gateway decodes, and nothing else. */
export type ContentCoding = 'gzip' | 'deflate';

/**
 * The body's content coding from its `Content-Encoding` values: `undefined` for none (or
 * `identity`), `gzip` or `deflate` (names case-insensitive). Anything else (`br`, `compress`,
 * `x-gzip`, or two codings such as `gzip, gzip`) is a 415 `UNSUPPORTED_MEDIA_TYPE` that names it
 * (path `headers.content-encoding`): API Gateway decodes gzip, deflate and identity only.
 */
export function contentCoding(values: readonly string[]): ContentCoding | undefined {
  const codings = values
    .join(',')
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '' && token !== 'identity');
  if (codings.length === 0) return undefined;
  const [first] = codings;
  if (codings.length === 1 && (first === 'gzip' || first === 'deflate')) return first;
  const shown = quote(values.join(', '));
  const problem = codings.length > 1 ? 'names more than one coding' : 'is not one this API decodes';
  throw new AppError(
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    `The body's Content-Encoding ${shown} ${problem}: send the JSON uncompressed, or compressed once with gzip or deflate.`,
    ['headers', 'content-encoding'],
  );
}

/** Whether `bytes` start the way `coding`'s data does: gzip's magic number, zlib's checked header. */
export function carriesCoding(bytes: Uint8Array, coding: ContentCoding): boolean {
  const [b0, b1] = bytes;
  if (b0 === undefined || b1 === undefined) return false;
  return coding === 'gzip' ? b0 === 0x1f && b1 === 0x8b : (b0 & 0x0f) === 8 && ((b0 << 8) | b1) % 31 === 0;
}

/**
 * Inflates a gzip or deflate (zlib) body, at most `maxBytes` of output: past that it stops
 * inflating (the rest is never produced) and rejects with 413 `BODY_TOO_LARGE`; data that is not
 * of that coding rejects with 400 `MALFORMED_ENCODING`. Runs on libuv's thread pool, so the event
 * loop stays free. `onChunk` sees the size of each piece of output as it is produced.
 *
 * @example
 * const json = await inflateBounded(gzipSync('{"a":1}'), 'gzip', 6_000_000); // Buffer '{"a":1}'
 */
export function inflateBounded(
  bytes: Uint8Array,
  coding: ContentCoding,
  maxBytes: number,
  onChunk?: (bytes: number) => void,
  /** What `maxBytes` is, as the 413 names it. */
  limitName = 'the most this endpoint accepts',
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const inflater = coding === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const settle = (error?: AppError) => {
      if (settled) return;
      settled = true;
      if (error) {
        inflater.destroy();
        reject(error);
      } else {
        resolve(Buffer.concat(chunks, total));
      }
    };
    inflater.on('data', (chunk: Buffer) => {
      if (settled) return;
      onChunk?.(chunk.length);
      total += chunk.length;
      if (total > maxBytes) {
        settle(
          new PayloadTooLargeError(
            'BODY_TOO_LARGE',
            `The ${coding} body inflates to more than ${maxBytes} bytes, ${limitName}. Send fewer rows per request.`,
            ['body'],
          ),
        );
        return;
      }
      chunks.push(chunk);
    });
    inflater.on('error', (error: Error) => {
      settle(
        new ValidationError(
          'MALFORMED_ENCODING',
          `The body is not valid ${coding} data, as its Content-Encoding says (${clip(error.message, 80)}).`,
          ['body'],
        ),
      );
    });
    inflater.on('end', () => settle());
    inflater.end(bytes);
  });
}

/**
 * The offset, in bytes, of the first byte of `bytes` that does not begin or continue a
 * well-formed UTF-8 character (a byte UTF-8 never uses, a stray continuation byte, an overlong
 * form such as `C0 80`, an encoded surrogate such as `ED A0 80`, a code point past U+10FFFF, or a
 * sequence cut short), or -1 when every byte does. Linear and native throughout (`isUtf8`, one
 * decode, one encode, memory compares): the decoder's replacement of the first bad sequence is
 * where its re-encoding first departs from `bytes`.
 *
 * @example
 * invalidUtf8Offset(Buffer.from([0x61, 0xff, 0xfe, 0x62])); // 1
 * invalidUtf8Offset(Buffer.from('é', 'utf8')); // -1
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  const original = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reencoded = Buffer.from(original.toString('utf8'), 'utf8');
  const differs = firstDifference(original, reencoded);
  // The bad sequence starts at most 2 bytes before the first difference (its first bytes may
  // match those of U+FFFD, EF BF BD): it starts where the bytes before it are well-formed.
  for (let start = Math.max(0, differs - 2); start < differs; start++) {
    if (reencoded[start] === 0xef && reencoded[start + 1] === 0xbf && reencoded[start + 2] === 0xbd && isUtf8(original.subarray(0, start)))
      return start;
  }
  return differs;
}

function firstDifference(a: Buffer, b: Buffer): number {
  const end = Math.min(a.length, b.length);
  const CHUNK = 64 * 1024;
  for (let start = 0; start < end; start += CHUNK) {
    const stop = Math.min(end, start + CHUNK);
    if (a.subarray(start, stop).equals(b.subarray(start, stop))) continue;
    for (let i = start; i < stop; i++) if (a[i] !== b[i]) return i;
  }
  return end;
}

/**
 * `bytes` as text, refusing (never replacing) bytes that are not UTF-8: a 400 `MALFORMED_UTF8`
 * naming the offset of the first bad byte and its value, never more of the body, and saying so
 * when the bytes look gzip-compressed. `inflated` says the bytes are the body after undoing its
 * content coding (the offset counts in those).
 */
export function decodeUtf8Body(bytes: Uint8Array, inflated = false): string {
  const offset = invalidUtf8Offset(bytes);
  if (offset >= 0) {
    const byte = (bytes[offset] ?? 0).toString(16).padStart(2, '0');
    // gzip's magic number, 1F 8B, is never UTF-8: a compressed body sent without its header.
    const hint =
      !inflated && carriesCoding(bytes, 'gzip')
        ? ' It looks gzip-compressed: say so with "Content-Encoding: gzip".'
        : ' Send the JSON encoded as UTF-8; binary tensor data goes to the v2 infer routes with "Content-Type: application/octet-stream" and "Inference-Header-Content-Length".';
    throw new ValidationError(
      'MALFORMED_UTF8',
      `The ${inflated ? 'inflated ' : ''}body is not valid UTF-8: the byte at offset ${offset} (0x${byte}) does not begin or continue a well-formed character.${hint}`,
      ['body'],
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** Characters JSON.parse's message may quote from the body that must not reach the caller raw. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\ufffd]/g;

/**
 * Reads the body of `event` as one JSON object. In order: the content type (415), the content
 * coding (415 for anything but gzip, deflate or identity), the size (413 `BODY_TOO_LARGE`, counted
 * after inflating: a small body that inflates past `maxBodyBytes` is stopped there), bytes that
 * are not UTF-8 (400 `MALFORMED_UTF8`, base64 bodies; a text body is text already), a UTF-8
 * byte-order mark (skipped), emptiness (`EMPTY_BODY`), depth and `__proto__` keys (read from the text, before
 * parsing), syntax (`MALFORMED_JSON`, quoting no raw bytes), the top-level type.
 *
 * Compressed bytes can only travel base64-encoded (`isBase64Encoded`). API Gateway inflates gzip
 * and deflate bodies itself before invoking the function and leaves the `Content-Encoding` header
 * in place, and the local server does the same: a body that does not start with its coding's
 * header was inflated on the way and is read as it is.
 */
export async function parseJsonBody(event: APIGatewayProxyEvent, limits: BodyLimits): Promise<unknown> {
  const type = header(event, 'content-type');
  if (mediaTypeOf(event) !== 'application/json') {
    throw new AppError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `Send the body as JSON with "Content-Type: application/json"${type ? `, not ${quote(type)}` : ''}.`,
      ['headers', 'content-type'],
    );
  }
  const coding = contentCoding(headerValues(event, 'content-encoding'));
  const raw = event.body ?? '';
  let text: string;
  if (event.isBase64Encoded) {
    const bytes = await bodyBytes(raw, coding, limits);
    // Bytes that are not UTF-8 are refused, never replaced by U+FFFD on their way to a model.
    text = decodeUtf8Body(bytes.bytes, bytes.inflated);
  } else {
    // A `Content-Encoding` on a text body: API Gateway (or the local server) inflated it on the way.
    checkSize(Buffer.byteLength(raw, 'utf8'), limits, coding);
    text = raw;
  }
  return parseJsonText(text, limits, ['body']);
}

/** The media type of the request's `Content-Type`, lower-case, without parameters. */
function mediaTypeOf(event: APIGatewayProxyEvent): string | undefined {
  return header(event, 'content-type')?.split(';')[0]?.trim().toLowerCase();
}

/** A base64 body's bytes, size-checked, inflated when it still carries its coding's framing. */
async function bodyBytes(
  raw: string,
  coding: ContentCoding | undefined,
  limits: BodyLimits,
): Promise<{ bytes: Buffer; inflated: boolean }> {
  let bytes: Buffer = Buffer.from(raw, 'base64');
  checkSize(bytes.length, limits);
  const inflate = coding !== undefined && carriesCoding(bytes, coding);
  if (inflate) bytes = await inflateBounded(bytes, coding, limits.maxBodyBytes);
  return { bytes, inflated: inflate };
}

/**
 * JSON text → one JSON object: a byte-order mark skipped, emptiness (`EMPTY_BODY`), depth and
 * `__proto__` keys (read from the text, before parsing), syntax (`MALFORMED_JSON`, quoting no
 * raw bytes), the top-level type. `path` names the text in errors (`body`, or the binary body's header).
 */
function parseJsonText(text: string, limits: BodyLimits, path: FieldPath): unknown {
  // A byte-order mark is not JSON, but some encoders write one: skip it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new ValidationError('EMPTY_BODY', 'The request has no body; send a JSON object.', path);
  // Depth and __proto__ keys from the text, before JSON.parse builds anything.
  checkJsonSafety(text, limits.maxJsonDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail =
      error instanceof SyntaxError
        ? clip(
            error.message.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
            200,
          )
        : 'invalid JSON';
    throw new ValidationError(
      'MALFORMED_JSON',
      `The ${path.length > 1 ? "body's JSON header" : 'body'} is not valid JSON: ${detail}.`,
      path,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('WRONG_TYPE', `The ${path.length > 1 ? "body's JSON header" : 'body'} must be a JSON object.`, path);
  }
  return value;
}

/**
 * A binary request of the Open Inference Protocol's binary tensor data extension
 * (`Content-Type: application/octet-stream`): its first `Inference-Header-Content-Length` bytes
 * are a JSON object (read as `parseJsonBody` reads a body), the rest the tensors' bytes. API
 * Gateway passes such a body base64-encoded (the API lists the type among its binary media
 * types); a binary body that arrives as text has lost bytes on the way and is refused.
 *
 * @throws 400 `BINARY_BODY_NOT_BASE64`, `INVALID_HEADER_LENGTH`, `MALFORMED_UTF8` (in the
 *   header), `MALFORMED_JSON`; 413 `BODY_TOO_LARGE`; 415 for a content coding other than gzip or deflate
 */
export async function parseBinaryBody(event: APIGatewayProxyEvent, limits: BodyLimits): Promise<{ json: unknown; binary: Uint8Array }> {
  const coding = contentCoding(headerValues(event, 'content-encoding'));
  if (!event.body)
    throw new ValidationError('EMPTY_BODY', 'The request has no body; send the JSON header and then the tensor bytes.', ['body']);
  if (!event.isBase64Encoded) {
    throw new ValidationError(
      'BINARY_BODY_NOT_BASE64',
      `An ${BINARY_MEDIA_TYPE} body must reach the function base64-encoded (isBase64Encoded), as API Gateway passes binary media types; as text its bytes are not what was sent.`,
      ['body'],
    );
  }
  const { bytes } = await bodyBytes(event.body, coding, limits);
  const length = headerLength(header(event, INFERENCE_HEADER_CONTENT_LENGTH), bytes.length);
  const path: FieldPath = ['body', 'header'];
  let text: string;
  try {
    text = decodeUtf8Body(bytes.subarray(0, length));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(
      error.code,
      `${error.message} Inference-Header-Content-Length (${length}) must give the length of the JSON part only, not of the whole body.`,
      path,
    );
  }
  const json = parseJsonText(text, limits, path);
  return { json, binary: bytes.subarray(length) };
}

/** 413 past the limit; `inflatedFrom`: the body arrived in that coding, and `bytes` is its inflated size. */
function checkSize(bytes: number, limits: BodyLimits, inflatedFrom?: ContentCoding): void {
  if (bytes > limits.maxBodyBytes) {
    const measured = inflatedFrom
      ? `The ${inflatedFrom} body inflates to ${bytes} bytes, past the most this endpoint accepts after inflating, ${limits.maxBodyBytes}`
      : `The body is ${bytes} bytes; this endpoint accepts at most ${limits.maxBodyBytes}`;
    throw new PayloadTooLargeError(
      'BODY_TOO_LARGE',
      `${measured}. Send fewer rows per request; tensors travel smaller in the v2 binary form (Content-Type: application/octet-stream) or by reference (POST /v1/models/{model}/payloads, then parameters.data_ref); a large model file goes through a presigned upload: POST /v1/models/{model}/uploads.`,
      ['body'],
    );
  }
}

/**
 * A structured line outside a request's own log (Powertools' Logger, JSON, one object per line),
 * for code that has no request: hooks, the authorizer's failures, background work.
 */
export function logLine(level: 'INFO' | 'WARN' | 'ERROR', message: string, fields: Record<string, unknown> = {}): void {
  const logger = sharedLogger();
  if (level === 'ERROR') logger.error(message, fields);
  else if (level === 'WARN') logger.warn(message, fields);
  else logger.info(message, fields);
}

/**
 * Maps every error to `{ "error": { code, message, path }, requestId }`. Errors below 500 show their
 * message; anything else is logged with its stack and answered with a generic 500 that carries
 * only the request id.
 */
export function httpErrors(): MiddlewareObj<HttpEvent, APIGatewayProxyResult> {
  return {
    onError: (request) => {
      const error = request.error;
      const requestId = request.event.requestId ?? request.context?.awsRequestId;
      if (error instanceof AppError && error.status < 500) {
        request.event.errorCode = error.code;
        request.response = jsonResponse(
          error.status,
          {
            error: { code: error.code, message: error.message, path: formatPath(error.path) },
            requestId,
          },
          error instanceof MethodNotAllowedError ? { allow: error.allow.join(', ') } : {},
        );
        return;
      }
      const code = error instanceof AppError ? error.code : 'INTERNAL';
      const fields = { code, error: describeError(error) };
      request.event.log.error('request failed', fields);
      request.event.errorCode = code;
      request.response = jsonResponse(error instanceof AppError ? error.status : 500, {
        error: { code, message: 'The server failed to handle this request; it has been logged under this request id.', path: '' },
        requestId,
      });
    },
  };
}

/**
 * Path parameter `name` of the route being served: already decoded and checked by the edge (see
 * `resolveRoute`), so a route's code never sees an invalid model name or version. A route asking
 * for a parameter its template does not name is a bug of ours (500), never a `!`.
 */
export function pathParam(event: APIGatewayProxyEvent, name: 'model' | 'version' | 'job' | 'experiment'): string {
  const parameters = event.pathParameters;
  const value = parameters && Object.hasOwn(parameters, name) ? parameters[name] : undefined;
  if (value === undefined) throw new Error(`route ${event.resource} has no path parameter {${name}}`);
  return value;
}

/** What Lambda (or the local server) calls: an API Gateway proxy event in, a response out. */
export type HttpHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** Serves one route; the event has been through the body and request-id middleware. */
export type RouteAction = (event: HttpEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** How a function's HTTP edge logs and observes its requests. */
export interface EdgeOptions {
  /** The function's logger; each request logs through a view with its keys. @default the shared logger */
  readonly logger?: Logger;
  /**
   * Receives one observation per request that names a model (the endpoint function's model
   * routes): metrics on Lambda, counters and the access log locally. @default none
   */
  readonly observer?: RequestObserver;
  /** The function version reported in observations and logs. @default '$LATEST' */
  readonly functionVersion?: string;
  /** Called when an invocation has answered, with Lambda's request id (the log drain waits for it). */
  readonly onAnswered?: (awsRequestId: string) => void;
  /** Monotonic clock in ms. @default performance.now */
  readonly elapsed?: () => number;
  /** Route keys that also take binary bodies (`application/octet-stream`, the binary tensor extension). @default none */
  readonly binaryRoutes?: readonly string[];
  /**
   * The query parameters each route takes, by route key (the values' keys are the names; the
   * control plane's `QUERY_PARAMETERS`, which the API document lists too). A route not listed
   * takes none. @default none for every route
   */
  readonly queryParameters?: QueryDeclarations;
}

/** Query parameter names by route key: `{ "GET /v1/models/{model}/stats": { minutes: … } }`. */
export type QueryDeclarations = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

/** Longest query parameter name an error quotes. */
const SHOWN_QUERY_NAME = 40;

/**
 * Refuses a query string that gives a name `accepted` does not hold (400 `UNKNOWN_PARAMETER`,
 * naming the accepted ones and the closest of them) or gives one twice (400
 * `REPEATED_PARAMETER`), path `query.<name>` (names cut to 40 characters). A request without a
 * query string costs two property reads.
 */
export function checkQuery(event: APIGatewayProxyEvent, accepted: readonly string[]): void {
  const single = event.queryStringParameters;
  const multi = event.multiValueQueryStringParameters;
  if (!single && !multi) return;
  // normalizeEvent copied both maps without a prototype: `constructor` is a name like any other.
  for (const name of new Set([...Object.keys(multi ?? {}), ...Object.keys(single ?? {})])) {
    const shown = clip(name, SHOWN_QUERY_NAME);
    if (!accepted.includes(name)) {
      const takes =
        accepted.length === 0 ? 'this route takes no query parameters' : `this route takes ${accepted.map((a) => `"${a}"`).join(', ')}`;
      throw new ValidationError(
        'UNKNOWN_PARAMETER',
        `Unknown query parameter ${JSON.stringify(shown)}${didYouMean(name, accepted)}; ${takes}.`,
        ['query', shown],
      );
    }
    const values = multi && Object.hasOwn(multi, name) ? multi[name] : undefined;
    if ((values?.length ?? 0) > 1)
      throw new ValidationError('REPEATED_PARAMETER', `Give the query parameter "${shown}" once.`, ['query', shown]);
  }
}

/**
 * A function that serves several routes: middy with the shared error mapping and body parsing,
 * dispatching on `"<method> <resource>"` (see `routes.ts`). With `options.observer`, every
 * request that names a model is observed once its answer is built (status, latency, the model
 * version, rows and model time the core recorded in `event.facts`), whatever the answer was.
 *
 * @example
 * export const handler = httpFunction(limits, { 'GET /v2/health/live': async () => jsonResponse(200, { live: true }) });
 */
export function httpFunction(limits: BodyLimits, actions: Readonly<Record<string, RouteAction>>, options: EdgeOptions = {}): HttpHandler {
  const elapsed = options.elapsed ?? (() => performance.now());
  const functionVersion = options.functionVersion ?? '$LATEST';
  const table = routeTable(actions, options.queryParameters);
  const handler = middy<HttpEvent, APIGatewayProxyResult>()
    .use(httpErrors())
    .use(httpRequest(limits, table, new Set(options.binaryRoutes ?? [])))
    .handler(async (event, context) => {
      // `httpRequest` found the route and set `event.resource` to its template.
      const entry = table.byKey.get(routeKey(event.httpMethod, event.resource));
      if (!entry) throw new Error(`no action for ${event.httpMethod} ${event.resource}`);
      return entry.action(event, context);
    });
  let coldStart = true;
  return async (proxyEvent, context) => {
    // Lambda hands us a proxy event; the middlewares add the HttpEvent fields before any action runs.
    const event = proxyEvent as HttpEvent;
    normalizeEvent(event);
    event.startedAt = elapsed();
    event.facts = newFacts();
    const first = coldStart;
    coldStart = false;
    event.log = requestLog(options.logger ?? sharedLogger(), { functionVersion, coldStart: first });
    try {
      let response = await handler(event, context);
      if (resultTooLarge(response)) {
        // Lambda would refuse this result (API Gateway then answers 502): answer what to do instead.
        event.errorCode = 'RESPONSE_TOO_LARGE';
        response = jsonResponse(413, {
          error: {
            code: 'RESPONSE_TOO_LARGE',
            message: `The answer would be larger than Lambda returns synchronously (${LAMBDA_SYNC_PAYLOAD_BYTES} bytes). Ask for less at a time: fewer rows, fewer outputs, or binary outputs.`,
            path: '',
          },
          requestId: event.requestId,
        });
      }
      observe(event, response.statusCode, first, functionVersion, elapsed, options);
      return response;
    } finally {
      if (context?.awsRequestId) options.onAnswered?.(context.awsRequestId);
    }
  };
}

function observe(
  event: HttpEvent,
  statusCode: number,
  coldStart: boolean,
  functionVersion: string,
  elapsed: () => number,
  options: EdgeOptions,
): void {
  const { facts } = event;
  const latencyMs = elapsed() - event.startedAt;
  if (event.log.isDebug()) {
    event.log.debug('request answered', {
      route: routeKey(event.httpMethod, event.resource),
      statusCode,
      latencyMs: round3(latencyMs),
      rows: facts.rows,
    });
  }
  if (!options.observer || facts.model === undefined || !MODEL_NAME_PATTERN.test(facts.model)) return;
  options.observer.observe({
    requestId: event.requestId,
    route: routeKey(event.httpMethod, event.resource),
    model: facts.model,
    ...(facts.modelVersion !== undefined ? { modelVersion: facts.modelVersion } : {}),
    functionVersion,
    statusCode,
    ...(event.errorCode !== undefined ? { errorCode: event.errorCode } : {}),
    latencyMs,
    modelLatencyMs: facts.modelLatencyMs,
    rows: facts.rows,
    coldStart,
    ...(facts.cache ? { cache: facts.cache } : {}),
  });
}

/**
 * Whether Lambda would refuse `result` for its size: its JSON serialization past
 * `LAMBDA_SYNC_PAYLOAD_BYTES`. Serialized only when it might be (a JSON string escape takes at
 * most 6 bytes per UTF-16 unit), so ordinary answers cost one length check.
 */
function resultTooLarge(result: APIGatewayProxyResult): boolean {
  const body = result.body ?? '';
  if (body.length * 6 + 16_384 <= LAMBDA_SYNC_PAYLOAD_BYTES) return false;
  return serializedBytes(result) > LAMBDA_SYNC_PAYLOAD_BYTES;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
