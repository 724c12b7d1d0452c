/**
 * The registry's core rules with real ONNX Runtime inspection over in-memory ports: what is
 * recorded at registration, and which declarations are refused before anything is stored.
 */
import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { ValidationError, formatPath } from '../../functions/core/errors.js';
import { predictRecords, served } from '../../functions/core/predict.js';
import { RegistryService, artifactKey } from '../../functions/core/registry.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryArtifactStore, InMemoryModelRegistry } from '../fixtures/in-memory.js';
import { lookupModel, mlpModel, sequenceOutputModel, treeEnsembleClassifier, twoInputModel } from '../fixtures/models.js';

function setup(maxArtifactBytes = 1_000_000) {
  const registry = new InMemoryModelRegistry();
  const artifacts = new InMemoryArtifactStore();
  const runtime = new OnnxRuntime(artifacts, { cacheDir: '/tmp/registry-service-test', intraOpThreads: 1 });
  const service = new RegistryService({
    registry,
    artifacts,
    runtime,
    maxArtifactBytes,
    now: () => new Date('2026-02-03T04:05:06.000Z'),
  });
  return { registry, artifacts, runtime, service };
}

async function refusal(promise: Promise<unknown>): Promise<ValidationError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('RegistryService.register', () => {
  it('records the artifact (content-addressed key, VersionId, sha256, size) and the signature read from the model', async () => {
    const { service, artifacts } = setup();
    const fixture = treeEnsembleClassifier();
    const sha = createHash('sha256').update(fixture.bytes).digest('hex');

    const version = await service.register({
      model: 'trees',
      bytes: fixture.bytes,
      metadata: { features: ['a', 'b', 'c', 'd'], classLabels: ['x', 'y', 'z'], metrics: { accuracy: 0.9 }, trainedAt: '2026-01-02' },
      actor: 'alice',
    });

    expect(version).toMatchObject({
      model: 'trees',
      version: '1',
      stage: 'development',
      registeredBy: 'alice',
      registeredAt: '2026-02-03T04:05:06.000Z',
      artifact: { bucket: artifacts.bucket, key: artifactKey('trees', sha), versionId: '1', sha256: sha, sizeBytes: fixture.bytes.length },
      signature: {
        inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }],
        outputs: [
          { name: 'label', type: 'string', shape: ['N'] },
          { name: 'probabilities', type: 'float32', shape: ['N', 3] },
        ],
      },
    });
    expect(await artifacts.get(version.artifact)).toEqual(Uint8Array.from(fixture.bytes));
  });

  it('numbers versions per model and lists them', async () => {
    const { service } = setup();
    const fixture = mlpModel();
    const first = await service.register({ model: 'm', bytes: fixture.bytes, metadata: {}, actor: 'a' });
    const second = await service.register({ model: 'm', bytes: mlpModel({ seed: 2 }).bytes, metadata: {}, actor: 'a' });
    await service.transition({ model: 'm', version: '2', to: 'staging', actor: 'bob' });
    await service.setProduction('m', '2', 'bob');

    const summary = await service.describeModel('m');
    expect([first.version, second.version]).toEqual(['1', '2']);
    expect(summary).toMatchObject({ model: 'm', productionVersion: '2', latestVersion: 2, updatedBy: 'bob' });
    expect(summary.versions.map((v) => [v.version, v.stage])).toEqual([
      ['1', 'development'],
      ['2', 'production'],
    ]);
    expect((await service.history('m')).map((h) => [h.version, h.from, h.to])).toEqual([
      ['2', 'development', 'staging'],
      ['2', 'staging', 'production'],
    ]);
  });

  it.each<[string, () => { bytes: Uint8Array; metadata: unknown; model?: string }, string, string]>([
    [
      'features that do not match the input width',
      () => ({ bytes: mlpModel().bytes, metadata: { features: ['a', 'b'] } }),
      'FEATURES_MISMATCH',
      'metadata.features',
    ],
    [
      'duplicate feature names',
      () => ({ bytes: mlpModel().bytes, metadata: { features: ['a', 'a', 'b', 'c'] } }),
      'DUPLICATE_FEATURE',
      'metadata.features',
    ],
    [
      'features that are not the input names of a multi-input model',
      () => ({ bytes: twoInputModel().bytes, metadata: { features: ['a', 'c'] } }),
      'FEATURES_MISMATCH',
      'metadata.features',
    ],
    [
      'class labels that no probability output fits',
      () => ({ bytes: mlpModel().bytes, metadata: { classLabels: ['x', 'y'] } }),
      'CLASS_LABELS_MISMATCH',
      'metadata.classLabels',
    ],
    [
      'a metric that is not a number',
      () => ({ bytes: mlpModel().bytes, metadata: { metrics: { accuracy: 'high' } } }),
      'INVALID_REQUEST',
      'metadata.metrics.accuracy',
    ],
    [
      'a training date that is not ISO-8601',
      () => ({ bytes: mlpModel().bytes, metadata: { trainedAt: 'last tuesday' } }),
      'INVALID_REQUEST',
      'metadata.trainedAt',
    ],
    ['a file ONNX Runtime cannot load', () => ({ bytes: new TextEncoder().encode('not onnx'), metadata: {} }), 'INVALID_MODEL', 'model'],
    ['a sequence output', () => ({ bytes: sequenceOutputModel(), metadata: {} }), 'NON_TENSOR_OUTPUT', 'outputs.parts'],
    ['an empty file', () => ({ bytes: new Uint8Array(0), metadata: {} }), 'EMPTY_ARTIFACT', 'model'],
    ['a bad model name', () => ({ bytes: mlpModel().bytes, metadata: {}, model: '../etc' }), 'INVALID_MODEL_NAME', 'model'],
    [
      'metadata too large for one record',
      () => ({
        bytes: mlpModel({ features: 4 }).bytes,
        metadata: {
          description: 'x'.repeat(4_000),
          metrics: Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`metric_${'m'.repeat(60)}_${i}`, i])),
        },
      }),
      'METADATA_TOO_LARGE',
      'metadata',
    ],
  ])('refuses %s, storing nothing', async (_name, make, code, path) => {
    const { service, registry, artifacts } = setup();
    const { bytes, metadata, model } = make();
    const put = jest.spyOn(artifacts, 'put');
    const error = await refusal(service.register({ model: model ?? 'm', bytes, metadata, actor: 'a' }));
    expect({ code: error.code, path: error.path.join('.').replace(/\.(\d+)/g, '[$1]') }).toEqual({ code, path });
    expect(await registry.listModels()).toEqual([]);
    expect(put).not.toHaveBeenCalled();
  });

  it('refuses a file over the size limit before reading it', async () => {
    const { service } = setup(100);
    const error = await refusal(service.register({ model: 'm', bytes: mlpModel().bytes, metadata: {}, actor: 'a' }));
    expect(error.code).toBe('ARTIFACT_TOO_LARGE');
  });
});

