/**
 * The payload limits of the AWS services in front of a model, as numbers every part of the
 * product checks against: the HTTP edge of each function, the local server (so that a request
 * that succeeds locally succeeds on AWS), `modelctl` and the CDK app.
 *
 * Sources: AWS Lambda quotas ("Invocation payload (request and response): 6 MB each for request
 * and response (synchronous)"; Lambda counts the serialized event and the serialized result, so
 * base64 bodies and headers count); Amazon API Gateway quotas for REST APIs ("Payload size:
 * 10 MB", not increasable).
 */

/** Lambda's synchronous invocation limit for the event and for the result, in bytes (6 MiB). */
export const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** API Gateway REST's payload limit, in bytes (10 MiB). */
export const API_GATEWAY_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** Bytes of `n` raw bytes once base64-encoded (what Lambda sees of a binary body). */
export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/**
 * Bytes of `value` as Lambda counts it against {@link LAMBDA_SYNC_PAYLOAD_BYTES}: the UTF-8
 * length of its JSON serialization (`JSON.stringify`, which is how the runtime sends a Node
 * handler's result and how API Gateway's proxy event reaches Lambda). For a proxy event that is
 * the body (base64 text for a binary media type), the headers, the query and the request context
 * together; for a proxy result, the body (base64 for binary answers), headers and status. An
 * `undefined` result is sent as `null` (4 bytes).
 *
 * @example
 * serializedBytes({ statusCode: 200, body: 'ok' }); // 30
 */
export function serializedBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? 'null', 'utf8');
}
