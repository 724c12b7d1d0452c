/**
 * Promotion gates: what a version must prove before it enters staging or production. Each gate
 * either passes or refuses with its own code and the numbers that failed it, so a refused
 * promotion says which gate and why. Gates run in order and stop at the first failure; the
 * later gates build on the earlier ones (the file the runtime loads is the one that was hashed).
 */
import { createHash } from 'node:crypto';
import { AppError, InternalError, ValidationError, clip, formatPath, type FieldPath } from './errors.js';
import type { GoldenInput, ModelSignature, ModelVersion } from './model.js';
import type { ArtifactStore, ModelRuntime, ModelSession, SessionLease } from './ports.js';
import { predictRecords, served, type Served } from './predict.js';
import { checkDeclarations } from './declarations.js';

/**
 * The gates that can refuse a version (422), in the order they run. Before them the artifact is
 * read and its sha256 checked (`artifactGate`): a file that is gone or altered is our side's
 * fault, a 500, never a refusal of the version.
 */
export const GATES = ['loads', 'signature', 'golden-inputs', 'metrics'] as const;
export type Gate = (typeof GATES)[number];

/** A gate refused the version (422): `code` is `GATE_<NAME>`, the message has the numbers. */
export class GateError extends AppError {
  constructor(
    readonly gate: Gate,
    message: string,
  ) {
    super(422, `GATE_${gate.toUpperCase().replace('-', '_')}`, `Gate "${gate}" refused the promotion: ${message}`, ['version']);
  }
}

/** A bound on one declared metric: at least `min`, at most `max` (e.g. accuracy ≥ 0.7). */
export interface MetricBound {
  readonly min?: number;
  readonly max?: number;
}

/** The metrics an endpoint requires of any version it will serve, by metric name. */
export type MetricBaseline = Readonly<Record<string, MetricBound>>;

export interface GateDeps {
  readonly artifacts: ArtifactStore;
  readonly runtime: ModelRuntime;
  /** The baseline for a model (`undefined`: no metrics gate for it). */
  readonly baselineFor: (model: string) => MetricBaseline | undefined;
}

/** Default absolute tolerance when comparing golden outputs. */
export const DEFAULT_GOLDEN_TOLERANCE = 1e-5;

/** Rows one golden input may hold: the predict route's default `MAX_ROWS`. */
export const MAX_GOLDEN_ROWS = 1_000;

/**
 * Runs every gate on `version`; resolves when all pass, rejects with the first `GateError`. The
 * file is opened once, from the bytes the artifact gate verified, and freed before this returns
 * (gating a version keeps no session in the process).
 *
 * @example
 * await runGates(version, { artifacts, runtime, baselineFor: () => ({ accuracy: { min: 0.7 } }) });
 */
export async function runGates(version: ModelVersion, deps: GateDeps): Promise<void> {
  const bytes = await artifactGate(version, deps.artifacts);
  const session = await loadsGate(bytes, deps.runtime);
  try {
    signatureGate(version, session.signature);
    await goldenGate(version, session);
  } finally {
    session.release();
  }
  metricsGate(version, deps.baselineFor(version.model));
}

/**
 * The file as registered. A file that is gone, unreadable or altered is our side's fault (the
 * store lost or changed what registration wrote), not the caller's: a 5xx with the store's own
 * code (`ARTIFACT_NOT_FOUND`, `ARTIFACT_STORE_FAILED`, `ARTIFACT_INTEGRITY`), the location only in
 * the log, never a 422 that would count as the version's refusal.
 */
