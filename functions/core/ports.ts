/**
 * Ports: what the serving core needs from the outside world. The core depends on these
 * interfaces only; `functions/adapters/` implements them over DynamoDB, S3 and ONNX Runtime, and
 * tests pass the same adapters pointed at local servers (or clients mocked for failure modes).
 */
import type {
  ArtifactRef,
  ArtifactSource,
  CaptureSettings,
  ModelMetadata,
  ModelRecord,
  ModelSignature,
  ModelVersion,
  Stage,
  StageTransition,
  OnlineFeatureGroup,
} from './model.js';
import type { CaptureRecord } from './capture.js';
import type { ReferenceProfile } from './drift/profile.js';
import type { StoredDriftReport } from './drift/service.js';
import type { TensorMap } from './tensor.js';
import type { Experiment, RecordedOutcome } from './experiments/experiment.js';
import type { ShadowTest } from './shadow/shadow.js';
import type { ShadowResult } from './shadow/runner.js';

/** Model registry: versions, their stage and the production pointer. */
export interface ModelRegistry {
  getModel(model: string): Promise<ModelRecord | undefined>;
  getVersion(model: string, version: string): Promise<ModelVersion | undefined>;
  listModels(): Promise<ModelRecord[]>;
  /** All versions of a model, oldest first. */
  listVersions(model: string): Promise<ModelVersion[]>;
  /**
   * Allocates the next version number atomically (two concurrent registrations never get the
   * same number) and stores the version in stage `development`. With `uploadId`, records in the
   * same transaction that the upload made this version: at most one version per upload, so when
   * one was made from it already nothing is written and it throws
   * `ConflictError('UPLOAD_ALREADY_REGISTERED')` (see `getVersionByUpload`).
   */
  createVersion(input: NewModelVersion): Promise<ModelVersion>;
  /** The version `createVersion` made from upload `uploadId` of `model`, if any. */
  getVersionByUpload(model: string, uploadId: string): Promise<ModelVersion | undefined>;
  /**
   * Applies a planned stage change in one transaction: every version change is conditioned on
   * the stage and revision it was planned from, the production pointer (when it moves) on what
   * it was, the model's revision on `expectedRevision` (when given), and each change is recorded
   * in the model's history; the model's revision goes up by one. Nothing is applied when any
   * condition fails: `ConflictError('STALE_REVISION')` when the plan carried an
   * `expectedRevision`, else `ConflictError('CONCURRENT_UPDATE')`; never a retry (the plan was
   * made on a state that no longer exists).
   */
  applyTransition(plan: TransitionPlan): Promise<void>;
  /** The model's stage changes, oldest first. */
  listHistory(model: string): Promise<StageTransition[]>;
  /**
   * Turns data capture on with `settings`, or off (`undefined`), on the model's record, which
   * must exist (else `NotFoundError('MODEL_NOT_FOUND')`). Not a stage change: the model's
   * revision stays, so a release planned on it is not made stale.
   */
  setCapture(model: string, settings: CaptureSettings | undefined): Promise<ModelRecord>;
}

/** One version's move, as planned from the state that was read. */
export interface VersionChange {
  readonly version: string;
  readonly from: Stage;
  readonly to: Stage;
  /** The version's revision when the change was planned. */
  readonly expectedRevision: number;
}

/** Where the production pointer goes, and what it must still be for the change to apply. */
export interface PointerChange {
  /** The new production version; `null` when the production version is archived. */
  readonly productionVersion: string | null;
  /** The condition: the pointer still names this version (`null`: no production version). */
  readonly expected: string | null;
}

export interface TransitionPlan {
  readonly model: string;
  readonly changes: readonly VersionChange[];
  /**
   * The model revision the caller read (If-Match): the change applies only if the model is still
   * at it. Every change to a model (a registration, a stage change) raises its revision.
   */
  readonly expectedRevision?: number;
  readonly pointer?: PointerChange;
  readonly actor: string;
  /** ISO-8601 UTC. */
  readonly at: string;
  readonly reason?: string;
}

export interface NewModelVersion {
  readonly model: string;
  readonly metadata: ModelMetadata;
  readonly artifact: ArtifactRef;
  readonly signature: ModelSignature;
  readonly registeredBy: string;
  readonly registeredAt: string;
  /** The presigned upload the file came from (`UploadService`); absent for a file sent inline. */
  readonly uploadId?: string;
  /** The registered file, when `artifact` is a rewrite of it. */
  readonly source?: ArtifactSource;
}

