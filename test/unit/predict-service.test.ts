import { jest } from '@jest/globals';
import { float32Values } from '../fixtures/float32.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import type { ModelMetadata, ModelSignature, TensorType } from '../../functions/core/model.js';
import { PredictionService, boundedJson, type PredictConfig, type RequestContext } from '../../functions/core/predict.js';
import { newFacts } from '../../functions/core/observability.js';
import { InMemoryArtifactStore, InMemoryModelRegistry, InMemoryPredictionLog, publishModel } from '../fixtures/in-memory.js';
import {
  fixedShapeModel,
  identityModel,
  int64Model,
  mixedInputModel,
  mlpModel,
  seededRandom,
  stringInputModel,
  treeEnsembleClassifier,
  twoInputModel,
  type ModelFixture,
} from '../fixtures/models.js';
import { rejection } from '../fixtures/errors.js';

const IRIS = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'];
const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const CONFIG: PredictConfig = {
  maxRows: 1000,
  functionVersion: '7',
  logTtlDays: 30,
  maxLoggedOutputBytes: 100_000,
  pointerCacheMs: 5_000,
};

let cacheDir: string;
let store: InMemoryArtifactStore;
let registry: InMemoryModelRegistry;
let log: InMemoryPredictionLog;
let runtime: OnnxRuntime;
let clock: number;
let requests = 0;

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'predict-service-test-'));
});

afterAll(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

beforeEach(() => {
  store = new InMemoryArtifactStore();
  registry = new InMemoryModelRegistry();
  log = new InMemoryPredictionLog();
  runtime = new OnnxRuntime(store, { cacheDir, intraOpThreads: 1 });
  clock = NOW;
  jest.restoreAllMocks();
});

function service(config: Partial<PredictConfig> = {}): PredictionService {
  return new PredictionService({
    registry,
    runtime,
    log,
    config: { ...CONFIG, ...config },
    now: () => clock,
    elapsed: () => 1000.5,
  });
}

/** The class behind ort.InferenceSession: every session's `run` and `release` go through it. */
function sessionPrototype(): ort.InferenceSession {
  return (ort.InferenceSession as unknown as { prototype: ort.InferenceSession }).prototype;
}

function ctx(): RequestContext {
  requests++;
  return { requestId: `req-${requests}`, caller: 'alice', startedAt: 990 };
}

async function publish(model: string, fixture: ModelFixture, metadata: ModelMetadata = {}, promote = true) {
  const signature: ModelSignature = { inputs: fixture.inputs, outputs: fixture.outputs };
  return publishModel(registry, store, { model, bytes: fixture.bytes, signature, metadata, promote });
}

// ---------------------------------------------------------------------------------------------
// ONNX Runtime called directly, and an independent rendering of its outputs as JSON rows.

const directSessions = new Map<Uint8Array, Promise<ort.InferenceSession>>();

async function direct(fixture: ModelFixture, feeds: Record<string, ort.Tensor>): Promise<ort.InferenceSession.ReturnType> {
  let session = directSessions.get(fixture.bytes);
  if (!session) {
    session = ort.InferenceSession.create(fixture.bytes);
    directSessions.set(fixture.bytes, session);
  }
  return (await session).run(feeds);
}

function jsonElement(type: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n ? Number(v) : v.toString();
  if (type === 'bool') return v !== 0 && v !== false;
  return v;
}

function nest(flat: unknown[], shape: readonly number[]): unknown {
  if (shape.length === 0) return flat[0];
  const [d = 0, ...rest] = shape;
  const size = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: d }, (_, i) => nest(flat.slice(i * size, (i + 1) * size), rest));
}

/** Row `r` of every output, as `{ name: nested JSON }`. */
function directRows(outputs: ort.InferenceSession.ReturnType, rows: number): Record<string, unknown>[] {
  return Array.from({ length: rows }, (_, r) =>
    Object.fromEntries(
      Object.entries(outputs).map(([name, t]) => {
        const [, ...rest] = t.dims;
        const size = rest.reduce((a, b) => a * b, 1);
        const flat = Array.from(t.data as ArrayLike<unknown>).map((v) => jsonElement(t.type, v));
        return [name, nest(flat.slice(r * size, (r + 1) * size), rest)];
      }),
    ),
  );
}

function directFlat(t: ort.Tensor): unknown[] {
  return Array.from(t.data as ArrayLike<unknown>).map((v) => jsonElement(t.type, v));
}

/** `rows` x `width` float32-representable values in [0, 1). */
function floatRows(rows: number, width: number, seed = 5): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: rows }, () => Array.from({ length: width }, () => Math.fround(random())));
}

function asRecord(names: readonly string[], row: readonly number[]): Record<string, number> {
  return Object.fromEntries(names.map((n, j) => [n, row[j] as number]));
}

// ---------------------------------------------------------------------------------------------

