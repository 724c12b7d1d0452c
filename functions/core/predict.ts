/**
 * The serving core: resolve which model version serves a request, decode the request into
 * tensors, run the model once, encode the outputs and log the request. Talks to ports only.
 */
import { createHash } from 'node:crypto';
import { RecentPromises } from './recent-promises.js';
import { AppError, InternalError, NotFoundError, describeError, ServiceUnavailableError } from './errors.js';
import type { ModelSignature, ModelVersion, TensorSpec } from './model.js';
import { NO_TRACING, SILENT_LOG, SPAN, type RequestFacts, type RequestLog, type Tracing } from './observability.js';
import type { ModelRegistry, ModelRuntime, ModelSession, PredictionLog, PredictionLogRecord, SessionLease } from './ports.js';
import type { TensorMap } from './tensor.js';
import { V2_DATATYPES, decodeArrays, decodeRecords, decodeV2, isDynamic, recordLayout, selectOutputs, type DecodedInputs, type RecordLayout } from './codec/decode.js';
import { classifierView, recordPredictions, v2Outputs, type ClassifierView, type V2OutputTensor } from './codec/encode.js';
import { codecLimits, type CodecLimits } from './codec/limits.js';
import { RECORD_HINT, V2_HINT, parseRecordRequest, parseV2Request } from './codec/request.js';

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
  readonly outputs: V2OutputTensor[];
  readonly parameters: {
    readonly request_id: string;
    readonly function_version: string;
    readonly processing_time_ms: number;
    readonly timestamp: string;
  };
}

export interface V2TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  /** -1 for a dynamic dimension, as the v2 protocol writes it. */
  readonly shape: number[];
}

export interface V2ModelMetadata {
  readonly name: string;
  readonly versions: string[];
  readonly platform: string;
  readonly inputs: V2TensorMetadata[];
  readonly outputs: V2TensorMetadata[];
}

/** A version ready to serve: its session and what is derived from its signature, once. */
export interface Served {
  readonly version: ModelVersion;
  readonly session: ModelSession;
  readonly layout: RecordLayout;
  readonly classifier: ClassifierView | undefined;
}

/** A version serving one request: its session is held until `release()`, once the request is done. */
interface Leased extends Served {
  readonly session: SessionLease;
  release(): void;
}

/**
 * Registry records of versions kept per process, most recently used last. A record is small but
 * may carry up to 300 KB of metadata (`MAX_DESCRIPTION_BYTES`); a pointer that moves often must
 * not grow the process.
 */
const VERSION_RECORDS_KEPT = 32;

/** A loaded version with what serving derives from its signature. */
export function served(version: ModelVersion, session: ModelSession): Served {
  return {
    version,
    session,
    layout: recordLayout(session.signature, version.metadata),
    classifier: classifierView(session.signature, version.metadata),
  };
}

/**
 * The record forms (`features`, `instances`): validate, decode every row into one batch, run the
 * model once, encode the predictions. Shared by the predict route and the golden-input gate.
 * `limits` is the codec's limits, or just `maxRows` (the other limits at their defaults). Every
 * cheap check (row count, keys, lengths) runs before any value is read.
 */
export async function predictRecords(
  target: Served,
  body: unknown,
  limits: number | Partial<CodecLimits>,
  facts?: RequestFacts,
  tracing: Tracing = NO_TRACING,
): Promise<{ decoded: DecodedInputs; predictions: unknown[] }> {
  const bounds = codecLimits(typeof limits === 'number' ? { maxRows: limits } : limits);
  const request = parseRecordRequest(body, bounds.maxRows, RECORD_HINT);
  const decoded = request.kind === 'features'
    ? decodeRecords(target.layout, [request.record], () => ['features'], bounds)
    : request.arrays
      ? decodeArrays(target.layout, request.rows, (r) => ['instances', r], bounds)
      : decodeRecords(target.layout, request.rows, (r) => ['instances', r], bounds);
  const outputs = await timedRun(target.session, decoded, undefined, facts, tracing);
  return { decoded, predictions: recordPredictions(outputs, decoded.rows, target.classifier) };
}

/** `session.run` in its span, its time and the rows added to `facts`. */
async function timedRun(session: ModelSession, decoded: DecodedInputs, outputs: readonly string[] | undefined, facts: RequestFacts | undefined, tracing: Tracing): Promise<TensorMap> {
  if (facts) facts.rows += decoded.rows;
  const from = performance.now();
  try {
    return await tracing.span(SPAN.run, () => session.run(decoded.feeds, outputs));
  } finally {
    if (facts) facts.modelLatencyMs += performance.now() - from;
  }
}

