/**
 * The Open Inference Protocol's server metadata (`GET /v2`): `{ name, version, extensions }`
 * (Open Inference Protocol, REST, "Server Metadata Response JSON Object").
 */

/** The product's name, as `package.json` gives it. */
export const SERVER_NAME = 'onnx-lambda-serving';

/** The product's version, as `package.json` gives it (a unit test keeps the two equal). */
export const SERVER_VERSION = '0.1.0';

/**
 * The protocol extensions the server supports, by the names Triton gives them (the protocol
 * defines none; servers name their own):
 * - `binary_tensor_data`: tensors as raw little-endian bytes after a JSON header whose length
 *   is given by `Inference-Header-Content-Length`, both ways.
 *
 * Not listed, because not supported: `classification` (top-k labels through an output's
 * `class_count` parameter; our record forms return labels instead), `model_repository`
 * (loading models by API; models are registered through `/v1/models`), `schedule_policy`,
 * `sequence`, `shared_memory`, `statistics` (ours is `GET /v1/models/{m}/stats`), `trace`,
 * `logging`, `parameters` (Triton's request parameters such as `priority` and `timeout`;
 * a request may carry `parameters`, and only those of `binary_tensor_data` are acted on).
 */
export const SERVER_EXTENSIONS: readonly string[] = ['binary_tensor_data'];

export interface ServerMetadata {
  readonly name: string;
  readonly version: string;
  readonly extensions: readonly string[];
}

export const SERVER_METADATA: ServerMetadata = { name: SERVER_NAME, version: SERVER_VERSION, extensions: SERVER_EXTENSIONS };