describe('predictions equal ONNX Runtime called directly', () => {
  it('MLP classifier through features, instances (objects, arrays) and v2', async () => {
    // Prepare
    const fixture = mlpModel();
    const labels = ['setosa', 'versicolor', 'virginica'];
    await publish('iris', fixture, { features: IRIS, classLabels: labels });
    const rows = floatRows(3, 4);
    const expected = await direct(fixture, { input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 4]) });
    const probs = directRows(expected, 3).map((r) => r['probabilities'] as number[]);
    const svc = service();

    // Act
    const single = await svc.predict('iris', { features: asRecord([...IRIS].reverse(), [...rows[0]!].reverse()) }, ctx());
    const objects = await svc.predict('iris', { instances: rows.map((r) => asRecord(IRIS, r)) }, ctx());
    const arrays = await svc.predict('iris', { instances: rows }, ctx());
    const v2 = await svc.inferV2('iris', { inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: rows.flat() }] }, ctx());

    // Assess
    const classified = probs.map((p) => {
      const best = p.indexOf(Math.max(...p));
      return { label: labels[best], confidence: p[best], probabilities: Object.fromEntries(labels.map((l, k) => [l, p[k]])) };
    });
    // float32 values are sent in their shortest digits: the same float32 once rounded back.
    expect(float32Values(single.predictions)).toEqual([classified[0]]);
    expect(float32Values(objects.predictions)).toEqual(classified);
    expect(float32Values(arrays.predictions)).toEqual(classified);
    expect(float32Values(v2.outputs)).toEqual([
      { name: 'probabilities', datatype: 'FP32', shape: [3, 3], data: directFlat(expected['probabilities']!) },
    ]);
  });

  it.each([
    ['string labels, random-forest scores', { labels: 'strings', postTransform: 'NONE' }],
    ['int64 labels, softmax scores', { labels: 'int64s', postTransform: 'SOFTMAX' }],
  ] as const)('tree ensemble classifier (%s): label and probabilities consistent with its direct outputs', async (_, options) => {
    // Prepare
    const fixture = treeEnsembleClassifier({ ...options, trees: 7, depth: 4, seed: 11 });
    const classLabels = fixture.classLabels.map(String);
    await publish('forest', fixture, { features: IRIS, classLabels });
    const rows = floatRows(50, 4, 13);
    const expected = await direct(fixture, { input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [50, 4]) });
    const directLabels = directFlat(expected['label']!).map(String);
    const directProbs = directRows(expected, 50).map((r) => r['probabilities'] as number[]);

    // Act
    const response = await service().predict('forest', { instances: rows.map((r) => asRecord(IRIS, r)) }, ctx());

    // Assess
    const predictions = float32Values(response.predictions) as {
      label: string;
      confidence: number;
      probabilities: Record<string, number>;
    }[];
    expect(predictions.map((p) => p.label)).toEqual(directLabels);
    expect(predictions.map((p) => classLabels.map((l) => p.probabilities[l]))).toEqual(directProbs);
    expect(predictions.map((p) => p.confidence)).toEqual(directProbs.map((p) => Math.max(...p)));
    expect(new Set(directLabels).size).toBeGreaterThan(1);
  });

  it('two-input model through instances keyed by input name and v2 (flat and nested)', async () => {
    // Prepare
    const fixture = twoInputModel();
    await publish('pair', fixture);
    const a = [
      [1.5, -2],
      [3, 4.25],
    ];
    const b = [
      [0.5, 8],
      [-1, 2],
    ];
    const expected = await direct(fixture, {
      a: new ort.Tensor('float32', Float32Array.from(a.flat()), [2, 2]),
      b: new ort.Tensor('float32', Float32Array.from(b.flat()), [2, 2]),
    });
    const svc = service();

    // Act
    const records = await svc.predict(
      'pair',
      {
        instances: [
          { a: a[0], b: b[0] },
          { b: b[1], a: a[1] },
        ],
      },
      ctx(),
    );
    const v2 = await svc.inferV2(
      'pair',
      {
        inputs: [
          { name: 'b', shape: [2, 2], datatype: 'FP32', data: b },
          { name: 'a', shape: [2, 2], datatype: 'FP32', data: a.flat() },
        ],
        outputs: [{ name: 'product' }],
      },
      ctx(),
    );

    // Assess
    expect(records.predictions).toEqual(directRows(expected, 2));
    expect(v2.outputs).toEqual([{ name: 'product', datatype: 'FP32', shape: [2, 2], data: directFlat(expected['product']!) }]);
  });

  it('string input model through features, array instances and v2', async () => {
    // Prepare
    const fixture = stringInputModel();
    await publish('colors', fixture);
    const colors = ['red', 'purple', 'blue'];
    const expected = await direct(fixture, { color: new ort.Tensor('string', colors, [3, 1]) });
    const svc = service();

    // Act
    const single = await svc.predict('colors', { features: { color: 'purple' } }, ctx());
    const arrays = await svc.predict('colors', { instances: colors.map((c) => [c]) }, ctx());
    const v2 = await svc.inferV2('colors', { inputs: [{ name: 'color', shape: [3, 1], datatype: 'BYTES', data: colors }] }, ctx());

    // Assess
    expect(single.predictions).toEqual([{ code: [fixture.defaultCode] }]);
    expect(arrays.predictions).toEqual(directRows(expected, 3));
    expect(v2.outputs).toEqual([{ name: 'code', datatype: 'INT64', shape: [3, 1], data: directFlat(expected['code']!) }]);
  });

  it('mixed string and float inputs', async () => {
    // Prepare
    const fixture = mixedInputModel();
    await publish('scores', fixture);
    const expected = await direct(fixture, {
      category: new ort.Tensor('string', ['large', 'tiny'], [2, 1]),
      amount: new ort.Tensor('float32', new Float32Array([2, 3]), [2, 1]),
    });

    // Act
    const response = await service().predict(
      'scores',
      {
        instances: [
          { category: 'large', amount: 2 },
          { category: ['tiny'], amount: [3] },
        ],
      },
      ctx(),
    );

    // Assess
    expect(response.predictions).toEqual(directRows(expected, 2));
    expect(response.predictions).toEqual([{ score: [5] }, { score: [0] }]);
  });

  it('int64 model keeps values beyond 2^53 exact both ways', async () => {
    // Prepare
    const fixture = int64Model();
    await publish('ids', fixture);
    const expected = await direct(fixture, { ids: new ort.Tensor('int64', new BigInt64Array([9007199254740993n, 41n]), [1, 2]) });
    const svc = service();

    // Act
    const records = await svc.predict('ids', { features: { ids: ['9007199254740993', 41] } }, ctx());
    const v2 = await svc.inferV2(
      'ids',
      { inputs: [{ name: 'ids', shape: [1, 2], datatype: 'INT64', data: ['9007199254740993', 41] }] },
      ctx(),
    );
    const inexact = await rejection(svc.predict('ids', { features: { ids: [9007199254740993, 41] } }, ctx()));

    // Assess
    expect(records.predictions).toEqual([{ next: ['9007199254740994', 42] }]);
    expect(records.predictions).toEqual(directRows(expected, 1));
    expect(v2.outputs[0]?.data).toEqual(['9007199254740994', 42]);
    expect(inexact.code).toBe('INEXACT_INTEGER');
    expect(inexact.path).toEqual(['features', 'ids', 0]);
  });

  it('fixed-shape model takes its one row and refuses two', async () => {
    // Prepare
    const fixture = fixedShapeModel();
    await publish('fixed', fixture);
    const expected = await direct(fixture, { x: new ort.Tensor('float32', new Float32Array([1, 2, 3]), [1, 3]) });
    const svc = service();

    // Act
    const one = await svc.predict('fixed', { features: { x: [1, 2, 3] } }, ctx());
    const two = await rejection(
      svc.predict(
        'fixed',
        {
          instances: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
        ctx(),
      ),
    );

    // Assess
    expect(one.predictions).toEqual(directRows(expected, 1));
    expect(one.predictions).toEqual([{ y: [3, 5, 7] }]);
    expect(two.code).toBe('SHAPE_MISMATCH');
    expect(two.status).toBe(400);
  });

  it.each<TensorType>(['float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool', 'string'])(
    'identity over %s round-trips through instances and v2',
    async (type) => {
      // Prepare
      const fixture = identityModel(type);
      await publish(`id-${type}`, fixture);
      const row = sampleRow(type);
      const svc = service();

      // Act
      const records = await svc.predict(`id-${type}`, { instances: [row] }, ctx());
      const v2 = await svc.inferV2(`id-${type}`, { inputs: [{ name: 'x', shape: [1, 3], datatype: v2Type(type), data: row }] }, ctx());

      // Assess
      // float32 values come back in their shortest digits: the same float32 once rounded back.
      const same = type === 'float32' ? float32Values : <T>(v: T) => v;
      expect(same(records.predictions)).toEqual(same([{ y: row }]));
      expect(same(v2.outputs)).toEqual(same([{ name: 'y', datatype: v2Type(type), shape: [1, 3], data: row }]));
    },
  );
});