/** Model artifacts (ONNX files) in a versioned object store. */
export interface ArtifactStore {
  readonly bucket: string;
  /**
   * Stores `bytes` under `key`, or keeps the object there when it holds exactly these bytes
   * (keys are content-addressed and shared by versions: never rewrite one that is right).
   * Returns the object version that holds them.
   */
  put(key: string, bytes: Uint8Array): Promise<{ key: string; versionId?: string }>;
  get(ref: Pick<ArtifactRef, 'key' | 'versionId'>): Promise<Uint8Array>;
}

/** A presigned request: whoever holds it may send it, until it expires, without credentials. */
export interface PresignedRequest {
  readonly url: string;
  readonly method: 'PUT';
  /** Headers to send with it (the URL signs only the host; these set what S3 stores). */
  readonly headers: Readonly<Record<string, string>>;
}

/** An uploaded object, read whole. */
export interface UploadedObject {
  readonly bytes: Uint8Array;
  /** When the upload finished. */
  readonly uploadedAt: Date;
  /** The object version read (versioned buckets), so that exactly it is deleted. */
  readonly versionId?: string;
}

/**
 * Staging area for large model files: the caller PUTs the file straight to object storage through
 * a presigned URL (no Lambda payload limit on the way), and the control plane reads it back once.
 *
 * @example
 * const put = await uploads.presignPut('uploads/iris/6f1c…', 900);   // give put.url to the client
 * const found = await uploads.read('uploads/iris/6f1c…', 250_000_000); // after the client's PUT
 * await uploads.delete('uploads/iris/6f1c…', found.versionId);
 */
export interface UploadStore {
  /** A PUT of `key` that is valid for `expiresSeconds`. */
  presignPut(key: string, expiresSeconds: number): Promise<PresignedRequest>;
  /**
   * The object's bytes; `undefined` when there is none. An object larger than `maxBytes` is not
   * read: `{ tooLarge: <its size> }`.
   */
  read(key: string, maxBytes: number): Promise<UploadedObject | { readonly tooLarge: number; readonly versionId?: string } | undefined>;
  /**
   * Removes the object; with `versionId`, that version for good (on a versioned bucket a plain
   * delete only hides the bytes behind a delete marker). A missing object is no error.
   */
  delete(key: string, versionId?: string): Promise<void>;
}

/** A presigned upload of one input payload (a tensor's raw bytes) for a later inference request. */
export interface PayloadUpload {
  /** Names the payload in `inputs[i].parameters.data_ref`. */
  readonly payloadId: string;
  readonly url: string;
  readonly method: 'PUT';
  /** Headers the PUT must carry, as signed. */
  readonly headers: Readonly<Record<string, string>>;
  /** ISO-8601 UTC; the URL stops working then (or sooner, with the signer's credentials). */
  readonly expiresAt: string;
  /** The most bytes a payload may have to be read. */
  readonly maxBytes: number;
}

/**
 * Payloads too large for Lambda's 6 MB synchronous limit, in a bucket of their own (objects
 * expire after a day): input tensors uploaded by the caller before the request, output tensors
 * written by the endpoint and handed out as presigned GETs.
 */
export interface PayloadStore {
  /** A presigned PUT for one input payload of `model`; with `bytes`, of exactly that size. */
  createUpload(model: string, bytes?: number): Promise<PayloadUpload>;
  /**
   * The bytes of payload `payloadId` of `model`.
   * @throws ValidationError 400 `INVALID_PAYLOAD_ID`; NotFoundError 404 `PAYLOAD_NOT_FOUND`;
   *   PayloadTooLargeError 413 `PAYLOAD_TOO_LARGE` (more than `maxBytes`, not read)
   */
  readUpload(model: string, payloadId: string, maxBytes: number, path: readonly (string | number)[]): Promise<Uint8Array>;
  /** Stores output bytes of a request and returns a presigned GET of them. */
  putOutput(
    model: string,
    requestId: string,
    output: string,
    bytes: Uint8Array,
  ): Promise<{ readonly url: string; readonly expiresAt: string }>;
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
  /**
   * The study of live traffic the request belongs to (`studyKey`): its experiment, or its shadow
   * test when it was shadowed. Only such items carry it, so the table's sparse `byStudy` index
   * holds them and nothing else.
   */
  readonly study?: string;
  /** The experiment that assigned the request, and the variant it was served by. */
  readonly experiment?: { readonly id: string; readonly variant: string; readonly unit: string };
  /** The candidate's run of a shadowed request (`functions/core/shadow/runner.ts`). */
  readonly shadow?: ShadowResult;
  /** Answered from the version's prediction cache, without running the model. */
  readonly cacheHit?: boolean;
  /** What was read from online stores for the request, one entry per feature group. */
  readonly featureLookups?: readonly FeatureLookup[];
}

