/**
 * The local API: a node:http server that does what API Gateway does for our routes (match the
 * path against the route table, build a REST proxy event, enforce the body size limit) and calls
 * the very same function handlers that Lambda runs.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { HttpHandler } from '../functions/shared/http.js';
import { matchRoute, ROUTES, type FunctionName, type Route } from '../functions/shared/routes.js';

export interface LocalFunction {
  readonly handler: HttpHandler;
  /** Reported as `context.functionVersion`. @default '$LATEST' */
  readonly version?: string;
  /** Lambda's timeout for this function, in ms; `getRemainingTimeInMillis` counts it down. @default 30000 */
  readonly timeoutMs?: number;
}

export interface LocalServerOptions {
  readonly functions: Readonly<Record<FunctionName, LocalFunction>>;
  /** API Gateway's payload limit is 10 MB; a larger body is refused before it is read. @default 10485760 */
  readonly maxBodyBytes?: number;
  readonly routes?: readonly Route[];
  readonly port?: number;
  /** @default '127.0.0.1' (nothing outside this machine can reach it) */
  readonly host?: string;
}

export interface LocalServer {
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Starts the local API.
 *
 * @example
 * const api = await startLocalServer({ functions: { predict: { handler }, control: { handler: control } }, port: 3000 });
 * console.log(api.url); // http://127.0.0.1:3000
 */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const server = http.createServer((request, response) => {
    serve(options, request, response).catch((error: unknown) => {
      // Only a bug in this file gets here: answer like API Gateway does when integration fails.
      process.stderr.write(`local server error: ${error instanceof Error ? error.stack : String(error)}\n`);
      if (!response.headersSent) sendJson(response, 502, { error: { code: 'BAD_GATEWAY', message: 'The local server failed to call the function.', path: '' } });
      else response.destroy();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serve(options: LocalServerOptions, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const method = request.method ?? 'GET';
  const match = matchRoute(method, url.pathname, options.routes ?? ROUTES);
  if (!match.route) {
    request.resume();
    if (match.methodsAllowed.length > 0) {
      sendJson(response, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${method} is not allowed here; use ${match.methodsAllowed.join(' or ')}.`, path: 'method' } }, { allow: match.methodsAllowed.join(', ') });
    } else {
      sendJson(response, 404, { error: { code: 'ROUTE_NOT_FOUND', message: `No route ${method} ${url.pathname}. See the README for the API.`, path: 'path' } });
    }
    return;
  }
  const limit = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const body = await readBody(request, limit);
  if (body === 'too-large') {
    sendJson(response, 413, { error: { code: 'BODY_TOO_LARGE', message: `The body is larger than the API's limit of ${limit} bytes.`, path: 'body' } }, { connection: 'close' });
    return;
  }
  const fn = options.functions[match.route.fn];
  const event = proxyEvent(request, url, match.route, match.pathParameters, body);
  const result = await fn.handler(event, lambdaContext(match.route.fn, fn, event.requestContext.requestId));
  send(response, result);
}

/** The body as text, or `too-large` as soon as it passes `limit` (the rest is not buffered). */
function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    request.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks));
    });
    request.on('error', reject);
  });
}

function proxyEvent(
  request: http.IncomingMessage,
  url: URL,
  route: Route,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i] as string;
    const value = request.rawHeaders[i + 1] as string;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) {
    query[key] = value;
    (multiQuery[key] ??= []).push(value);
  }
  const hasQuery = Object.keys(query).length > 0;
  const requestId = randomUUID();
  const now = Date.now();
  // API Gateway passes a body that is not valid UTF-8 base64-encoded; JSON bodies are text.
  const text = body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(body);
  return {
    resource: route.resource,
    path: url.pathname,
    httpMethod: route.method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? query : null,
    multiValueQueryStringParameters: hasQuery ? multiQuery : null,
    pathParameters: Object.keys(pathParameters).length > 0 ? pathParameters : null,
    stageVariables: null,
    body: body.length === 0 ? null : isText ? text : body.toString('base64'),
    isBase64Encoded: body.length > 0 && !isText,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: undefined,
      protocol: `HTTP/${request.httpVersion}`,
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
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        user: null,
        userAgent: request.headers['user-agent'] ?? null,
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

function send(response: http.ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | number | boolean | string[]> = { ...(result.headers ?? {}) };
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) headers[name] = values.map(String);
  const body = result.isBase64Encoded ? Buffer.from(result.body, 'base64') : Buffer.from(result.body ?? '', 'utf8');
  response.writeHead(result.statusCode, { ...headers, 'content-length': body.length });
  response.end(body);
}

function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}
