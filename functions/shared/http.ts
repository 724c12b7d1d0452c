/**
 * The HTTP edge shared by every handler: API Gateway proxy events in, JSON out. Body parsing
 * with limits, request ids, and the one place where errors become responses.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { randomUUID } from 'node:crypto';
import { AppError, PayloadTooLargeError, ValidationError, clip, formatPath } from '../core/errors.js';
import { checkJsonSafety } from '../core/codec/request.js';
import { MODEL_NAME_PATTERN } from '../core/model.js';
import { newFacts, type RequestFacts, type RequestLog, type RequestObserver } from '../core/observability.js';
import { describeError, requestLog, sharedLogger } from './logger.js';
import { matchRoute, routeKey } from './routes.js';

/** The event after our middlewares ran: a parsed body and who/what the request is. */
export interface HttpEvent extends APIGatewayProxyEvent {
  /** The parsed JSON body (`undefined` for requests without one). */
  parsedBody?: unknown;
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
  /** Largest body accepted, in bytes. */
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

function header(event: APIGatewayProxyEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return headers[key] ?? undefined;
  return undefined;
}

/** The caller as the authorizer named it, `anonymous` when no authorizer ran. */
export function callerOf(event: APIGatewayProxyEvent): string {
  const principal = event.requestContext?.authorizer?.['principalId'];
  return typeof principal === 'string' && principal.length > 0 ? principal : 'anonymous';
}

/**
 * Stamps the request id (API Gateway's, else a fresh UUID) on the event and its log (the arrival
 * time, the facts and the log are set by `httpFunction` before), then parses a JSON body for
 * methods that carry one: content type, size, syntax, depth and `__proto__` keys
 * are checked here, before any handler code sees the body.
 */
export function httpRequest(limits: BodyLimits): MiddlewareObj<HttpEvent, APIGatewayProxyResult> {
  return {
    before: (request) => {
      const event = request.event;
      event.requestId = event.requestContext?.requestId || randomUUID();
      event.log.set({ requestId: event.requestId, caller: callerOf(event) });
      if (event.log.isDebug()) {
        // Request data is logged at DEBUG only, and only its first KB.
        event.log.debug('request received', { method: event.httpMethod, path: clip(event.path ?? '', 256), body: clip(event.body ?? '', DEBUG_BODY_CHARS) });
      }
      if (event.httpMethod === 'GET' || event.httpMethod === 'HEAD' || event.httpMethod === 'DELETE') return;
      event.parsedBody = parseJsonBody(event, limits);
    },
  };
}

export function parseJsonBody(event: APIGatewayProxyEvent, limits: BodyLimits): unknown {
  const type = header(event, 'content-type');
  const mediaType = type?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', `Send the body as JSON with "Content-Type: application/json"${type ? `, not "${type}"` : ''}.`, ['headers', 'content-type']);
  }
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBodyBytes) {
    throw new PayloadTooLargeError('BODY_TOO_LARGE', `The body is ${bytes} bytes; this endpoint accepts at most ${limits.maxBodyBytes}. Send fewer rows per request; a large model file goes through a presigned upload: POST /v1/models/{model}/uploads.`, ['body']);
  }
  if (text.trim() === '') throw new ValidationError('EMPTY_BODY', 'The request has no body; send a JSON object.', ['body']);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : 'invalid JSON';
    throw new ValidationError('MALFORMED_JSON', `The body is not valid JSON: ${detail}.`, ['body']);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('WRONG_TYPE', 'The body must be a JSON object.', ['body']);
  }
  checkJsonSafety(value, limits.maxJsonDepth);
  return value;
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
 * Maps every error to `{ "error": { code, message, path } }`. Errors below 500 show their
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
        request.response = jsonResponse(error.status, {
          error: { code: error.code, message: error.message, path: formatPath(error.path) },
          requestId,
        });
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

/** Path parameter `name`, or a 400 if API Gateway did not give it (never `!`). */
export function pathParam(event: APIGatewayProxyEvent, name: string): string {
  const value = event.pathParameters?.[name];
  if (value === undefined || value === '') {
    throw new ValidationError('MISSING_PATH_PARAMETER', `The path needs a ${name}.`, ['path', name]);
  }
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ValidationError('MALFORMED_PATH', `The ${name} in the path is not valid percent-encoding.`, ['path', name]);
  }
}

/**
 * On AWS each endpoint's routes are literal resources (`/v1/models/iris/predict`, integrated with
 * that model's own function), so they arrive without path parameters. Maps such an event onto its
 * templated route and fills in the parameters the template names.
 */
function literalRoute(event: HttpEvent, actions: Readonly<Record<string, RouteAction>>): RouteAction | undefined {
  const match = matchRoute(event.httpMethod, event.resource);
  if (!match.route) return undefined;
  const action = actions[routeKey(match.route.method, match.route.resource)];
  if (action) {
    event.resource = match.route.resource;
    event.pathParameters = { ...match.pathParameters, ...event.pathParameters };
  }
  return action;
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
  const handler = middy<HttpEvent, APIGatewayProxyResult>()
    .use(httpErrors())
    .use(httpRequest(limits))
    .handler(async (event, context) => {
      const action = actions[routeKey(event.httpMethod, event.resource)] ?? literalRoute(event, actions);
      if (!action) {
        throw new AppError(404, 'ROUTE_NOT_FOUND', `This function does not serve ${clip(event.httpMethod, 16)} ${clip(event.path ?? '')}.`, ['path']);
      }
      return action(event, context);
    });
  let coldStart = true;
  return async (proxyEvent, context) => {
    // Lambda hands us a proxy event; the middlewares add the HttpEvent fields before any action runs.
    const event = proxyEvent as HttpEvent;
    event.startedAt = elapsed();
    event.facts = newFacts();
    const first = coldStart;
    coldStart = false;
    event.log = requestLog(options.logger ?? sharedLogger(), { functionVersion, coldStart: first });
    try {
      const response = await handler(event, context);
      observe(event, response.statusCode, first, functionVersion, elapsed, options);
      return response;
    } finally {
      if (context?.awsRequestId) options.onAnswered?.(context.awsRequestId);
    }
  };
}

function observe(event: HttpEvent, statusCode: number, coldStart: boolean, functionVersion: string, elapsed: () => number, options: EdgeOptions): void {
  const { facts } = event;
  const latencyMs = elapsed() - event.startedAt;
  if (event.log.isDebug()) {
    event.log.debug('request answered', { route: routeKey(event.httpMethod, event.resource), statusCode, latencyMs: round3(latencyMs), rows: facts.rows });
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
  });
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