function sampleRow(type: TensorType): unknown[] {
  switch (type) {
    case 'float16':
      return [0.5, -1.25, 65504];
    case 'float32':
      return [0.5, -1.25, Math.fround(3e38)];
    case 'float64':
      return [0.1, -1e300, 5e-324];
    case 'int8':
      return [-128, 0, 127];
    case 'int16':
      return [-32768, 1, 32767];
    case 'int32':
      return [-2147483648, 2, 2147483647];
    case 'int64':
      return ['-9223372036854775808', 3, '9223372036854775807'];
    case 'uint8':
      return [0, 4, 255];
    case 'uint16':
      return [0, 5, 65535];
    case 'uint32':
      return [0, 6, 4294967295];
    case 'uint64':
      return [0, 7, '18446744073709551615'];
    case 'bool':
      return [true, false, true];
    case 'string':
      return ['a', '', 'ünïcode'];
  }
}

function v2Type(type: TensorType): string {
  return ({ float32: 'FP32', float64: 'FP64', bool: 'BOOL', string: 'BYTES' } as Record<string, string>)[type] ?? type.toUpperCase();
}

describe('batching and limits', () => {
  it('runs a 1000-instance request as ONE session.run', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS, classLabels: ['a', 'b', 'c'] });
    const run = jest.spyOn(sessionPrototype(), 'run');
    const rows = floatRows(1000, 4);

    // Act
    const response = await service().predict('iris', { instances: rows.map((r) => asRecord(IRIS, r)) }, ctx());

    // Assess
    expect(run).toHaveBeenCalledTimes(1);
    const feeds = run.mock.calls[0]?.[0] as Record<string, ort.Tensor> | undefined;
    expect(feeds?.['input']?.dims).toEqual([1000, 4]);
    expect(response.predictions).toHaveLength(1000);
  });

  it('refuses more rows than maxRows with 413 TOO_MANY_ROWS, in every form, before running the model', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const run = jest.spyOn(sessionPrototype(), 'run');
    const svc = service({ maxRows: 10 });
    const rows = floatRows(11, 4);

    // Act
    const records = await rejection(svc.predict('iris', { instances: rows }, ctx()));
    const v2 = await rejection(
      svc.inferV2('iris', { inputs: [{ name: 'input', shape: [11, 4], datatype: 'FP32', data: rows.flat() }] }, ctx()),
    );

    // Assess
    expect([records.status, records.code]).toEqual([413, 'TOO_MANY_ROWS']);
    expect(records.path).toEqual(['instances']);
    expect(records.message).toContain('at most 10');
    expect([v2.status, v2.code]).toEqual([413, 'TOO_MANY_ROWS']);
    expect(v2.path).toEqual(['inputs', 0, 'shape', 0]);
    expect(run).not.toHaveBeenCalled();
  });

  it('accepts exactly maxRows', async () => {
    await publish('iris', mlpModel(), { features: IRIS });
    const response = await service({ maxRows: 10 }).predict('iris', { instances: floatRows(10, 4) }, ctx());
    expect(response.predictions).toHaveLength(10);
  });

  it('refuses instances that mix objects and arrays, naming the first odd one', async () => {
    await publish('iris', mlpModel(), { features: IRIS });
    const rows = floatRows(3, 4);
    const error = await rejection(
      service().predict('iris', { instances: [asRecord(IRIS, rows[0]!), asRecord(IRIS, rows[1]!), rows[2]] }, ctx()),
    );
    expect(error.code).toBe('MIXED_INSTANCES');
    expect(error.path).toEqual(['instances', 2]);
  });

  it('refuses an output the model does not have in v2', async () => {
    await publish('pair', twoInputModel());
    const error = await rejection(
      service().inferV2(
        'pair',
        {
          inputs: [
            { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
            { name: 'b', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
          ],
          outputs: [{ name: 'sum' }, { name: 'difference' }],
        },
        ctx(),
      ),
    );
    expect(error.code).toBe('UNKNOWN_OUTPUT');
    expect(error.path).toEqual(['outputs', 1, 'name']);
  });
});