/**
 * What one feature group's lookup did for a request: which features, from which table, how many
 * keys, how many gaps each policy met, and how old the values were (in seconds, at the request).
 */
export interface FeatureLookup {
  readonly entity: string;
  readonly table: string;
  readonly layout: 'plain' | 'feast';
  readonly features: readonly string[];
  /** Distinct entity keys read. */
  readonly keys: number;
  /** Batched reads (BatchGetItem calls) made. */
  readonly reads: number;
  /** Distinct keys the table holds no item for. */
  readonly missingEntities: number;
  /** Distinct keys whose item is older than `maxAgeSeconds` (or undated). */
  readonly staleEntities: number;
  /** Values (row × feature) a found, fresh item lacked. */
  readonly missingValues: number;
  /** Values (row × feature) filled from the declared defaults. */
  readonly defaulted: number;
  /** Age of the oldest and newest dated item read, in seconds. */
  readonly oldestAgeSeconds?: number;
  readonly newestAgeSeconds?: number;
}

/** A record to log, built when the log gets to it (off the request path). */
export interface PendingRecord {
  readonly requestId: string;
  /** Builds the record (hashes the inputs, serializes the outputs); called once, never throws. */
  build(): PredictionLogRecord;
}

/**
 * Prediction log sink. `write` queues and returns at once: the answer never waits for the log.
 * Queued records are stored in the background; one that cannot be stored is emitted as a
 * structured fallback log line with a metric, so no record is ever dropped silently and a logging
 * outage never turns a good prediction into an error or slows it down.
 */
export interface PredictionLog {
  write(record: PendingRecord): void;
  /** Resolves once every record queued so far is stored or in the fallback; never rejects. */
  flush(): Promise<void>;
  /** Records queued or being written. */
  pending(): number;
}

/** A captured request, its record built when the capture log gets to it (off the request path). */
export interface PendingCapture {
  readonly model: string;
  readonly modelVersion: string;
  /** ISO-8601 UTC: the request's time, which names its date partition. */
  readonly timestamp: string;
  /**
   * Settles once the capture settings this record depends on are known (the endpoint was
   * re-reading them when the request came); the record is built only then. @default settled
   */
  readonly ready?: Promise<unknown>;
  /**
   * The record's JSON line, without its line break (`captureRecordText`), or `undefined` when,
   * with the settings read meanwhile, the request is not to be captured after all. Called once,
   * after `ready`; never throws.
   */
  build(): string | undefined;
}

/**
 * Where captured requests go (`functions/core/capture.ts`). `write` queues and returns at once;
 * records are delivered in the background, and one that cannot be delivered goes to a
 * structured fallback log line with a metric, never dropped silently.
 */
export interface CaptureLog {
  write(record: PendingCapture): void;
  /** Resolves once every record queued so far is delivered or in the fallback; never rejects. */
  flush(): Promise<void>;
  /** Records queued or being delivered. */
  pending(): number;
}

export interface CaptureQuery {
  readonly model: string;
  /** The model versions whose records are read (the registry lists a model's versions). */
  readonly versions: readonly string[];
  /** The window, ISO-8601 UTC: `from` included, `to` excluded. */
  readonly from: string;
  readonly to: string;
  /** Most records returned (the newest are kept when there are more). */
  readonly maxRecords: number;
}

export interface CaptureReadResult {
  /** Oldest first. */
  readonly records: readonly CaptureRecord[];
  /** Lines that were not capture records (skipped). */
  readonly invalid: number;
  /** Whether records in the window were left out past `maxRecords`. */
  readonly capped: boolean;
}

/** Reads captured records back (drift detection, the canary gate, replays). */
export interface CaptureReader {
  read(query: CaptureQuery): Promise<CaptureReadResult>;
}

/** Reference profiles of model versions (`functions/core/drift/profile.ts`), beside their artifacts. */
export interface ReferenceProfileStore {
  get(model: string, version: string): Promise<ReferenceProfile | undefined>;
  /** Stores (or replaces) the version's profile. */
  put(model: string, version: string, profile: ReferenceProfile): Promise<void>;
}

