/**
 * ONNX Runtime implementation of the `ModelRuntime` port (onnxruntime-node). The sessions of
 * registered versions live in a {@link SessionCache} bounded by count and bytes: each is created
 * once while cached (concurrent loads share it), handed out as leases, and freed
 * (`InferenceSession.release()`) when evicted idle. The artifact is verified against its
 * recorded sha256 and its file cached under /tmp for the life of the sandbox.
 *
 * ONNX Runtime's own error texts quote its C++ sources; callers get only their actionable part
 * (`ort-errors.ts`), the whole text goes to the log.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AppError, InternalError, ValidationError, clip } from '../core/errors.js';
import { TENSOR_TYPES, type Dim, type ModelSignature, type ModelVersion, type TensorSpec, type TensorType } from '../core/model.js';
import { NO_TRACING, SPAN, type Tracing } from '../core/observability.js';
import type { ArtifactStore, ModelRuntime, ModelSession, SessionLease } from '../core/ports.js';
import type { TensorData, TensorMap } from '../core/tensor.js';
import { publicOrtReason } from './ort-errors.js';
import { SessionCache, type SessionCacheLimits, type SessionCacheStats } from './session-cache.js';

export interface OnnxRuntimeOptions {
  /** Directory for verified artifacts. @default /tmp/models */
  readonly cacheDir?: string;
  /** Intra-op threads. @default {@link defaultIntraOpThreads} */
  readonly intraOpThreads?: number;
  /**
   * Whether idle intra-op threads spin waiting for work (ONNX Runtime's default: on). The
   * benchmark (docs/BENCHMARKS.md, section 7) keeps it on: with two threads it gives the lowest
   * latency, at the price of CPU burnt after isolated calls (about 3 ms per single-row call of
   * the tree ensemble), which a Lambda sandbox serving one request at a time does not feel. Turn
   * it off where many requests share a process's cores. @default true
   */
  readonly spinning?: boolean;
  /** Spans around the artifact fetch and the session create. @default none */
  readonly tracing?: Tracing;
  /**
   * How many sessions of registered versions, and how many bytes of them, stay loaded.
   * @default {@link DEFAULT_SESSION_LIMITS}
   */
  readonly sessions?: SessionCacheLimits;
  /**
   * Where what callers are not shown goes: ONNX Runtime's whole error text when a model file is
   * refused, a session that could not be freed. @default nothing is written
   */
  readonly log?: (level: 'WARN' | 'ERROR', message: string, fields: Record<string, unknown>) => void;
}

/**
 * Sessions kept per process unless configured (`SESSION_CACHE_MAX_SESSIONS`,
 * `SESSION_CACHE_MAX_BYTES`): 4 sessions, 512 MB. See {@link defaultSessionCacheBytes} for Lambda.
 */
export const DEFAULT_SESSION_LIMITS: SessionCacheLimits = { maxSessions: 4, maxBytes: 512 * 1024 * 1024 };

/**
 * The byte bound for a function with `memoryMb` of memory: 40% of it (the rest is Node, the
 * bundle, the artifact's bytes while a session is created, and requests), or
 * {@link DEFAULT_SESSION_LIMITS} off Lambda. A session counts as its model file's size.
 */
export function defaultSessionCacheBytes(memoryMb: number | undefined): number {
  if (memoryMb !== undefined && memoryMb > 0) return Math.floor(memoryMb * 1024 * 1024 * 0.4);
  return DEFAULT_SESSION_LIMITS.maxBytes;
}

/** The session option that turns spinning on or off (ONNX Runtime's `session.intra_op.allow_spinning`). */
export function spinningOption(spinning: boolean): ort.InferenceSession.SessionOptions['extra'] {
  return { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } };
}

/**
 * Lambda gives CPU in proportion to memory: one vCPU at 1,769 MB, up to six at 10,240 MB
 * (AWS Lambda documentation, "Configuring function memory"). More ORT threads than vCPUs only
 * contend, so the default follows the function's memory on Lambda (the nearest whole number of
 * vCPUs it buys: 1 up to 2,653 MB, 2 from 2,654 MB, ...) and the core count elsewhere.
 */
export function defaultIntraOpThreads(memoryMb: number | undefined, cores = availableParallelism()): number {
  if (memoryMb !== undefined && memoryMb > 0) return Math.max(1, Math.min(6, Math.round(memoryMb / 1769), cores));
  return Math.max(1, Math.min(cores, 4));
}