describe('sessions: held for a request, given back after it, bounded per process', () => {
  it('gives the session back after every request, answered or refused', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();

    // Act
    await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    await rejection(svc.predict('iris', { features: { ...asRecord(IRIS, [1, 2, 3, 4]), sepal_length_cm: 'x' } }, ctx()));
    await svc.inferV2('iris', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, ctx());
    await rejection(svc.inferV2('iris', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3] }] }, ctx()));
    await svc.metadataV2('iris');
    await svc.ready('iris');
    await svc.signature('iris');

    // Assess
    expect(runtime.sessionStats()).toMatchObject({ sessions: 1, busy: 0 });
  });

  it('never frees the session of a request in flight, while another version loads in a process that keeps one', async () => {
    // Prepare: two function versions (pinned to model versions 1 and 2) share one runtime of one session
    await publish('iris', mlpModel({ seed: 11 }), { features: IRIS });
    await publish('iris', mlpModel({ seed: 12 }), { features: IRIS });
    runtime = new OnnxRuntime(store, { cacheDir, intraOpThreads: 1, sessions: { maxSessions: 1, maxBytes: 1e9 } });
    const prototype = sessionPrototype();
    const released: ort.InferenceSession[] = [];
    const release = prototype.release;
    jest.spyOn(prototype, 'release').mockImplementation(function (this: ort.InferenceSession) {
      released.push(this);
      return release.call(this);
    });
    // The first run waits until the test lets it go: a request in flight on version 1
    const run = prototype.run;
    let letGo: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    let first: ort.InferenceSession | undefined;
    jest.spyOn(prototype, 'run').mockImplementation(async function (
      this: ort.InferenceSession,
      ...args: Parameters<ort.InferenceSession['run']>
    ) {
      if (!first) {
        first = this;
        await held;
      }
      return run.apply(this, args);
    });
    const row = { features: asRecord(IRIS, [1, 2, 3, 4]) };

    // Act
    const inFlight = service({ pinnedVersion: '1' }).predict('iris', row, ctx());
    while (!first) await new Promise((resolve) => setImmediate(resolve));
    const other = await service({ pinnedVersion: '2' }).predict('iris', row, ctx());
    const releasedWhileInFlight = [...released];
    letGo();
    const answered = await inFlight;
    await service({ pinnedVersion: '2' }).predict('iris', row, ctx());

    // Assess: version 2's idle session went first; version 1's outlived it and was freed once,
    // after its request, when version 2 came back
    expect(other.modelVersion).toBe('2');
    expect(answered.modelVersion).toBe('1');
    expect(releasedWhileInFlight).toHaveLength(1);
    expect(releasedWhileInFlight).not.toContain(first);
    expect(released.filter((session) => session === first)).toHaveLength(1);
    expect(released.at(-1)).toBe(first);
    expect(runtime.sessionStats()).toMatchObject({ sessions: 1, busy: 0, freed: 2 });
  });
});

