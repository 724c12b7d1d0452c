/**
 * One request through the local API, in API Gateway's order: the pages the server serves itself
 * (the JWKS, the console, the docs), the route match (405 `METHOD_NOT_ALLOWED`, 404
 * `ROUTE_NOT_FOUND`), the authorizer (`authorization.ts`), the per-client throttle
 * (`rate-limit.ts`), the body within API Gateway's quota and decoded as it decodes it
 * (`payloads.ts`), the proxy event (`events.ts`) within Lambda's limit, the function version
 * (`LocalServerOptions.versions`) and its call, the result within Lambda's limit, and the answer
 * (`responses.ts`). `local/server.ts` runs it for every request the server takes.
 */
import type http from 'node:http';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { API_GATEWAY_PAYLOAD_BYTES, LAMBDA_SYNC_PAYLOAD_BYTES, serializedBytes } from '../../functions/core/codec/payload-limits.js';
import { AppError, clip, formatPath } from '../../functions/core/errors.js';
import { BINARY_MEDIA_TYPES, isBinaryMediaType } from '../../functions/shared/media-types.js';
import { matchRoute, ROUTES } from '../../functions/shared/routes.js';
import { isConsolePath, serveConsole } from '../console.js';
import { isDocsPath, serveDocs } from '../docs-page.js';
import type { LocalServerOptions } from '../server.js';
import { accessLogSink, type LineSink, type Trace } from './access-log.js';
import { type AuthorizationState, authorize, JWKS_PATH, serveJwks } from './authorization.js';
import { decodePathParameters, type EventBody, firstHeader, lambdaContext, proxyEvent, requestParts } from './events.js';
import { bodyTooLarge, decodeBody, readBody, requestTooLarge, responseTooLarge } from './payloads.js';
import { DEFAULT_RATE_LIMIT, TokenBucketLimiter } from './rate-limit.js';
import { sendJson, sendResult } from './responses.js';

/** What the server keeps between requests, built once from its options (`gatewayState`). */
export interface GatewayState extends AuthorizationState {
  readonly options: LocalServerOptions;
  /** The monotonic clock of the access log's and the versions' latencies, ms. */
  readonly elapsed: () => number;
  readonly limiter: TokenBucketLimiter | undefined;
  /** Where access log lines go; undefined when the log is off. */
  readonly accessLog: LineSink | undefined;
}

export function gatewayState(options: LocalServerOptions): GatewayState {
  const now = options.now ?? Date.now;
  const limit = options.rateLimit ?? DEFAULT_RATE_LIMIT;
  return {
    options,
    now,
    elapsed: options.elapsed ?? (() => performance.now()),
    limiter: limit === false ? undefined : new TokenBucketLimiter(limit, now),
    cache: new Map(),
    accessLog: accessLogSink(options.accessLog),
    warn: options.warn ?? ((text) => process.stderr.write(text)),
  };
}

/**
 * Serves one request and answers it, the function's errors aside: a handler that throws rejects
 * (the server answers 502 `BAD_GATEWAY`). Fills in `trace` for the access log.
 */
export async function serveRequest(
  state: GatewayState,
  request: http.IncomingMessage,
  response: http.ServerResponse,
  trace: Trace,
): Promise<void> {
  const { options } = state;
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';
  const auth = options.authorization;
  const requestId = trace.id;
  if (url.pathname === JWKS_PATH && 'authorizer' in auth && auth.jwks) {
    request.resume();
    serveJwks(response, method, auth.jwks, requestId);
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
    const error = { code: 'BODY_TOO_LARGE', message: bodyTooLarge(limit), path: 'body' };
    sendJson(response, 413, { error, requestId }, { connection: 'close' });
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
  const decoded = decodePathParameters(match.pathParameters);
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
  sendResult(response, result, isBinaryMediaType(firstHeader(parts, 'accept'), binaryTypes));
}
