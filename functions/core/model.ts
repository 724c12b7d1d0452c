/**
 * The serving domain's vocabulary: tensor signatures, registered model versions and their
 * artifacts. Pure types, shared by the core, the adapters, the CLI and the local stack.
 */
import type { ActiveExperiment } from './experiments/experiment.js';
import type { ActiveShadow } from './shadow/shadow.js';

/** Element types the prediction contract can carry (ONNX Runtime's names for them). */
export const TENSOR_TYPES = [
  'float16',
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'string',
] as const;
export type TensorType = (typeof TENSOR_TYPES)[number];

/**
 * One dimension of a tensor's shape: a fixed size, or a symbolic/unknown one (the batch axis of
 * most exported models is symbolic, e.g. `"N"` or `"batch_size"`).
 */
export type Dim = number | string | null;

/** One named input or output of a model, as read from its ONNX Runtime session. */
export interface TensorSpec {
  readonly name: string;
  readonly type: TensorType;
  readonly shape: readonly Dim[];
}

export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

/** Life cycle of a model version. */
export const STAGES = ['development', 'staging', 'production', 'archived'] as const;
export type Stage = (typeof STAGES)[number];

/**
 * The stage machine: where a version may go from each stage. Forward one step at a time
 * (development → staging → production), and to archived from anywhere; archived is final.
 */
export const STAGE_TRANSITIONS: Readonly<Record<Stage, readonly Stage[]>> = {
  development: ['staging', 'archived'],
  staging: ['production', 'archived'],
  production: ['archived'],
  archived: [],
};

/** One stage change as the registry's history keeps it. */
export interface StageTransition {
  readonly model: string;
  readonly version: string;
  readonly from: Stage;
  readonly to: Stage;
  /** The version's revision after the change. */
  readonly revision: number;
  readonly actor: string;
  /** ISO-8601 UTC. */
  readonly at: string;
  readonly reason?: string;
}

/** What the user declares about a model version when registering it. */
export interface ModelMetadata {
  readonly framework?: string;
  readonly algorithm?: string;
  /** ISO-8601 date or date-time of training. */
  readonly trainedAt?: string;
  /**
   * Ordered feature names. When the model has one 2-D input `[N, F]`, `features[i]` is column
   * `i`; when it has several inputs, the feature names are the input names.
   */
  readonly features?: readonly string[];
  readonly target?: string;
  /** Class labels in the order of the model's probability columns (classifiers only). */
  readonly classLabels?: readonly string[];
  readonly metrics?: Readonly<Record<string, number>>;
  readonly description?: string;
  /**
   * Requests with the predictions they must produce (the `features`/`instances` forms and the
   * response's `predictions`); the golden-inputs gate replays them before a promotion.
   */
  readonly goldenInputs?: readonly GoldenInput[];
}

export interface GoldenInput {
  readonly request: Readonly<Record<string, unknown>>;
  readonly expected: readonly unknown[];
  /** Absolute tolerance for numbers. @default 1e-5 */
  readonly tolerance?: number;
}

/** Where a version's ONNX file lives and how to know it is the same file. */
export interface ArtifactRef {
  readonly bucket: string;
  readonly key: string;
  /** S3 object version (the bucket is versioned); absent on stores without versioning. */
  readonly versionId?: string;
  /** Lower-case hex sha256 of the file's bytes. */
  readonly sha256: string;
  readonly sizeBytes: number;
}

/**
 * The file the caller registered, when the served artifact is a rewrite of it (`rewrite:
 * 'zipmap'`: a scikit-learn ZipMap output replaced by its probability tensor, see
 * `onnx/zipmap.ts`). The artifact's sha256 and size are the served file's; these are the caller's.
 */
export interface ArtifactSource {
  readonly rewrite: 'zipmap';
  /** Lower-case hex sha256 of the file as registered. */
  readonly sha256: string;
  readonly sizeBytes: number;
  /** What the rewrite changed, in one sentence. */
  readonly note: string;
}

export interface ModelVersion {
  readonly model: string;
  /** Decimal string, allocated 1, 2, 3, ... per model. */
  readonly version: string;
  readonly stage: Stage;
  /** Incremented on every change of this item; conditional writes compare it. */
  readonly revision: number;
  readonly metadata: ModelMetadata;
  readonly artifact: ArtifactRef;
  readonly signature: ModelSignature;
  readonly registeredBy: string;
  readonly registeredAt: string;
  /** Present when the served artifact was rewritten from the registered file. */
  readonly source?: ArtifactSource;
}

/** The model as a whole: which version is live and how many exist. */
export interface ModelRecord {
  readonly model: string;
  readonly productionVersion?: string;
  readonly latestVersion: number;
  readonly revision: number;
  readonly updatedAt: string;
  readonly updatedBy: string;
  /** Data capture of the model's requests, when turned on (`PUT /v1/models/{model}/capture`). */
  readonly capture?: CaptureSettings;
  /** The experiment set on the model (`POST /v1/models/{model}/experiments`), until stopped or replaced. */
  readonly experiment?: ActiveExperiment;
  /** The shadow test set on the model (`POST /v1/models/{model}/shadow`), until stopped. */
  readonly shadow?: ActiveShadow;
}

/**
 * Data capture of a model's requests (opt-in): which share of requests is captured, and which
 * features are dropped or hashed before a record leaves the function. See `functions/core/capture.ts`.
 */
export interface CaptureSettings {
  /** Percent of requests captured, in (0, 100]; each request is drawn independently. */
  readonly samplePercent: number;
  /** Features (or input names) left out of every record. */
  readonly drop: readonly string[];
  /** Features (or input names) whose values are replaced by `sha256:<hex>` of their text. */
  readonly hash: readonly string[];
  /** Most bytes one record may take (its JSON line); a larger one keeps its first rows only. */
  readonly maxRecordBytes: number;
  /** ISO-8601 UTC. */
  readonly updatedAt: string;
  readonly updatedBy: string;
}

/** Model names are URL path segments, S3 key parts and DynamoDB keys: keep them plain. */
export const MODEL_NAME_PATTERN = /^[a-z0-9][a-z0-9-_]{0,62}$/;