async function artifactGate(version: ModelVersion, artifacts: ArtifactStore): Promise<Uint8Array> {
  const { bucket, key, versionId, sha256 } = version.artifact;
  const where = `s3://${bucket}/${key}${versionId ? ` (S3 version ${versionId})` : ''}`;
  let bytes: Uint8Array;
  try {
    bytes = await artifacts.get({ key, ...(versionId ? { versionId } : {}) });
  } catch (error) {
    if (error instanceof AppError && error.status >= 500) throw error;
    const code = error instanceof AppError ? error.code : 'ARTIFACT_STORE_FAILED';
    throw new InternalError(code, `Gate "artifact": the artifact ${where} of ${version.model} v${version.version} cannot be read.`, {
      cause: error,
    });
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) {
    throw new InternalError(
      'ARTIFACT_INTEGRITY',
      `Gate "artifact": the artifact ${where} of ${version.model} v${version.version} has sha256 ${actual}; the registry recorded ${sha256}.`,
    );
  }
  return bytes;
}

async function loadsGate(bytes: Uint8Array, runtime: ModelRuntime): Promise<SessionLease> {
  try {
    return await runtime.open(bytes);
  } catch (error) {
    const reason = error instanceof AppError && error.status < 500 ? error.message : 'it failed to create a session';
    throw new GateError('loads', `ONNX Runtime cannot serve the artifact: ${reason}`);
  }
}

function signatureGate(version: ModelVersion, signature: ModelSignature): void {
  const recorded = JSON.stringify(version.signature);
  if (JSON.stringify(signature) !== recorded) {
    throw new GateError(
      'signature',
      `the artifact's inputs and outputs ${describe(signature)} differ from those recorded at registration ${describe(version.signature)}.`,
    );
  }
  try {
    checkDeclarations(signature, version.metadata);
  } catch (error) {
    if (error instanceof ValidationError) throw new GateError('signature', error.message);
    throw error;
  }
}

