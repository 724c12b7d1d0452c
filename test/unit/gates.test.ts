/**
 * The promotion gates, each shown with a version that fails that gate only, through the registry
 * service with real ONNX Runtime sessions over in-memory ports.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { InternalError } from '../../functions/core/errors.js';
import { GateError, findDifference, firstDifference, type MetricBaseline } from '../../functions/core/gates.js';
import type { ModelMetadata, ModelSignature } from '../../functions/core/model.js';
import { predictRecords, served } from '../../functions/core/predict.js';
import { RegistryService, artifactKey } from '../../functions/core/registry.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';
import { mlpModel } from '../fixtures/models.js';

const FEATURES = ['a', 'b', 'c', 'd'];
const LABELS = ['x', 'y', 'z'];
const row = { a: 0.1, b: -0.4, c: 0.9, d: 0.3 };

function setup(baseline?: MetricBaseline) {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'gates-test-cache'), intraOpThreads: 1 });
  const service = new RegistryService({
    registry,
    artifacts,
    runtime,
    maxArtifactBytes: 1_000_000,
    ...(baseline ? { baselineFor: (model: string) => (model === 'm' ? baseline : undefined) } : {}),
  });
  return { registry, artifacts, service };
}

/** The predictions the model really makes for `row`: what its golden input should expect. */
async function truePredictions(): Promise<unknown[]> {
  const { service, artifacts } = setup();
  const version = await service.register({
    model: 'probe',
    bytes: mlpModel().bytes,
    metadata: { features: FEATURES, classLabels: LABELS },
    actor: 't',
  });
  const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'gates-test-cache'), intraOpThreads: 1 });
  const lease = await runtime.load(version);
  try {
    const { predictions } = await predictRecords(served(version, lease), { features: row }, 10);
    return predictions;
  } finally {
    lease.release();
  }
}

/**
 * Stores the model and records a version of it straight in the registry, bypassing the checks
 * of registration: a version recorded before they existed, which only the gate still guards.
 */
async function recordDirectly(registry: InMemoryModelRegistry, artifacts: InMemoryArtifactStore, metadata: ModelMetadata): Promise<void> {
  const bytes = mlpModel().bytes;
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const { key, versionId } = await artifacts.put(artifactKey('m', sha256), bytes);
  const runtime = new OnnxRuntime(artifacts, { cacheDir: path.join(os.tmpdir(), 'gates-test-cache'), intraOpThreads: 1 });
  await registry.createVersion({
    model: 'm',
    metadata,
    registeredBy: 't',
    registeredAt: '2026-01-01T00:00:00.000Z',
    signature: await runtime.inspect(bytes),
    artifact: { bucket: artifacts.bucket, key, versionId, sha256, sizeBytes: bytes.length },
  });
}

/** A gate that failed on our side (the store lost or changed the file): a 5xx, never a 422. */
async function failedWith(promise: Promise<unknown>): Promise<InternalError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(InternalError);
  expect(error.status).toBe(500);
  return error as InternalError;
}

async function refusedWith(promise: Promise<unknown>): Promise<GateError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(GateError);
  expect(error.status).toBe(422);
  return error as GateError;
}

const goodMetadata = (expected: unknown[]): ModelMetadata => ({
  features: FEATURES,
  classLabels: LABELS,
  metrics: { accuracy: 0.91 },
  goldenInputs: [{ request: { features: row }, expected }],
});

