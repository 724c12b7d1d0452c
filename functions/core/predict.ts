/**
 * The serving core: resolve which model version serves a request, decode the request into
 * tensors, run the model once, encode the outputs and log the request. Talks to ports only.
 */
import { createHash } from 'node:crypto';
import { RecentPromises } from './recent-promises.js';
import {
  AppError,
  ConflictError,
  InternalError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
  describeError,
  ServiceUnavailableError,
  type FieldPath,
} from './errors.js';
import type { CaptureSettings, ModelSignature, ModelVersion, Stage, TensorSpec } from './model.js';
import { captureRecordText, sampled } from './capture.js';
import { NO_TRACING, SILENT_LOG, SPAN, type RequestFacts, type RequestLog, type Tracing } from './observability.js';
import type {
  CaptureLog,
  ModelRegistry,
  ModelRuntime,
  ModelSession,
  PayloadStore,
  PayloadUpload,
  PredictionLog,
  PredictionLogRecord,
  SessionLease,
} from './ports.js';
import type { TensorMap } from './tensor.js';
import {
  V2_DATATYPES,
  decodeArrays,
  decodeRecords,
  decodeV2,
  isDynamic,
  recordLayout,
  selectOutputs,
  v2References,
  type DecodedInputs,
  type RecordLayout,
} from './codec/decode.js';
import { classifierView, recordPredictionTexts, v2OutputJsonText, v2Outputs, type ClassifierView, type V2Output } from './codec/encode.js';
import { BINARY_MEDIA_TYPE, tensorBytes } from './codec/binary.js';
import { LAMBDA_SYNC_PAYLOAD_BYTES, base64Length } from './codec/payload-limits.js';
import { codecLimits, type CodecLimits } from './codec/limits.js';
import { RECORD_HINT, V2_HINT, checkFields, isObject, parseRecordRequest, parseV2Request } from './codec/request.js';
import { assignVariant, unitId } from './experiments/assignment.js';
import { assigning, type ActiveExperiment } from './experiments/experiment.js';
import type { ActiveShadow } from './shadow/shadow.js';
import { ShadowRunner, type ShadowJob, type ShadowResult } from './shadow/runner.js';
import { studyKey, type FeatureLookup, type OnlineFeatureStore } from './ports.js';
import {
  NO_FEATURE_STORE,
  checkNoStoredFeatures,
  lookUpFeatures,
  onlinePlan,
  type EntityPath,
  type OnlinePlan,
} from './features/online.js';
import { cacheKey, type PredictionCaches, type VersionCache } from './prediction-cache.js';

/** The fields of a payload upload request. */
const PAYLOAD_FIELDS: ReadonlySet<string> = new Set(['bytes']);

export interface PredictConfig {
  /** Most rows one request may carry (`MAX_ROWS`). @default 1000 */
  readonly maxRows: number;
  /** Most characters in one string (BYTES) element (`MAX_STRING_CHARS`). @default 65,536 */
  readonly maxStringChars?: number;
  /** When set, this function serves only this model (one endpoint per model on AWS). */
  readonly servedModel?: string;
  /** When set, the model version pinned in this function version's configuration. */
  readonly pinnedVersion?: string;
  /** The Lambda function version (or the local emulation's) that serves. */
  readonly functionVersion: string;
  /** Days a prediction log item is kept before DynamoDB's TTL removes it. */
  readonly logTtlDays: number;
  /** Bound on the size of the outputs kept in a prediction log item. */
  readonly maxLoggedOutputBytes: number;
  /**
   * How long the production pointer read from the registry is trusted, in ms. After that the
   * next request still serves the version it knows and re-reads the pointer in the background.
   */
  readonly pointerCacheMs: number;
  /** The most bytes a synchronous answer may have, envelope included. @default LAMBDA_SYNC_PAYLOAD_BYTES (6 MiB) */
  readonly maxResponseBytes?: number;
  /** The most bytes one input payload sent by reference may have (`MAX_PAYLOAD_BYTES`). @default 256 MiB */
  readonly maxPayloadBytes?: number;
  /** Shadowed requests waiting for their candidate's run at most; past it one is logged as not run (`SHADOW_QUEUE_FULL`). @default 100 */
  readonly maxShadowQueued?: number;
  /** Shadowed requests whose candidate runs are gathered into one batch (`ShadowRunner`). @default 8 */
  readonly shadowBatchSize?: number;
}

export interface PredictDeps {
  readonly registry: ModelRegistry;
  readonly runtime: ModelRuntime;
  readonly log: PredictionLog;
  readonly config: PredictConfig;
  /** Wall clock in epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Monotonic clock in ms, for durations. @default performance.now */
  readonly elapsed?: () => number;
  /** Spans around registry lookups and runs. @default none */
  readonly tracing?: Tracing;
  /** Where inputs sent by reference are read and large outputs are written (`PAYLOAD_BUCKET`). @default none: too large is a 413 */
  readonly payloads?: PayloadStore;
  /** Where captured requests go, for models that turned capture on (`CAPTURE_BUCKET`). @default none: nothing is captured */
  readonly capture?: CaptureLog;
  /** In [0, 1): draws which requests are captured. @default Math.random */
  readonly random?: () => number;
  /** Where versions with `onlineFeatures` read them. @default none: such a version answers 503 `FEATURE_STORE_UNAVAILABLE` */
  readonly features?: OnlineFeatureStore;
  /** The sandbox's prediction caches, for versions that declare `predictionCache`. @default none: nothing is cached */
  readonly caches?: PredictionCaches;
}

/** Who is asking and which request this is; set by the HTTP layer. */
export interface RequestContext {
  readonly requestId: string;
  readonly caller: string;
  /** `elapsed()` when the request arrived. */
  readonly startedAt: number;
  /** Filled in while serving: model version, rows, time in `session.run` (for metrics). */
  readonly facts?: RequestFacts;
  /** The request's log. @default silent */
  readonly log?: RequestLog;
  /** A request header's value by its lower-case name (an experiment's assignment key may name one). @default none */
  readonly header?: (name: string) => string | undefined;
}

export interface PredictResponse {
  readonly requestId: string;
  readonly model: string;
  readonly modelVersion: string;
  readonly functionVersion: string;
  readonly predictions: unknown[];
  readonly processingTimeMs: number;
  readonly timestamp: string;
}

export interface V2InferResponse {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly outputs: {
    readonly name: string;
    readonly datatype: string;
    readonly shape: number[];
    readonly data?: unknown[];
    readonly parameters?: Record<string, unknown>;
  }[];
  readonly parameters: {
    readonly request_id: string;
    readonly function_version: string;
    readonly processing_time_ms: number;
    readonly timestamp: string;
  };
}

/** A v2 inference request as the HTTP edge read it. */
export interface V2Request {
  /** The JSON part (the whole body of a JSON request). */
  readonly body: unknown;
  /** The bytes after the JSON part (binary tensor data extension). */
  readonly binary?: Uint8Array;
  /** Whether the client takes a binary answer (its `Accept` names application/octet-stream). @default true */
  readonly binaryAccepted?: boolean;
}

/** A v2 answer: JSON text, or a JSON header and the bytes of the binary outputs after it. */
export type V2Answer =
  | { readonly kind: 'json'; readonly text: string }
  | { readonly kind: 'binary'; readonly header: string; readonly chunks: readonly Uint8Array[] };

type OutputMode = 'json' | 'binary' | 'reference';

interface PlannedOutput {
  /** The output's entry in the answer's `outputs`. */
  readonly text: string;
  /** What the prediction log keeps of it (no presigned URL). */
  readonly logText: string;
  /** Its bytes after the header, when sent as binary. */
  readonly bytes?: Uint8Array;
}

/**
 * Bytes of a Lambda result besides its body: status, headers, the JSON around the body. Measured
 * results are about 300 bytes; 4 KiB leaves room for every header the edge adds.
 */
export const RESULT_ENVELOPE_BYTES = 4096;

