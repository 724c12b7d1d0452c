/**
 * The local API: a node:http server that does what API Gateway does for our routes (match the
 * path against the route table, run the authorizer, throttle per client, build a REST proxy
 * event, enforce the body size limit) and calls the very same function handlers that Lambda runs.
 *
 * Payloads are what API Gateway and Lambda make of them, so that a request served here is served
 * on AWS too:
 * - Binary media types (`BINARY_MEDIA_TYPES`, the RestApi's `binaryMediaTypes`): a body whose
 *   `Content-Type` is one reaches the function base64-encoded (`isBase64Encoded: true`), bytes as
 *   sent, never checked as UTF-8; every other body arrives as text. A function's base64 answer is
 *   decoded to bytes only when the request's first `Accept` media type is a binary one; else the
 *   client gets the base64 text, as from API Gateway (see `functions/shared/media-types.ts`).
 * - Sizes: API Gateway's 10 MB payload quota on the body as sent (413 `BODY_TOO_LARGE`, the rest
 *   unread), then Lambda's 6 MB synchronous limit on the serialized event, base64 body, headers
 *   and request context included (413 `REQUEST_TOO_LARGE`, saying what to send instead; the
 *   function is not invoked), and on the serialized result: on AWS, Lambda refuses a result over
 *   its limit (`Function.ResponseSizeTooLarge`) and API Gateway answers 502, so here a result over
 *   it is a 502 `RESULT_TOO_LARGE`, never the function's own status. Both Lambda checks count
 *   bytes with `serializedBytes` (`functions/core/codec/payload-limits.ts`), against
 *   `LAMBDA_SYNC_PAYLOAD_BYTES` (6 MiB; Lambda's own result limit is 100 bytes more).
 *
 * Authorization is API Gateway's, step by step: the REQUEST authorizer event is built from the
 * request, the authorizer (the same `functions/authorizer` code as on Lambda) answers with a
 * policy, the policy is cached per Authorization header for `cacheTtlSeconds` and evaluated
 * against the request's method ARN, and `principalId` and the context reach the function in
 * `requestContext.authorizer`. So a token gets the same answer here as on AWS, cache included.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import type { JSONWebKeySet } from 'jose';
import { AppError, clip, formatPath } from '../functions/core/errors.js';
import { describeNeed } from '../functions/auth/permissions.js';
import { evaluatePolicy } from '../functions/auth/policy.js';
import type { AuthorizerHandler, AuthorizerResult } from '../functions/authorizer/app.js';
import type { RequestObservation } from '../functions/core/observability.js';
import { API_GATEWAY_PAYLOAD_BYTES, LAMBDA_SYNC_PAYLOAD_BYTES, serializedBytes } from '../functions/core/codec/payload-limits.js';
import { contentCoding, decodeUtf8Body, inflateBounded, type HttpHandler } from '../functions/shared/http.js';
import { BINARY_MEDIA_TYPES, isBinaryMediaType } from '../functions/shared/media-types.js';
import { matchRoute, ROUTES, type FunctionName, type Route } from '../functions/shared/routes.js';
import { answerClientError, MAX_HEADER_BYTES } from './client-errors.js';
import { isConsolePath, serveConsole } from './console.js';
import { isDocsPath, serveDocs } from './docs-page.js';

export interface LocalFunction {
  readonly handler: HttpHandler;
  /** Reported as `context.functionVersion`. @default '$LATEST' */
  readonly version?: string;
  /** Lambda's timeout for this function, in ms; `getRemainingTimeInMillis` counts it down. @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * Lambda versions behind an alias: picks the function version that serves a request (by the
 * alias's weights) and is told how it went: the status it answered (500 when the handler threw)
 * and the function call's own time in ms (Lambda's `Duration`). `undefined`: the function's default.
 */
export interface VersionSelector {
  select(
    fn: FunctionName,
    pathParameters: Readonly<Record<string, string>>,
  ): { readonly function: LocalFunction; readonly done: (statusCode: number, latencyMs: number) => void } | undefined;
}

/** What the endpoint functions observed of a request, by the request id the server gave it (`LocalObservations`). */
export interface ObservationSource {
  take(requestId: string): Pick<RequestObservation, 'model' | 'modelVersion' | 'rows' | 'errorCode'> | undefined;
}

/** Where the local API publishes the public keys of its tokens. */
export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * How requests are authorized; there is no default, so authorization cannot be left out by
 * forgetting an option. `insecure` accepts every caller and says so on stderr at every start.
 */