describe('RegistryService.register: golden inputs are replayed before anything is stored', () => {
  const FEATURES = ['a', 'b', 'c', 'd'];
  const LABELS = ['x', 'y', 'z'];
  const row = [0.1, -0.4, 0.9, 0.3];
  let truth: unknown[];

  beforeAll(async () => {
    // What the model really answers for `row`, read through the API's own path.
    const { service } = setup();
    const version = await service.register({
      model: 'probe',
      bytes: mlpModel().bytes,
      metadata: { features: FEATURES, classLabels: LABELS, goldenInputs: [] },
      actor: 'a',
    });
    const lease = await new OnnxRuntime(new InMemoryArtifactStore(), { cacheDir: '/tmp/registry-service-test', intraOpThreads: 1 }).open(
      mlpModel().bytes,
    );
    try {
      ({ predictions: truth } = await predictRecords(served(version, lease), { instances: [row] }, 10));
    } finally {
      lease.release();
    }
  });

  const golden = (request: unknown, expected: unknown = truth) => ({
    features: FEATURES,
    classLabels: LABELS,
    goldenInputs: [{ request, expected }],
  });
  const nudged = () => {
    const wrong = structuredClone(truth) as { probabilities: Record<string, number> }[];
    const first = wrong[0] as { probabilities: Record<string, number> };
    first.probabilities['y'] = (first.probabilities['y'] ?? 0) + 0.01;
    return wrong;
  };

  it('registers metadata whose golden inputs the model reproduces', async () => {
    const { service } = setup();
    const version = await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: golden({ instances: [row] }), actor: 'a' });
    expect(version.metadata.goldenInputs).toHaveLength(1);
  });

  it.each<[string, () => unknown, string, string | RegExp]>([
    [
      'a row narrower than the input (2 values for 4 features)',
      () => golden({ instances: [[1, 2]] }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0]',
    ],
    [
      'a row wider than the input',
      () => golden({ instances: [[1, 2, 3, 4, 5]] }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0]',
    ],
    [
      'a value of the wrong type',
      () => golden({ instances: [[1, 'two', 3, 4]] }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances[0][1]',
    ],
    [
      'a missing feature',
      () => golden({ features: { a: 1, b: 2, c: 3 } }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.features.d',
    ],
    [
      'an unknown feature',
      () => golden({ features: { a: 1, b: 2, c: 3, d: 4, e: 5 } }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.features.e',
    ],
    [
      'a request in neither record form',
      () => golden({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row }] }),
      'INVALID_GOLDEN_INPUT',
      /^metadata\.goldenInputs\[0\]\.request\.(features|instances|inputs)$/,
    ],
    [
      'more rows than a request may hold',
      () => golden({ instances: Array.from({ length: 1_001 }, () => row) }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[0].request.instances',
    ],
    [
      'a second golden input that does not fit',
      () => ({
        ...golden({ instances: [row] }),
        goldenInputs: [
          { request: { instances: [row] }, expected: truth },
          { request: { instances: [[1]] }, expected: truth },
        ],
      }),
      'INVALID_GOLDEN_INPUT',
      'metadata.goldenInputs[1].request.instances[0]',
    ],
    [
      'expected predictions the model does not make',
      () => golden({ instances: [row] }, nudged()),
      'GOLDEN_MISMATCH',
      'metadata.goldenInputs[0].expected[0].probabilities.y',
    ],
    [
      'more expected predictions than rows',
      () => golden({ instances: [row] }, [...truth, ...truth]),
      'GOLDEN_MISMATCH',
      'metadata.goldenInputs[0].expected',
    ],
  ])('refuses %s with 400, the path into the golden input, storing nothing', async (_name, metadata, code, path) => {
    const { service, registry, artifacts } = setup();
    const put = jest.spyOn(artifacts, 'put');

    const error = await refusal(service.register({ model: 'm', bytes: mlpModel().bytes, metadata: metadata(), actor: 'a' }));

    expect(error.status).toBe(400);
    expect({ code: error.code, path: formatPath(error.path) }).toEqual({
      code,
      path: typeof path === 'string' ? path : expect.stringMatching(path),
    });
    expect(error.message).toMatch(/^Golden input \d /);
    expect(error.message.length).toBeLessThan(600);
    expect(await registry.listModels()).toEqual([]);
    expect(put).not.toHaveBeenCalled();
  });

  it('frees the session it opened, whether the golden inputs pass or not', async () => {
    const { service, runtime } = setup();
    const released: boolean[] = [];
    const open = runtime.open.bind(runtime);
    jest.spyOn(runtime, 'open').mockImplementation(async (bytes) => {
      const lease = await open(bytes);
      const index = released.push(false) - 1;
      return {
        signature: lease.signature,
        run: (feeds, outputs) => lease.run(feeds, outputs),
        release: () => {
          released[index] = true;
          lease.release();
        },
      };
    });

    await service.register({ model: 'm', bytes: mlpModel().bytes, metadata: golden({ instances: [row] }), actor: 'a' });
    await refusal(service.register({ model: 'm', bytes: mlpModel().bytes, metadata: golden({ instances: [[1, 2]] }), actor: 'a' }));

    expect(released).toEqual([true, true]);
  });
});