/** Drift reports, the newest kept apart (per model, and per version) for `GET /v1/models/{model}/drift`. */
export interface DriftReportStore {
  put(report: StoredDriftReport): Promise<void>;
  /** The newest report of the model, or of one of its versions. */
  latest(model: string, version?: string): Promise<StoredDriftReport | undefined>;
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

/**
 * A hold on a session: while it is held, the runtime never frees the session (a run in flight
 * keeps it alive). Give it back with `release()` exactly when done, normally in a `finally`;
 * a second `release()` does nothing, and `run` after it fails (500 `SESSION_RELEASED`).
 */
export interface SessionLease extends ModelSession {
  /** Whether this lease's `load` created the session (fetched and loaded the model) rather than found it loaded. @default false */
  readonly created?: boolean;
  release(): void;
}

/**
 * Inference engine: loads model versions and inspects new files. The sessions of registered
 * versions are kept per process in a cache bounded by count and bytes (idle ones are freed,
 * least recently used first); sessions opened from bytes are never kept.
 *
 * @example
 * const lease = await runtime.load(version);
 * try {
 *   const outputs = await lease.run(feeds);
 * } finally {
 *   lease.release();
 * }
 */
export interface ModelRuntime {
  /**
   * A lease on the session of a registered version: fetched, sha256-verified and created once
   * while it stays cached. Our side's failures are 5xx (`ARTIFACT_NOT_FOUND`,
   * `ARTIFACT_INTEGRITY`, `ARTIFACT_STORE_FAILED`, `MODEL_LOAD_FAILED`).
   */
  load(version: ModelVersion): Promise<SessionLease>;
  /**
   * A session of a model file that is not cached and is freed on `release()` (gates,
   * registration checks). A file the runtime cannot serve is the caller's: 400 `INVALID_MODEL`
   * (the actionable part of ONNX Runtime's reason, no internal text), `NON_TENSOR_INPUT`,
   * `NON_TENSOR_OUTPUT`, `UNSUPPORTED_TYPE`.
   */
  open(bytes: Uint8Array): Promise<SessionLease>;
  /** The signature of a model file (`open`, then `release`); refuses files as `open` does. */
  inspect(bytes: Uint8Array): Promise<ModelSignature>;
}

/**
 * Where an endpoint's traffic goes: its alias `live`. On AWS a Lambda alias routes to one
 * version plus at most one additional version with a weight; locally the same is emulated.
 */
export interface AliasRouting {
  /** The function version that takes the traffic the canary does not. */
  readonly stable: string;
  /** The one additional version, with its share of the traffic in (0, 1). */
  readonly canary?: { readonly version: string; readonly weight: number };
}

/** An immutable function version and the model version pinned in its configuration. */
export interface FunctionVersion {
  readonly functionVersion: string;
  /** Absent on a version without a pin: it serves the registry's production version. */
  readonly modelVersion?: string;
}

/** How a managed release shifts traffic: CodeDeploy's canary or linear configurations. */
export interface ManagedShift {
  readonly kind: 'canary' | 'linear';
  /** Percent of traffic per step (canary: the first step, then all of it). */
  readonly percent: number;
  /** Minutes between steps. */
  readonly intervalMinutes: number;
}

/** Latency percentiles and mean over a window, in milliseconds. */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
}

/**
 * What one function version served over a window of minutes, counted with the one definition of
 * failure of `observability.ts` (`isFailure`: status 500 or more).
 */
export interface VersionMetrics {
  readonly invocations: number;
  /**
   * Failed requests: answers of 500 or more, whether the handler caught the error and answered
   * it or crashed (on AWS: Lambda's `Errors` plus the product's `Invocation5XXErrors`; locally a
   * handler that throws counts as a 500).
   */
  readonly errors: number;
  /** Answers of 400 to 499: the caller's errors (never a failure of the version). */
  readonly clientErrors: number;
  /** The functions' own time per invocation, in ms; `null` when it served nothing in the window. */
  readonly latencyMs: LatencySummary | null;
}

/** Metrics of a version that served nothing. */
export const NO_METRICS: VersionMetrics = { invocations: 0, errors: 0, clientErrors: 0, latencyMs: null };

/**
 * The release port: publishes pinned versions of a model's endpoint function and moves its
 * alias. Implemented over Lambda and CodeDeploy on AWS, and by the local emulation.
 */
