/**
 * What a function receives from the local API, as API Gateway and Lambda build it: the request's
 * headers and query (`requestParts`), the REST proxy event (`proxyEvent`), the REQUEST
 * authorizer's event (`authorizerEvent`) and the Lambda context (`lambdaContext`).
 */
import type http from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import type { FunctionName, Route } from '../../functions/shared/routes.js';
import type { LocalFunction } from '../server.js';

/** The request's headers and query as API Gateway passes them, with what the request context needs. */
export interface RequestParts {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly query: Record<string, string>;
  readonly multiQuery: Record<string, string[]>;
  readonly httpVersion: string;
  readonly sourceIp: string;
  readonly userAgent: string | null;
}

/** The body as the proxy event carries it: text, or base64 of the bytes for a binary media type. */
export interface EventBody {
  readonly body: string;
  readonly isBase64Encoded: boolean;
}

/**
 * The request's headers and query as API Gateway passes them. The maps have no prototype: their
 * keys are the caller's (`constructor`, `__proto__`, ...), and must never meet Object's own.
 */
export function requestParts(request: http.IncomingMessage, url: URL): RequestParts {
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

/** The first value of a request header, whatever the case of its name (API Gateway reads the first). */
export function firstHeader(parts: RequestParts, name: string): string | undefined {
  for (const [key, values] of Object.entries(parts.multiValueHeaders)) {
    if (key.toLowerCase() === name) return values[0];
  }
  return undefined;
}

/** The path parameters percent-decoded, as the route's scopes and versions read them; a value that is not valid percent-encoding stays as sent. */
export function decodePathParameters(pathParameters: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(pathParameters).map(([k, v]) => [k, safeDecode(v)]));
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The REST proxy event of a request to `route`; `authorizer` is the authorizer's context (`requestContext.authorizer`). */
export function proxyEvent(
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

/** The REQUEST authorizer's event: the proxy event's request fields, no body, and the method ARN to authorize. */
export function authorizerEvent(
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

/** The Lambda context of one call of function `name`: `getRemainingTimeInMillis` counts down its `timeoutMs` (default 30 s). */
export function lambdaContext(name: FunctionName, fn: LocalFunction, requestId: string): Context {
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