describe("faults on our side are 5xx, never the caller's 4xx", () => {
  it("answers 500 ARTIFACT_NOT_FOUND when the served version's file vanished from the store", async () => {
    // Prepare: a version whose artifact is gone (and not in the /tmp cache: a model never loaded here)
    const published = await publish('iris', mlpModel({ seed: 401 }), { features: IRIS });
    store.remove(published.artifact.key);

    // Act
    const error = await rejection(service().predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx()));

    // Assess
    expect([error.status, error.code]).toEqual([500, 'ARTIFACT_NOT_FOUND']);
  });

  it('answers 500 VERSION_NOT_FOUND when the pinned model version is missing from the registry', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });

    // Act
    const error = await rejection(service({ pinnedVersion: '9' }).predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx()));

    // Assess
    expect([error.status, error.code]).toEqual([500, 'VERSION_NOT_FOUND']);
  });

  it("records the model, its version, the rows and the run time in the request's facts, also when the answer is an error", async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const facts = { rows: 0, modelLatencyMs: 0 } as { model?: string; modelVersion?: string; rows: number; modelLatencyMs: number };
    const badFacts = { rows: 0, modelLatencyMs: 0 } as typeof facts;

    // Act
    await service().predict('iris', { instances: [asRecord(IRIS, [1, 2, 3, 4]), asRecord(IRIS, [4, 3, 2, 1])] }, { ...ctx(), facts });
    await rejection(service().predict('iris', { features: { ...asRecord(IRIS, [1, 2, 3, 4]), extra: 1 } }, { ...ctx(), facts: badFacts }));

    // Assess
    expect(facts).toMatchObject({ model: 'iris', modelVersion: '1', rows: 2 });
    expect(facts.modelLatencyMs).toBeGreaterThan(0);
    expect(badFacts).toMatchObject({ model: 'iris', modelVersion: '1', rows: 0, modelLatencyMs: 0 });
  });
});