export class PredictionService {
  private readonly pointers = new Map<string, { version: string; until: number }>();
  /** Background re-reads of the production pointer in flight, one per model. */
  private readonly refreshing = new Map<string, Promise<void>>();
  /** Reads of the production pointer in flight, one per model. */
  private readonly pointerReads = new Map<string, Promise<string>>();
  /** Registry records of the versions served, by `model@version` (a failed read is retried next time). */
  private readonly versions = new RecentPromises<ModelVersion>(VERSION_RECORDS_KEPT);
  /** What serving derives from a version and its signature, once per version record. */
  private readonly derived = new WeakMap<ModelVersion, Pick<Served, 'layout' | 'classifier'>>();
  private readonly now: () => number;
  private readonly elapsed: () => number;
  private readonly tracing: Tracing;

  constructor(private readonly deps: PredictDeps) {
    this.now = deps.now ?? Date.now;
    this.elapsed = deps.elapsed ?? (() => performance.now());
    this.tracing = deps.tracing ?? NO_TRACING;
  }

  /** `POST /v1/models/{model}/predict` with the `features` or `instances` form. */
  async predict(model: string, body: unknown, ctx: RequestContext): Promise<PredictResponse> {
    const served = await this.resolve(model, ctx);
    try {
      const { decoded, predictions } = await predictRecords(served, body, this.limits(), ctx.facts, this.tracing);
      const response: PredictResponse = {
        requestId: ctx.requestId,
        model,
        modelVersion: served.version.version,
        functionVersion: this.deps.config.functionVersion,
        predictions,
        processingTimeMs: round3(this.elapsed() - ctx.startedAt),
        timestamp: new Date(this.now()).toISOString(),
      };
      this.logRequest(served, decoded, predictions, ctx, response.processingTimeMs, response.timestamp);
      return response;
    } finally {
      served.release();
    }
  }

  /** `POST /v2/models/{model}/infer`. */
  async inferV2(model: string, body: unknown, ctx: RequestContext): Promise<V2InferResponse> {
    const request = parseV2Request(body, V2_HINT);
    const served = await this.resolve(model, ctx);
    try {
      const decoded = decodeV2(served.session.signature, request.inputs, this.limits());
      const wanted = selectOutputs(served.session.signature, request.outputs);
      const outputs = await timedRun(served.session, decoded, wanted, ctx.facts, this.tracing);
      const tensors = v2Outputs(outputs, wanted);
      const processingTimeMs = round3(this.elapsed() - ctx.startedAt);
      const timestamp = new Date(this.now()).toISOString();
      this.logRequest(served, decoded, tensors, ctx, processingTimeMs, timestamp);
      return {
        model_name: model,
        model_version: served.version.version,
        id: request.id ?? ctx.requestId,
        outputs: tensors,
        parameters: {
          request_id: ctx.requestId,
          function_version: this.deps.config.functionVersion,
          processing_time_ms: processingTimeMs,
          timestamp,
        },
      };
    } finally {
      served.release();
    }
  }

  /** The codec's limits, from this function's configuration. */
  private limits(): CodecLimits {
    const { maxRows, maxStringChars } = this.deps.config;
    return codecLimits({ maxRows, ...(maxStringChars === undefined ? {} : { maxStringChars }) });
  }

  /** `GET /v2/models/{model}`: the served version's signature in v2 terms. */
  async metadataV2(model: string, ctx?: Pick<RequestContext, 'facts' | 'log'>): Promise<V2ModelMetadata> {
    const served = await this.resolve(model, ctx);
    served.release();
    const { signature } = served.session;
    return {
      name: model,
      versions: [served.version.version],
      platform: 'onnxruntime_onnx',
      inputs: signature.inputs.map(v2Tensor),
      outputs: signature.outputs.map(v2Tensor),
    };
  }

  /** `GET /v2/models/{model}/ready`: resolves once the model's session is loaded. */
  async ready(model: string, ctx?: Pick<RequestContext, 'facts' | 'log'>): Promise<{ name: string; ready: true; version: string }> {
    const served = await this.resolve(model, ctx);
    served.release();
    return { name: model, ready: true, version: served.version.version };
  }

  /**
   * Finishes the background work: every prediction-log record queued so far is stored or in the
   * fallback when this resolves. Never rejects.
   */
  flush(): Promise<void> {
    return this.deps.log.flush();
  }

  /** Prediction-log records not yet stored (queued or being written). */
  pending(): number {
    return this.deps.log.pending();
  }

  /** The signature of the version that would serve `model` now (for the CLI and docs). */
  async signature(model: string): Promise<ModelSignature> {
    const served = await this.resolve(model);
    served.release();
    return served.session.signature;
  }

  /**
   * Which version serves `model`: the pinned one, else the registry's production version, with its
   * session held for this request (give it back with `release()` when the request is done, or at
   * once when only the signature is needed). Records the model and version in the request's facts
   * and log as soon as they are known.
   */
  private async resolve(model: string, ctx?: Pick<RequestContext, 'facts' | 'log'>): Promise<Leased> {
    const { config } = this.deps;
    if (ctx?.facts) ctx.facts.model = model;
    if (config.servedModel !== undefined && model !== config.servedModel) throw unknownModel(model);
    const version = config.pinnedVersion ?? (await this.productionVersion(model, ctx?.log ?? SILENT_LOG));
    if (ctx?.facts) ctx.facts.modelVersion = version;
    ctx?.log?.set({ model, modelVersion: version });
    return this.session(model, version, ctx?.log ?? SILENT_LOG);
  }