export type LocalAuthorization =
  | {
      /** The authorizer handler (`functions/authorizer/app.ts`'s `makeHandler`). */
      readonly authorizer: AuthorizerHandler;
      /** Like the API's authorizer result cache, keyed by the Authorization header; 0 turns it off. @default 60 */
      readonly cacheTtlSeconds?: number;
      /** Served publicly at {@link JWKS_PATH} when given. */
      readonly jwks?: JSONWebKeySet;
    }
  | { readonly insecure: true };

/** A token bucket per client: `ratePerSecond` refill, `burst` capacity (API Gateway's terms). */
export interface RateLimit {
  readonly ratePerSecond: number;
  readonly burst: number;
}

/**
 * Per client, as on AWS: the default usage plan of `cdk.json` (`auth.usagePlans`, plan
 * `default`), which throttles each client there. A test keeps the two equal.
 */
export const DEFAULT_RATE_LIMIT: RateLimit = { ratePerSecond: 50, burst: 100 };

export interface LocalServerOptions {
  readonly functions: Readonly<Record<FunctionName, LocalFunction>>;
  /** The emulated alias `live` of the model endpoints (see `traffic.ts`). @default every request to `functions` */
  readonly versions?: VersionSelector;
  readonly authorization: LocalAuthorization;
  /** Per client (the token's subject; the source IP on public routes). `false` turns it off. @default DEFAULT_RATE_LIMIT */
  readonly rateLimit?: RateLimit | false;
  /** Clock of the authorizer cache and the rate limiter, ms since the epoch. @default Date.now */
  readonly now?: () => number;
  /**
   * Where the server's own notices go, each a line ending in a newline: the insecure-mode warning,
   * a handler that threw (answered 502), an authorizer that failed, an access log writer that
   * failed. @default stderr
   */
  readonly warn?: (text: string) => void;
  /** API Gateway's payload limit is 10 MB; a larger body is refused before it is read. @default API_GATEWAY_PAYLOAD_BYTES */
  readonly maxBodyBytes?: number;
  /**
   * The API's binary media types (API Gateway's `binaryMediaTypes`, wildcards allowed): which
   * request bodies reach the functions base64-encoded, and which `Accept` headers get a base64
   * answer decoded. @default BINARY_MEDIA_TYPES (`application/octet-stream`)
   */
  readonly binaryMediaTypes?: readonly string[];
  readonly routes?: readonly Route[];
  /**
   * The access log: one line per request once it is answered (see {@link accessLogLine}), given
   * to this writer without its newline; `false` turns it off. @default a line on stdout
   */
  readonly accessLog?: ((line: string) => void) | false;
  /** What the functions observed (model version, rows), added to the access log lines. @default none */
  readonly observations?: ObservationSource;
  /** Monotonic clock of the access log's and the versions' latencies, ms. @default performance.now */
  readonly elapsed?: () => number;
  /**
   * How long a client may take to send its header section, in ms; past it the server answers a
   * JSON 408 `REQUEST_TIMEOUT` and closes the connection. @default LOCAL_HEADERS_TIMEOUT_MS
   */
  readonly headersTimeoutMs?: number;
  /**
   * How long a client may take to send its whole request, headers and body, in ms (a body shorter
   * than its `Content-Length` meets this); then as `headersTimeoutMs`. At least `headersTimeoutMs`.
   * Once the request has arrived, the function's own time does not count. @default LOCAL_REQUEST_TIMEOUT_MS
   */
  readonly requestTimeoutMs?: number;
  readonly port?: number;
  /** @default '127.0.0.1' (nothing outside this machine can reach it) */
  readonly host?: string;
}