describe('promotion gates', () => {
  let expected: unknown[];

  beforeAll(async () => {
    expected = await truePredictions();
  });

  it('a version that passes every gate is staged and promoted', async () => {
    const { service } = setup({ accuracy: { min: 0.7 } });
    await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: goodMetadata(expected), actor: 't' });

    await service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' });
    const record = await service.setProduction('m', '1', 't');

    expect(record.productionVersion).toBe('1');
  });

  it("artifact: the stored file no longer has the recorded sha256 (our side's fault: a 500, not a refusal)", async () => {
    const { service, artifacts } = setup();
    const version = await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: goodMetadata(expected), actor: 't' });
    artifacts.tamper(version.artifact.key, mlpModel({ seed: 9 }).bytes);

    const error = await failedWith(service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' }));

    expect(error.code).toBe('ARTIFACT_INTEGRITY');
    expect(error.message).toContain(`the registry recorded ${version.artifact.sha256}`);
  });

  it('artifact: the stored file is gone (a 500)', async () => {
    const { service, registry } = setup();
    const bytes = mlpModel().bytes;
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await registry.createVersion({
      model: 'm',
      metadata: goodMetadata(expected),
      registeredBy: 't',
      registeredAt: '2026-01-01T00:00:00.000Z',
      signature: { inputs: [], outputs: [] },
      artifact: { bucket: 'test-artifacts', key: artifactKey('m', sha256), sha256, sizeBytes: bytes.length },
    });

    const error = await failedWith(service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' }));

    expect(error.code).toBe('ARTIFACT_NOT_FOUND');
  });

  it('loads: the file (with the right sha256) is not a model ONNX Runtime can load', async () => {
    const { service, registry, artifacts } = setup();
    const bytes = new TextEncoder().encode('definitely not onnx');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const { key, versionId } = await artifacts.put(artifactKey('m', sha256), bytes);
    await registry.createVersion({
      model: 'm',
      metadata: {},
      registeredBy: 't',
      registeredAt: '2026-01-01T00:00:00.000Z',
      signature: { inputs: [], outputs: [] },
      artifact: { bucket: artifacts.bucket, key, versionId, sha256, sizeBytes: bytes.length },
    });

    const error = await refusedWith(service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' }));

    expect(error.code).toBe('GATE_LOADS');
    expect(error.message).toContain('ONNX Runtime cannot serve the artifact');
  });

  it('signature: the file differs from the signature recorded at registration', async () => {
    const { service, registry } = setup();
    const real = await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: {}, actor: 't' });
    const forged: ModelSignature = { inputs: [{ name: 'input', type: 'float32', shape: ['N', 5] }], outputs: real.signature.outputs };
    await registry.createVersion({ ...real, signature: forged, model: 'm' });

    const error = await refusedWith(service.transition({ model: 'm', version: '2', to: 'staging', actor: 't' }));

    expect(error.code).toBe('GATE_SIGNATURE');
    expect(error.message).toContain('input:float32[N,4]');
    expect(error.message).toContain('input:float32[N,5]');
  });

  it('golden-inputs: the model does not reproduce an expected output (a version recorded before registration checked them)', async () => {
    const { service, registry, artifacts } = setup();
    const wrong = structuredClone(expected) as { label: string; probabilities: Record<string, number> }[];
    const first = wrong[0] as { label: string; confidence: number; probabilities: Record<string, number> };
    const label = first.label;
    first.probabilities[label] = (first.probabilities[label] ?? 0) + 0.01;
    await recordDirectly(registry, artifacts, goodMetadata(wrong));

    const error = await refusedWith(service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' }));

    expect(error.code).toBe('GATE_GOLDEN_INPUTS');
    expect(error.message).toContain(
      `golden input 0 does not reproduce its expected output: goldenInputs[0].expected[0].probabilities.${label} is`,
    );
    expect(error.message).toContain(`(tolerance ${1e-5})`);
  });

  it('golden-inputs: a golden request the model cannot take (a version recorded before registration checked them)', async () => {
    const { service, registry, artifacts } = setup();
    await recordDirectly(registry, artifacts, { features: FEATURES, goldenInputs: [{ request: { features: { a: 1 } }, expected: [{}] }] });

    const error = await refusedWith(service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' }));

    expect(error.code).toBe('GATE_GOLDEN_INPUTS');
    expect(error.message).toContain('golden input 0 cannot be served: Feature "b" is missing');
  });

  it('metrics: a declared metric below the endpoint baseline, and one not declared', async () => {
    const { service } = setup({ accuracy: { min: 0.7 }, latency_ms: { max: 50 } });
    await service.register({
      model: 'm',
      bytes: mlpModel().bytes,
      metadata: { ...goodMetadata(expected), metrics: { accuracy: 0.65, latency_ms: 3 } },
      actor: 't',
    });
    await service.register({
      model: 'm',
      bytes: mlpModel().bytes,
      metadata: { ...goodMetadata(expected), metrics: { accuracy: 0.8 } },
      actor: 't',
    });

    const low = await refusedWith(service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' }));
    const missing = await refusedWith(service.transition({ model: 'm', version: '2', to: 'staging', actor: 't' }));

    expect(low).toMatchObject({
      code: 'GATE_METRICS',
      message: `Gate "metrics" refused the promotion: accuracy 0.65 is below the endpoint's baseline 0.7.`,
    });
    expect(missing).toMatchObject({
      code: 'GATE_METRICS',
      message: expect.stringContaining('declares no "latency_ms"; this endpoint requires ≤ 50'),
    });
  });

  it('gates also guard staging → production (a file tampered after staging)', async () => {
    const { service, artifacts } = setup();
    const version = await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: goodMetadata(expected), actor: 't' });
    await service.transition({ model: 'm', version: '1', to: 'staging', actor: 't' });
    artifacts.tamper(version.artifact.key, new Uint8Array([1, 2, 3]));

    const error = await failedWith(service.setProduction('m', '1', 't'));

    expect(error.code).toBe('ARTIFACT_INTEGRITY');
    expect((await service.describeModel('m')).productionVersion).toBeUndefined();
  });

  it('archiving needs no gate', async () => {
    const { service, artifacts } = setup();
    const version = await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: {}, actor: 't' });
    artifacts.tamper(version.artifact.key, new Uint8Array([1]));
    await service.transition({ model: 'm', version: '1', to: 'archived', actor: 't' });
    expect((await service.getVersion('m', '1')).stage).toBe('archived');
  });
});

describe('firstDifference', () => {
  it('compares numbers within the tolerance, and names the first path that differs', () => {
    expect(firstDifference({ p: [0.1, 0.2] }, { p: [0.1000001, 0.2] }, 1e-5, 'e')).toBeUndefined();
    expect(firstDifference({ p: [0.1, 0.3] }, { p: [0.1, 0.2] }, 1e-5, 'e')).toBe('e.p[1] is 0.3, expected 0.2');
    expect(firstDifference({ label: 'a' }, { label: 'b' }, 1, 'e')).toBe('e.label is "a", expected "b"');
    expect(firstDifference([1], [1, 2], 0, 'e')).toBe('e has 1 items, expected 2');
    expect(firstDifference({ extra: 1 }, {}, 0, 'e')).toBe('e.extra is 1, expected undefined');
  });

  it("quotes the caller's values and keys as short excerpts", () => {
    const long = 'k'.repeat(10_000);
    const difference = findDifference({ label: 'a' }, { label: long, [long]: 1 }, 0);
    expect(difference?.path).toEqual(['label']);
    expect(difference?.message.length).toBeLessThan(200);
    const key = findDifference({}, { [long]: 1 }, 0);
    expect(String(key?.path[0]).length).toBeLessThan(100);
  });
});
