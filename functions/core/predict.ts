/**
 * The serving core: resolve which model version serves a request, decode the request into
 * tensors, run the model once, encode the outputs and log the request. Talks to ports only.
 */
import { createHash } from 'node:crypto';
import { AppError, NotFoundError, PayloadTooLargeError, ValidationError, type FieldPath } from './errors.js';
import type { ModelSignature, ModelVersion, TensorSpec } from './model.js';
import type { ModelRegistry, ModelRuntime, ModelSession, PredictionLog, PredictionLogRecord } from './ports.js';
import type { TensorMap } from './tensor.js';
import { V2_DATATYPES, decodeArrays, decodeRecords, decodeV2, isDynamic, recordLayout, type DecodedInputs, type RecordLayout } from './codec/decode.js';
import { classifierView, recordPredictions, v2Outputs, type ClassifierView, type V2OutputTensor } from './codec/encode.js';
import { RecordRequestSchema, V2RequestSchema, parseWith } from './codec/request.js';

export interface PredictConfig {
  /** Most rows one request may carry. @default 1000 */
  readonly maxRows: number;
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
  /** How long the production pointer read from the registry is trusted, in ms. */
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
}

/** Who is asking and which request this is; set by the HTTP layer. */
export interface RequestContext {
  readonly requestId: string;
  readonly caller: string;
  /** `elapsed()` when the request arrived. */
  readonly startedAt: number;
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

const RECORD_HINT = 'Send {"features": {...}} for one row or {"instances": [...]} for many.';
const V2_HINT = 'Send {"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2).';

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
 */
export async function predictRecords(
  target: Served,
  body: unknown,
  maxRows: number,
): Promise<{ decoded: DecodedInputs; predictions: unknown[] }> {
  if (typeof body === 'object' && body !== null && 'features' in body && 'instances' in body) {
    throw new ValidationError('CONFLICTING_FIELDS', `Send either "features" (one row) or "instances" (many), not both.`, ['instances']);
  }
  const request = parseWith(RecordRequestSchema, body, RECORD_HINT);
  let decoded: DecodedInputs;
  if ('features' in request) {
    decoded = decodeRecords(target.layout, [request.features], () => ['features']);
  } else {
    checkRows(request.instances.length, maxRows, ['instances']);
    const rows = request.instances;
    const arrays = rows.filter(Array.isArray).length;
    if (arrays !== 0 && arrays !== rows.length) {
      const first = rows.findIndex((r) => Array.isArray(r) !== Array.isArray(rows[0]));
      throw new ValidationError('MIXED_INSTANCES', 'Instances must be all objects or all arrays.', ['instances', first]);
    }
    decoded = arrays === 0
      ? decodeRecords(target.layout, rows, (r) => ['instances', r])
      : decodeArrays(target.layout, rows, (r) => ['instances', r]);
  }
  const outputs = await target.session.run(decoded.feeds);
  return { decoded, predictions: recordPredictions(outputs, decoded.rows, target.classifier) };
}

function checkRows(rows: number, maxRows: number, path: FieldPath): void {
  if (rows > maxRows) {
    throw new PayloadTooLargeError('TOO_MANY_ROWS', `This request has ${rows} rows; this endpoint takes at most ${maxRows} per request. Split it into smaller requests.`, path);
  }
}

export class PredictionService {
  private readonly pointers = new Map<string, { version: string; until: number }>();
  private readonly served = new Map<string, Promise<Served>>();
  private readonly now: () => number;
  private readonly elapsed: () => number;

  constructor(private readonly deps: PredictDeps) {
    this.now = deps.now ?? Date.now;
    this.elapsed = deps.elapsed ?? (() => performance.now());
  }

  /** `POST /v1/models/{model}/predict` with the `features` or `instances` form. */
  async predict(model: string, body: unknown, ctx: RequestContext): Promise<PredictResponse> {
    const served = await this.resolve(model);
    const { decoded, predictions } = await predictRecords(served, body, this.deps.config.maxRows);
    const response: PredictResponse = {
      requestId: ctx.requestId,
      model,
      modelVersion: served.version.version,
      functionVersion: this.deps.config.functionVersion,
      predictions,
      processingTimeMs: round3(this.elapsed() - ctx.startedAt),
      timestamp: new Date(this.now()).toISOString(),
    };
    await this.logRequest(served, decoded, predictions, ctx, response.processingTimeMs, response.timestamp);
    return response;
  }

