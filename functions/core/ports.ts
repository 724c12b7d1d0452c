/**
 * Ports: what the serving core needs from the outside world. The core depends on these
 * interfaces only; `functions/adapters/` implements them over DynamoDB, S3 and ONNX Runtime, and
 * tests pass the same adapters pointed at local servers (or clients mocked for failure modes).
 */
import type { ArtifactRef, ModelMetadata, ModelRecord, ModelSignature, ModelVersion } from './model.js';
import type { TensorMap } from './tensor.js';

/** Model registry: versions, their stage and the production pointer. */
export interface ModelRegistry {
  getModel(model: string): Promise<ModelRecord | undefined>;
  getVersion(model: string, version: string): Promise<ModelVersion | undefined>;
  listModels(): Promise<ModelRecord[]>;
  /** All versions of a model, oldest first. */
  listVersions(model: string): Promise<ModelVersion[]>;
  /**
   * Allocates the next version number atomically (two concurrent registrations never get the
   * same number) and stores the version in stage `development`.
   */
  createVersion(input: NewModelVersion): Promise<ModelVersion>;
  /**
   * Makes `version` the model's production version in one transaction: the version's stage
   * becomes `production`, the previous production version becomes `archived`. Fails with
   * `ConflictError` if either item changed since it was read (`expectedRevision`).
   */
  setProductionVersion(model: string, version: string, actor: string): Promise<ModelRecord>;
}

export interface NewModelVersion {
  readonly model: string;
  readonly metadata: ModelMetadata;
  readonly artifact: ArtifactRef;
  readonly signature: ModelSignature;
  readonly registeredBy: string;
  readonly registeredAt: string;
}

/** Model artifacts (ONNX files) in a versioned object store. */
export interface ArtifactStore {
  readonly bucket: string;
  put(key: string, bytes: Uint8Array): Promise<{ key: string; versionId?: string }>;
  get(ref: Pick<ArtifactRef, 'key' | 'versionId'>): Promise<Uint8Array>;
}

/** One served request, as kept in the prediction log. */
export interface PredictionLogRecord {
  readonly requestId: string;
  readonly model: string;
  readonly modelVersion: string;
  /** The Lambda function version (or local emulated version) that served the request. */
  readonly functionVersion: string;
  readonly caller: string;
  readonly latencyMs: number;
  readonly rows: number;
  /** sha256 of the canonical JSON of the decoded input tensors. */
  readonly inputSha256: string;
  /** JSON of the predictions, cut to a bounded size (see `truncated`). */
  readonly outputs: string;
  readonly truncated: boolean;
  readonly timestamp: string;
  /** Epoch seconds after which DynamoDB's TTL deletes the item. */
  readonly expiresAt: number;
}

/**
 * Prediction log sink. `write` never rejects: a write that fails after retries is emitted as a
 * structured error log line with a metric (the fallback), so a good prediction is never turned
 * into an error and no record is silently dropped.
 */
export interface PredictionLog {
  write(record: PredictionLogRecord): Promise<void>;
}

/** A loaded model: its signature as read from the runtime, and a batched run. */
export interface ModelSession {
  readonly signature: ModelSignature;
  /**
   * Runs the model once on the whole batch. `outputs` limits which outputs are computed and
   * returned (all of them when omitted).
   */
  run(feeds: TensorMap, outputs?: readonly string[]): Promise<TensorMap>;
}

/** Inference engine: loads model versions (once per process) and inspects new files. */
export interface ModelRuntime {
  /** The session for a registered version: fetched, sha256-verified and created once. */
  load(version: ModelVersion): Promise<ModelSession>;
  /** Reads the signature of a model file, refusing files the runtime cannot serve. */
  inspect(bytes: Uint8Array): Promise<ModelSignature>;
}