/** Default bound on one input payload read by reference (`MAX_PAYLOAD_BYTES`): 256 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;

/**
 * Bytes of a JSON text once Lambda serializes the result around it: its UTF-8 bytes plus one
 * backslash for every quote and backslash in it (the codec writes no other character JSON escapes
 * outside strings it already escaped).
 */
export function jsonTextBytes(text: string): number {
  let escapes = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at + 1)) escapes++;
  for (let at = text.indexOf('\\'); at !== -1; at = text.indexOf('\\', at + 1)) escapes++;
  return Buffer.byteLength(text, 'utf8') + escapes;
}

export interface V2TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  /** -1 for a dynamic dimension, as the v2 protocol writes it. */
  readonly shape: number[];
}

export interface V2ModelMetadata {
  readonly name: string;
  /** The version these tensors describe (the one served, or the one the path names). */
  readonly versions: string[];
  readonly platform: string;
  readonly inputs: V2TensorMetadata[];
  readonly outputs: V2TensorMetadata[];
  /** What a client of the record forms needs; see {@link V2ModelParameters}. */
  readonly parameters: V2ModelParameters;
}

/**
 * The model metadata's `parameters`: what a client that sends records (`features`, `instances`)
 * needs to know, beyond the tensors. Every value is a string, as the protocol's `$parameters`
 * allow only strings, numbers and booleans (Open Inference Protocol, REST, "Parameters"); the
 * two lists are therefore JSON text (`JSON.parse(parameters.features)` gives the array).
 */
export interface V2ModelParameters {
  /** The model version these tensors describe. */
  readonly model_version: string;
  /**
   * What a record's keys are: `features`, the declared feature names, which fill the columns of
   * `feature_input` in order; or `inputs`, the model's input names, each value that input's slice
   * for one row.
   */
  readonly record_keys: 'features' | 'inputs';
  /** With `record_keys` `features`: the `[N, F]` input the features fill. */
  readonly feature_input?: string;
  /** The declared feature names in column order, as a JSON array (when declared). */
  readonly features?: string;
  /** The declared class labels in the order of the probability columns, as a JSON array (when declared). */
  readonly class_labels?: string;
  /** The output whose columns `class_labels` name, when the model is served as a classifier. */
  readonly probabilities_output?: string;
  /** For a version with online features: the entity keys a record carries, as a JSON array (the inputs list them). */
  readonly entity_keys?: string;
  /** For a version with online features: the features read from the online store by key, as a JSON array. */
  readonly online_features?: string;
  /** The most rows (instances, or the batch axis of a v2 tensor) one request may carry here (`MAX_ROWS`). */
  readonly max_rows: number;
}

/** A version ready to serve: its session and what is derived from its signature, once. */
export interface Served {
  readonly version: ModelVersion;
  readonly session: ModelSession;
  readonly layout: RecordLayout;
  readonly classifier: ClassifierView | undefined;
  /** How its online features are read, when it declares some. */
  readonly online: OnlinePlan | undefined;
}

/**
 * How a request is served beyond the version itself: where online features are read (without
 * it, a version with online features takes every feature in the request, as its golden inputs
 * do), and the version's prediction cache.
 */
export interface ServingOptions {
  readonly features?: { readonly store: OnlineFeatureStore; readonly now: number };
  readonly cache?: VersionCache;
}

/** What a run gave: the outputs, and for a cached version whether they came from the cache and the input's hash. */
interface RunResult {
  readonly outputs: TensorMap;
  readonly cacheHit?: boolean;
  readonly inputSha256?: string;
}

/** A version serving one request: its session is held until `release()`, once the request is done. */
interface Leased extends Served {
  readonly session: SessionLease;
  release(): void;
  /** The experiment variant the request was assigned to, when an experiment chose the version. */
  readonly assignment?: Assignment;
}

/** A request's place in an experiment. */
interface Assignment {
  readonly experiment: string;
  readonly variant: string;
  /** The assignment key's hash (`unitId`). */
  readonly unit: string;
}

/**
 * What the endpoint knows of a model's record: its production version (absent before the first
 * promotion), capture settings, experiment and shadow test, as last read, trusted until `until`.
 */
interface Pointer {
  readonly version?: string;
  readonly capture?: CaptureSettings;
  readonly experiment?: ActiveExperiment;
  readonly shadow?: ActiveShadow;
  readonly until: number;
}

/**
 * Registry records of versions kept per process, most recently used last. A record is small but
 * may carry up to 300 KB of metadata (`MAX_DESCRIPTION_BYTES`); a pointer that moves often must
 * not grow the process.
 */
const VERSION_RECORDS_KEPT = 32;

/** What a model version's stage is known to be, and until when (epoch ms) it is trusted. */
interface KnownStage {
  readonly stage: Stage;
  readonly until: number;
}

/** A loaded version with what serving derives from its signature. */
export function served(version: ModelVersion, session: ModelSession): Served {
  return { version, session, ...derive(version, session.signature) };
}

/** What serving derives from a version's signature and metadata: its record layout, classifier view and online plan. */
function derive(version: ModelVersion, signature: ModelSignature): Pick<Served, 'layout' | 'classifier' | 'online'> {
  return {
    layout: recordLayout(signature, version.metadata),
    classifier: classifierView(signature, version.metadata),
    online: onlinePlan(signature, version.metadata),
  };
}

/**
 * The record forms (`features`, `instances`): validate, decode every row into one batch, run the
 * model once, encode the predictions as JSON text, one per row. Shared by the predict route, the
 * golden-input gate and batch jobs. `limits` is the codec's limits, or just `maxRows` (the other
 * limits at their defaults). Every cheap check (row count, keys, lengths) runs before any value
 * is read.
 */
export async function predictRecordTexts(
  target: Served,
  body: unknown,
  limits: number | Partial<CodecLimits>,
  facts?: RequestFacts,
  tracing: Tracing = NO_TRACING,
  serving: ServingOptions = {},
): Promise<{ decoded: DecodedInputs; texts: string[]; outputs: TensorMap; run: RunResult; lookups?: FeatureLookup[] }> {
  const bounds = codecLimits(typeof limits === 'number' ? { maxRows: limits } : limits);
  const request = parseRecordRequest(body, bounds.maxRows, RECORD_HINT);
  const { features } = serving;
  const online = features ? target.online : undefined;
  const layout = online ? online.requestLayout : target.layout;
  if (online) {
    if (request.kind === 'instances' && request.arrays) {
      throw new ValidationError(
        'AMBIGUOUS_ROW',
        `This version reads features by key: send each instance as an object keyed by ${online.request.inputs.map((i) => i.name).join(', ')} (an array has no names for its values).`,
        ['instances', 0],
      );
    }
    if (request.kind === 'features') checkNoStoredFeatures(online, { records: [request.record], pathOf: () => ['features'] });
    else checkNoStoredFeatures(online, { records: request.rows, pathOf: (r) => ['instances', r] });
  }
  let decoded =
    request.kind === 'features'
      ? decodeRecords(layout, [request.record], () => ['features'], bounds)
      : request.arrays
        ? decodeArrays(layout, request.rows, (r) => ['instances', r], bounds)
        : decodeRecords(layout, request.rows, (r) => ['instances', r], bounds);
  let lookups: FeatureLookup[] | undefined;
  if (online && features) {
    const pathOf: EntityPath = request.kind === 'features' ? (_r, entity) => ['features', entity] : (r, entity) => ['instances', r, entity];
    const options = { store: features.store, now: features.now, pathOf, maxStringChars: bounds.maxStringChars };
    const feeds = decoded.feeds;
    const rows = decoded.rows;
    const resolved = await tracing.span(SPAN.features, () => lookUpFeatures(online, feeds, rows, options));
    decoded = { feeds: resolved.feeds, rows: decoded.rows };
    lookups = resolved.lookups;
  }
  const run = await cachedRun(target.session, decoded, undefined, facts, tracing, serving.cache);
  return {
    decoded,
    texts: recordPredictionTexts(run.outputs, decoded.rows, target.classifier),
    outputs: run.outputs,
    run,
    ...(lookups ? { lookups } : {}),
  };
}