function describe(signature: ModelSignature): string {
  const one = (t: { name: string; type: string; shape: readonly unknown[] }) =>
    `${t.name}:${t.type}[${t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
  return `(${signature.inputs.map(one).join(' ')} → ${signature.outputs.map(one).join(' ')})`;
}

async function goldenGate(version: ModelVersion, session: ModelSession): Promise<void> {
  const failure = await replayGoldenInputs(served(version, session), version.metadata.goldenInputs ?? []);
  if (!failure) return;
  const where = `golden input ${failure.index}`;
  throw new GateError(
    'golden-inputs',
    failure.part === 'request'
      ? `${where} cannot be served: ${failure.message}`
      : `${where} does not reproduce its expected output: ${formatPath(['goldenInputs', failure.index, 'expected', ...failure.path])} ${failure.message}.`,
  );
}

/** The first golden input a model does not reproduce: which one, which part of it, and why. */
export interface GoldenFailure {
  /** Its index in `goldenInputs`. */
  readonly index: number;
  /** `request`: the model cannot take the request; `expected`: it answers something else. */
  readonly part: 'request' | 'expected';
  /** Where in that part (`['instances', 0]`, `[0, 'probabilities', 'setosa']`). */
  readonly path: FieldPath;
  /**
   * What is wrong, for a person: the codec's refusal of the request (its `code` alongside), or
   * `is 0.3, expected 0.2 (tolerance 0.00001)`. Quotes at most a short excerpt of what was sent.
   */
  readonly message: string;
  /** The refusal's own code when the request was refused (`SHAPE_MISMATCH`, `MODEL_RUN_FAILED`, ...). */
  readonly code?: string;
}

/**
 * Replays golden inputs on a session, in order, and returns the first one that fails (or
 * `undefined`): its request is served exactly as the predict route serves it (at most
 * {@link MAX_GOLDEN_ROWS} rows), and the predictions must equal `expected` within its
 * tolerance ({@link DEFAULT_GOLDEN_TOLERANCE} by default). One implementation for the
 * golden-inputs gate and for registration, which refuses such metadata up front.
 *
 * @example
 * const failure = await replayGoldenInputs(served(version, session), version.metadata.goldenInputs ?? []);
 * // { index: 0, part: 'request', path: ['instances', 0], code: 'SHAPE_MISMATCH', message: '...' }
 */
export async function replayGoldenInputs(target: Served, goldens: readonly GoldenInput[]): Promise<GoldenFailure | undefined> {
  for (const [index, golden] of goldens.entries()) {
    let predictions: unknown[];
    try {
      ({ predictions } = await predictRecords(target, golden.request, MAX_GOLDEN_ROWS));
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      // A run that fails is this request's doing (the same session serves the others); ONNX
      // Runtime's own text stays out of the message.
      // MODEL_RUN_FAILED's message is public by construction (ORT's reason without its
      // internals, `publicOrtReason`): it is the reason the author needs. Other 5xx say nothing.
      if (error.status >= 500) {
        const reason = error.code === 'MODEL_RUN_FAILED' ? error.message : 'ONNX Runtime failed to run it on this model.';
        return { index, part: 'request', path: [], code: error.code, message: reason };
      }
      return { index, part: 'request', path: error.path, code: error.code, message: error.message };
    }
    const tolerance = golden.tolerance ?? DEFAULT_GOLDEN_TOLERANCE;
    const difference = findDifference(predictions, golden.expected, tolerance);
    if (difference) return { index, part: 'expected', path: difference.path, message: `${difference.message} (tolerance ${tolerance})` };
  }
  return undefined;
}

/** Where two values first differ, and how (`is 0.3, expected 0.2`). */
export interface Difference {
  readonly path: FieldPath;
  readonly message: string;
}

/**
 * Where `actual` and `expected` first differ (numbers within `tolerance` are equal), or
 * undefined. Values and keys are quoted as short excerpts (`clip`): `expected` is the caller's.
 */
export function findDifference(actual: unknown, expected: unknown, tolerance: number, path: FieldPath = []): Difference | undefined {
  if (typeof expected === 'number' && typeof actual === 'number') {
    return Math.abs(actual - expected) <= tolerance ? undefined : { path, message: `is ${actual}, expected ${expected}` };
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length)
      return { path, message: `has ${Array.isArray(actual) ? actual.length : 'no'} items, expected ${expected.length}` };
    for (let i = 0; i < expected.length; i++) {
      const d = findDifference(actual[i], expected[i], tolerance, [...path, i]);
      if (d) return d;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return { path, message: 'is not an object' };
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    for (const key of new Set([...Object.keys(a), ...Object.keys(e)])) {
      const d = findDifference(Object.hasOwn(a, key) ? a[key] : undefined, Object.hasOwn(e, key) ? e[key] : undefined, tolerance, [
        ...path,
        clip(key, 60),
      ]);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(actual, expected) ? undefined : { path, message: `is ${quote(actual)}, expected ${quote(expected)}` };
}

/** {@link findDifference} as one line under `path` (`goldenInputs[0].expected[0].label is "a", expected "b"`). */
export function firstDifference(actual: unknown, expected: unknown, tolerance: number, path: string): string | undefined {
  const difference = findDifference(actual, expected, tolerance);
  return difference && `${path}${formatPath(['', ...difference.path])} ${difference.message}`;
}

function quote(value: unknown): string {
  return value === undefined ? 'undefined' : clip(JSON.stringify(value) ?? String(value), 80);
}

function metricsGate(version: ModelVersion, baseline: MetricBaseline | undefined): void {
  if (!baseline) return;
  const declared = version.metadata.metrics ?? {};
  for (const [name, bound] of Object.entries(baseline)) {
    // Own keys only: a baseline metric named `constructor` is not found on every version.
    const value = Object.hasOwn(declared, name) ? declared[name] : undefined;
    if (value === undefined) throw new GateError('metrics', `the version declares no "${name}"; this endpoint requires ${bounds(bound)}.`);
    if (bound.min !== undefined && value < bound.min)
      throw new GateError('metrics', `${name} ${value} is below the endpoint's baseline ${bound.min}.`);
    if (bound.max !== undefined && value > bound.max)
      throw new GateError('metrics', `${name} ${value} is above the endpoint's baseline ${bound.max}.`);
  }
}

function bounds(bound: MetricBound): string {
  return [bound.min !== undefined ? `≥ ${bound.min}` : '', bound.max !== undefined ? `≤ ${bound.max}` : ''].filter(Boolean).join(' and ');
}
