/**
 * Where payloads too large for Lambda's synchronous invoke wait in the payload bucket
 * (`PAYLOAD_BUCKET`): inputs uploaded by a presigned PUT under `inputs/<model>/<payloadId>`, and
 * outputs the endpoint function writes under `outputs/<model>/<requestId>/<output>`, handed out as
 * presigned GET URLs. Each endpoint function may touch only its own model's two prefixes (the CDK
 * app's grants, `lib/payload-bucket.ts`); every object expires after {@link PAYLOAD_RETENTION_DAYS}
 * (the bucket's lifecycle rule).
 */

export const PAYLOAD_INPUT_PREFIX = 'inputs/';
export const PAYLOAD_OUTPUT_PREFIX = 'outputs/';

/** Days a payload object lives before the bucket's lifecycle rule removes it. */
export const PAYLOAD_RETENTION_DAYS = 1;

/** `inputs/<model>/`: a model's uploaded inputs. */
export function payloadInputPrefix(model: string): string {
  return `${PAYLOAD_INPUT_PREFIX}${model}/`;
}

/** `outputs/<model>/`: a model's offloaded outputs. */
export function payloadOutputPrefix(model: string): string {
  return `${PAYLOAD_OUTPUT_PREFIX}${model}/`;
}

/** The key of an uploaded input: `inputs/<model>/<payloadId>`. */
export function payloadInputKey(model: string, payloadId: string): string {
  return `${payloadInputPrefix(model)}${payloadId}`;
}

/**
 * The key of one offloaded output of a request: `outputs/<model>/<requestId>/<output>`, the
 * output's name percent-encoded (`encodeURIComponent`) so that any ONNX output name, `/` included,
 * stays one key segment.
 */
export function payloadOutputKey(model: string, requestId: string, output: string): string {
  return `${payloadOutputPrefix(model)}${requestId}/${encodeURIComponent(output)}`;
}