/**
 * {@link timedRun}, or the version's cached outputs for the same input and outputs asked for
 * (`prediction-cache.ts`); a run's outputs are kept for the next such request. Without a cache,
 * the run as it is.
 */
async function cachedRun(
  session: ModelSession,
  decoded: DecodedInputs,
  outputs: readonly string[] | undefined,
  facts: RequestFacts | undefined,
  tracing: Tracing,
  cache: VersionCache | undefined,
  /** The outputs the answer holds, for the key: `'all'` (what a request that names none gets), or these. */
  answered: readonly string[] | 'all' = outputs ?? 'all',
): Promise<RunResult> {
  if (!cache) return { outputs: await timedRun(session, decoded, outputs, facts, tracing) };
  const inputSha256 = canonicalInputSha256(decoded.feeds);
  const key = cacheKey(inputSha256, answered === 'all' ? undefined : answered);
  const kept = cache.get(key);
  if (kept) {
    if (facts) {
      facts.rows += decoded.rows;
      facts.cache = 'hit';
    }
    return { outputs: kept, cacheHit: true, inputSha256 };
  }
  const result = await timedRun(session, decoded, outputs, facts, tracing);
  cache.set(key, result);
  if (facts) facts.cache = 'miss';
  return { outputs: result, cacheHit: false, inputSha256 };
}

/** `predictRecordTexts` with each prediction parsed: exactly the values a caller is sent. */
export async function predictRecords(
  target: Served,
  body: unknown,
  limits: number | Partial<CodecLimits>,
  facts?: RequestFacts,
  tracing: Tracing = NO_TRACING,
): Promise<{ decoded: DecodedInputs; predictions: unknown[] }> {
  const { decoded, texts } = await predictRecordTexts(target, body, limits, facts, tracing);
  return { decoded, predictions: texts.map((text) => JSON.parse(text) as unknown) };
}

/** `session.run` in its span, its time and the rows added to `facts`. */
async function timedRun(
  session: ModelSession,
  decoded: DecodedInputs,
  outputs: readonly string[] | undefined,
  facts: RequestFacts | undefined,
  tracing: Tracing,
): Promise<TensorMap> {
  if (facts) facts.rows += decoded.rows;
  const from = performance.now();
  try {
    return await tracing.span(SPAN.run, () => session.run(decoded.feeds, outputs));
  } finally {
    if (facts) facts.modelLatencyMs += performance.now() - from;
  }
}

export class PredictionService {
  /** Per model: its production version and capture settings as last read, trusted until `until`. */
  private readonly pointers = new Map<string, Pointer>();
  /** Background re-reads of the production pointer in flight, one per model. */
  private readonly refreshing = new Map<string, Promise<void>>();
  /** Reads of the production pointer in flight, one per model. */
  private readonly pointerReads = new Map<string, Promise<Pointer>>();
  /** Registry records of the versions served, by `model@version` (a failed read is retried next time). */
  private readonly versions = new RecentPromises<ModelVersion>(VERSION_RECORDS_KEPT);
  /**
   * Stages of the versions requests addressed by number, by `model@version`, least recently
   * used first, at most {@link VERSION_RECORDS_KEPT}; trusted for `pointerCacheMs` like the pointer.
   */
  private readonly stages = new Map<string, KnownStage>();
  /** Reads of an addressed version's record in flight, one per `model@version`. */
  private readonly stageReads = new Map<string, Promise<Stage>>();
  /** What serving derives from a version and its signature, once per version record. */
  private readonly derived = new WeakMap<ModelVersion, Pick<Served, 'layout' | 'classifier' | 'online'>>();
  private readonly now: () => number;
  private readonly elapsed: () => number;
  private readonly tracing: Tracing;
  private readonly random: () => number;
  /** Runs shadowed requests on their candidate after the answer (`shadow/runner.ts`). */
  private readonly shadows: ShadowRunner;