  /** `POST /v2/models/{model}/infer`. */
  async inferV2(model: string, body: unknown, ctx: RequestContext): Promise<V2InferResponse> {
    const request = parseWith(V2RequestSchema, body, V2_HINT);
    const served = await this.resolve(model);
    request.inputs.forEach((input, i) => {
      const spec = served.session.signature.inputs.find((s) => s.name === input.name);
      if (spec && spec.shape.length > 0 && input.shape.length > 0) checkRows(input.shape[0] ?? 0, this.deps.config.maxRows, ['inputs', i, 'shape', 0]);
    });
    const decoded = decodeV2(served.session.signature, request.inputs);
    const known = served.session.signature.outputs.map((o) => o.name);
    const requested = request.outputs?.map((o, i) => {
      if (!known.includes(o.name)) {
        throw new ValidationError('UNKNOWN_OUTPUT', `"${o.name}" is not an output of this model; it has: ${known.join(', ')}.`, ['outputs', i, 'name']);
      }
      return o.name;
    });
    // No `outputs` (or an empty list) asks for all of them; a name asked twice is computed once.
    const wanted = requested && requested.length > 0 ? [...new Set(requested)] : known;
    const outputs = await served.session.run(decoded.feeds, wanted);
    const tensors = v2Outputs(outputs, wanted);
    const processingTimeMs = round3(this.elapsed() - ctx.startedAt);
    const timestamp = new Date(this.now()).toISOString();
    await this.logRequest(served, decoded, tensors, ctx, processingTimeMs, timestamp);
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
  }

  /** `GET /v2/models/{model}`: the served version's signature in v2 terms. */
  async metadataV2(model: string): Promise<V2ModelMetadata> {
    const served = await this.resolve(model);
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
  async ready(model: string): Promise<{ name: string; ready: true; version: string }> {
    const served = await this.resolve(model);
    return { name: model, ready: true, version: served.version.version };
  }

  /** The signature of the version that would serve `model` now (for the CLI and docs). */
  async signature(model: string): Promise<ModelSignature> {
    return (await this.resolve(model)).session.signature;
  }

  /** Which version serves `model`: the pinned one, else the registry's production version. */
  private async resolve(model: string): Promise<Served> {
    const { config } = this.deps;
    if (config.servedModel !== undefined && model !== config.servedModel) throw unknownModel(model);
    const version = config.pinnedVersion ?? (await this.productionVersion(model));
    return this.session(model, version);
  }

  /**
   * The registry's production version, trusted for `pointerCacheMs`. When the registry cannot
   * be read, the last production version seen here keeps serving (its session is loaded) rather
   * than failing requests that were served a moment ago, and is trusted for another
   * `pointerCacheMs` so an outage does not add a failing registry call to every request.
   */
  private async productionVersion(model: string): Promise<string> {
    const cached = this.pointers.get(model);
    if (cached && cached.until > this.now()) return cached.version;
    let version: string;
    try {
      const record = await this.deps.registry.getModel(model);
      if (!record) throw unknownModel(model);
      if (record.productionVersion === undefined) {
        throw new NotFoundError('NO_PRODUCTION_VERSION', `Model "${model}" has no production version yet; promote one first.`, ['model']);
      }
      version = record.productionVersion;
    } catch (error) {
      if (!cached || error instanceof AppError) throw error;
      version = cached.version;
    }
    this.pointers.set(model, { version, until: this.now() + this.deps.config.pointerCacheMs });
    return version;
  }

  /** The loaded version, created once per process (a failed load is retried next time). */
  private session(model: string, version: string): Promise<Served> {
    const key = `${model}@${version}`;
    let served = this.served.get(key);
    if (!served) {
      served = this.load(model, version);
      this.served.set(key, served);
      // A failed load (e.g. S3 briefly down) must not stick for the life of the process.
      served.catch(() => this.served.delete(key));
    }
    return served;
  }

  private async load(model: string, versionId: string): Promise<Served> {
    const version = await this.deps.registry.getVersion(model, versionId);
    if (!version) throw new NotFoundError('VERSION_NOT_FOUND', `Model "${model}" has no version ${versionId}.`, ['model']);
    return served(version, await this.deps.runtime.load(version));
  }

  private async logRequest(
    served: Served,
    decoded: DecodedInputs,
    outputs: unknown,
    ctx: RequestContext,
    latencyMs: number,
    timestamp: string,
  ): Promise<void> {
    const { config, log } = this.deps;
    const { json, truncated } = boundedJson(outputs, config.maxLoggedOutputBytes);
    const record: PredictionLogRecord = {
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
      expiresAt: Math.floor(this.now() / 1000) + config.logTtlDays * 86_400,
    };
    await log.write(record);
  }
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