describe('RegistryService.register: one rule for every declared name (finding F11b)', () => {
  const LABELS = ['x', 'y', 'z'];
  const FEATURES = ['a', 'b', 'c', 'd'];
  const NAMES: ReadonlyArray<[string, string, string]> = [
    ['__proto__', '__proto__', 'FORBIDDEN_KEY'],
    ['a NUL', 'key=1\u0000key=2', 'NUL_IN_STRING'],
    ['a lone high surrogate', 'label\uD800', 'UNPAIRED_SURROGATE'],
    ['a lone low surrogate', '\uDC00label', 'UNPAIRED_SURROGATE'],
  ];
  const PLACES: ReadonlyArray<[string, (name: string) => Record<string, unknown>, string]> = [
    ['a class label', (name) => ({ features: FEATURES, classLabels: ['x', name, 'z'] }), 'metadata.classLabels[1]'],
    ['a feature', (name) => ({ features: ['a', name, 'c', 'd'], classLabels: LABELS }), 'metadata.features[1]'],
    ['the target', (name) => ({ features: FEATURES, target: name }), 'metadata.target'],
    ['a metric', (name) => ({ features: FEATURES, metrics: { accuracy: 0.9, [name]: 0.5 } }), `metadata.metrics.`],
  ];
  const cases = PLACES.flatMap(([place, metadata, path]) =>
    NAMES.map(([what, name, code]) => [place, what, metadata(name), path === 'metadata.metrics.' ? `${path}${name}` : path, code] as const),
  );

  it.each(cases)(
    'refuses %s that is %s (400, the path to it) before opening the file, storing nothing',
    async (_place, _what, metadata, path, code) => {
      // Prepare
      const { service, registry, artifacts, runtime } = setup();
      const put = jest.spyOn(artifacts, 'put');
      const open = jest.spyOn(runtime, 'open');

      // Act
      const error = await refusal(service.register({ model: 'm', bytes: mlpModel().bytes, metadata, actor: 'a' }));

      // Assess
      expect({ status: error.status, code: error.code, path: formatPath(error.path) }).toEqual({ status: 400, code, path });
      expect(error.message).not.toContain('\u0000');
      expect(open).not.toHaveBeenCalled();
      expect(put).not.toHaveBeenCalled();
      expect(await registry.listModels()).toEqual([]);
    },
  );

  it('accepts every other Object.prototype member name as a class label, feature, target and metric name', async () => {
    // Prepare
    const { service } = setup();
    const names = Object.getOwnPropertyNames(Object.prototype).filter((name) => name !== '__proto__');

    // Act
    const versions = [];
    for (const name of names) {
      versions.push(
        await service.register({
          model: 'm',
          bytes: mlpModel().bytes,
          actor: 'a',
          metadata: { features: ['a', name, 'c', 'd'], classLabels: ['x', name, 'z'], target: name, metrics: { [name]: 0.5 } },
        }),
      );
    }

    // Assess
    expect(versions.map((v) => v.metadata.classLabels?.[1])).toEqual(names);
    expect(versions.map((v) => Object.keys(v.metadata.metrics ?? {}))).toEqual(names.map((name) => [name]));
  });
});

