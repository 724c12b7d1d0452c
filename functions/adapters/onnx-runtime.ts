/**
 * ONNX Runtime implementation of the `ModelRuntime` port (onnxruntime-node). One session per
 * model version per process, created once (a memoized promise); the artifact is fetched once,
 * verified against its recorded sha256 and cached under /tmp for the life of the sandbox.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InternalError, ValidationError } from '../core/errors.js';
import { TENSOR_TYPES, type Dim, type ModelSignature, type ModelVersion, type TensorSpec, type TensorType } from '../core/model.js';
import { NO_TRACING, SPAN, type Tracing } from '../core/observability.js';
import type { ArtifactStore, ModelRuntime, ModelSession } from '../core/ports.js';
import type { TensorData, TensorMap } from '../core/tensor.js';

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
  private readonly sessions = new Map<string, Promise<ModelSession>>();
  private readonly cacheDir: string;
  private readonly options: ort.InferenceSession.SessionOptions;
  private readonly tracing: Tracing;

  constructor(
    private readonly artifacts: ArtifactStore,
    options: OnnxRuntimeOptions = {},
  ) {
    this.cacheDir = options.cacheDir ?? '/tmp/models';
    this.tracing = options.tracing ?? NO_TRACING;
    this.options = {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      executionMode: 'sequential',
      interOpNumThreads: 1,
      intraOpNumThreads: options.intraOpThreads ?? defaultIntraOpThreads(undefined),
      extra: spinningOption(options.spinning ?? true),
    };
  }

  load(version: ModelVersion): Promise<ModelSession> {
    const key = `${version.model}@${version.version}#${version.artifact.sha256}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = this.open(version);
      this.sessions.set(key, session);
      session.catch(() => this.sessions.delete(key));
    }
    return session;
  }

  async inspect(bytes: Uint8Array): Promise<ModelSignature> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, this.options);
    } catch (error) {
      throw new ValidationError('INVALID_MODEL', `ONNX Runtime cannot load this file: ${firstLine(error)}`, ['model']);
    }
    try {
      return readSignature(session);
    } finally {
      await session.release();
    }
  }

  private async open(version: ModelVersion): Promise<ModelSession> {
    const bytes = await this.tracing.span(SPAN.artifact, () => this.fetchVerified(version));
    const failed = (error: unknown): InternalError =>
      new InternalError('MODEL_LOAD_FAILED', `Model ${version.model} v${version.version} failed to load: ${firstLine(error)}`, { cause: error });
    const session = await this.tracing.span(SPAN.session, () => ort.InferenceSession.create(bytes, this.options)).catch((error: unknown) => {
      throw failed(error);
    });
    try {
      return new OrtSession(session, readSignature(session));
    } catch (error) {
      // A registered version the runtime cannot serve is our failure, not the caller's.
      await session.release().catch(() => undefined);
      throw failed(error);
    }
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

class OrtSession implements ModelSession {
  constructor(
    private readonly session: ort.InferenceSession,
    readonly signature: ModelSignature,
  ) {}

  async run(feeds: TensorMap, outputs?: readonly string[]): Promise<TensorMap> {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.type, t.data, t.shape);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = outputs ? await this.session.run(inputs, outputs) : await this.session.run(inputs);
    } catch (error) {
      throw new InternalError('MODEL_RUN_FAILED', `ONNX Runtime failed to run the model: ${firstLine(error)}`, { cause: error });
    }
    const out: TensorMap = {};
    for (const [name, value] of Object.entries(results)) {
      out[name] = { type: value.type as TensorType, shape: [...value.dims], data: value.data } as TensorData;
    }
    return out;
  }
}

function readSignature(session: ort.InferenceSession): ModelSignature {
  return {
    inputs: session.inputMetadata.map((m) => toSpec(m, 'input')),
    outputs: session.outputMetadata.map((m) => toSpec(m, 'output')),
  };
}

function toSpec(meta: ort.InferenceSession.ValueMetadata, kind: 'input' | 'output'): TensorSpec {
  if (!meta.isTensor && kind === 'input') {
    throw new ValidationError(
      'NON_TENSOR_INPUT',
      `The model's input "${meta.name}" is not a tensor (a sequence or map); the prediction contract sends tensors only.`,
      ['inputs', meta.name],
    );
  }
  if (!meta.isTensor) {
    throw new ValidationError(
      'NON_TENSOR_OUTPUT',
      `The model's output "${meta.name}" is not a tensor (for example a ZipMap of class probabilities); ` +
        'the ONNX Runtime Node binding serves tensors only. Re-export without it, e.g. with skl2onnx: ' +
        "convert_sklearn(model, initial_types=..., options={id(model): {'zipmap': False}}).",
      ['outputs', meta.name],
    );
  }
  if (!ORT_TYPES.has(meta.type)) {
    throw new ValidationError('UNSUPPORTED_TYPE', `The model's ${kind} "${meta.name}" has element type ${meta.type}, which the prediction contract does not carry.`, [kind === 'input' ? 'inputs' : 'outputs', meta.name]);
  }
  const shape: Dim[] = meta.shape.map((d) => (typeof d === 'number' ? (d < 0 ? null : d) : d === '' ? null : d));
  return { name: meta.name, type: meta.type as TensorType, shape };
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 300);
}
