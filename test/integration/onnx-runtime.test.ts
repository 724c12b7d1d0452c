import { jest } from '@jest/globals';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime, defaultIntraOpThreads, sha256Hex } from '../../functions/adapters/onnx-runtime.js';
import type { ModelVersion } from '../../functions/core/model.js';
import { buildModel, sequenceOf, tensorOf } from '../support/onnx/builder.js';
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
    expect(b.signature).toBe(a.signature);
    expect(c.signature).toBe(a.signature);
    expect([a.created, b.created, c.created]).toEqual([true, false, false]);
    expect(store.gets).toBe(1);
    expect(create).toHaveBeenCalledTimes(1);
    expect(runtime.sessionStats()).toMatchObject({ sessions: 1, busy: 1 });
  });

  it('keeps separate sessions for separate versions', async () => {
    // Prepare
    const one = await publish('iris', mlpModel().bytes);
    const two = await publish('iris', mlpModel({ seed: 9 }).bytes);
    const runtime = new OnnxRuntime(store, { cacheDir });

    // Act
    const [a, b] = await Promise.all([runtime.load(one), runtime.load(two)]);

    // Assess
    expect(a.signature).not.toBe(b.signature);
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

describe('OnnxRuntime sessions: bounded per process, released when evicted and idle', () => {
  /** Counts `InferenceSession.release()` per session object. */
  function countReleases(): Map<ort.InferenceSession, number> {
    const releases = new Map<ort.InferenceSession, number>();
    // The class behind the factory: every session's `release` goes through its prototype.
    const prototype = (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
    const original = prototype.release;
    jest.spyOn(prototype, 'release').mockImplementation(function (this: ort.InferenceSession) {
      releases.set(this, (releases.get(this) ?? 0) + 1);
      return original.call(this);
    });
    return releases;
  }
  const feeds = { input: { type: 'float32', shape: [1, 4], data: new Float32Array([0.1, 0.5, 0.9, 0.3]) } } as const;
  async function publishSeeds(seeds: readonly number[]): Promise<ModelVersion[]> {
    const versions: ModelVersion[] = [];
    for (const seed of seeds) versions.push(await publish('iris', mlpModel({ seed }).bytes));
    return versions;
  }

  it('keeps at most maxSessions: loading a new version releases the least recently used idle one, exactly once', async () => {
    // Prepare
    const releases = countReleases();
    const versions = await publishSeeds([1, 2, 3]);
    const runtime = new OnnxRuntime(store, { cacheDir, sessions: { maxSessions: 2, maxBytes: 1e9 } });

    // Act: three versions served one after another in a process that keeps two
    for (const version of versions) {
      const lease = await runtime.load(version);
      await lease.run(feeds);
      lease.release();
    }

    // Assess
    expect([...releases.values()]).toEqual([1]);
    expect(runtime.sessionStats()).toMatchObject({ sessions: 2, busy: 0, freed: 1 });
  });

  it('bounds the bytes held, each session counted as its model file', async () => {
    // Prepare
    const releases = countReleases();
    const versions = await publishSeeds([1, 2, 3]);
    const size = versions[0]?.artifact.sizeBytes ?? 0;
    const runtime = new OnnxRuntime(store, { cacheDir, sessions: { maxSessions: 10, maxBytes: size * 2 } });

    // Act
    for (const version of versions) (await runtime.load(version)).release();

    // Assess
    expect(releases.size).toBe(1);
    expect(runtime.sessionStats().bytes).toBeLessThanOrEqual(size * 2);
  });

  it('never releases a session a request holds: it keeps running while other versions come and go', async () => {
    // Prepare
    const releases = countReleases();
    const [held, ...others] = await publishSeeds([1, 2, 3]);
    const runtime = new OnnxRuntime(store, { cacheDir, sessions: { maxSessions: 1, maxBytes: 1e9 } });
    const inFlight = await runtime.load(held as ModelVersion);

    // Act
    for (const version of others) (await runtime.load(version)).release();
    const out = await inFlight.run(feeds);
    const releasedWhileHeld = releases.size;
    inFlight.release();
    (await runtime.load(held as ModelVersion)).release();

    // Assess: the two others were released as they went idle; the held one never while held
    expect(out['probabilities']?.shape).toEqual([1, 3]);
    expect(releasedWhileHeld).toBe(2);
    expect([...releases.values()].every((n) => n === 1)).toBe(true);
  });

  it('refuses to run through a lease after its release, and a second release does nothing', async () => {
    // Prepare
    const version = await publish('iris', mlpModel().bytes);
    const runtime = new OnnxRuntime(store, { cacheDir });
    const lease = await runtime.load(version);
    lease.release();

    // Act
    lease.release();
    const error = await rejection(lease.run(feeds));

    // Assess
    expect(error).toMatchObject({ status: 500, code: 'SESSION_RELEASED' });
    expect(runtime.sessionStats()).toMatchObject({ sessions: 1, busy: 0 });
  });

  it('open(bytes) is never cached: its release frees the session at once', async () => {
    // Prepare
    const releases = countReleases();
    const runtime = new OnnxRuntime(store, { cacheDir });

    // Act
    const lease = await runtime.open(mlpModel().bytes);
    const out = await lease.run(feeds);
    lease.release();
    await runtime.inspect(mlpModel({ seed: 5 }).bytes);

    // Assess
    expect(out['probabilities']?.shape).toEqual([1, 3]);
    expect([...releases.values()]).toEqual([1, 1]);
    expect(runtime.sessionStats().sessions).toBe(0);
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

  it('refuses a ZipMap output it is given unrewritten with NON_TENSOR_OUTPUT (registration rewrites it first)', async () => {
    // Act
    const error = await rejection(runtime().inspect(zipMapClassifier().bytes));

    // Assess
    expect(error.code).toBe('NON_TENSOR_OUTPUT');
    expect(error.status).toBe(400);
    expect(error.path).toEqual(['outputs', 'output_probability']);
    expect(error.message).toContain('rewritten to its probability tensor at registration');
  });

  describe('a model ONNX Runtime cannot initialize: the actionable part for the caller, the rest in the log', () => {
    const gru = (): Uint8Array =>
      buildModel({
        // GRU with one direction needs two activations; one is given: ORT's kernel check fails
        inputs: [{ name: 'x', type: 'float32', shape: [1, 1, 2] }],
        outputs: [{ name: 'y', type: 'float32' }],
        initializers: [
          { name: 'W', dims: [1, 9, 2], data: new Float32Array(18) },
          { name: 'R', dims: [1, 9, 3], data: new Float32Array(27) },
        ],
        nodes: [{ op: 'GRU', inputs: ['x', 'W', 'R'], outputs: ['y'], attributes: { hidden_size: 3, activations: ['Sigmoid'] } }],
      });
    const tree = (): Uint8Array =>
      buildModel({
        inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
        outputs: [{ name: 'y', type: 'float32', shape: ['N', 1] }],
        nodes: [
          {
            op: 'TreeEnsembleRegressor',
            domain: 'ai.onnx.ml',
            inputs: ['x'],
            outputs: ['y'],
            attributes: { nodes_treeids: [0, 0], nodes_nodeids: [0], n_targets: 1 },
          },
        ],
      });
    const unknownOp = (): Uint8Array =>
      buildModel({
        inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
        outputs: [{ name: 'y', type: 'float32', shape: ['N', 3] }],
        nodes: [{ op: 'FrobnicateX', inputs: ['x'], outputs: ['y'] }],
      });
    const wrongType = (): Uint8Array =>
      buildModel({
        inputs: [{ name: 'x', type: 'string', shape: ['N', 3] }],
        outputs: [{ name: 'y', type: 'string', shape: ['N', 3] }],
        nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
      });
    const mixedTypes = (): Uint8Array =>
      buildModel({
        inputs: [
          { name: 'x', type: 'float32', shape: ['N', 3] },
          { name: 'z', type: 'int64', shape: ['N', 3] },
        ],
        outputs: [{ name: 'y', type: 'float32', shape: ['N', 3] }],
        nodes: [{ op: 'Add', inputs: ['x', 'z'], outputs: ['y'] }],
      });
    const futureOpset = (): Uint8Array =>
      buildModel({
        inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
        outputs: [{ name: 'y', type: 'float32', shape: ['N', 3] }],
        nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
        opsets: { '': 99 },
      });

    it.each([
      [
        'a GRU whose activations do not fit its direction',
        gru,
        /Exception during initialization: an operator's attributes or weights are not consistent/,
      ],
      [
        'a tree ensemble with attribute lists of different lengths',
        tree,
        /nodes_falsenodeids and nodes_nodeids must have the same size, got 0 and 1/,
      ],
      ['an operator ONNX Runtime does not know', unknownOp, /No Op registered for FrobnicateX/],
      ['an operator given a type it does not take', wrongType, /Type 'tensor\(string\)' of input parameter \(x\) of operator \(Relu\)/],
      ['an operator given two different types', mixedTypes, /bound to different types/],
      ['an opset newer than ONNX Runtime supports', futureOpset, /Opset 99 is under development/],
    ])('%s: 400 INVALID_MODEL without source paths, lines or C++ signatures', async (_what, build, actionable) => {
      // Prepare
      const logged: Record<string, unknown>[] = [];
      const runtime = new OnnxRuntime(store, { cacheDir, log: (_level, _message, fields) => logged.push(fields) });

      // Act
      const error = await rejection(runtime.inspect(build()));

      // Assess
      expect(error).toMatchObject({ status: 400, code: 'INVALID_MODEL', path: ['model'] });
      expect(error.message).toMatch(/^ONNX Runtime cannot load this file: /);
      expect(error.message).toMatch(actionable);
      expect(error.message).not.toContain('onnxruntime_src');
      expect(error.message).not.toMatch(/\.(h|cc|cpp|hpp)\b:?\d*/);
      expect(error.message).not.toContain('::');
      expect(error.message).not.toMatch(/was false|OpKernelInfo|const \w+&/);
      expect(error.message.length).toBeLessThan(600);
      // The whole text is in the log, under the reference the message quotes when it left something out
      expect(logged).toHaveLength(1);
      const reference = /\(reference (ort-[0-9a-f]+);/.exec(error.message)?.[1];
      if (reference) expect(logged[0]).toMatchObject({ reference, ortMessage: expect.stringContaining('onnxruntime') });
    });

    it('a run ONNX Runtime fails reports its reason without source paths (a gate may quote it)', async () => {
      // Prepare: Reshape to 7 elements fails at run time for a [2, 3] input
      const bytes = buildModel({
        inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
        outputs: [{ name: 'y', type: 'float32' }],
        initializers: [{ name: 's', dims: [1], data: [7n] }],
        nodes: [{ op: 'Reshape', inputs: ['x', 's'], outputs: ['y'] }],
      });
      const lease = await runtime().open(bytes);

      // Act
      const error = await rejection(lease.run({ x: { type: 'float32', shape: [2, 3], data: new Float32Array(6) } }));
      lease.release();

      // Assess
      expect(error).toMatchObject({ status: 500, code: 'MODEL_RUN_FAILED' });
      expect(error.message).toContain('The input tensor cannot be reshaped to the requested shape');
      expect(error.message).not.toContain('onnxruntime_src');
      expect(error.message).not.toContain('::');
      // The whole text stays with the error, for the log
      expect((error as Error & { cause?: unknown }).cause).toMatchObject({ message: expect.stringContaining('onnxruntime_src') });
    });

    it('quotes at most an excerpt of a name from the file', async () => {
      // Prepare: a sequence input (not a tensor) with a 100,000-character name
      const name = 'n'.repeat(100_000);
      const bytes = buildModel({
        inputs: [{ name, valueType: sequenceOf(tensorOf('float32', ['N'])) }],
        outputs: [{ name: 'y', type: 'int64', shape: [] }],
        nodes: [{ op: 'SequenceLength', inputs: [name], outputs: ['y'] }],
      });

      // Act
      const error = await rejection(runtime().inspect(bytes));

      // Assess
      expect(error).toMatchObject({ status: 400, code: 'NON_TENSOR_INPUT' });
      expect(error.message.length).toBeLessThan(400);
      expect(JSON.stringify(error.path).length).toBeLessThan(300);
    });
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