export interface LocalServer {
  readonly url: string;
  readonly server: http.Server;
  /**
   * Stops taking connections, lets the requests being served finish (at most `graceMs`, default
   * 5 s), then closes every connection.
   */
  close(graceMs?: number): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * The local server's bounds on a slow client, in ms: 10 s for the header section, 30 s for the
 * whole request. API Gateway documents no such bound (its 29 s timeout covers the integration, not
 * the client), so these are this server's own: 30 s is far more than a 10 MB body needs on
 * localhost, and a connection that sends nothing more is released instead of held for Node's
 * defaults (60 s for headers, 300 s for the request, checked only every 30 s).
 */
export const LOCAL_HEADERS_TIMEOUT_MS = 10_000;
export const LOCAL_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Starts the local API.
 *
 * @example
 * const api = await startLocalServer({
 *   functions: { predict: { handler }, control: { handler: control } },
 *   authorization: { authorizer: localAuthorizer(localAuthorizerEnv(key)).handler, jwks: key.jwks },
 *   port: 3000,
 * });
 * console.log(api.url); // http://127.0.0.1:3000
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const state = serverState(options);
  // Requests being served: `close` lets them finish (and queue their prediction-log records)
  // before it cuts the connections.
  const inFlight = new Set<Promise<void>>();
  let closing = false;
  // Headers up to MAX_HEADER_BYTES, so an oversized token meets the verifier's own limit (a JSON
  // 401); past that, and for anything Node's parser refuses, a JSON error instead of a bare status.
  const headersTimeout = options.headersTimeoutMs ?? LOCAL_HEADERS_TIMEOUT_MS;
  const requestTimeout = options.requestTimeoutMs ?? LOCAL_REQUEST_TIMEOUT_MS;
  if (!(headersTimeout > 0 && requestTimeout >= headersTimeout))
    throw new RangeError('headersTimeoutMs must be > 0 and requestTimeoutMs at least headersTimeoutMs.');
  // Past either timeout Node's parser reports ERR_HTTP_REQUEST_TIMEOUT, answered as a JSON 408
  // (`answerClientError`); connections are checked often enough for the bounds to hold within 1 s.
  const server = http.createServer(
    {
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(headersTimeout / 4))),
    },
    (request, response) => {
      const trace: Trace = { started: state.elapsed(), id: randomUUID() };
      // A server that is closing answers on and closes the connection, so keep-alive clients move on.
      if (closing) response.setHeader('connection', 'close');
      const served = serve(state, request, response, trace)
        .catch((error: unknown) => {
          // Only a bug in this file, or a handler that threw, gets here: answer like API Gateway does when integration fails.
          state.warn(`local server error: ${error instanceof Error ? error.stack : String(error)}\n`);
          if (!response.headersSent)
            sendJson(response, 502, {
              error: { code: 'BAD_GATEWAY', message: 'The local server failed to call the function.', path: '' },
              requestId: trace.id,
            });
          else response.destroy();
        })
        .finally(() => {
          try {
            logAccess(state, request, response, trace);
          } catch (error) {
            // A broken log writer must never take the server down.
            state.warn(`access log failed: ${error instanceof Error ? error.message : String(error)}\n`);
          }
        });
      inFlight.add(served);
      void served.finally(() => inFlight.delete(served));
    },
  );
  server.on('clientError', answerClientError);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  if ('insecure' in options.authorization) {
    state.warn(
      `WARNING: authorization is OFF on http://${address}:${port}: every caller may predict, register and promote as "anonymous". ` +
        'Do not expose this server; start it without the insecure mode to require tokens.\n',
    );
  }
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    server,
    async close(graceMs = 5_000) {
      closing = true;
      const closed = new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
      server.closeIdleConnections();
      // The requests already being served finish (at most graceMs), then every connection goes.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled([...inFlight]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, graceMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      server.closeAllConnections();
      await closed;
      state.accessLog?.flush();
    },
  };
}

interface ServerState {
  readonly options: LocalServerOptions;
  readonly now: () => number;
  readonly elapsed: () => number;
  readonly limiter: TokenBucketLimiter | undefined;
  readonly cache: Map<string, { readonly result: AuthorizerResult; readonly expiresAt: number }>;
  /** Where access log lines go; undefined when the log is off. */
  readonly accessLog: LineSink | undefined;
  /** Where the server's notices go (`LocalServerOptions.warn`). */
  readonly warn: (text: string) => void;
}

function serverState(options: LocalServerOptions): ServerState {
  const now = options.now ?? Date.now;
  const limit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  const writer = options.accessLog;
  const accessLog =
    writer === false
      ? undefined
      : writer
        ? { push: writer, flush: () => undefined }
        : new BufferedLines((text) => process.stdout.write(text));
  return {
    options,
    now,
    elapsed: options.elapsed ?? (() => performance.now()),
    limiter: limit === false ? undefined : new TokenBucketLimiter(limit, now),
    cache: new Map(),
    accessLog,
    warn: options.warn ?? ((text) => process.stderr.write(text)),
  };
}

/** Where lines go: each one pushed, and whatever is held back written out by `flush`. */
interface LineSink {
  push(line: string): void;
  flush(): void;
}

/**
 * Lines gathered and written together, at most `delayMs` after the first of them: under load one
 * write carries the lines of many requests (a write to a pipe is a blocking system call on
 * Linux), while a person at the terminal still sees each line at once.
 */
export class BufferedLines implements LineSink {
  private lines: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly write: (text: string) => void,
    private readonly delayMs = 20,
  ) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const text = `${this.lines.join('\n')}\n`;
    this.lines = [];
    this.write(text);
  }
}

/** What the access log needs to know of a request, filled in as it is served. */
interface Trace {
  readonly started: number;
  /** The request id: in every error body the server answers itself, and the function's event. */
  readonly id: string;
  /** The route template it matched. */
  route?: string;
  /** The request id put in the function's event. */
  requestId?: string;
}