  constructor(private readonly deps: PredictDeps) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.elapsed = deps.elapsed ?? (() => performance.now());
    this.tracing = deps.tracing ?? NO_TRACING;
    this.shadows = new ShadowRunner({
      serve: (model, version) => this.session(model, version, SILENT_LOG),
      maxLoggedOutputBytes: deps.config.maxLoggedOutputBytes,
      ...(deps.config.maxShadowQueued !== undefined ? { maxQueued: deps.config.maxShadowQueued } : {}),
      ...(deps.config.shadowBatchSize !== undefined ? { batchSize: deps.config.shadowBatchSize } : {}),
      elapsed: this.elapsed,
      // A shadowed request's record is stored first, then again with the candidate's result.
      beforeBatch: () => deps.log.flush(),
    });
  }

  /** `POST /v1/models/{model}/predict` with the `features` or `instances` form, parsed (see `predictText`). */
  async predict(model: string, body: unknown, ctx: RequestContext): Promise<PredictResponse> {
    return JSON.parse(await this.predictText(model, body, ctx)) as PredictResponse;
  }

  /**
   * `POST /v1/models/{model}/predict`: the response's JSON text, written straight from the
   * output tensors.
   *
   * @throws PayloadTooLargeError 413 `RESPONSE_TOO_LARGE` when the answer would not fit in
   *   Lambda's synchronous response (`maxResponseBytes`); nothing is logged as served then
   */
  async predictText(model: string, body: unknown, ctx: RequestContext): Promise<string> {
    const served = await this.resolve(model, ctx, undefined, true);
    try {
      const { decoded, texts, outputs, run, lookups } = await predictRecordTexts(
        served,
        body,
        this.limits(),
        ctx.facts,
        this.tracing,
        this.serving(served),
      );
      const extra: LoggedExtra = { run, ...(lookups ? { lookups } : {}) };
      const predictions = `[${texts.join(',')}]`;
      this.checkResponse(
        predictions,
        `${decoded.rows} rows`,
        'Send fewer rows per request, or run the rows as a batch job (POST /v1/models/{model}/batch-jobs).',
      );
      const processingTimeMs = round3(this.elapsed() - ctx.startedAt);
      const timestamp = new Date(this.now()).toISOString();
      this.logRequest(served, decoded, predictions, ctx, processingTimeMs, timestamp, extra);
      this.shadowRequest(
        served,
        ctx,
        { outputs, rows: decoded.rows, timestamp },
        async (target) => {
          const candidate = await predictRecordTexts(target, body, this.limits(), undefined, NO_TRACING, this.featureOptions(target));
          return { outputs: candidate.outputs, logText: `[${candidate.texts.join(',')}]` };
        },
        (shadow) => this.logRequest(served, decoded, predictions, ctx, processingTimeMs, timestamp, extra, shadow),
      );
      this.captureRequest(served, decoded, outputs, ctx, timestamp);
      const experiment = served.assignment
        ? `,"experiment":{"id":${JSON.stringify(served.assignment.experiment)},"variant":${JSON.stringify(served.assignment.variant)}}`
        : '';
      return `{"requestId":${JSON.stringify(ctx.requestId)},"model":${JSON.stringify(model)},"modelVersion":${JSON.stringify(served.version.version)},"functionVersion":${JSON.stringify(this.deps.config.functionVersion)}${experiment},"predictions":${predictions},"processingTimeMs":${processingTimeMs},"timestamp":"${timestamp}"}`;
    } finally {
      served.release();
    }
  }

  /** `POST /v2/models/{model}/infer` with a JSON body, answered as parsed JSON (see `infer`). */
  async inferV2(model: string, body: unknown, ctx: RequestContext, version?: string): Promise<V2InferResponse> {
    const answer = await this.infer(model, { body }, ctx, version);
    if (answer.kind !== 'json') throw new Error('inferV2 answers JSON only; use infer for binary outputs');
    return JSON.parse(answer.text) as V2InferResponse;
  }

  /**
   * `POST /v2/models/{model}/infer` (Open Inference Protocol): the request's JSON part, and for
   * the binary extension the bytes after it; inputs may also name uploaded payloads
   * (`parameters.data_ref`). Outputs go back as JSON, as binary data when asked
   * (`parameters.binary_data_output`, `outputs[i].parameters.binary_data`; `binaryAccepted`
   * says the client takes a binary answer), or by reference: when the answer would not fit
   * Lambda's synchronous response, the largest outputs are stored in the payload store and
   * answered as `parameters.data_url` (a presigned GET of their raw little-endian bytes).
   *
   * @throws 406 `NOT_ACCEPTABLE` (binary outputs asked without `Accept: application/octet-stream`),
   *   413 `RESPONSE_TOO_LARGE` (would not fit, and no payload store), the codec's 400s
   */
  async infer(model: string, request: V2Request, ctx: RequestContext, version?: string): Promise<V2Answer> {
    const parsed = parseV2Request(request.body, V2_HINT);
    const wantsBinary =
      parsed.binaryOutputs.size > 0 ||
      (parsed.binaryOutput && (parsed.outputs === undefined || parsed.outputs.some((name) => !parsed.jsonOutputs.has(name))));
    if (wantsBinary && request.binaryAccepted === false) {
      throw new AppError(
        406,
        'NOT_ACCEPTABLE',
        `Binary outputs were asked for (binary_data_output / binary_data), but the request does not accept them: the first media type of its Accept header must be ${BINARY_MEDIA_TYPE} (without q=0), the rule by which API Gateway returns a binary body. Send "Accept: ${BINARY_MEDIA_TYPE}", or drop binary_data_output for a JSON answer.`,
        ['headers', 'accept'],
      );
    }
    const served = await this.resolve(model, ctx, version, true);
    try {
      const references = await this.readReferences(model, parsed.inputs);
      const serving = this.serving(served);
      const { decoded, lookups } = await this.decodeV2Request(served, parsed.inputs, request.binary, references, serving);
      const wanted = selectOutputs(served.session.signature, parsed.outputs);
      // A request that names no outputs gets all of them: the same entry as the record forms'.
      const run = await cachedRun(served.session, decoded, wanted, ctx.facts, this.tracing, serving.cache, parsed.outputs ? wanted : 'all');
      const { outputs } = run;
      const extra: LoggedExtra = { run, ...(lookups ? { lookups } : {}) };
      const tensors = v2Outputs(outputs, wanted);
      // A per-output binary_data wins over the request's binary_data_output, either way.
      const modes = tensors.map(
        (t) =>
          (parsed.binaryOutputs.has(t.name) || (parsed.binaryOutput && !parsed.jsonOutputs.has(t.name)) ? 'binary' : 'json') as OutputMode,
      );
      const plan = await this.fitResponse(model, ctx.requestId, tensors, modes);
      const processingTimeMs = round3(this.elapsed() - ctx.startedAt);
      const timestamp = new Date(this.now()).toISOString();
      const id = parsed.id ?? ctx.requestId;
      const experiment = served.assignment
        ? `,"experiment_id":${JSON.stringify(served.assignment.experiment)},"experiment_variant":${JSON.stringify(served.assignment.variant)}`
        : '';
      const envelope = `"model_name":${JSON.stringify(model)},"model_version":${JSON.stringify(served.version.version)},"id":${JSON.stringify(id)},"parameters":{"request_id":${JSON.stringify(ctx.requestId)},"function_version":${JSON.stringify(this.deps.config.functionVersion)}${experiment},"processing_time_ms":${processingTimeMs},"timestamp":"${timestamp}"}`;
      const outputsText = plan.map((p) => p.text).join(',');
      const logText = `[${plan.map((p) => p.logText).join(',')}]`;
      this.logRequest(served, decoded, logText, ctx, processingTimeMs, timestamp, extra);
      this.shadowRequest(
        served,
        ctx,
        { outputs, rows: decoded.rows, timestamp },
        async (target) => {
          const { decoded: candidate } = await this.decodeV2Request(
            target,
            parsed.inputs,
            request.binary,
            references,
            this.featureOptions(target),
          );
          const names = selectOutputs(target.session.signature, parsed.outputs);
          const result = await target.session.run(candidate.feeds, names);
          return {
            outputs: result,
            logText: `[${v2Outputs(result, names)
              .map((o) => v2OutputJsonText(o))
              .join(',')}]`,
          };
        },
        (shadow) => this.logRequest(served, decoded, logText, ctx, processingTimeMs, timestamp, extra, shadow),
      );
      this.captureRequest(served, decoded, outputs, ctx, timestamp);
      const header = `{${envelope},"outputs":[${outputsText}]}`;
      const chunks = plan.flatMap((p) => (p.bytes ? [p.bytes] : []));
      return chunks.length > 0 ? { kind: 'binary', header, chunks } : { kind: 'json', text: header };
    } finally {
      served.release();
    }
  }

  /**
   * The online features and prediction cache of `served` on this endpoint: features read from the
   * store at the request's time; the version's cache when it declares one (never a version
   * declared non-deterministic).
   */
  private serving(served: Served): ServingOptions {
    const { caches } = this.deps;
    const settings = served.version.metadata.predictionCache;
    return {
      ...this.featureOptions(served),
      ...(caches && settings && served.version.metadata.deterministic !== false
        ? { cache: caches.of(served.version.model, served.version.version, settings) }
        : {}),
    };
  }

  /** Where `served` reads its online features, at this moment: none for a version without them. */
  private featureOptions(served: Served): Pick<ServingOptions, 'features'> {
    return served.online ? { features: { store: this.deps.features ?? NO_FEATURE_STORE, now: this.now() } } : {};
  }

  /**
   * A v2 request's feeds: the model's own inputs decoded, or for a version with online features
   * its entity keys and request-time features (each a `[N]` tensor, `OnlinePlan.request`),
   * then the stored features read and the model's inputs assembled.
   */
  private async decodeV2Request(
    served: Served,
    inputs: readonly unknown[],
    binary: Uint8Array | undefined,
    references: Map<string, Uint8Array>,
    serving: ServingOptions,
  ): Promise<{ decoded: DecodedInputs; lookups?: FeatureLookup[] }> {
    const { features } = serving;
    const online = features ? served.online : undefined;
    const sources = { ...(binary ? { binary } : {}), references };
    if (!online || !features) return { decoded: decodeV2(served.session.signature, inputs, this.limits(), sources) };
    checkNoStoredFeatures(online, { inputs });
    const keys = decodeV2(online.request, inputs, this.limits(), sources);
    const position = (name: string) => inputs.findIndex((input) => isObject(input) && input['name'] === name);
    const options = {
      store: features.store,
      now: features.now,
      pathOf: (row: number, entity: string) => ['inputs', position(entity), 'data', row],
      maxStringChars: this.limits().maxStringChars,
    };
    const { feeds, lookups } = await this.tracing.span(SPAN.features, () => lookUpFeatures(online, keys.feeds, keys.rows, options));
    return { decoded: { feeds, rows: keys.rows }, lookups };
  }

  /**
   * `POST /v1/models/{model}/payloads`: a presigned upload for one input payload (a tensor's raw
   * little-endian bytes), named later in `inputs[i].parameters.data_ref`. `body` may give
   * `{"bytes": n}`, the payload's size, so that one too large is refused before it is uploaded.
   *
   * @throws NotFoundError 404 `MODEL_NOT_FOUND` (not this endpoint's model); ValidationError 400
   *   `PAYLOADS_DISABLED` (no payload bucket), `WRONG_TYPE`; 413 `PAYLOAD_TOO_LARGE`
   */
  async createPayloadUpload(model: string, body: unknown): Promise<PayloadUpload> {
    const { config } = this.deps;
    if (config.servedModel !== undefined && model !== config.servedModel) throw unknownModel(model);
    checkFields(body, PAYLOAD_FIELDS, [], 'Send {"bytes": <the payload\'s size>} or {}.');
    const store = this.deps.payloads;
    if (!store) throw payloadsDisabled(['model']);
    const max = config.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    const bytes =
      body !== null && typeof body === 'object' && Object.hasOwn(body, 'bytes') ? (body as Record<string, unknown>)['bytes'] : undefined;
    if (bytes !== undefined && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)) {
      throw new ValidationError('WRONG_TYPE', "bytes must be the payload's size in bytes (a non-negative integer).", ['bytes']);
    }
    if (typeof bytes === 'number' && bytes > max) {
      throw new PayloadTooLargeError(
        'PAYLOAD_TOO_LARGE',
        `A payload of ${bytes} bytes is more than an input payload may have here (${max}).`,
        ['bytes'],
      );
    }
    // The model must be one this API serves (its production pointer read as a request would).
    const pointer = await this.pointer(model, SILENT_LOG);
    if (pointer?.version === undefined && config.pinnedVersion === undefined) throw noProductionVersion(model);
    return store.createUpload(model, typeof bytes === 'number' ? bytes : undefined);
  }

  /** The bytes of every payload the request's inputs name (`data_ref`), read at once. */
  private async readReferences(model: string, inputs: readonly unknown[]): Promise<Map<string, Uint8Array>> {
    const refs = v2References(inputs);
    const found = new Map<string, Uint8Array>();
    if (refs.length === 0) return found;
    const store = this.deps.payloads;
    if (!store) throw payloadsDisabled(['inputs']);
    const max = this.deps.config.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    await Promise.all(
      refs.map(async ({ id, path }) => {
        if (!found.has(id)) found.set(id, await store.readUpload(model, id, max, path));
      }),
    );
    return found;
  }

  /**
   * How each output is sent so that the answer fits Lambda's synchronous response: as asked
   * (JSON text or binary bytes) while the total fits `maxResponseBytes` (the JSON text as Lambda
   * serializes it, binary as base64), else the largest outputs by reference, one at a time,
   * until it fits.
   */
  private async fitResponse(model: string, requestId: string, tensors: readonly V2Output[], modes: OutputMode[]): Promise<PlannedOutput[]> {
    const budget = this.maxResponseBytes();
    // JSON is written only where it could fit: an element takes at least 2 characters ("0,").
    const json = tensors.map((t, k) => (modes[k] === 'json' && t.tensor.data.length * 2 <= budget ? v2OutputJsonText(t) : undefined));
    const binaryBytes = tensors.map((t) => tensorBytes(t.tensor).byteLength);
    // A binary answer is one base64 body: JSON outputs in its header are base64 too. A JSON text
    // is first bounded (6 bytes per UTF-16 unit once serialized) and measured only when the
    // bounds do not fit.
    const exactJson = new Map<number, number>();
    const size = (k: number, binaryAnswer: boolean, exact: boolean): number => {
      if (modes[k] === 'reference') return 512;
      if (modes[k] === 'binary') return base64Length(binaryBytes[k] as number) + 256;
      const text = json[k];
      if (text === undefined) return Number.POSITIVE_INFINITY;
      if (binaryAnswer) return base64Length(Buffer.byteLength(text, 'utf8'));
      if (!exact) return text.length * 6;
      let bytes = exactJson.get(k);
      if (bytes === undefined) exactJson.set(k, (bytes = jsonTextBytes(text)));
      return bytes;
    };
    const total = (): number => {
      const binaryAnswer = modes.includes('binary');
      const bound = tensors.reduce((n, _, k) => n + size(k, binaryAnswer, false), 0);
      return bound <= budget ? bound : tensors.reduce((n, _, k) => n + size(k, binaryAnswer, true), 0);
    };
    for (let bytes = total(); bytes > budget; bytes = total()) {
      const binaryAnswer = modes.includes('binary');
      let largest = -1;
      for (let k = 0; k < tensors.length; k++)
        if (modes[k] !== 'reference' && (largest < 0 || size(k, binaryAnswer, true) > size(largest, binaryAnswer, true))) largest = k;
      if (largest < 0 || !this.deps.payloads) {
        const shown = Number.isFinite(bytes) ? `${bytes} bytes` : 'more than Lambda returns';
        throw new PayloadTooLargeError(
          'RESPONSE_TOO_LARGE',
          `The answer would be ${shown}; Lambda returns at most ${budget} bytes synchronously. Ask for binary outputs ("parameters": {"binary_data_output": true} with "Accept: ${BINARY_MEDIA_TYPE}"), fewer outputs ("outputs") or fewer rows${this.deps.payloads ? '' : '; or deploy the endpoint with a payload bucket, which returns large outputs by reference'}.`,
          ['outputs'],
        );
      }
      modes[largest] = 'reference';
    }
    return Promise.all(
      tensors.map(async (t, k): Promise<PlannedOutput> => {
        const head = { name: t.name, datatype: t.datatype, shape: t.shape };
        if (modes[k] === 'json') {
          const text = json[k] as string;
          return { text, logText: text };
        }
        const bytes = tensorBytes(t.tensor);
        if (modes[k] === 'binary') {
          const text = JSON.stringify({ ...head, parameters: { binary_data_size: bytes.byteLength } });
          return { text, logText: text, bytes };
        }
        const stored = await (this.deps.payloads as PayloadStore).putOutput(model, requestId, t.name, bytes);
        const text = JSON.stringify({
          ...head,
          parameters: { data_url: stored.url, data_bytes: bytes.byteLength, data_expires_at: stored.expiresAt },
        });
        return { text, logText: JSON.stringify({ ...head, parameters: { data_bytes: bytes.byteLength } }) };
      }),
    );
  }

  /** The most bytes of body an answer may have: Lambda's synchronous limit less the result's envelope. */
  private maxResponseBytes(): number {
    return (this.deps.config.maxResponseBytes ?? LAMBDA_SYNC_PAYLOAD_BYTES) - RESULT_ENVELOPE_BYTES;
  }

  /**
   * 413 `RESPONSE_TOO_LARGE` when the JSON text would not fit. Its serialized size is at most
   * 6 bytes per UTF-16 unit (3 of UTF-8, doubled by escaping), so a text well under the budget
   * is not measured at all.
   */
  private checkResponse(text: string, what: string, advice: string): void {
    const budget = this.maxResponseBytes();
    if (text.length * 6 <= budget) return;
    const bytes = jsonTextBytes(text);
    if (bytes > budget) {
      throw new PayloadTooLargeError(
        'RESPONSE_TOO_LARGE',
        `The answer for ${what} would be about ${bytes} bytes; Lambda returns at most ${budget} bytes synchronously. ${advice}`,
        ['body'],
      );
    }
  }

  /** The codec's limits, from this function's configuration. */
  private limits(): CodecLimits {
    const { maxRows, maxStringChars } = this.deps.config;
    return codecLimits({ maxRows, ...(maxStringChars === undefined ? {} : { maxStringChars }) });
  }

  /**
   * `GET /v2/models/{model}[/versions/{version}]`: the version's signature in v2 terms, with
   * what the record forms need in `parameters`; `version` as in {@link resolve}. Loads the
   * session (the signature is ONNX Runtime's own).
   */
  async metadataV2(model: string, ctx?: Pick<RequestContext, 'facts' | 'log'>, version?: string): Promise<V2ModelMetadata> {
    const served = await this.resolve(model, ctx, version);
    served.release();
    const { signature } = served.session;
    return {
      name: model,
      versions: [served.version.version],
      platform: V2_PLATFORM,
      inputs: (served.online ? served.online.request : signature).inputs.map(v2Tensor),
      outputs: signature.outputs.map(v2Tensor),
      parameters: v2ModelParameters(served, this.deps.config.maxRows),
    };
  }

  /**
   * `GET /v2/models/{model}[/versions/{version}]/ready`: resolves once the version's session is
   * loaded; `version` as in {@link resolve}. Never answers "not ready": a model that cannot be
   * served rejects with the error that says why (404, 409, 5xx).
   */
  async ready(
    model: string,
    ctx?: Pick<RequestContext, 'facts' | 'log'>,
    version?: string,
  ): Promise<{ name: string; ready: true; version: string }> {
    const served = await this.resolve(model, ctx, version);
    served.release();
    return { name: model, ready: true, version: served.version.version };
  }

  /**
   * Finishes the background work: every prediction-log record and captured request queued so far
   * is stored or in the fallback when this resolves. Never rejects.
   */
  async flush(): Promise<void> {
    await Promise.all([this.deps.log.flush(), this.deps.capture?.flush()]);
    // Every shadow run waiting; each one writes its request's record again, with its result.
    await this.shadows.flush();
    await this.deps.log.flush();
  }

  /**
   * What Lambda's drain runs after each invocation: the records and captured requests queued so
   * far are stored, and the shadow runs waiting are run only when their batch is due (see
   * `ShadowRunner`), so most invocations end without one. Never rejects.
   */
  async drain(): Promise<void> {
    await Promise.all([this.deps.log.flush(), this.deps.capture?.flush()]);
    await this.shadows.flushDue();
    await this.deps.log.flush();
  }

  /** Shadow runs, prediction-log records and captured requests not yet done (queued or under way). */
  pending(): number {
    return this.shadows.pending() + this.deps.log.pending() + (this.deps.capture?.pending() ?? 0);
  }

  /** The signature of the version that would serve `model` now (for the CLI and docs). */
  async signature(model: string): Promise<ModelSignature> {
    const served = await this.resolve(model);
    served.release();
    return served.session.signature;
  }

  /**
   * Which version serves `model`: `requested` when the path names one (see
   * {@link checkAddressed}), else the pinned one, else the registry's production version; with
   * its session held for this request (give it back with `release()` when the request is done,
   * or at once when only the signature is needed). Records the model and version in the
   * request's facts and log as soon as they are known (an addressed version once it is known to
   * exist, so a metric dimension never takes a number nobody registered).
   */
  private async resolve(
    model: string,
    ctx?: Pick<RequestContext, 'facts' | 'log'> & Partial<Pick<RequestContext, 'caller' | 'header'>>,
    requested?: string,
    assign = false,
  ): Promise<Leased> {
    const { config } = this.deps;
    const log = ctx?.log ?? SILENT_LOG;
    if (ctx?.facts) ctx.facts.model = model;
    if (config.servedModel !== undefined && model !== config.servedModel) throw unknownModel(model);
    if (requested !== undefined) await this.checkAddressed(model, requested, log);
    let version = requested;
    let assignment: (Assignment & { version: string }) | undefined;
    if (version === undefined) {
      const pointer = await this.pointer(model, log, config.pinnedVersion !== undefined);
      assignment =
        assign && ctx?.caller !== undefined && pointer?.experiment
          ? this.assign(pointer.experiment, { caller: ctx.caller, ...(ctx.header ? { header: ctx.header } : {}) })
          : undefined;
      version = assignment?.version ?? config.pinnedVersion ?? pointer?.version;
      if (version === undefined) throw noProductionVersion(model);
    }
    if (ctx?.facts) ctx.facts.modelVersion = version;
    ctx?.log?.set({
      model,
      modelVersion: version,
      ...(assignment ? { experiment: assignment.experiment, variant: assignment.variant } : {}),
    });
    const leased = await this.session(model, version, log);
    return assignment
      ? { ...leased, assignment: { experiment: assignment.experiment, variant: assignment.variant, unit: assignment.unit } }
      : leased;
  }

  /**
   * The variant of `experiment` this request is assigned to, while the experiment assigns and the
   * request carries its assignment key (the token's subject, or the named header); else
   * `undefined` (served as without an experiment, and not counted in it).
   */
  private assign(
    experiment: ActiveExperiment,
    ctx: Pick<RequestContext, 'caller' | 'header'>,
  ): (Assignment & { version: string }) | undefined {
    if (!assigning(experiment, this.now())) return undefined;
    const key =
      experiment.assignmentKey.source === 'subject'
        ? ctx.caller === 'anonymous'
          ? undefined
          : ctx.caller
        : ctx.header?.(experiment.assignmentKey.header);
    if (key === undefined || key.length === 0) return undefined;
    const variant = assignVariant(experiment.id, key, experiment.variants);
    return { experiment: experiment.id, variant: variant.name, unit: unitId(key), version: variant.version };
  }

  /**
   * Queues the candidate's run of a request sampled for the model's shadow test (after the
   * answer, in a batch: `ShadowRunner`); `logged` writes the request's log record again, with the
   * candidate's result, once the run is done (the record written at once stands if the sandbox
   * ends before). Returns whether the request was shadowed. Never throws.
   */
  private shadowRequest(
    served: Leased,
    ctx: RequestContext,
    primary: { readonly outputs: TensorMap; readonly rows: number; readonly timestamp: string },
    run: ShadowJob['run'],
    logged: (shadow: { readonly test: string; readonly result: ShadowResult }) => void,
  ): boolean {
    const model = served.version.model;
    const shadow = this.pointers.get(model)?.shadow;
    if (!shadow || shadow.version === served.version.version || !sampled(shadow, this.random)) return false;
    this.shadows.submit(
      {
        model,
        candidateVersion: shadow.version,
        requestId: ctx.requestId,
        run,
        primary: {
          version: served.version.version,
          outputs: primary.outputs,
          rows: primary.rows,
          timestamp: primary.timestamp,
          ...(served.classifier ? { classifier: served.classifier } : {}),
        },
      },
      (result) => logged({ test: shadow.id, result }),
    );
    return true;
  }

  /**
   * A version the path names (`/v2/models/{model}/versions/{version}/...`) is served whatever the
   * pin and the alias say, in any stage but archived: 404 `MODEL_NOT_FOUND` / `VERSION_NOT_FOUND`
   * when the registry has no such model or version, 409 `VERSION_ARCHIVED` when it is archived
   * (an archived version was taken out of service on purpose; serving it by number would undo
   * that). The stage is read from the registry once, then trusted like the production pointer:
   * for `pointerCacheMs`, then still used while it is re-read in the background, so an archival
   * takes effect within `pointerCacheMs` and one request.
   */
  private async checkAddressed(model: string, versionId: string, log: RequestLog): Promise<void> {
    const key = `${model}@${versionId}`;
    const known = this.stages.get(key);
    let stage: Stage;
    if (known) {
      stage = known.stage;
      this.stages.delete(key);
      this.stages.set(key, known); // most recently used last
      if (known.until <= this.now()) this.refreshStage(model, versionId, log);
    } else {
      stage = await this.readStage(model, versionId);
    }
    if (stage === 'archived') {
      throw new ConflictError(
        'VERSION_ARCHIVED',
        `Model "${model}" version ${versionId} is archived and no longer served; address a version in development, staging or production (GET /v1/models/${model}/versions lists them), or leave the version out of the path to get the one in service.`,
        ['version'],
      );
    }
  }

  private refreshStage(model: string, versionId: string, log: RequestLog): void {
    const key = `${model}@${versionId}`;
    if (this.stageReads.has(key)) return;
    this.readStage(model, versionId).catch((error: unknown) => {
      if (error instanceof AppError && error.status < 500) return; // gone: `fetchStage` forgot it, the next request reads again
      const known = this.stages.get(key);
      if (known) this.rememberStage(key, known.stage);
      log.warn('addressed version re-read failed; its stage known keeps applying', {
        addressedModel: model,
        addressedVersion: versionId,
        error: error instanceof AppError ? { code: error.code, message: error.message } : errorSummary(error),
      });
    });
  }

  /** Reads an addressed version's record, once at a time per version. */
  private readStage(model: string, versionId: string): Promise<Stage> {
    const key = `${model}@${versionId}`;
    let reading = this.stageReads.get(key);
    if (!reading) {
      reading = this.fetchStage(model, versionId).finally(() => this.stageReads.delete(key));
      this.stageReads.set(key, reading);
    }
    return reading;
  }

  /**
   * One read of an addressed version's record: remembers its stage, and keeps the record for
   * {@link version} (so the first request reads the registry once). A registry that cannot be
   * read is a 503, never the caller's error.
   */
  private async fetchStage(model: string, versionId: string): Promise<Stage> {
    const key = `${model}@${versionId}`;
    let record: ModelVersion | undefined;
    let modelExists = true;
    try {
      record = await this.tracing.span(SPAN.registry, () => this.deps.registry.getVersion(model, versionId));
      if (!record) modelExists = (await this.tracing.span(SPAN.registry, () => this.deps.registry.getModel(model))) !== undefined;
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError(
        'REGISTRY_UNAVAILABLE',
        `The model registry could not be read for "${model}" version ${versionId}; retry shortly.`,
        { cause: error },
      );
    }
    if (!record) {
      this.stages.delete(key);
      if (!modelExists) throw unknownModel(model);
      throw new NotFoundError(
        'VERSION_NOT_FOUND',
        `Model "${model}" has no version ${versionId}; GET /v1/models/${model}/versions lists its versions.`,
        ['version'],
      );
    }
    const found = record;
    void this.versions.get(key, () => Promise.resolve(found));
    this.rememberStage(key, record.stage);
    return record.stage;
  }

  /** Keeps `stage` for `key`, trusted for `pointerCacheMs`; past {@link VERSION_RECORDS_KEPT} the least recently used goes. */
  private rememberStage(key: string, stage: Stage): void {
    this.stages.delete(key);
    this.stages.set(key, { stage, until: this.now() + this.deps.config.pointerCacheMs });
    if (this.stages.size > VERSION_RECORDS_KEPT) {
      const oldest = this.stages.keys().next().value;
      if (oldest !== undefined) this.stages.delete(oldest);
    }
  }

  /**
   * The registry's production version. A pointer read within `pointerCacheMs` is used as it is;
   * an older one is still used at once, and re-read in the background (one read per model at a
   * time), so the registry is never on the path of a request that has a version to serve. Only
   * the first request for a model waits for the registry. When a background read fails, the
   * version known keeps serving and is trusted for another `pointerCacheMs`.
   */
  private async pointer(model: string, log: RequestLog, tolerant = false): Promise<Pointer | undefined> {
    const cached = this.pointers.get(model);
    if (cached) {
      if (cached.until <= this.now()) this.refreshInBackground(model, log);
      return cached;
    }
    if (!tolerant) return this.readPointer(model);
    // A pinned function serves its pin without the pointer; it reads the pointer for the
    // experiment and shadow test, and serves the pin when the registry cannot be read.
    try {
      return await this.readPointer(model);
    } catch (error) {
      log.warn('model record read failed; the pinned version serves without experiments or shadow tests', {
        pointerModel: model,
        error: error instanceof AppError ? { code: error.code, message: error.message } : errorSummary(error),
      });
      return undefined;
    }
  }

  private refreshInBackground(model: string, log: RequestLog): void {
    if (this.refreshing.has(model)) return;
    const refresh = this.readPointer(model)
      .then(
        () => undefined,
        (error: unknown) => {
          const known = this.pointers.get(model);
          if (error instanceof AppError && error.status < 500) {
            // The registry answered: the model is gone, or has no production version any more.
            // Requests from now on get that answer rather than a version it no longer names.
            this.pointers.delete(model);
            return;
          }
          if (known) this.pointers.set(model, { ...known, until: this.now() + this.deps.config.pointerCacheMs });
          log.warn('production pointer re-read failed; the version known keeps serving', {
            pointerModel: model,
            servingVersion: known?.version,
            error: error instanceof AppError ? { code: error.code, message: error.message } : errorSummary(error),
          });
        },
      )
      .finally(() => this.refreshing.delete(model));
    this.refreshing.set(model, refresh);
  }

  /**
   * Reads the pointer, once at a time per model: requests that find no pointer while a read is in
   * flight (the first requests of a sandbox, the init warm-up) wait for that read.
   */
  private readPointer(model: string): Promise<Pointer> {
    let reading = this.pointerReads.get(model);
    if (!reading) {
      reading = this.fetchPointer(model).finally(() => this.pointerReads.delete(model));
      this.pointerReads.set(model, reading);
    }
    return reading;
  }

  /** One read of the pointer; a registry that cannot be read is a 503, never the caller's error. */
  private async fetchPointer(model: string): Promise<Pointer> {
    let record;
    try {
      record = await this.tracing.span(SPAN.registry, () => this.deps.registry.getModel(model));
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError('REGISTRY_UNAVAILABLE', `The model registry could not be read for "${model}"; retry shortly.`, {
        cause: error,
      });
    }
    if (!record) throw unknownModel(model);
    // A pointer that moved while a request was reading may not go back: the newest read wins.
    const pointer: Pointer = {
      ...(record.productionVersion !== undefined ? { version: record.productionVersion } : {}),
      ...(record.capture ? { capture: record.capture } : {}),
      ...(record.experiment ? { experiment: record.experiment } : {}),
      ...(record.shadow ? { shadow: record.shadow } : {}),
      until: this.now() + this.deps.config.pointerCacheMs,
    };
    this.pointers.set(model, pointer);
    return pointer;
  }

  /**
   * The version's registry record (read once while kept: {@link VERSION_RECORDS_KEPT} most recent)
   * and a lease on its session from the runtime, which keeps a bounded set of sessions per
   * process and never frees one a request holds.
   *
   * Everything that fails here is our side's fault, not the caller's: a version the pointer or
   * the pin names but the registry lacks, an artifact that vanished from S3, a file the runtime
   * refuses. Such 4xx errors are answered as 500 with their own code, so they count as failures
   * of this version (and can fail a canary).
   */
  private async session(model: string, versionId: string, log: RequestLog): Promise<Leased> {
    const started = performance.now();
    try {
      const version = await this.version(model, versionId);
      const lease = await this.deps.runtime.load(version);
      if (lease.created) log.info('model loaded', { loadMs: Math.round((performance.now() - started) * 1000) / 1000 });
      let derived = this.derived.get(version);
      if (!derived) {
        derived = derive(version, lease.signature);
        this.derived.set(version, derived);
      }
      return { version, session: lease, ...derived, release: () => lease.release() };
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        throw new InternalError(error.code, `Model ${model} v${versionId} cannot be served: ${error.message}`, { cause: error });
      }
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError(
        'REGISTRY_UNAVAILABLE',
        `Model ${model} v${versionId} could not be read from the registry; retry shortly.`,
        { cause: error },
      );
    }
  }

  /** The registry record of a served version, read once while kept (a failed read is not kept). */
  private version(model: string, versionId: string): Promise<ModelVersion> {
    return this.versions.get(`${model}@${versionId}`, () =>
      this.tracing
        .span(SPAN.registry, () => this.deps.registry.getVersion(model, versionId))
        .then((version) => {
          if (!version)
            throw new InternalError(
              'VERSION_NOT_FOUND',
              `Model "${model}" has no version ${versionId} in the registry, though this function serves it.`,
            );
          return version;
        }),
    );
  }

  /**
   * Queues the request's prediction-log record. Nothing here waits: the record is built (inputs
   * hashed, outputs serialized) and written by the log's own background work, after the answer.
   */
  private logRequest(
    served: Served & Pick<Leased, 'assignment'>,
    decoded: DecodedInputs,
    /** The answer's outputs as JSON text. */
    outputs: string,
    ctx: RequestContext,
    latencyMs: number,
    timestamp: string,
    /** Whether the answer came from the cache, and what online features were read. */
    extra: LoggedExtra,
    /** The candidate's run, for a shadowed request. */
    shadow?: { readonly test: string; readonly result: ShadowResult },
  ): void {
    const { config, log } = this.deps;
    const expiresAt = Math.floor(this.now() / 1000) + config.logTtlDays * 86_400;
    log.write({
      requestId: ctx.requestId,
      build: (): PredictionLogRecord => {
        const { json, truncated } = boundedJson(outputs, config.maxLoggedOutputBytes);
        return {
          requestId: ctx.requestId,
          model: served.version.model,
          modelVersion: served.version.version,
          functionVersion: config.functionVersion,
          caller: ctx.caller,
          latencyMs,
          rows: decoded.rows,
          inputSha256: extra.run?.inputSha256 ?? canonicalInputSha256(decoded.feeds),
          outputs: json,
          truncated,
          timestamp,
          expiresAt,
          ...(served.assignment
            ? {
                study: studyKey('experiment', served.version.model, served.assignment.experiment),
                experiment: { id: served.assignment.experiment, variant: served.assignment.variant, unit: served.assignment.unit },
              }
            : {}),
          ...(shadow ? { study: studyKey('shadow', served.version.model, shadow.test), shadow: shadow.result } : {}),
          ...(extra.run?.cacheHit !== undefined ? { cacheHit: extra.run.cacheHit } : {}),
          ...(extra.lookups ? { featureLookups: extra.lookups } : {}),
        };
      },
    });
  }

  /**
   * Queues the request for data capture when its model has capture on and the draw selects it.
   * Nothing here waits or serializes: the record is built by the capture log's background work.
   * The settings are the ones read with the production pointer, trusted for `pointerCacheMs`; a
   * request that finds them older waits (off the request path) for the re-read it starts, so a
   * change applies within `pointerCacheMs` of being made. A function that never reads the
   * pointer (pinned, or addressed by version) reads them in the background on its first request
   * and captures from the next one.
   */
  private captureRequest(served: Served, decoded: DecodedInputs, outputs: TensorMap, ctx: RequestContext, timestamp: string): void {
    const sink = this.deps.capture;
    if (!sink) return;
    const model = served.version.model;
    const known = this.pointers.get(model);
    if (!known) {
      if (!this.pointerReads.has(model)) this.readPointer(model).catch(() => undefined);
      return;
    }
    // Settings past their time are being re-read: the record waits for what that read says
    // (a redaction added a moment ago must hold for this request too), and is dropped if capture
    // was turned off or the new share leaves it out.
    let ready: Promise<void> | undefined;
    let settings = known.capture;
    if (known.until <= this.now()) {
      this.refreshInBackground(model, ctx.log ?? SILENT_LOG);
      const refresh = this.refreshing.get(model);
      if (refresh) {
        ready = refresh.then(() => {
          const latest = this.pointers.get(model);
          if (latest) settings = latest.capture;
        });
      }
    }
    if (!ready && (!settings || !sampled(settings, this.random))) return;
    const { config } = this.deps;
    sink.write({
      model,
      modelVersion: served.version.version,
      timestamp,
      ...(ready ? { ready } : {}),
      build: () => {
        if (!settings || (ready && !sampled(settings, this.random))) return undefined;
        return captureRecordText({
          requestId: ctx.requestId,
          model,
          modelVersion: served.version.version,
          functionVersion: config.functionVersion,
          timestamp,
          rows: decoded.rows,
          layout: served.layout,
          feeds: decoded.feeds,
          outputs,
          settings,
        });
      },
    });
  }
}