export interface TrafficRouter {
  /** Publishes a new immutable function version pinned to `modelVersion`; returns its number. */
  publishVersion(model: string, modelVersion: string): Promise<string>;
  /**
   * Deletes a version `publishVersion` made, unless alias `live` routes to it (stable or
   * canary): the clean-up of a release that failed after publishing (a lost race, a refused
   * registry change). Resolves `true` when it is gone, `false` when an alias still uses it and it
   * was kept. Never deletes `$LATEST`.
   */
  discardVersion(model: string, functionVersion: string): Promise<boolean>;
  /** The alias's routing and the pinned model version of every version it routes to. */
  getRouting(model: string): Promise<{ readonly routing: AliasRouting; readonly versions: readonly FunctionVersion[] }>;
  /**
   * Sets the alias's routing, on condition that it is still `expected` (a changed alias fails
   * with `ConflictError` and stays as it is).
   */
  setRouting(model: string, routing: AliasRouting, expected: AliasRouting): Promise<void>;
  /**
   * Starts a managed release from the current stable version to `target`: traffic shifts by
   * `shift`, and the release rolls back by itself when the target's alarms fire (or, locally,
   * its error rate or its p99 latency passes the threshold: the same definition of failure). Resolves once started, with the deployment's id.
   */
  startManagedRelease(model: string, target: string, shift: ManagedShift): Promise<string>;
  /**
   * Invocations, errors (status >= 500), client errors (4xx) and latency per function version
   * over the last `minutes` (whole minutes, 1 to 1440); a version that served nothing gets
   * {@link NO_METRICS}.
   */
  metrics(model: string, functionVersions: readonly string[], minutes: number): Promise<Readonly<Record<string, VersionMetrics>>>;
}

/** Where a model's prediction-log listing continues: the last record returned. */
export interface PredictionLogPosition {
  /** ISO-8601 UTC, as stored. */
  readonly timestamp: string;
  readonly requestId: string;
}

export interface PredictionLogQuery {
  /** The first timestamp included (ISO-8601 UTC, as stored: `2025-03-04T05:06:07.089Z`). */
  readonly since: string;
  /** Records at most, 1 to 1000. */
  readonly limit: number;
  /** Continue after this record (it must be at or after `since`). */
  readonly after?: PredictionLogPosition;
}

export interface PredictionLogPage {
  /** Oldest first. */
  readonly records: readonly PredictionLogRecord[];
  /** Whether more records follow the last one. */
  readonly more: boolean;
}

/**
 * Reads one model's prediction-log records back, oldest first, from a time on; the DynamoDB
 * adapter queries the table's `byModel` index (model, timestamp).
 *
 * @example
 * const page = await reader.read('iris', { since: '2025-03-04T05:00:00.000Z', limit: 100 });
 * const next = page.more ? await reader.read('iris', { since, limit: 100, after: page.records.at(-1) }) : undefined;
 */
export interface PredictionLogReader {
  read(model: string, query: PredictionLogQuery): Promise<PredictionLogPage>;
}

/**
 * The index key of a study's prediction-log items: `experiment#<model>#<id>` or
 * `shadow#<model>#<id>` (the `study` attribute, partition of the `byStudy` index).
 */
export function studyKey(kind: 'experiment' | 'shadow', model: string, id: string): string {
  return `${kind}#${model}#${id}`;
}

/** One prediction-log item of a study, as the study's reader returns it. */
export type StudyRecord = Pick<
  PredictionLogRecord,
  'requestId' | 'modelVersion' | 'latencyMs' | 'rows' | 'timestamp' | 'experiment' | 'shadow'
>;

/**
 * Reads a study's prediction-log items (the table's sparse `byStudy` index), oldest first, at
 * most `max`; `capped` says more were left out (the newest).
 */
export interface StudyReader {
  read(study: string, max: number): Promise<{ readonly records: readonly StudyRecord[]; readonly capped: boolean }>;
  /** One request's log item, by its request id (to attribute an outcome recorded for it). */
  get(requestId: string): Promise<StudyRecord | undefined>;
}

/** The outcome `putOutcome` found stored already under the same identity. */
export type OutcomeWrite = { readonly created: true } | { readonly created: false; readonly existing: RecordedOutcome };

/**
 * Experiments, their outcomes and shadow tests, in the registry table (`tables.ts`). Setting one
 * on the model's record is conditional, so two concurrent starts never both win.
 */