/** The fields of one access log line. */
export interface AccessLogEntry {
  readonly method: string;
  /** The route template (`/v1/models/{model}/predict`), or the path when no route matched. */
  readonly route: string;
  readonly status: number;
  /** Arrival to answer, ms. */
  readonly ms: number;
  readonly model?: string;
  readonly modelVersion?: string;
  readonly rows?: number;
  readonly errorCode?: string;
}

/**
 * One access log line: method, route template (or the path when none matched), status, time,
 * and, when the function observed them, `model@version`, `rows=N` and the error code.
 *
 * @example
 * accessLogLine({ method: 'POST', route: '/v1/models/{model}/predict', status: 200, ms: 2.41, model: 'iris', modelVersion: '1', rows: 2 });
 * // 'POST /v1/models/{model}/predict 200 2.4ms iris@1 rows=2'
 */
export function accessLogLine(entry: AccessLogEntry): string {
  const parts = [entry.method, entry.route, String(entry.status), `${entry.ms.toFixed(1)}ms`];
  if (entry.model !== undefined) parts.push(entry.modelVersion === undefined ? entry.model : `${entry.model}@${entry.modelVersion}`);
  if (entry.rows !== undefined && entry.rows > 0) parts.push(`rows=${entry.rows}`);
  if (entry.errorCode !== undefined) parts.push(`error=${entry.errorCode}`);
  return parts.join(' ');
}

function logAccess(state: ServerState, request: http.IncomingMessage, response: http.ServerResponse, trace: Trace): void {
  const { options } = state;
  // Taken even when the log is off, so the observations never pile up.
  const observed = trace.requestId === undefined ? undefined : options.observations?.take(trace.requestId);
  const log = state.accessLog;
  if (!log) return;
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const line = accessLogLine({
    method: request.method ?? 'GET',
    route: trace.route ?? clip(path),
    status: response.statusCode,
    ms: state.elapsed() - trace.started,
    ...(observed ? { model: observed.model, rows: observed.rows } : {}),
    ...(observed?.modelVersion !== undefined ? { modelVersion: observed.modelVersion } : {}),
    ...(observed?.errorCode !== undefined ? { errorCode: observed.errorCode } : {}),
  });
  log.push(line);
}