  /**
   * The registry's production version. A pointer read within `pointerCacheMs` is used as it is;
   * an older one is still used at once, and re-read in the background (one read per model at a
   * time), so the registry is never on the path of a request that has a version to serve. Only
   * the first request for a model waits for the registry. When a background read fails, the
   * version known keeps serving and is trusted for another `pointerCacheMs`.
   */
  private async productionVersion(model: string, log: RequestLog): Promise<string> {
    const cached = this.pointers.get(model);
    if (cached) {
      if (cached.until <= this.now()) this.refreshInBackground(model, log);
      return cached.version;
    }
    return this.readPointer(model);
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
          if (known) this.pointers.set(model, { version: known.version, until: this.now() + this.deps.config.pointerCacheMs });
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
  private readPointer(model: string): Promise<string> {
    let reading = this.pointerReads.get(model);
    if (!reading) {
      reading = this.fetchPointer(model).finally(() => this.pointerReads.delete(model));
      this.pointerReads.set(model, reading);
    }
    return reading;
  }

  /** One read of the pointer; a registry that cannot be read is a 503, never the caller's error. */
  private async fetchPointer(model: string): Promise<string> {
    let record;
    try {
      record = await this.tracing.span(SPAN.registry, () => this.deps.registry.getModel(model));
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError('REGISTRY_UNAVAILABLE', `The model registry could not be read for "${model}"; retry shortly.`, { cause: error });
    }
    if (!record) throw unknownModel(model);
    if (record.productionVersion === undefined) {
      throw new NotFoundError('NO_PRODUCTION_VERSION', `Model "${model}" has no production version yet; promote one first.`, ['model']);
    }
    // A pointer that moved while a request was reading may not go back: the newest read wins.
    this.pointers.set(model, { version: record.productionVersion, until: this.now() + this.deps.config.pointerCacheMs });
    return record.productionVersion;
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
        derived = { layout: recordLayout(lease.signature, version.metadata), classifier: classifierView(lease.signature, version.metadata) };
        this.derived.set(version, derived);
      }
      return { version, session: lease, ...derived, release: () => lease.release() };
    } catch (error) {
      if (error instanceof AppError && error.status < 500) {
        throw new InternalError(error.code, `Model ${model} v${versionId} cannot be served: ${error.message}`, { cause: error });
      }
      if (error instanceof AppError) throw error;
      throw new ServiceUnavailableError('REGISTRY_UNAVAILABLE', `Model ${model} v${versionId} could not be read from the registry; retry shortly.`, { cause: error });
    }
  }

  /** The registry record of a served version, read once while kept (a failed read is not kept). */
  private version(model: string, versionId: string): Promise<ModelVersion> {
    return this.versions.get(`${model}@${versionId}`, () =>
      this.tracing.span(SPAN.registry, () => this.deps.registry.getVersion(model, versionId)).then((version) => {
        if (!version) throw new InternalError('VERSION_NOT_FOUND', `Model "${model}" has no version ${versionId} in the registry, though this function serves it.`);
        return version;
      }));
  }

  /**
   * Queues the request's prediction-log record. Nothing here waits: the record is built (inputs
   * hashed, outputs serialized) and written by the log's own background work, after the answer.
   */
  private logRequest(
    served: Served,
    decoded: DecodedInputs,
    outputs: unknown,
    ctx: RequestContext,
    latencyMs: number,
    timestamp: string,
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
          inputSha256: canonicalInputSha256(decoded.feeds),
          outputs: json,
          truncated,
          timestamp,
          expiresAt,
        };
      },
    });
  }
}

/** Name and message of a non-AppError, the message cut to 300 characters (no stack, no request data). */
function errorSummary(error: unknown): { name: string; message: string } {
  const { name, message } = describeError(error);
  return { name, message: message.slice(0, 300) };
}

function unknownModel(model: string): NotFoundError {
  return new NotFoundError('MODEL_NOT_FOUND', `No model named "${model}" is served here.`, ['model']);
}

function v2Tensor(spec: TensorSpec): V2TensorMetadata {
  return { name: spec.name, datatype: V2_DATATYPES[spec.type], shape: spec.shape.map((d) => (isDynamic(d) ? -1 : (d as number))) };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * JSON of `value`, cut to at most `maxBytes` characters. A cut keeps a prefix and says so
 * (`truncated`), so a log item never exceeds DynamoDB's item size.
 */
export function boundedJson(value: unknown, maxBytes: number): { json: string; truncated: boolean } {
  const json = JSON.stringify(value) ?? 'null';
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