/** What a request's log record says beyond the answer: the cache's part, and the online features read. */
interface LoggedExtra {
  readonly run?: RunResult;
  readonly lookups?: readonly FeatureLookup[];
}

/** Name and message of a non-AppError, the message cut to 300 characters (no stack, no request data). */
function errorSummary(error: unknown): { name: string; message: string } {
  const { name, message } = describeError(error);
  return { name, message: message.slice(0, 300) };
}

/** 400 `PAYLOADS_DISABLED`: inputs by reference need a payload bucket this endpoint has not. */
function payloadsDisabled(path: FieldPath): ValidationError {
  return new ValidationError(
    'PAYLOADS_DISABLED',
    'This endpoint has no payload bucket (PAYLOAD_BUCKET), so inputs cannot be sent by reference (data_ref); send them in the request (binary tensors carry the most).',
    path,
  );
}

function noProductionVersion(model: string): NotFoundError {
  return new NotFoundError('NO_PRODUCTION_VERSION', `Model "${model}" has no production version yet; promote one first.`, ['model']);
}

function unknownModel(model: string): NotFoundError {
  return new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is served here.`, ['model']);
}

/**
 * The model metadata's `platform`: Triton's name for ONNX Runtime models, which clients of
 * Triton and KServe already know (the protocol's own list spells it `onnx_onnxv1`; the value is
 * information only there).
 */
export const V2_PLATFORM = 'onnxruntime_onnx';

/** {@link V2ModelParameters} of a served version. */
export function v2ModelParameters(target: Served, maxRows: number): V2ModelParameters {
  const { classifier, version, online } = target;
  // A version with online features takes records keyed by its request tensors (`OnlinePlan.request`).
  const layout = online ? online.requestLayout : target.layout;
  const { features, classLabels } = version.metadata;
  return {
    model_version: version.version,
    record_keys: layout.kind === 'columns' ? 'features' : 'inputs',
    ...(layout.kind === 'columns' ? { feature_input: layout.input.name } : {}),
    ...(online
      ? {
          entity_keys: JSON.stringify([...new Set(online.groups.map((g) => g.entity))]),
          online_features: JSON.stringify(online.groups.flatMap((g) => g.features)),
        }
      : {}),
    ...(features && features.length > 0 ? { features: JSON.stringify(features) } : {}),
    ...(classLabels && classLabels.length > 0 ? { class_labels: JSON.stringify(classLabels) } : {}),
    ...(classifier ? { probabilities_output: classifier.probabilities } : {}),
    max_rows: maxRows,
  };
}

function v2Tensor(spec: TensorSpec): V2TensorMetadata {
  return { name: spec.name, datatype: V2_DATATYPES[spec.type], shape: spec.shape.map((d) => (isDynamic(d) ? -1 : (d as number))) };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * JSON of `value` (a string is taken as JSON text already), cut to at most `maxBytes` characters. A cut keeps a prefix and says so
 * (`truncated`), so a log item never exceeds DynamoDB's item size.
 */
export function boundedJson(value: unknown, maxBytes: number): { json: string; truncated: boolean } {
  const json = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
  if (Buffer.byteLength(json, 'utf8') <= maxBytes) return { json, truncated: false };
  let cut = Math.min(json.length, maxBytes);
  while (cut > 0 && Buffer.byteLength(json.slice(0, cut), 'utf8') > maxBytes) cut = Math.floor(cut * 0.9);
  // Never split a surrogate pair: a lone half is not valid UTF-8 in the stored item.
  const last = json.charCodeAt(cut - 1);
  if (cut > 0 && last >= 0xd800 && last <= 0xdbff) cut--;
  return { json: json.slice(0, cut), truncated: true };
}

/**
 * sha256 over the decoded input tensors, independent of the request form: inputs by name, each
 * as name, type, shape and its elements' bytes (strings length-prefixed). The same rows sent as
 * `features`, `instances` or v2 tensors hash the same.
 */
export function canonicalInputSha256(feeds: TensorMap): string {
  const hash = createHash('sha256');
  for (const name of Object.keys(feeds).sort()) {
    const tensor = feeds[name];
    if (!tensor) continue;
    hash.update(`${name}\u0000${tensor.type}\u0000${tensor.shape.join(',')}\u0000`);
    if (tensor.type === 'string') {
      for (const s of tensor.data) hash.update(`${Buffer.byteLength(s, 'utf8')}:${s}`);
    } else {
      const view = tensor.data;
      hash.update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    }
  }
  return hash.digest('hex');
}