describe('which version serves', () => {
  it('answers 404 MODEL_NOT_FOUND for an unknown model', async () => {
    const error = await rejection(service().predict('nope', { features: { a: 1 } }, ctx()));
    expect([error.status, error.code]).toEqual([404, 'MODEL_NOT_FOUND']);
  });

  it('answers 404 for a model without a production version', async () => {
    await publish('draft', mlpModel(), { features: IRIS }, false);
    const error = await rejection(service().predict('draft', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx()));
    expect(error.status).toBe(404);
    expect(error.code).toBe('NO_PRODUCTION_VERSION');
  });

  it('answers 404 for another model than the one this function serves', async () => {
    await publish('iris', mlpModel(), { features: IRIS });
    const error = await rejection(service({ servedModel: 'other' }).predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx()));
    expect([error.status, error.code]).toEqual([404, 'MODEL_NOT_FOUND']);
  });

  it('serves the pinned version whatever the production pointer says', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    await publish('iris', mlpModel({ seed: 2 }), { features: IRIS });

    // Act
    const response = await service({ pinnedVersion: '1' }).predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());

    // Assess
    expect(response.modelVersion).toBe('1');
  });

  it('trusts the production pointer for pointerCacheMs, then re-reads it off the request path and follows a promotion', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    const before = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    await publish('iris', mlpModel({ seed: 2 }), { features: IRIS });
    const getModel = jest.spyOn(registry, 'getModel');

    // Act
    clock = NOW + 4_999;
    const cached = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    const readsWhileFresh = getModel.mock.calls.length;
    clock = NOW + 5_001;
    const stale = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    await new Promise((resolve) => setImmediate(resolve));
    const after = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());

    // Assess: the stale pointer still served its request while the registry was read in the background
    expect([before.modelVersion, cached.modelVersion, stale.modelVersion, after.modelVersion]).toEqual(['1', '1', '1', '2']);
    expect(readsWhileFresh).toBe(0);
    expect(getModel).toHaveBeenCalledTimes(1);
  });

  it('reads the production pointer once for the requests that arrive before it is known', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    const getModel = jest.spyOn(registry, 'getModel');

    // Act: a cold service, 10 requests at once
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx())),
    );

    // Assess
    expect(responses.map((r) => r.modelVersion)).toEqual(Array(10).fill('1'));
    expect(getModel).toHaveBeenCalledTimes(1);
  });

  it('never puts the registry on the path of a request that has a version to serve', async () => {
    // Prepare: a warm service, then a registry read that never ends
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    const getModel = jest.spyOn(registry, 'getModel').mockReturnValue(new Promise(() => undefined));
    clock = NOW + 60_000;

    // Act: many requests while the one re-read hangs
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx())),
    );

    // Assess: all served from the known version, with a single read in flight
    expect(responses.map((r) => r.modelVersion)).toEqual(Array(20).fill('1'));
    expect(getModel).toHaveBeenCalledTimes(1);
  });

  it('keeps serving the last production version seen when the registry cannot be read', async () => {
    // Prepare: a warm service, then the registry fails after the pointer went stale
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    const warm = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    const getModel = jest.spyOn(registry, 'getModel').mockRejectedValue(new Error('registry unreachable'));
    clock = NOW + 60_000;

    // Act
    const during = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    await new Promise((resolve) => setImmediate(resolve));
    clock += 1_000;
    const next = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());

    // Assess: served from the last pointer, which is trusted again for pointerCacheMs after the failed read
    expect(during.modelVersion).toBe('1');
    expect(during.predictions).toEqual(warm.predictions);
    expect(next.modelVersion).toBe('1');
    expect(getModel).toHaveBeenCalledTimes(1);
  });

  it('answers 404 once the registry says the model is gone, whatever it served before', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    jest.spyOn(registry, 'getModel').mockResolvedValue(undefined);
    clock = NOW + 60_000;

    // Act: the request that finds the pointer stale is served; the re-read learns the model is gone
    const stale = await svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx());
    await new Promise((resolve) => setImmediate(resolve));
    const error = await rejection(svc.predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx()));

    // Assess
    expect(stale.modelVersion).toBe('1');
    expect([error.status, error.code]).toEqual([404, 'MODEL_NOT_FOUND']);
  });

  it('fails when the registry cannot be read and no production version was ever seen', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    jest.spyOn(registry, 'getModel').mockRejectedValue(new Error('registry unreachable'));

    // Act
    const error = await rejection(service().predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, ctx()));

    // Assess: our side failed, so a 503 the caller may retry, never the caller's error
    expect([error.status, error.code]).toEqual([503, 'REGISTRY_UNAVAILABLE']);
  });

  it('describes the served version in v2 metadata, with -1 for dynamic dims', async () => {
    await publish('pair', twoInputModel());
    const metadata = await service().metadataV2('pair');
    expect(metadata).toEqual({
      name: 'pair',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 2] },
        { name: 'b', datatype: 'FP32', shape: [-1, 2] },
      ],
      outputs: [
        { name: 'sum', datatype: 'FP32', shape: [-1, 2] },
        { name: 'product', datatype: 'FP32', shape: [-1, 2] },
      ],
      parameters: { model_version: '1', record_keys: 'inputs', max_rows: 1000 },
    });
    expect(await service().ready('pair')).toEqual({ name: 'pair', ready: true, version: '1' });
  });

  it('tells a record-form client, in the v2 metadata parameters, the features, the input they fill and the class labels', async () => {
    // Prepare
    const labels = ['setosa', 'versicolor', 'virginica'];
    await publish('iris', mlpModel(), { features: IRIS, classLabels: labels });

    // Act
    const { parameters } = await service().metadataV2('iris');

    // Assess: scalars only, as the protocol's $parameters are; the lists as JSON text
    expect(parameters).toEqual({
      model_version: '1',
      record_keys: 'features',
      feature_input: 'input',
      features: JSON.stringify(IRIS),
      class_labels: JSON.stringify(labels),
      probabilities_output: 'probabilities',
      max_rows: 1000,
    });
    expect(JSON.parse(parameters.features ?? 'null')).toEqual(IRIS);
    expect(Object.values(parameters).every((v) => ['string', 'number', 'boolean'].includes(typeof v))).toBe(true);
  });
});

