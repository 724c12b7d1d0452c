/**
 * Promotion gates: what a version must prove before it enters staging or production. Each gate
 * either passes or refuses with its own code and the numbers that failed it, so a refused
 * promotion says which gate and why. Gates run in order and stop at the first failure; the
 * later gates build on the earlier ones (the file the runtime loads is the one that was hashed).
 */
import { createHash } from 'node:crypto';
import { AppError, ValidationError } from './errors.js';
import type { ModelSignature, ModelVersion } from './model.js';
import type { ArtifactStore, ModelRuntime } from './ports.js';
import { predictRecords, served } from './predict.js';
import { checkDeclarations } from './declarations.js';

/** The gates, in the order they run. */
export const GATES = ['artifact', 'loads', 'signature', 'golden-inputs', 'metrics'] as const;
export type Gate = (typeof GATES)[number];

/** A gate refused the version (422): `code` is `GATE_<NAME>`, the message has the numbers. */
export class GateError extends AppError {
  constructor(readonly gate: Gate, message: string) {
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

/**
 * Runs every gate on `version`; resolves when all pass, rejects with the first `GateError`.
 *
 * @example
 * await runGates(version, { artifacts, runtime, baselineFor: () => ({ accuracy: { min: 0.7 } }) });
 */
export async function runGates(version: ModelVersion, deps: GateDeps): Promise<void> {
  const bytes = await artifactGate(version, deps.artifacts);
  const signature = await loadsGate(bytes, deps.runtime);
  signatureGate(version, signature);
  await goldenGate(version, deps.runtime);
  metricsGate(version, deps.baselineFor(version.model));
}

async function artifactGate(version: ModelVersion, artifacts: ArtifactStore): Promise<Uint8Array> {
  const { bucket, key, versionId, sha256 } = version.artifact;
  const where = `s3://${bucket}/${key}${versionId ? ` (S3 version ${versionId})` : ''}`;
  let bytes: Uint8Array;
  try {
    bytes = await artifacts.get({ key, ...(versionId ? { versionId } : {}) });
  } catch (error) {
    const reason = error instanceof AppError ? error.message : 'the store could not be read';
    throw new GateError('artifact', `the artifact ${where} cannot be read: ${reason}`);
  }
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new GateError('artifact', `the artifact ${where} has sha256 ${actual}; the registry recorded ${sha256}.`);
  return bytes;
}

async function loadsGate(bytes: Uint8Array, runtime: ModelRuntime): Promise<ModelSignature> {
  try {
    return await runtime.inspect(bytes);
  } catch (error) {
    throw new GateError('loads', `ONNX Runtime cannot serve the artifact: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function signatureGate(version: ModelVersion, signature: ModelSignature): void {
  const recorded = JSON.stringify(version.signature);
  if (JSON.stringify(signature) !== recorded) {
    throw new GateError('signature', `the artifact's inputs and outputs ${describe(signature)} differ from those recorded at registration ${describe(version.signature)}.`);
  }
  try {
    checkDeclarations(signature, version.metadata);
  } catch (error) {
    if (error instanceof ValidationError) throw new GateError('signature', error.message);
    throw error;
  }
}

function describe(signature: ModelSignature): string {
  const one = (t: { name: string; type: string; shape: readonly unknown[] }) => `${t.name}:${t.type}[${t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
  return `(${signature.inputs.map(one).join(' ')} → ${signature.outputs.map(one).join(' ')})`;
}

async function goldenGate(version: ModelVersion, runtime: ModelRuntime): Promise<void> {
  const goldens = version.metadata.goldenInputs ?? [];
  if (goldens.length === 0) return;
  const target = served(version, await runtime.load(version));
  for (const [i, golden] of goldens.entries()) {
    let predictions: unknown[];
    try {
      ({ predictions } = await predictRecords(target, golden.request, Number.MAX_SAFE_INTEGER));
    } catch (error) {
      throw new GateError('golden-inputs', `golden input ${i} cannot be served: ${error instanceof Error ? error.message : String(error)}`);
    }
    const tolerance = golden.tolerance ?? DEFAULT_GOLDEN_TOLERANCE;
    const difference = firstDifference(predictions, golden.expected, tolerance, `goldenInputs[${i}].expected`);
    if (difference) throw new GateError('golden-inputs', `golden input ${i} does not reproduce its expected output: ${difference} (tolerance ${tolerance}).`);
  }
}

/** Where `actual` and `expected` first differ (numbers within `tolerance` are equal), or undefined. */
export function firstDifference(actual: unknown, expected: unknown, tolerance: number, path: string): string | undefined {
  if (typeof expected === 'number' && typeof actual === 'number') {
    return Math.abs(actual - expected) <= tolerance ? undefined : `${path} is ${actual}, expected ${expected}`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path} has ${Array.isArray(actual) ? actual.length : 'no'} items, expected ${expected.length}`;
    for (let i = 0; i < expected.length; i++) {
      const d = firstDifference(actual[i], expected[i], tolerance, `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path} is not an object`;
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const keys = new Set([...Object.keys(a), ...Object.keys(e)]);
    for (const key of keys) {
      const d = firstDifference(a[key], e[key], tolerance, `${path}.${key}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(actual, expected) ? undefined : `${path} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`;
}

function metricsGate(version: ModelVersion, baseline: MetricBaseline | undefined): void {
  if (!baseline) return;
  const declared = version.metadata.metrics ?? {};
  for (const [name, bound] of Object.entries(baseline)) {
    const value = declared[name];
    if (value === undefined) throw new GateError('metrics', `the version declares no "${name}"; this endpoint requires ${bounds(bound)}.`);
    if (bound.min !== undefined && value < bound.min) throw new GateError('metrics', `${name} ${value} is below the endpoint's baseline ${bound.min}.`);
    if (bound.max !== undefined && value > bound.max) throw new GateError('metrics', `${name} ${value} is above the endpoint's baseline ${bound.max}.`);
  }
}

function bounds(bound: MetricBound): string {
  return [bound.min !== undefined ? `≥ ${bound.min}` : '', bound.max !== undefined ? `≤ ${bound.max}` : ''].filter(Boolean).join(' and ');
}