async function serve(state: ServerState, request: http.IncomingMessage, response: http.ServerResponse, trace: Trace): Promise<void> {
  const { options } = state;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';
  const auth = options.authorization;
  const requestId = trace.id;
  if (url.pathname === JWKS_PATH && 'authorizer' in auth && auth.jwks) {
    request.resume();
    if (method !== 'GET') {
      sendJson(
        response,
        405,
        { error: { code: 'METHOD_NOT_ALLOWED', message: `${clip(method, 16)} is not allowed here; use GET.`, path: 'method' }, requestId },
        { allow: 'GET' },
      );
    } else {
      sendJson(response, 200, auth.jwks, { 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' });
    }
    return;
  }
  // The web console's static files (local/console.ts); its pages call the API with the user's token.
  if (isConsolePath(url.pathname)) {
    request.resume();
    await serveConsole(request, response, url, requestId);
    return;
  }
  // The index at / and the API reference at /docs (local/docs-page.ts): static pages, no token.
  if (isDocsPath(url.pathname)) {
    request.resume();
    await serveDocs(request, response, url, requestId);
    return;
  }
  const match = matchRoute(method, url.pathname, options.routes ?? ROUTES);
  if (!match.route) {
    request.resume();
    if (match.methodsAllowed.length > 0) {
      sendJson(
        response,
        405,
        {
          error: {
            code: 'METHOD_NOT_ALLOWED',
            message: `${clip(method, 16)} is not allowed here; use ${match.methodsAllowed.join(' or ')}.`,
            path: 'method',
          },
          requestId,
        },
        { allow: match.methodsAllowed.join(', ') },
      );
    } else {
      sendJson(response, 404, {
        error: {
          code: 'ROUTE_NOT_FOUND',
          message: `No route ${clip(method, 16)} ${clip(url.pathname)}. The API's routes: GET /openapi.json (its OpenAPI document), or /docs in a browser.`,
          path: 'path',
        },
        requestId,
      });
    }
    return;
  }
  trace.route = match.route.resource;
  const parts = requestParts(request, url);
  let authorizer: Record<string, string> | undefined;
  if (!match.route.public && 'authorizer' in auth) {
    const outcome = await authorize(state, auth, match.route, match.pathParameters, url, parts, requestId);
    if ('refusal' in outcome) {
      request.resume();
      sendJson(response, outcome.refusal.status, outcome.refusal.body, outcome.refusal.headers);
      return;
    }
    authorizer = outcome.context;
  }
  if (state.limiter) {
    // The token's subject; without one (health routes, the insecure mode), the source address.
    const client = authorizer?.['principalId'] ?? `ip:${parts.sourceIp}`;
    const taken = state.limiter.take(client);
    if (!taken.allowed) {
      request.resume();
      const { ratePerSecond, burst } = state.limiter.limit;
      sendJson(
        response,
        429,
        {
          error: {
            code: 'RATE_LIMITED',
            message: `Too many requests from this client: the limit is ${ratePerSecond} per second with bursts of ${burst}. Retry after ${taken.retryAfterSeconds} s.`,
            path: '',
          },
          requestId,
        },
        { 'retry-after': String(taken.retryAfterSeconds) },
      );
      return;
    }
  }
  const limit = options.maxBodyBytes ?? API_GATEWAY_PAYLOAD_BYTES;
  const read = await readBody(request, limit);
  if (read === 'aborted') {
    // Nothing more can be answered: the client went away, or did not send the whole body in time
    // and `answerClientError` answered 408 (and set the status the access log shows). A client
    // that closed the connection is logged as 499, nginx's "client closed request".
    if (!response.headersSent && response.statusCode === 200) response.statusCode = 499;
    return;
  }
  if (read === 'too-large') {
    sendJson(
      response,
      413,
      {
        error: {
          code: 'BODY_TOO_LARGE',
          message: `The body is larger than the API's limit of ${limit} bytes (API Gateway's 10 MB payload quota). Send tensors in the v2 binary form (Content-Type: application/octet-stream), or upload large inputs first (POST /v1/models/{model}/payloads, then parameters.data_ref) and send fewer rows per request.`,
          path: 'body',
        },
        requestId,
      },
      { connection: 'close' },
    );
    return;
  }
  const binaryTypes = options.binaryMediaTypes ?? BINARY_MEDIA_TYPES;
  let body: EventBody;
  try {
    body = await decodeBody(read, parts, limit, binaryTypes);
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    sendJson(response, error.status, { error: { code: error.code, message: error.message, path: formatPath(error.path) }, requestId });
    return;
  }
  const decoded = Object.fromEntries(Object.entries(match.pathParameters).map(([k, v]) => [k, safeDecode(v)]));
  const event = proxyEvent(parts, url, match.route, match.pathParameters, body, requestId, authorizer);
  // Lambda refuses an event over its synchronous limit before any code runs.
  const eventBytes = serializedBytes(event);
  if (eventBytes > LAMBDA_SYNC_PAYLOAD_BYTES) {
    sendJson(response, 413, {
      error: {
        code: 'REQUEST_TOO_LARGE',
        message: requestTooLarge(eventBytes, event.isBase64Encoded, match.route, decoded['model']),
        path: 'body',
      },
      requestId,
    });
    return;
  }
  const version = options.versions?.select(match.route.fn, decoded);
  const fn = version?.function ?? options.functions[match.route.fn];
  trace.requestId = requestId;
  let result: APIGatewayProxyResult;
  const called = state.elapsed();
  try {
    result = await fn.handler(event, lambdaContext(match.route.fn, fn, requestId));
  } catch (error) {
    // A handler that throws is a failed invocation: a 500, as Lambda's Errors counts it.
    version?.done(500, state.elapsed() - called);
    throw error;
  }
  // Lambda refuses a result over its limit, and API Gateway answers 502: a failure of this version.
  const resultBytes = serializedBytes(result);
  if (resultBytes > LAMBDA_SYNC_PAYLOAD_BYTES) {
    version?.done(502, state.elapsed() - called);
    sendJson(response, 502, { error: { code: 'RESULT_TOO_LARGE', message: responseTooLarge(resultBytes), path: '' }, requestId });
    return;
  }
  version?.done(result.statusCode, state.elapsed() - called);
  send(response, result, isBinaryMediaType(firstHeader(parts, 'accept'), binaryTypes));
}

/**
 * The 413 for an event over Lambda's limit: how large it was, what counted, and what to send
 * instead. To an endpoint: the binary form for JSON tensors, fewer rows, or the input by
 * reference; to the control plane: the presigned uploads of model files and batch inputs, and for
 * a reference profile, fewer features.
 */
function requestTooLarge(eventBytes: number, base64: boolean, route: Route, model: string | undefined): string {
  const models = `/v1/models/${model === undefined ? '{model}' : clip(model, 63)}`;
  const measured =
    `The request reaches the function as a ${eventBytes}-byte Lambda event (the body${base64 ? ' base64-encoded' : ''}, headers and request context), ` +
    `over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit for a synchronous invoke.`;
  const fewerFeatures =
    'A reference profile must fit in one request: profile fewer features (modelctl profile --features a,b,...), each keeps up to 1,000 sample values.';
  if (route.resource.endsWith('/profile')) return `${measured} ${fewerFeatures}`;
  if (route.method === 'POST' && route.resource.endsWith('/versions')) {
    return `${measured} Send the model file through a presigned upload (POST ${models}/uploads, then {"uploadId"}); a "profile" sent with it counts too: ${fewerFeatures}`;
  }
  if (route.fn === 'control') {
    return `${measured} Send large files through a presigned upload instead: a model file with POST ${models}/uploads, a batch job's input with POST ${models}/batch-inputs.`;
  }
  const binary = base64
    ? ''
    : 'send tensors in the binary form (Content-Type: application/octet-stream: a JSON header, then raw little-endian bytes), ';
  return `${measured} Instead, ${binary}send fewer rows per request, or upload the input first (POST ${models}/payloads) and send its reference.`;
}

/** The 502 for a result over Lambda's limit: what AWS does with it, and how to get a smaller one. */
function responseTooLarge(resultBytes: number): string {
  return (
    `The function's answer is ${resultBytes} bytes as Lambda serializes it, over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit for a synchronous invoke: ` +
    'on AWS, Lambda refuses it and API Gateway answers 502. Send fewer rows per request, ask for fewer outputs, or ask for binary outputs (Accept: application/octet-stream).'
  );
}

/** The first value of a request header, whatever the case of its name (API Gateway reads the first). */
function firstHeader(parts: RequestParts, name: string): string | undefined {
  for (const [key, values] of Object.entries(parts.multiValueHeaders)) {
    if (key.toLowerCase() === name) return values[0];
  }
  return undefined;
}

interface Refusal {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Record<string, string>;
}

const REALM = 'Bearer realm="onnx-serving"';

/**
 * API Gateway's part for a route with the authorizer: identity source check, cached or fresh
 * authorizer result, policy evaluation against the method ARN.
 */
async function authorize(
  state: ServerState,
  auth: Extract<LocalAuthorization, { authorizer: AuthorizerHandler }>,
  route: Route,
  pathParameters: Record<string, string>,
  url: URL,
  parts: RequestParts,
  requestId: string,
): Promise<{ context: Record<string, string> } | { refusal: Refusal }> {
  const unauthorized = (message: string, error?: string): { refusal: Refusal } => ({
    refusal: {
      status: 401,
      body: { error: { code: 'UNAUTHORIZED', message, path: 'headers.authorization' }, requestId },
      headers: { 'www-authenticate': error ? `${REALM}, error="${error}"` : REALM },
    },
  });
  // Every Authorization value, whatever the case of its name: the cache is keyed by one value, so
  // a request carrying two (a cached token and anything else) is refused here, before the cache
  // is read, as the authorizer refuses it; else it would pass once the token had been used alone.
  const identities = Object.entries(parts.multiValueHeaders)
    .filter(([name]) => name.toLowerCase() === 'authorization')
    .flatMap(([, values]) => values);
  if (identities.length > 1) return unauthorized('Send exactly one Authorization header.', 'invalid_token');
  const identity = identities[0];
  // API Gateway answers 401 itself when the identity source is missing: the authorizer never runs.
  if (identity === undefined || identity === '')
    return unauthorized(
      'This route needs a token: send "Authorization: Bearer <JWT>". Locally: npm run -s modelctl -- token --scope <scope>.',
    );
  const methodArn = `arn:aws:execute-api:local:000000000000:local/local/${route.method}${url.pathname.replace(/\/+$/, '') || '/'}`;
  const ttlMs = (auth.cacheTtlSeconds ?? 60) * 1000;
  const started = state.now();
  let result = ttlMs > 0 ? state.cache.get(identity) : undefined;
  if (result && result.expiresAt <= started) {
    state.cache.delete(identity);
    result = undefined;
  }
  let authorizerResult: AuthorizerResult;
  if (result) {
    authorizerResult = result.result;
  } else {
    try {
      authorizerResult = await auth.authorizer(authorizerEvent(parts, url, route, pathParameters, methodArn, requestId));
    } catch (error) {
      if (error instanceof Error && error.message === 'Unauthorized') {
        const reason = 'reason' in error && typeof error.reason === 'string' ? error.reason : 'The token was refused.';
        return unauthorized(reason, 'invalid_token');
      }
      state.warn(`local authorizer failed: ${error instanceof Error ? error.message : String(error)}\n`);
      return {
        refusal: {
          status: 500,
          body: {
            error: {
              code: 'AUTHORIZER_FAILURE',
              message: 'The authorizer could not check the token (see the server log); try again shortly.',
              path: '',
            },
            requestId,
          },
          headers: {},
        },
      };
    }
    if (ttlMs > 0) {
      if (state.cache.size >= 10_000) state.cache.delete(state.cache.keys().next().value as string);
      state.cache.set(identity, { result: authorizerResult, expiresAt: started + ttlMs });
    }
  }
  if (evaluatePolicy(authorizerResult.policyDocument, methodArn) !== 'Allow') {
    const decoded = Object.fromEntries(Object.entries(pathParameters).map(([k, v]) => [k, safeDecode(v)]));
    const scope = authorizerResult.context.scope || 'none';
    return {
      refusal: {
        status: 403,
        body: {
          error: {
            code: 'FORBIDDEN',
            message: `This token (scopes: ${clip(scope)}) does not allow ${route.method} ${clip(url.pathname)}; that needs ${clip(describeNeed(route, decoded), 200)}. Ask for a token with that scope.`,
            path: 'headers.authorization',
          },
          requestId,
        },
        headers: { 'www-authenticate': `${REALM}, error="insufficient_scope"` },
      },
    };
  }
  // No prototype: the function reads it as a map (see normalizeEvent in functions/shared/http.ts).
  const context: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
    principalId: authorizerResult.principalId,
  });
  for (const [key, value] of Object.entries(authorizerResult.context)) context[key] = String(value);
  context['integrationLatency'] = String(Math.max(0, Math.round(state.now() - started)));
  return { context };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function authorizerEvent(
  parts: RequestParts,
  url: URL,
  route: Route,
  pathParameters: Record<string, string>,
  methodArn: string,
  requestId: string,
): APIGatewayRequestAuthorizerEvent {
  const base = proxyEvent(parts, url, route, pathParameters, { body: '', isBase64Encoded: false }, requestId, undefined);
  return {
    type: 'REQUEST',
    methodArn,
    resource: base.resource,
    path: base.path,
    httpMethod: base.httpMethod,
    headers: base.headers,
    multiValueHeaders: base.multiValueHeaders,
    pathParameters: base.pathParameters,
    queryStringParameters: base.queryStringParameters,
    multiValueQueryStringParameters: base.multiValueQueryStringParameters,
    stageVariables: null,
    requestContext: { ...base.requestContext, authorizer: undefined },
  };
}

/**
 * One token bucket per client key: refilled at `ratePerSecond`, holding at most `burst`. Idle
 * clients (full buckets) are forgotten once many clients have been seen.
 *
 * @example
 * const limiter = new TokenBucketLimiter({ ratePerSecond: 50, burst: 100 });
 * limiter.take('alice'); // { allowed: true } or { allowed: false, retryAfterSeconds: 1 }
 */
export class TokenBucketLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
    private readonly maxClients = 10_000,
  ) {
    if (!(limit.ratePerSecond > 0) || !(limit.burst >= 1)) throw new RangeError('A rate limit needs ratePerSecond > 0 and burst >= 1.');
  }

  take(client: string): { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number } {
    const now = this.now();
    const bucket = this.buckets.get(client) ?? { tokens: this.limit.burst, at: now };
    const tokens = Math.min(this.limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * this.limit.ratePerSecond);
    if (tokens >= 1) {
      if (!this.buckets.has(client) && this.buckets.size >= this.maxClients) this.forgetIdle(now);
      this.buckets.set(client, { tokens: tokens - 1, at: now });
      return { allowed: true };
    }
    this.buckets.set(client, { tokens, at: now });
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / this.limit.ratePerSecond)) };
  }

  private forgetIdle(now: number): void {
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.limit.ratePerSecond >= this.limit.burst) this.buckets.delete(client);
    }
  }
}

