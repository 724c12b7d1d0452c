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
 *
 * One module each, under `local/http/`: `gateway.ts` serves one request in API Gateway's order;
 * `authorization.ts` the authorizer, its policy cache and the JWKS; `rate-limit.ts` the per-client
 * throttle; `payloads.ts` the body and the size limits; `events.ts` the proxy and authorizer
 * events and the Lambda context; `responses.ts` writing answers; `access-log.ts` the access log.
 * This file starts and stops the server: its bounds on slow clients, the requests in flight, a
 * graceful close.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionName, Route } from '../functions/shared/routes.js';
import type { HttpHandler } from '../functions/shared/http.js';
import { answerClientError, MAX_HEADER_BYTES } from './client-errors.js';
import { logAccess, type ObservationSource, type Trace } from './http/access-log.js';
import type { LocalAuthorization } from './http/authorization.js';
import { gatewayState, serveRequest } from './http/gateway.js';
import type { RateLimit } from './http/rate-limit.js';
import { sendJson } from './http/responses.js';

export { type AccessLogEntry, accessLogLine, BufferedLines, type ObservationSource } from './http/access-log.js';
export { JWKS_PATH, type LocalAuthorization } from './http/authorization.js';
export { DEFAULT_RATE_LIMIT, type RateLimit, TokenBucketLimiter } from './http/rate-limit.js';

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
  const state = gatewayState(options);
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
      const served = serveRequest(state, request, response, trace)
        .catch((error: unknown) => {
          // Only a bug in the server's code, or a handler that threw, gets here: answer like API Gateway does when integration fails.
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
            logAccess(state.accessLog, options.observations, state.elapsed, request, response, trace);
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