export interface ExperimentStore {
  /**
   * Stores `experiment` and makes it the model's active experiment, on condition that the
   * model's active experiment is still `replacing` (none, or one that has ended) and no shadow
   * test is set: else `ConflictError('STUDY_CONFLICT')` and nothing is written.
   */
  start(experiment: Experiment, replacing: string | undefined): Promise<void>;
  get(model: string, id: string): Promise<Experiment | undefined>;
  /** The model's experiments, newest first. */
  list(model: string): Promise<Experiment[]>;
  /**
   * Records that `id` stopped (once: a second stop is `ConflictError('EXPERIMENT_STOPPED')`) and
   * takes it off the model's record when it is the active one; returns it as stored.
   */
  stop(
    model: string,
    id: string,
    stop: { readonly stoppedAt: string; readonly stoppedBy: string; readonly stopReason?: string },
  ): Promise<Experiment>;
  /** Stores an outcome unless one with its identity exists, which is returned instead. */
  putOutcome(model: string, id: string, outcome: RecordedOutcome): Promise<OutcomeWrite>;
  /** The experiment's outcomes, at most `max`; `capped` says more exist. */
  listOutcomes(
    model: string,
    id: string,
    max: number,
  ): Promise<{ readonly outcomes: readonly RecordedOutcome[]; readonly capped: boolean }>;
  /**
   * Stores `shadow` and sets it on the model's record, on condition that no shadow test and no
   * experiment other than `endedExperiment` (one that has ended) is set: else
   * `ConflictError('STUDY_CONFLICT')`.
   */
  startShadow(model: string, shadow: ShadowTest, endedExperiment: string | undefined): Promise<void>;
  /** Records the stop of the model's active shadow test and takes it off the record; `undefined` when none is set. */
  stopShadow(model: string, stop: { readonly stoppedAt: string; readonly stoppedBy: string }): Promise<ShadowTest | undefined>;
  getShadow(model: string, id: string): Promise<ShadowTest | undefined>;
  /** The model's shadow tests, newest first. */
  listShadows(model: string): Promise<ShadowTest[]>;
}

/** A feature value as an online store holds it: a number, a 64-bit integer past 2^53, text or a flag. */
export type StoredFeatureValue = number | bigint | string | boolean;

/** One entity's item in an online store: its feature values (absent or null: missing) and when they were computed. */
export interface StoredEntity {
  readonly values: ReadonlyMap<string, StoredFeatureValue | null>;
  /** Epoch ms the values were computed (plain `event_timestamp`, Feast `event_ts`); absent when the item does not say. */
  readonly eventTimeMs?: number;
}

/**
 * Online feature tables (DynamoDB), read by entity key: Feast's layout or our plain one
 * (`FeatureSource`). The key of each entity is its text: the string itself, or an integer's
 * decimal digits.
 */
export interface OnlineFeatureStore {
  /**
   * The items of `keys` (distinct) in `group`'s table, with `group.features` only; one batched
   * read per 100 keys (DynamoDB's BatchGetItem limit), unprocessed keys retried. `calls` counts
   * the batched reads made.
   *
   * @throws ServiceUnavailableError 503 `FEATURE_STORE_UNAVAILABLE` (throttled past the retries,
   *   unreachable); InternalError 500 `FEATURE_TABLE_NOT_FOUND`, `FEATURE_TABLE_NOT_ALLOWED`,
   *   `FEATURE_STORE_DENIED`, `FEATURE_VALUE_INVALID` (an item the layout does not describe)
   */
  read(
    group: OnlineFeatureGroup,
    keys: readonly string[],
  ): Promise<{ readonly found: ReadonlyMap<string, StoredEntity>; readonly calls: number }>;
}

/** A DynamoDB table's key, as DescribeTable gives it. */
export interface FeatureTableKey {
  readonly name: string;
  /** The attribute's type: S (string), N (number) or B (binary). */
  readonly type: 'S' | 'N' | 'B';
  readonly role: 'HASH' | 'RANGE';
}

/**
 * What the control plane may learn of an online feature table before a version that reads it is
 * registered: whether it exists and how it is keyed.
 */
export interface FeatureTableInspector {
  /**
   * The table's key, or `undefined` when it does not exist.
   * @throws ValidationError 400 `FEATURE_TABLE_NOT_ALLOWED` (no endpoint of this deployment may
   *   read it); ServiceUnavailableError 503 `FEATURE_STORE_UNAVAILABLE`
   */
  describe(table: string): Promise<readonly FeatureTableKey[] | undefined>;
}