describe('RegistryService.register: the file is checked the same way inline and uploaded (finding F11a)', () => {
  it.each([
    ['inline', {}],
    ['from an upload', { uploadId: '0b5a2c4e-6f1d-4c1a-9a6b-3f2e1d0c9b8a' }],
  ])('an empty file %s is 400 EMPTY_ARTIFACT at path model, with what to send instead', async (_how, extra) => {
    // Prepare
    const { service } = setup();

    // Act
    const error = await refusal(service.register({ model: 'm', bytes: new Uint8Array(0), metadata: {}, actor: 'a', ...extra }));

    // Assess
    expect({ code: error.code, path: error.path }).toEqual({ code: 'EMPTY_ARTIFACT', path: ['model'] });
    expect(error.message).toMatch(/^The model file is empty \(0 bytes\)\. .+\.$/);
  });
});

describe('RegistryService.register: a golden input ONNX Runtime fails to run (finding F11e)', () => {
  it("is 400 INVALID_GOLDEN_INPUT whose message gives ORT's public reason, in sentences", async () => {
    // Prepare: the lookup model fails at run time on an index outside 0..2.
    const { service, registry } = setup();
    const metadata = { goldenInputs: [{ request: { instances: [[7]] }, expected: [{ y: [0] }] }] };

    // Act
    const error = await refusal(service.register({ model: 'lookup', bytes: lookupModel(), metadata, actor: 'a' }));

    // Assess
    expect({ status: error.status, code: error.code, path: formatPath(error.path) }).toEqual({
      status: 400,
      code: 'INVALID_GOLDEN_INPUT',
      path: 'metadata.goldenInputs[0].request',
    });
    expect(error.message).toMatch(
      /^Golden input 0 cannot be served by this model \(MODEL_RUN_FAILED\): ONNX Runtime failed to run the model: \S.{10,}[.!?] Correct its "request" to fit the model's inputs\.$/s,
    );
    expect(error.message).not.toMatch(/onnxruntime_src|\.(?:cc|h):\d|::/);
    expect(await registry.listModels()).toEqual([]);
  });
});
