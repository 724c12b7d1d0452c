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
  /**
   * Features read from an online store by entity key instead of being sent (see
   * `functions/core/features/online.ts`): a request then carries each group's entity key and the
   * other features. Golden inputs still give every feature (stored values change over time).
   */
  readonly onlineFeatures?: readonly OnlineFeatureGroup[];
  /** Predictions of this version kept in memory per sandbox and answered again (opt-in; `prediction-cache.ts`). */
  readonly predictionCache?: PredictionCacheSettings;
  /** `false` when the same input may give other outputs (sampling, dropout left on): never cached. @default true */
  readonly deterministic?: boolean;
}

/** Element types an entity key may have (Feast's STRING, INT64 and INT32 value types). */
export const ENTITY_TYPES = ['string', 'int64', 'int32'] as const;
export type EntityType = (typeof ENTITY_TYPES)[number];

/** What to do with a value the online store cannot give: refuse the request (4xx naming the key), or use the declared default. */
export const FEATURE_POLICIES = ['refuse', 'default'] as const;
export type FeaturePolicy = (typeof FEATURE_POLICIES)[number];

/**
 * Where a group's features are stored: `plain`, our layout (one item per entity keyed by an
 * attribute named as the entity, one attribute per feature, `event_timestamp` ISO-8601), or
 * `feast`, the layout Feast's DynamoDB online store writes (`entity_id`, `event_ts`, `values`).
 */
export type FeatureSource =
  | { readonly layout: 'plain'; readonly table: string }
  | { readonly layout: 'feast'; readonly table: string; readonly entityKeySerializationVersion: 2 | 3 };

/** Features of one entity read from one table, with the policy for each kind of gap. */
export interface OnlineFeatureGroup {
  /** The request key naming the entity (`customer_id`); never a model feature itself. */
  readonly entity: string;
  readonly entityType: EntityType;
  readonly source: FeatureSource;
  /** Model features (or single-value inputs) this group fills, each in one group only. */
  readonly features: readonly string[];
  /** Values older than this many seconds are stale. @default none: never stale */
  readonly maxAgeSeconds?: number;
  /** No item for the key. */
  readonly onMissingEntity: FeaturePolicy;
  /** The item lacks the feature (or holds null). */
  readonly onMissingFeature: FeaturePolicy;
  /** The item is older than `maxAgeSeconds`, or does not say when it was written. */
  readonly onStale: FeaturePolicy;
  /** The value of each feature when a policy says `default`; every feature has one then. */
  readonly defaults?: Readonly<Record<string, number | string | boolean>>;
}

/** A version's prediction cache: at most `maxEntries` answers per sandbox, each kept `ttlSeconds` at most. */
export interface PredictionCacheSettings {
  readonly maxEntries: number;
  readonly ttlSeconds?: number;
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
