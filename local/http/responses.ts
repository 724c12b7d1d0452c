/**
 * Writing answers on the local API's connections: the JSON bodies the server answers itself
 * (its errors, the JWKS) and a function's Lambda proxy result, bytes as API Gateway sends them.
 */
import type http from 'node:http';
import type { APIGatewayProxyResult } from 'aws-lambda';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Writes a function's answer. A base64 answer (`isBase64Encoded`) is decoded to its bytes only for
 * a client that accepts a binary media type (`acceptsBinary`: the request's first `Accept` media
 * type is one); any other client gets the base64 text, as API Gateway sends it.
 */
export function sendResult(response: http.ServerResponse, result: APIGatewayProxyResult, acceptsBinary: boolean): void {
  const headers: Record<string, string | number | boolean | string[]> = { ...(result.headers ?? {}) };
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) headers[name] = values.map(String);
  const body = result.isBase64Encoded && acceptsBinary ? Buffer.from(result.body ?? '', 'base64') : Buffer.from(result.body ?? '', 'utf8');
  response.writeHead(result.statusCode, { ...headers, 'content-length': body.length });
  response.end(body);
}

/**
 * Writes the product's error body (`{"error": {code, message, path}, "requestId"}`) with `status`,
 * for the static pages the local server answers itself (the console, the docs); `headers` are added.
 */
export function sendError(
  response: http.ServerResponse,
  status: number,
  code: string,
  message: string,
  at: string,
  requestId: string,
  headers: Record<string, string> = {},
): void {
  sendJson(response, status, { error: { code, message, path: at }, requestId }, { 'x-content-type-options': 'nosniff', ...headers });
}

/** Writes `body` as JSON with `status`; `headers` are added to, and may replace, the JSON content type and length. */
export function sendJson(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}