describe('versions addressed by number (/v2/models/{m}/versions/{v}/...)', () => {
  const body = (rows: number[][]) => ({ inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }] });

  /** Moves `version` of `model` from its stage to archived, as the registry does. */
  async function archive(model: string, version: string): Promise<void> {
    const record = await registry.getVersion(model, version);
    if (!record) throw new Error(`no ${model} v${version}`);
    await registry.applyTransition({
      model,
      changes: [{ version, from: record.stage, to: 'archived', expectedRevision: record.revision }],
      actor: 'test',
      at: '2025-01-02T00:00:00.000Z',
    });
  }

  it('serves the version the path names, whatever the pin and the production pointer say, in development or staging too', async () => {
    // Prepare: v1 production, v2 a development candidate with other weights; the function is pinned to v1
    const candidate = mlpModel({ seed: 2 });
    await publish('iris', mlpModel(), { features: IRIS });
    await publish('iris', candidate, { features: IRIS }, false);
    const rows = floatRows(2, 4);
    const expected = await direct(candidate, { input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [2, 4]) });
    const svc = service({ pinnedVersion: '1', servedModel: 'iris' });
    const facts = newFacts();

    // Act
    const addressed = await svc.inferV2('iris', body(rows), { ...ctx(), facts }, '2');
    const unaddressed = await svc.inferV2('iris', body(rows), ctx());
    const metadata = await svc.metadataV2('iris', undefined, '2');
    const ready = await svc.ready('iris', undefined, '2');

    // Assess
    expect(addressed.model_version).toBe('2');
    expect(addressed.outputs).toMatchObject([{ name: 'probabilities', datatype: 'FP32', shape: [2, 3] }]);
    expect((addressed.outputs[0]?.data as number[]).map(Math.fround)).toEqual(directFlat(expected['probabilities']!));
    expect(facts).toMatchObject({ model: 'iris', modelVersion: '2', rows: 2 });
    expect(unaddressed.model_version).toBe('1');
    expect([metadata.versions, metadata.parameters.model_version]).toEqual([['2'], '2']);
    expect(ready).toEqual({ name: 'iris', ready: true, version: '2' });
  });

  it('answers 404 VERSION_NOT_FOUND for a version the registry lacks and MODEL_NOT_FOUND for an unknown model, recording no model version', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const facts = newFacts();

    // Act
    const missing = await rejection(service().inferV2('iris', body([[1, 2, 3, 4]]), { ...ctx(), facts }, '9'));
    const unknown = await rejection(service().metadataV2('nope', undefined, '1'));
    const other = await rejection(service({ servedModel: 'iris' }).ready('wine', undefined, '1'));

    // Assess: a number nobody registered never becomes a metric dimension
    expect([missing.status, missing.code, missing.path]).toEqual([404, 'VERSION_NOT_FOUND', ['version']]);
    expect(missing.message).toContain('GET /v1/models/iris/versions');
    expect(facts.modelVersion).toBeUndefined();
    expect([unknown.status, unknown.code]).toEqual([404, 'MODEL_NOT_FOUND']);
    expect([other.status, other.code]).toEqual([404, 'MODEL_NOT_FOUND']);
  });

  it('refuses an archived version with 409 VERSION_ARCHIVED, while the pin may still serve it', async () => {
    // Prepare: promoting v2 archives v1
    await publish('iris', mlpModel(), { features: IRIS });
    await publish('iris', mlpModel({ seed: 2 }), { features: IRIS });
    const svc = service({ pinnedVersion: '1' });

    // Act
    const errors = await Promise.all([
      rejection(svc.inferV2('iris', body([[1, 2, 3, 4]]), ctx(), '1')),
      rejection(svc.metadataV2('iris', undefined, '1')),
      rejection(svc.ready('iris', undefined, '1')),
    ]);
    const pinned = await svc.inferV2('iris', body([[1, 2, 3, 4]]), ctx());

    // Assess
    expect(errors.map((e) => [e.status, e.code, e.path])).toEqual(Array(3).fill([409, 'VERSION_ARCHIVED', ['version']]));
    expect(pinned.model_version).toBe('1');
  });

  it("trusts an addressed version's stage for pointerCacheMs, then re-reads it off the request path and follows an archival", async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    await publish('iris', mlpModel({ seed: 2 }), { features: IRIS }, false);
    const svc = service();
    await svc.ready('iris', undefined, '2');
    await archive('iris', '2');
    const getVersion = jest.spyOn(registry, 'getVersion');

    // Act
    clock = NOW + 4_999;
    const fresh = await svc.ready('iris', undefined, '2');
    const readsWhileFresh = getVersion.mock.calls.length;
    clock = NOW + 5_001;
    const stale = await svc.ready('iris', undefined, '2');
    await new Promise((resolve) => setImmediate(resolve));
    const after = await rejection(svc.ready('iris', undefined, '2'));

    // Assess: the stale stage still answered while the registry was read in the background
    expect([fresh.version, stale.version]).toEqual(['2', '2']);
    expect(readsWhileFresh).toBe(0);
    expect(getVersion).toHaveBeenCalledTimes(1);
    expect([after.status, after.code]).toEqual([409, 'VERSION_ARCHIVED']);
  });

  it('reads an addressed version once for the requests that arrive before it is known', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    const getVersion = jest.spyOn(registry, 'getVersion');

    // Act
    const answers = await Promise.all(Array.from({ length: 10 }, () => svc.ready('iris', undefined, '1')));

    // Assess: one read gives the stage and the record the session loads from
    expect(answers.map((a) => a.version)).toEqual(Array(10).fill('1'));
    expect(getVersion).toHaveBeenCalledTimes(1);
  });

  it('answers 503 REGISTRY_UNAVAILABLE when an addressed version cannot be read, and keeps the stage it knows when a re-read fails', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    await svc.ready('iris', undefined, '1');
    const getVersion = jest.spyOn(registry, 'getVersion').mockRejectedValue(new Error('registry unreachable'));

    // Act
    const cold = await rejection(service().ready('iris', undefined, '1'));
    clock = NOW + 60_000;
    const warm = await svc.ready('iris', undefined, '1');
    await new Promise((resolve) => setImmediate(resolve));
    const next = await svc.ready('iris', undefined, '1');

    // Assess
    expect([cold.status, cold.code]).toEqual([503, 'REGISTRY_UNAVAILABLE']);
    expect([warm.version, next.version]).toEqual(['1', '1']);
    expect(getVersion).toHaveBeenCalledTimes(2);
  });
});

