/**
 * What the local API answers when a request never becomes one: Node's HTTP parser refused it
 * (a header section over the limit, bytes that are not HTTP/1.1, a client too slow to send its
 * headers or its body: see `LOCAL_REQUEST_TIMEOUT_MS` in `server.ts`). Node would answer with a
 * bare status line and no body; this answers with the API's JSON error shape, a stable code and
 * a request id, then closes the connection, as the parser's state is lost.
 *
 * The header limit, {@link MAX_HEADER_BYTES}, is far above what a valid request needs, so that
 * an oversized bearer token reaches the authorizer and gets its 401 naming the token length
 * limit (`JWT_MAX_TOKEN_BYTES`, at most 10,240 bytes), the answer a caller can act on. On AWS,
 * API Gateway refuses a request whose request line and headers together pass 10,240 bytes
 * before any authorizer runs (see the README, "What a token must be").
 *
 * @example
 * const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
 * server.on('clientError', answerClientError);
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The largest header section the local API reads, in bytes: 256 KiB, 16 times Node's default
 * (16 KiB), so a token of 100 KB or more is still refused by the verifier's own limit with a
 * JSON 401. A larger header section gets {@link answerClientError}'s JSON 431.
 */
export const MAX_HEADER_BYTES = 256 * 1024;

/** The JSON answer for a parser error `code` (Node's `err.code`): status, error code, message. */
export function clientErrorAnswer(code: string | undefined): {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly path: string;
} {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'HEADERS_TOO_LARGE',
        message: `The request's header section is larger than this server's limit of ${MAX_HEADER_BYTES} bytes (API Gateway's is 10,240 bytes for the request line and all headers). Send fewer or shorter headers; a bearer token may be at most JWT_MAX_TOKEN_BYTES (8,192 by default).`,
        path: 'headers',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'REQUEST_TIMEOUT',
        message: 'The request did not arrive in time (its headers, or a body as long as its Content-Length says); send it again, whole.',
        path: '',
      };
    default:
      return {
        status: 400,
        code: 'MALFORMED_REQUEST',
        message: 'The request is not valid HTTP/1.1 (request line, headers or chunked body); check the client that sent it.',
        path: '',
      };
  }
}

/**
 * A `'clientError'` listener for `http.Server`: answers in JSON when the connection can still
 * carry an answer, else just closes it. Never throws; never echoes what the client sent.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  // Node's own rule: answer only on a writable socket whose current response has not started.
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean; statusCode?: number } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
    socket.destroy();
    return;
  }
  const answer = clientErrorAnswer(error.code);
  // A request whose body timed out has a response object: it now records what was answered.
  if (current) current.statusCode = answer.status;
  const body = JSON.stringify({ error: { code: answer.code, message: answer.message, path: answer.path }, requestId: randomUUID() });
  socket.end(
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'connection: close\r\n\r\n' +
      body,
  );
}