/** The body as the proxy event carries it: text, or base64 of the bytes for a binary media type. */
interface EventBody {
  readonly body: string;
  readonly isBase64Encoded: boolean;
}

/**
 * The body as the function receives it. First what API Gateway does with a body's
 * `Content-Encoding` before the integration sees it: gzip and deflate are inflated (here at most
 * `limit` bytes of output: 413 `BODY_TOO_LARGE` past it, the rest never inflated), identity
 * passes, anything else is a 415 `UNSUPPORTED_MEDIA_TYPE`, and data that is not what the header
 * says is a 400 `MALFORMED_ENCODING` (API Gateway answers 415). The header stays in the event, as
 * on AWS; the function reads the inflated body as it is. Then a body whose `Content-Type` is one
 * of `binaryTypes` is base64-encoded, bytes as they are; any other must be UTF-8, as it reaches
 * the function as text: bytes that are not get a 400 `MALFORMED_UTF8` naming the first bad byte's
 * offset, never U+FFFD in its place.
 */
async function decodeBody(body: Buffer, parts: RequestParts, limit: number, binaryTypes: readonly string[]): Promise<EventBody> {
  const values = Object.entries(parts.multiValueHeaders)
    .filter(([name]) => name.toLowerCase() === 'content-encoding')
    .flatMap(([, list]) => list);
  const coding = contentCoding(values);
  const inflate = coding !== undefined && body.length > 0;
  const limitName =
    "the most the API takes (API Gateway's 10 MB payload quota; the function behind it then takes at most its MAX_BODY_BYTES)";
  const bytes = inflate ? await inflateBounded(body, coding, limit, undefined, limitName) : body;
  if (bytes.length > 0 && isBinaryMediaType(firstHeader(parts, 'content-type'), binaryTypes))
    return { body: bytes.toString('base64'), isBase64Encoded: true };
  return { body: decodeUtf8Body(bytes, inflate), isBase64Encoded: false };
}