describe('responses and the prediction log', () => {
  it('stamps the response with request id, model, versions, processing time and timestamp', async () => {
    await publish('iris', mlpModel(), { features: IRIS });
    const context = ctx();
    const response = await service().predict('iris', { features: asRecord(IRIS, [1, 2, 3, 4]) }, context);
    expect(response).toMatchObject({
      requestId: context.requestId,
      model: 'iris',
      modelVersion: '1',
      functionVersion: '7',
      processingTimeMs: 10.5,
      timestamp: '2025-06-01T12:00:00.000Z',
    });
  });

  it('logs request id, model, version, rows, caller and expiry after ttl days', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const context = ctx();

    // Act
    const response = await service().predict('iris', { instances: floatRows(3, 4) }, context);

    // Assess
    expect(log.records).toHaveLength(1);
    const record = log.records[0]!;
    expect(record).toMatchObject({
      requestId: context.requestId,
      model: 'iris',
      modelVersion: '1',
      functionVersion: '7',
      caller: 'alice',
      rows: 3,
      latencyMs: 10.5,
      timestamp: '2025-06-01T12:00:00.000Z',
      truncated: false,
    });
    expect(record.expiresAt).toBe(NOW / 1000 + 30 * 86_400);
    expect(JSON.parse(record.outputs)).toEqual(response.predictions);
    expect(record.inputSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hashes the same rows the same whether sent as features, instances or v2', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS });
    const svc = service();
    const [row] = floatRows(1, 4);

    // Act
    await svc.predict('iris', { features: asRecord(IRIS, row!) }, ctx());
    await svc.predict('iris', { instances: [asRecord([...IRIS].reverse(), [...row!].reverse())] }, ctx());
    await svc.predict('iris', { instances: [row] }, ctx());
    await svc.inferV2('iris', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row! }] }, ctx());
    await svc.inferV2('iris', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [row] }] }, ctx());
    await svc.predict('iris', { features: asRecord(IRIS, [row![0]! + 0.5, ...row!.slice(1)]) }, ctx());

    // Assess
    const hashes = log.records.map((r) => r.inputSha256);
    expect(new Set(hashes.slice(0, 5)).size).toBe(1);
    expect(hashes[5]).not.toBe(hashes[0]);
  });

  it('hashes multi-input rows the same in the record and v2 forms', async () => {
    await publish('pair', twoInputModel());
    const svc = service();
    await svc.predict('pair', { instances: [{ a: [1, 2], b: [3, 4] }] }, ctx());
    await svc.inferV2(
      'pair',
      {
        inputs: [
          { name: 'b', shape: [1, 2], datatype: 'FP32', data: [3, 4] },
          { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        ],
      },
      ctx(),
    );
    expect(log.records[0]?.inputSha256).toBe(log.records[1]?.inputSha256);
  });

  it('bounds the logged outputs and flags the cut', async () => {
    // Prepare
    await publish('iris', mlpModel(), { features: IRIS, classLabels: ['a', 'b', 'c'] });

    // Act
    const response = await service({ maxLoggedOutputBytes: 200 }).predict('iris', { instances: floatRows(20, 4) }, ctx());

    // Assess
    const record = log.records[0]!;
    expect(record.truncated).toBe(true);
    expect(Buffer.byteLength(record.outputs, 'utf8')).toBeLessThanOrEqual(200);
    expect(JSON.stringify(response.predictions).startsWith(record.outputs)).toBe(true);
    expect(response.predictions).toHaveLength(20);
  });

  it('logs v2 requests with their output tensors', async () => {
    await publish('ids', int64Model());
    const response = await service().inferV2(
      'ids',
      { id: 'mine', inputs: [{ name: 'ids', shape: [2, 2], datatype: 'INT64', data: [1, 2, 3, 4] }] },
      ctx(),
    );
    expect(response.id).toBe('mine');
    expect(log.records[0]?.rows).toBe(2);
    expect(JSON.parse(log.records[0]!.outputs)).toEqual(response.outputs);
  });
});

describe('boundedJson', () => {
  it('keeps JSON that fits as it is', () => {
    expect(boundedJson({ a: [1, 2] }, 100)).toEqual({ json: '{"a":[1,2]}', truncated: false });
  });

  it('cuts by UTF-8 bytes, not characters', () => {
    // Prepare: "é" is one character and two bytes
    const value = ['éééééééééé'];

    // Act
    const { json, truncated } = boundedJson(value, 10);

    // Assess
    expect(truncated).toBe(true);
    expect(Buffer.byteLength(json, 'utf8')).toBeLessThanOrEqual(10);
    expect(JSON.stringify(value).startsWith(json)).toBe(true);
  });

  it('never ends a cut on half of a surrogate pair', () => {
    // Act: the largest prefix within 5 bytes would end on the high half of the first emoji
    const { json, truncated } = boundedJson(['😀😀😀'], 5);

    // Assess
    expect(truncated).toBe(true);
    expect(json).toBe('["');
    expect(Buffer.from(json, 'utf8').toString('utf8')).toBe(json);
  });
});