const ORT_TYPES = new Set<string>(TENSOR_TYPES);
const SHA256_HEX = /^[0-9a-f]{64}$/;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class OnnxRuntime implements ModelRuntime {
  private readonly sessions: SessionCache<OrtSession>;
  private readonly cacheDir: string;
  private readonly options: ort.InferenceSession.SessionOptions;
  private readonly tracing: Tracing;
  private readonly log: NonNullable<OnnxRuntimeOptions['log']>;

  constructor(
    private readonly artifacts: ArtifactStore,
    options: OnnxRuntimeOptions = {},
  ) {
    this.cacheDir = options.cacheDir ?? '/tmp/models';
    this.tracing = options.tracing ?? NO_TRACING;
    this.log = options.log ?? (() => undefined);
    this.options = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      interOpNumThreads: 1,
      intraOpNumThreads: options.intraOpThreads ?? defaultIntraOpThreads(undefined),
      extra: spinningOption(options.spinning ?? true),
      // ONNX Runtime's own log line for a failed run (an unstructured `[E:onnxruntime:…]` on stderr)
      // says what the thrown error says; the error is what we log, as JSON with the request's keys.
      logSeverityLevel: 4,
    };
    this.sessions = new SessionCache<OrtSession>(
      options.sessions ?? DEFAULT_SESSION_LIMITS,
      (session) => session.free(),
      (error, key) =>
        this.log('ERROR', 'model session could not be released', { session: key, error: publicOrtReason(error).detail.slice(0, 2_000) }),
    );
  }

  async load(version: ModelVersion): Promise<SessionLease> {
    const key = `${version.model}@${version.version}#${version.artifact.sha256}`;
    const lease = await this.sessions.acquire(key, version.artifact.sizeBytes, () => this.create(version));
    return new Lease(lease.session, lease.created, () => lease.release());
  }

  async open(bytes: Uint8Array): Promise<SessionLease> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, this.options);
    } catch (error) {
      throw this.refused(error, bytes);
    }
    const opened = new OrtSession(session, await signatureOrFree(session));
    return new Lease(opened, true, () => {
      void opened
        .free()
        .catch((error: unknown) =>
          this.log('ERROR', 'model session could not be released', { error: publicOrtReason(error).detail.slice(0, 2_000) }),
        );
    });
  }

  async inspect(bytes: Uint8Array): Promise<ModelSignature> {
    const lease = await this.open(bytes);
    lease.release();
    return lease.signature;
  }

  /** What the session cache holds: sessions, their bytes, those in use, those freed so far. */
  sessionStats(): SessionCacheStats {
    return this.sessions.stats();
  }

  /**
   * The caller's file cannot be loaded: 400 `INVALID_MODEL` with the actionable part of ORT's
   * reason; the whole text, with a reference the message quotes, goes to the log.
   */
  private refused(error: unknown, bytes: Uint8Array): ValidationError {
    const reason = publicOrtReason(error);
    this.log('WARN', 'ONNX Runtime refused a model file', {
      reference: reason.reference,
      sizeBytes: bytes.byteLength,
      sha256: sha256Hex(bytes),
      ortMessage: reason.detail.slice(0, 4_000),
    });
    return new ValidationError('INVALID_MODEL', `ONNX Runtime cannot load this file: ${reason.public}`, ['model']);
  }

  /** A registered version's session and its size (its file's): our side's failure is a 5xx. */
  private async create(version: ModelVersion): Promise<{ session: OrtSession; bytes: number }> {
    const bytes = await this.tracing.span(SPAN.artifact, () => this.fetchVerified(version));
    const failed = (error: unknown): InternalError =>
      new InternalError(
        'MODEL_LOAD_FAILED',
        `Model ${version.model} v${version.version} failed to load: ${error instanceof AppError ? error.message : publicOrtReason(error).detail.slice(0, 2_000)}`,
        { cause: error },
      );
    const session = await this.tracing
      .span(SPAN.session, () => ort.InferenceSession.create(bytes, this.options))
      .catch((error: unknown) => {
        throw failed(error);
      });
    // A registered version the runtime cannot serve is our failure, not the caller's.
    const signature = await signatureOrFree(session).catch((error: unknown) => {
      throw failed(error);
    });
    return { session: new OrtSession(session, signature), bytes: bytes.byteLength };
  }

  /** The artifact's bytes, from the /tmp cache when a verified copy is there, else the store. */
  private async fetchVerified(version: ModelVersion): Promise<Uint8Array> {
    const sha256 = version.artifact.sha256.toLowerCase();
    // The digest names the cache file: anything but 64 hex digits could point outside cacheDir.
    if (!SHA256_HEX.test(sha256)) {
      throw new InternalError('ARTIFACT_INTEGRITY', `Model ${version.model} v${version.version} has no valid sha256 recorded.`);
    }
    const cached = join(this.cacheDir, `${sha256}.onnx`);
    const local = await readFile(cached).catch(() => undefined);
    if (local && sha256Hex(local) === sha256) return local;
    const bytes = await this.artifacts.get(version.artifact);
    const actual = sha256Hex(bytes);
    if (actual !== sha256) {
      throw new InternalError(
        'ARTIFACT_INTEGRITY',
        `Artifact of ${version.model} v${version.version} has sha256 ${actual}, the registry recorded ${sha256}.`,
      );
    }
    // Best effort: a full or read-only /tmp only costs the next cold start a fetch. Written
    // under a unique name and renamed, so a reader never sees half a file; a failed write does
    // not leave its partial file behind to fill /tmp.
    const partial = `${cached}.${randomUUID()}.partial`;
    try {
      await mkdir(this.cacheDir, { recursive: true });
      await writeFile(partial, bytes);
      await rename(partial, cached);
    } catch {
      await rm(partial, { force: true }).catch(() => undefined);
    }
    return bytes;
  }
}

