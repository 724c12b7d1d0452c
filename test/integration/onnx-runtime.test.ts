import { jest } from '@jest/globals';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime, defaultIntraOpThreads, sha256Hex } from '../../functions/adapters/onnx-runtime.js';
import type { ModelVersion } from '../../functions/core/model.js';
import { buildModel } from '../../functions/core/onnx/builder.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, publishModel } from '../fixtures/in-memory.js';
import { identityModel, int64Model, mlpModel, stringInputModel, treeEnsembleClassifier, zipMapClassifier } from '../fixtures/models.js';
import { rejection } from '../fixtures/errors.js';

let cacheDir: string;
let store: InMemoryArtifactStore;
let registry: InMemoryModelRegistry;

beforeEach(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'onnx-runtime-test-'));
  store = new InMemoryArtifactStore();
  registry = new InMemoryModelRegistry();
  jest.restoreAllMocks();
});

afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

async function publish(model: string, bytes: Uint8Array): Promise<ModelVersion> {
  return publishModel(registry, store, { model, bytes, signature: { inputs: [], outputs: [] } });
}


describe('OnnxRuntime.load', () => {
  it('refuses an artifact whose sha256 differs from the registry and does not cache it', async () => {
    // Prepare: the store holds other bytes than the ones the registry recorded
    const version = await publish('iris', mlpModel().bytes);
    store.tamper(version.artifact.key, mlpModel({ seed: 2 }).bytes);
    const runtime = new OnnxRuntime(store, { cacheDir });

    // Act
    const error = await rejection(runtime.load(version));

    // Assess
    expect(error.code).toBe('ARTIFACT_INTEGRITY');
    expect(error.status).toBe(500);
    expect(error.message).toContain(version.artifact.sha256);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('does not keep a failed load: the next call fetches again', async () => {
    // Prepare
    const bytes = mlpModel().bytes;
    const version = await publish('iris', bytes);
    store.tamper(version.artifact.key, new Uint8Array([1, 2, 3]));
    const runtime = new OnnxRuntime(store, { cacheDir });
    await rejection(runtime.load(version));
    store.tamper(version.artifact.key, bytes);

    // Act
    const session = await runtime.load(version);

    // Assess
    expect(store.gets).toBe(2);
    expect(session.signature.inputs[0]?.name).toBe('input');
  });

  it('refuses a recorded sha256 that is not 64 hex digits without touching the store or the disk', async () => {
    // Prepare
    const version = await publish('iris', mlpModel().bytes);
    const forged: ModelVersion = { ...version, artifact: { ...version.artifact, sha256: '../../etc/passwd' } };
    const runtime = new OnnxRuntime(store, { cacheDir });

    // Act
    const error = await rejection(runtime.load(forged));

    // Assess
    expect(error.code).toBe('ARTIFACT_INTEGRITY');
    expect(store.gets).toBe(0);
  });

  it('caches a verified artifact under cacheDir, so a new process loads it without the store', async () => {
    // Prepare
    const bytes = mlpModel().bytes;
    const version = await publish('iris', bytes);
    await new OnnxRuntime(store, { cacheDir }).load(version);
    const getsAfterFirst = store.gets;

    // Act
    const session = await new OnnxRuntime(store, { cacheDir }).load(version);

    // Assess
    expect(getsAfterFirst).toBe(1);
    expect(store.gets).toBe(1);
    expect(await readdir(cacheDir)).toEqual([`${sha256Hex(bytes)}.onnx`]);
    expect(sha256Hex(await readFile(join(cacheDir, `${sha256Hex(bytes)}.onnx`)))).toBe(version.artifact.sha256);
    expect(session.signature.outputs.map((o) => o.name)).toEqual(['probabilities']);
  });

  it('re-fetches and rewrites a corrupted cached file', async () => {
    // Prepare
    const bytes = mlpModel().bytes;
    const version = await publish('iris', bytes);
    const cached = join(cacheDir, `${version.artifact.sha256}.onnx`);
    await new OnnxRuntime(store, { cacheDir }).load(version);
    await writeFile(cached, Buffer.from('not the model'));

    // Act
    const session = await new OnnxRuntime(store, { cacheDir }).load(version);

    // Assess
    expect(store.gets).toBe(2);
    expect(Buffer.from(await readFile(cached)).equals(Buffer.from(bytes))).toBe(true);
    expect(session.signature.inputs).toHaveLength(1);
  });

  it('serves when the cache cannot be written, and leaves no partial file behind', async () => {
    // Prepare: a non-empty directory sits where the cached file would go, so the rename fails
    const version = await publish('iris', mlpModel().bytes);
    const cached = join(cacheDir, `${version.artifact.sha256}.onnx`);
    await mkdir(join(cached, 'occupied'), { recursive: true });

    // Act
    const session = await new OnnxRuntime(store, { cacheDir }).load(version);

    // Assess
    expect(session.signature.inputs).toHaveLength(1);
    expect(store.gets).toBe(1);
    expect(await readdir(cacheDir)).toEqual([`${version.artifact.sha256}.onnx`]);
  });

  it('serves when the cache directory cannot be created', async () => {
    // Prepare: the cache directory would be below a regular file
    const version = await publish('iris', mlpModel().bytes);
    await writeFile(join(cacheDir, 'file'), 'x');

    // Act
    const session = await new OnnxRuntime(store, { cacheDir: join(cacheDir, 'file', 'models') }).load(version);

    // Assess
    expect(session.signature.outputs).toHaveLength(1);
  });

  it('creates one session per version, concurrent calls sharing it', async () => {
    // Prepare
    const version = await publish('iris', mlpModel().bytes);
    const runtime = new OnnxRuntime(store, { cacheDir });
    const create = jest.spyOn(ort.InferenceSession, 'create');

    // Act
    const [a, b] = await Promise.all([runtime.load(version), runtime.load(version)]);
    const c = await runtime.load(version);

    // Assess
    expect(a).toBe(b);
    expect(c).toBe(a);
    expect(store.gets).toBe(1);
    expect(create).toHaveBeenCalledTimes(1);
  });

  it('keeps separate sessions for separate versions', async () => {
    // Prepare
    const one = await publish('iris', mlpModel().bytes);
    const two = await publish('iris', mlpModel({ seed: 9 }).bytes);
    const runtime = new OnnxRuntime(store, { cacheDir });

    // Act
    const [a, b] = await Promise.all([runtime.load(one), runtime.load(two)]);

    // Assess
    expect(a).not.toBe(b);
    expect(store.gets).toBe(2);
  });

  it('fails to load a registered model with a non-tensor output as a server error', async () => {
    // Prepare
    const version = await publish('zip', zipMapClassifier().bytes);
    const runtime = new OnnxRuntime(store, { cacheDir });

    // Act
    const error = await rejection(runtime.load(version));

    // Assess
    expect(error.code).toBe('MODEL_LOAD_FAILED');
    expect(error.status).toBe(500);
    expect(error.message).toContain('output_probability');
  });
});

describe('ModelSession.run', () => {
  it('runs the model on core tensors and returns core tensors', async () => {
    // Prepare
    const version = await publish('ids', int64Model().bytes);
    const session = await new OnnxRuntime(store, { cacheDir }).load(version);

    // Act
    const out = await session.run({ ids: { type: 'int64', shape: [1, 2], data: new BigInt64Array([9007199254740993n, -1n]) } });

    // Assess
    expect(out['next']?.type).toBe('int64');
    expect(out['next']?.shape).toEqual([1, 2]);
    expect(Array.from(out['next']?.data as BigInt64Array)).toEqual([9007199254740994n, 0n]);
  });

  it('computes only the outputs asked for', async () => {
    // Prepare
    const version = await publish('tree', treeEnsembleClassifier().bytes);
    const session = await new OnnxRuntime(store, { cacheDir }).load(version);
    const feeds = { input: { type: 'float32', shape: [1, 4], data: new Float32Array([0.1, 0.5, 0.9, 0.3]) } } as const;

    // Act
    const out = await session.run(feeds, ['probabilities']);

    // Assess
    expect(Object.keys(out)).toEqual(['probabilities']);
  });

  it('reports a run ONNX Runtime refuses as a typed server error', async () => {
    // Prepare
    const version = await publish('strings', stringInputModel().bytes);
    const session = await new OnnxRuntime(store, { cacheDir }).load(version);

    // Act
    const error = await rejection(session.run({ color: { type: 'float32', shape: [1, 1], data: new Float32Array([1]) } }));

    // Assess
    expect(error.code).toBe('MODEL_RUN_FAILED');
    expect(error.status).toBe(500);
  });
});

describe('OnnxRuntime.inspect', () => {
  const runtime = (): OnnxRuntime => new OnnxRuntime(store, { cacheDir });

  it('reads the signature with fixed, symbolic and unknown dims', async () => {
    // Prepare
    const bytes = buildModel({
      inputs: [{ name: 'x', type: 'float64', shape: ['batch_size', 3, null] }],
      outputs: [{ name: 'y', type: 'float64', shape: ['batch_size', 3, null] }],
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
    });

    // Act
    const signature = await runtime().inspect(bytes);

    // Assess
    expect(signature).toEqual({
      inputs: [{ name: 'x', type: 'float64', shape: ['batch_size', 3, null] }],
      outputs: [{ name: 'y', type: 'float64', shape: ['batch_size', 3, null] }],
    });
  });

  it('reads every element type of the contract', async () => {
    for (const type of ['float32', 'int8', 'uint16', 'int64', 'bool', 'string'] as const) {
      const signature = await runtime().inspect(identityModel(type).bytes);
      expect(signature.inputs).toEqual([{ name: 'x', type, shape: ['N', 3] }]);
    }
  });

  it('reads a tree ensemble classifier with its string labels and probabilities', async () => {
    const signature = await runtime().inspect(treeEnsembleClassifier().bytes);
    expect(signature.outputs).toEqual([
      { name: 'label', type: 'string', shape: ['N'] },
      { name: 'probabilities', type: 'float32', shape: ['N', 3] },
    ]);
  });

  it('refuses garbage bytes with INVALID_MODEL (400)', async () => {
    // Act
    const error = await rejection(runtime().inspect(new TextEncoder().encode('this is not an onnx file')));

    // Assess
    expect(error.code).toBe('INVALID_MODEL');
    expect(error.status).toBe(400);
    expect(error.message).toContain('ONNX Runtime cannot load this file');
  });

  it('refuses a ZipMap output with NON_TENSOR_OUTPUT and says how to re-export', async () => {
    // Act
    const error = await rejection(runtime().inspect(zipMapClassifier().bytes));

    // Assess
    expect(error.code).toBe('NON_TENSOR_OUTPUT');
    expect(error.status).toBe(400);
    expect(error.path).toEqual(['outputs', 'output_probability']);
    expect(error.message).toContain("'zipmap': False");
  });

  it('refuses a ZipMap model with int64 class labels the same way', async () => {
    const error = await rejection(runtime().inspect(zipMapClassifier({ labels: 'int64s' }).bytes));
    expect(error.code).toBe('NON_TENSOR_OUTPUT');
  });
});

describe('defaultIntraOpThreads', () => {
  it.each([
    [128, 8, 1],
    [1769, 8, 1],
    [1770, 8, 1],
    [2653, 8, 1],
    [2654, 8, 2],
    [3008, 8, 2],
    [5307, 8, 3],
    [10240, 8, 6],
    [10240, 2, 2],
  ])('gives %d MB on %d cores %d thread(s): never more than the vCPUs the memory buys', (memoryMb, cores, threads) => {
    expect(defaultIntraOpThreads(memoryMb, cores)).toBe(threads);
  });

  it('follows the core count, up to 4, off Lambda', () => {
    expect(defaultIntraOpThreads(undefined, 2)).toBe(2);
    expect(defaultIntraOpThreads(undefined, 16)).toBe(4);
    expect(defaultIntraOpThreads(0, 1)).toBe(1);
  });
});
