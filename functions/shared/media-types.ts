/**
 * The API's binary media type, and how API Gateway (REST, Lambda proxy integration) decides that
 * a body is binary. One list serves the CDK app (`binaryMediaTypes` of the RestApi,
 * `lib/serving-api.ts`) and the local server, so the two treat the same requests the same way.
 *
 * What API Gateway does with them
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-payload-encodings.html):
 * - request: a body whose `Content-Type` matches one of the types reaches the function
 *   base64-encoded, with `isBase64Encoded: true`; every other body arrives as text.
 * - response: a function's answer with `isBase64Encoded: true` is decoded to bytes only when the
 *   request's `Accept` header matches one of the types, and API Gateway reads only the first media
 *   type of that header; otherwise the client gets the base64 text as it is.
 *
 * Entries may use API Gateway's wildcards (`image/*`, `*\/*`); the request's own values are taken
 * literally (an `Accept: *\/*` matches only a `*\/*` entry).
 */

import { BINARY_MEDIA_TYPE } from '../core/codec/binary.js';

/** The Open Inference Protocol's binary tensor form travels as this type (JSON header + raw bytes). */
export { BINARY_MEDIA_TYPE };

/** The REST API's `binaryMediaTypes`: only the binary tensor form; JSON stays text. */
export const BINARY_MEDIA_TYPES: readonly string[] = [BINARY_MEDIA_TYPE];

/**
 * The media type of a `Content-Type` value, or of the first entry of an `Accept` value: lower
 * case, without parameters. `undefined` for a missing or empty value.
 *
 * @example
 * mediaTypeOf('Application/Octet-Stream; q=0.9, application/json'); // 'application/octet-stream'
 */
export function mediaTypeOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const first = value.split(',', 1)[0] ?? '';
  const type = (first.split(';', 1)[0] ?? '').trim().toLowerCase();
  return type === '' ? undefined : type;
}

/**
 * Whether a `Content-Type` or `Accept` header value names a binary media type of `types` (its
 * first media type only, as API Gateway reads it).
 *
 * @example
 * isBinaryMediaType('application/octet-stream'); // true
 * isBinaryMediaType('application/json, application/octet-stream'); // false: only the first counts
 */
export function isBinaryMediaType(value: string | undefined, types: readonly string[] = BINARY_MEDIA_TYPES): boolean {
  const type = mediaTypeOf(value);
  if (type === undefined) return false;
  const [main] = type.split('/', 1);
  return types.some((entry) => {
    const wanted = entry.trim().toLowerCase();
    return wanted === type || wanted === '*/*' || (wanted.endsWith('/*') && wanted.slice(0, -2) === main);
  });
}