/**
 * The body's bytes; `too-large` as soon as it passes `limit` (the rest is not buffered);
 * `aborted` when the connection ends before the body does (the client closed it, or it timed out).
 */
function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (outcome: Buffer | 'too-large' | 'aborted') => {
      if (done) return;
      done = true;
      chunks.length = 0;
      resolve(outcome);
    };
    request.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        finish('too-large');
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => finish(Buffer.concat(chunks)));
    request.on('error', () => finish('aborted'));
    request.on('close', () => finish('aborted'));
  });
}

interface RequestParts {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly query: Record<string, string>;
  readonly multiQuery: Record<string, string[]>;
  readonly httpVersion: string;
  readonly sourceIp: string;
  readonly userAgent: string | null;
}

/**
 * The request's headers and query as API Gateway passes them. The maps have no prototype: their
 * keys are the caller's (`constructor`, `__proto__`, ...), and must never meet Object's own.
 */
function requestParts(request: http.IncomingMessage, url: URL): RequestParts {
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const multiValueHeaders: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] as string;
    const value = request.rawHeaders[i + 1] as string;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  const multiQuery: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [key, value] of url.searchParams) {
    query[key] = value;
    (multiQuery[key] ??= []).push(value);
  }
  return {
    headers,
    multiValueHeaders,
    query,
    multiQuery,
    httpVersion: request.httpVersion,
    sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
    userAgent: request.headers['user-agent'] ?? null,
  };
}

