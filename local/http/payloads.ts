/**
 * The local API's payloads, as API Gateway and Lambda handle them: the body read within API
 * Gateway's quota (`readBody`), decoded as API Gateway decodes it before the integration sees it
 * (`decodeBody`: content coding, binary media types, UTF-8), and what the client is told when the
 * body is over the quota, or the event or the result over Lambda's synchronous limit
 * (`LAMBDA_SYNC_PAYLOAD_BYTES`, counted with `serializedBytes`).
 */
import type http from 'node:http';
import { clip } from '../../functions/core/errors.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../functions/core/codec/payload-limits.js';
import { contentCoding, decodeUtf8Body, inflateBounded } from '../../functions/shared/http.js';
import { isBinaryMediaType } from '../../functions/shared/media-types.js';
import type { Route } from '../../functions/shared/routes.js';
import { type EventBody, firstHeader, type RequestParts } from './events.js';

/**
 * The body's bytes; `too-large` as soon as it passes `limit` (the rest is not buffered);
 * `aborted` when the connection ends before the body does (the client closed it, or it timed out).
 */
export function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
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

/**
 * The body as the function receives it. First what API Gateway does with a body's
 * `Content-Encoding` before the integration sees it: gzip and deflate are inflated (here at most
 * `limit` bytes of output: 413 `BODY_TOO_LARGE` past it, the rest never inflated), identity
 * passes, anything else is a 415 `UNSUPPORTED_MEDIA_TYPE`, and data that is not what the header
 * says is a 400 `MALFORMED_ENCODING` (API Gateway answers 415). The header stays in the event, as
 * on AWS; the function reads the inflated body as it is. Then a body whose `Content-Type` is one
 * of `binaryTypes` is base64-encoded, bytes as they are; any other must be UTF-8, as it reaches
 * the function as text: bytes that are not get a 400 `MALFORMED_UTF8` naming the first bad byte's
 * offset, never U+FFFD in its place. Those errors are thrown as `AppError`s.
 */
export async function decodeBody(body: Buffer, parts: RequestParts, limit: number, binaryTypes: readonly string[]): Promise<EventBody> {
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

/** The 413 for a body over the API's quota of `limit` bytes, and what to send instead. */
export function bodyTooLarge(limit: number): string {
  return `The body is larger than the API's limit of ${limit} bytes (API Gateway's 10 MB payload quota). Send tensors in the v2 binary form (Content-Type: application/octet-stream), or upload large inputs first (POST /v1/models/{model}/payloads, then parameters.data_ref) and send fewer rows per request.`;
}

/**
 * The 413 for an event over Lambda's limit: how large it was, what counted, and what to send
 * instead. To an endpoint: the binary form for JSON tensors, fewer rows, or the input by
 * reference; to the control plane: the presigned uploads of model files and batch inputs, and for
 * a reference profile, fewer features.
 */
export function requestTooLarge(eventBytes: number, base64: boolean, route: Route, model: string | undefined): string {
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
export function responseTooLarge(resultBytes: number): string {
  return (
    `The function's answer is ${resultBytes} bytes as Lambda serializes it, over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit for a synchronous invoke: ` +
    'on AWS, Lambda refuses it and API Gateway answers 502. Send fewer rows per request, ask for fewer outputs, or ask for binary outputs (Accept: application/octet-stream).'
  );
}