/** The signature of a new session; on failure the session is freed before the error goes on. */
async function signatureOrFree(session: ort.InferenceSession): Promise<ModelSignature> {
  try {
    return readSignature(session);
  } catch (error) {
    await session.release().catch(() => undefined);
    throw error;
  }
}

/** One ONNX Runtime session; `free` releases its native memory, once. */
class OrtSession implements ModelSession {
  private freed = false;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly signature: ModelSignature,
  ) {}

  async run(feeds: TensorMap, outputs?: readonly string[]): Promise<TensorMap> {
    let results: ort.InferenceSession.ReturnType;
    try {
      const inputs: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.type, t.data, t.shape);
      results = outputs ? await this.session.run(inputs, outputs) : await this.session.run(inputs);
    } catch (error) {
      // A 5xx: only the log sees this message, but a gate may quote it, so no ORT internals.
      throw new InternalError('MODEL_RUN_FAILED', `ONNX Runtime failed to run the model: ${publicOrtReason(error).public}`, {
        cause: error,
      });
    }
    const out: TensorMap = {};
    for (const [name, value] of Object.entries(results)) {
      let data = value.data;
      // float16 travels as binary16 bit patterns; where the runtime has Float16Array, ORT hands
      // one back: the same bytes, read as bits.
      if (value.type === 'float16' && !(data instanceof Uint16Array)) {
        const view = data as unknown as ArrayBufferView;
        data = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
      }
      out[name] = { type: value.type as TensorType, shape: [...value.dims], data } as TensorData;
    }
    return out;
  }

  async free(): Promise<void> {
    if (this.freed) return;
    this.freed = true;
    await this.session.release();
  }
}

/** A caller's hold on a session: runs through it until released, then refuses. */
class Lease implements SessionLease {
  private released = false;

  constructor(
    private readonly session: OrtSession,
    readonly created: boolean,
    private readonly giveBack: () => void,
  ) {}

  get signature(): ModelSignature {
    return this.session.signature;
  }

  run(feeds: TensorMap, outputs?: readonly string[]): Promise<TensorMap> {
    if (this.released)
      return Promise.reject(new InternalError('SESSION_RELEASED', 'A model session was used after its lease was released.'));
    return this.session.run(feeds, outputs);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.giveBack();
  }
}

function readSignature(session: ort.InferenceSession): ModelSignature {
  return {
    inputs: session.inputMetadata.map((m) => toSpec(m, 'input')),
    outputs: session.outputMetadata.map((m) => toSpec(m, 'output')),
  };
}

function toSpec(meta: ort.InferenceSession.ValueMetadata, kind: 'input' | 'output'): TensorSpec {
  // Names come from the caller's file: quoted as excerpts.
  const name = clip(meta.name, 80);
  if (!meta.isTensor && kind === 'input') {
    throw new ValidationError(
      'NON_TENSOR_INPUT',
      `The model's input "${name}" is not a tensor (a sequence or map); the prediction contract sends tensors only.`,
      ['inputs', name],
    );
  }
  if (!meta.isTensor) {
    throw new ValidationError(
      'NON_TENSOR_OUTPUT',
      `The model's output "${name}" is not a tensor (a sequence, map or optional value); ` +
        'the ONNX Runtime Node binding returns tensors only. A scikit-learn ZipMap output is rewritten to its ' +
        'probability tensor at registration; other non-tensor outputs must be changed in the model to tensors.',
      ['outputs', name],
    );
  }
  if (!ORT_TYPES.has(meta.type)) {
    throw new ValidationError(
      'UNSUPPORTED_TYPE',
      `The model's ${kind} "${name}" has element type ${meta.type}, which the prediction contract does not carry.`,
      [kind === 'input' ? 'inputs' : 'outputs', name],
    );
  }
  const shape: Dim[] = meta.shape.map((d) => (typeof d === 'number' ? (d < 0 ? null : d) : d === '' ? null : d));
  return { name: meta.name, type: meta.type as TensorType, shape };
}