function proxyEvent(
  parts: RequestParts,
  url: URL,
  route: Route,
  pathParameters: Record<string, string>,
  /** The body as text, or base64 for a binary media type (`decodeBody`). */
  { body, isBase64Encoded }: EventBody,
  requestId: string,
  authorizer: Record<string, string> | undefined,
): APIGatewayProxyEvent {
  const hasQuery = Object.keys(parts.query).length > 0;
  const now = Date.now();
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: route.method,
    headers: parts.headers,
    multiValueHeaders: parts.multiValueHeaders,
    queryStringParameters: hasQuery ? parts.query : null,
    multiValueQueryStringParameters: hasQuery ? parts.multiQuery : null,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: null,
    body: body.length === 0 ? null : body,
    isBase64Encoded: body.length > 0 && isBase64Encoded,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer,
      protocol: `HTTP/${parts.httpVersion}`,
      httpMethod: route.method,
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: parts.sourceIp,
        user: null,
        userAgent: parts.userAgent,
        userArn: null,
      },
      path: `/local${url.pathname}`,
      stage: 'local',
      requestId,
      requestTimeEpoch: now,
      resourceId: 'local',
      resourcePath: route.resource,
    },
  };
}

function lambdaContext(name: FunctionName, fn: LocalFunction, requestId: string): Context {
  const deadline = Date.now() + (fn.timeoutMs ?? 30_000);
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `local-${name}`,
    functionVersion: fn.version ?? '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:local-${name}`,
    memoryLimitInMB: '1769',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/local-${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * Writes a function's answer. A base64 answer (`isBase64Encoded`) is decoded to its bytes only for
 * a client that accepts a binary media type (`acceptsBinary`: the request's first `Accept` media
 * type is one); any other client gets the base64 text, as API Gateway sends it.
 */
function send(response: http.ServerResponse, result: APIGatewayProxyResult, acceptsBinary: boolean): void {
  const headers: Record<string, string | number | boolean | string[]> = { ...(result.headers ?? {}) };
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) headers[name] = values.map(String);
  const body = result.isBase64Encoded && acceptsBinary ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
  response.writeHead(result.statusCode, { ...headers, 'content-length': body.length });
  response.end(body);
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}
