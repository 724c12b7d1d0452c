/**
 * scikit-learn classifiers with their default ZipMap output: rewritten at registration
 * (functions/core/onnx/zipmap.ts), then served. The models are built in the test with the
 * ai.onnx.ml domain (LinearClassifier → ZipMap, as skl2onnx exports a LogisticRegression); the
 * registry is DynamoDbRegistry and the artifacts S3ArtifactStore against the local servers, the
 * runtime is ONNX Runtime. The reference is ONNX Runtime run directly on the same classifier
 * without its ZipMap.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { OnnxRuntime } from '../../functions/adapters/onnx-runtime.js';
import { S3ArtifactStore } from '../../functions/adapters/s3-artifacts.js';
import { ensureTables } from '../../functions/adapters/tables.js';
import { ValidationError } from '../../functions/core/errors.js';
import { create, decodeModel, encodeModel, NodeProtoSchema, type ModelProto } from '../../functions/core/onnx/proto.js';
import { rewriteZipMap, servedClassLabels } from '../../functions/core/onnx/zipmap.js';
import { PredictionService, type RequestContext } from '../../functions/core/predict.js';
import { RegistryService } from '../../functions/core/registry.js';
import { ensureBucket, localClients, startLocalAws, type LocalAws, type LocalClients } from '../../local/aws-servers.js';
import { rejection } from '../fixtures/errors.js';
import { InMemoryPredictionLog } from '../fixtures/in-memory.js';
import { linearClassifier, seededRandom, zipMapClassifier, type LinearClassifierOptions } from '../fixtures/models.js';

const TABLE = 'zipmap-registry';
const BUCKET = 'zipmap-artifacts';

let aws: LocalAws;
let clients: LocalClients;
let cacheDir: string;
let registry: DynamoDbRegistry;
let artifacts: S3ArtifactStore;
let runtime: OnnxRuntime;
let registryService: RegistryService;
let predictions: PredictionService;
let requests = 0;

beforeAll(async () => {
  aws = await startLocalAws();
  clients = localClients(aws);
  await ensureTables(clients.dynamo, { registry: TABLE, predictionLog: 'zipmap-log' });
  await ensureBucket(clients.s3, BUCKET);
  cacheDir = await mkdtemp(join(tmpdir(), 'zipmap-test-'));
  registry = new DynamoDbRegistry({ client: clients.documents, tableName: TABLE });
  artifacts = new S3ArtifactStore({ client: clients.s3, bucket: BUCKET });
  runtime = new OnnxRuntime(artifacts, { cacheDir, intraOpThreads: 1 });
  registryService = new RegistryService({ registry, artifacts, runtime, maxArtifactBytes: 10_000_000 });
  predictions = new PredictionService({
    registry,
    runtime,
    log: new InMemoryPredictionLog(),
    config: { maxRows: 1000, functionVersion: '1', logTtlDays: 1, maxLoggedOutputBytes: 100_000, pointerCacheMs: 0 },
  });
});

afterAll(async () => {
  clients.destroy();
  await aws.stop();
  await rm(cacheDir, { recursive: true, force: true });
});

function ctx(): RequestContext {
  requests++;
  return { requestId: `zipmap-${requests}`, caller: 'test', startedAt: performance.now() };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `rows` seeded rows of `features` values in [-3, 3), float32-representable. */
function rowsOf(features: number, rows: number, seed: number): number[][] {
  const random = seededRandom(seed);
  return Array.from({ length: rows }, () => Array.from({ length: features }, () => Math.fround(-3 + 6 * random())));
}

/** ONNX Runtime on the classifier without ZipMap: labels (as strings) and probability rows. */
async function reference(withoutZipMap: Uint8Array, rows: number[][]): Promise<{ labels: string[]; probabilities: number[][] }> {
  const session = await ort.InferenceSession.create(withoutZipMap);
  try {
    const width = rows[0]?.length ?? 0;
    const out = await session.run({ float_input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, width]) });
    const labels = Array.from(out['output_label']?.data as ArrayLike<string | bigint>, String);
    const flat = Array.from(out['probabilities']?.data as Float32Array);
    const k = flat.length / rows.length;
    return { labels, probabilities: rows.map((_, r) => flat.slice(r * k, (r + 1) * k)) };
  } finally {
    await session.release();
  }
}

async function promote(model: string, version: string): Promise<void> {
  await registryService.transition({ model, version, to: 'staging', actor: 'test' });
  await registryService.setProduction(model, version, 'test');
}

function refusalOf(error: unknown): ValidationError {
  expect(error).toBeInstanceOf(ValidationError);
  return error as ValidationError;
}

describe('a scikit-learn classifier with ZipMap registers and serves the same values as ONNX Runtime', () => {
  it.each<[string, LinearClassifierOptions]>([
    ['binary, string labels (LOGISTIC)', { classes: 2, labels: 'strings' }],
    ['binary, int64 labels (LOGISTIC)', { classes: 2, labels: 'int64s' }],
    ['3 classes, string labels (SOFTMAX)', { classes: 3, labels: 'strings' }],
    ['3 classes, int64 labels (SOFTMAX)', { classes: 3, labels: 'int64s' }],
  ])('%s', async (_name, options) => {
    // Prepare
    const fixture = linearClassifier({ ...options, seed: 20 + (options.classes ?? 3) });
    const model = `sk-${options.classes}-${options.labels}`;
    const rows = rowsOf(fixture.options.features, 24, 5);
    const expected = await reference(fixture.withoutZipMap, rows);

    // Act
    const version = await registryService.register({ model, bytes: fixture.bytes, metadata: {}, actor: 'alice' });
    await promote(model, version.version);
    const served = await predictions.predict(model, { instances: rows }, ctx());
    const v2 = await predictions.inferV2(
      model,
      { inputs: [{ name: 'float_input', shape: [rows.length, fixture.options.features], datatype: 'FP32', data: rows.flat() }] },
      ctx(),
    );

    // Assess: the version records the rewrite and the caller's file
    const stored = await registry.getVersion(model, version.version);
    expect(stored?.metadata.classLabels).toEqual(fixture.classLabels);
    expect(stored?.source).toEqual({
      rewrite: 'zipmap',
      sha256: sha256(fixture.bytes),
      sizeBytes: fixture.bytes.byteLength,
      note: expect.stringContaining('output_probability'),
    });
    expect(stored?.artifact.sha256).not.toBe(sha256(fixture.bytes));
    expect(sha256(await artifacts.get(version.artifact))).toBe(version.artifact.sha256);
    expect(stored?.signature.outputs).toEqual([
      { name: 'output_label', type: options.labels === 'strings' ? 'string' : 'int64', shape: ['N'] },
      { name: 'output_probability', type: 'float32', shape: ['N', fixture.options.classes] },
    ]);
    // Assess: label, confidence and probabilities per row, as ONNX Runtime computes them
    expect(new Set(expected.labels).size).toBeGreaterThan(1);
    const rowsServed = served.predictions as Array<{ label: string; confidence: number; probabilities: Record<string, number> }>;
    expect(rowsServed).toHaveLength(rows.length);
    rowsServed.forEach((p, r) => {
      const probabilities = expected.probabilities[r] as number[];
      expect(p.label).toBe(expected.labels[r]);
      expect(Math.fround(p.confidence)).toBe(Math.max(...probabilities));
      // (Compared as sets: JavaScript lists integer-like keys such as "1" first in a parsed object.)
      expect(Object.keys(p.probabilities).sort()).toEqual([...fixture.classLabels].sort());
      expect(fixture.classLabels.map((l) => Math.fround(p.probabilities[l] as number))).toEqual(probabilities);
    });
    // Assess: the v2 form returns both tensors, the probabilities under the ZipMap output's name
    const outputs = Object.fromEntries(v2.outputs.map((o) => [o.name, o]));
    expect(outputs['output_probability']).toMatchObject({ datatype: 'FP32', shape: [rows.length, fixture.options.classes] });
    expect((outputs['output_probability']?.data ?? []).map((v) => Math.fround(Number(v)))).toEqual(expected.probabilities.flat());
    expect((outputs['output_label']?.data ?? []).map(String)).toEqual(expected.labels);
    // Assess: the binary form, both ways: the probabilities' bytes are ONNX Runtime's
    const x = Float32Array.from(rows.flat());
    const header = {
      inputs: [
        {
          name: 'float_input',
          shape: [rows.length, fixture.options.features],
          datatype: 'FP32',
          parameters: { binary_data_size: x.byteLength },
        },
      ],
      parameters: { binary_data_output: true },
    };
    const answer = await predictions.infer(model, { body: header, binary: new Uint8Array(x.buffer), binaryAccepted: true }, ctx());
    if (answer.kind !== 'binary') throw new Error('expected a binary answer');
    const announced = (JSON.parse(answer.header) as { outputs: { name: string; parameters: { binary_data_size: number } }[] }).outputs;
    const chunk = answer.chunks[announced.findIndex((o) => o.name === 'output_probability')] as Uint8Array;
    expect(Buffer.from(chunk)).toEqual(Buffer.from(Float32Array.from(expected.probabilities.flat()).buffer));
  });

  it("accepts declared class labels equal to the ZipMap's", async () => {
    const fixture = linearClassifier({ classes: 3 });
    const version = await registryService.register({
      model: 'sk-declared',
      bytes: fixture.bytes,
      metadata: { classLabels: [...fixture.classLabels] },
      actor: 'alice',
    });
    expect(version.metadata.classLabels).toEqual(fixture.classLabels);
    expect(version.source?.rewrite).toBe('zipmap');
  });

  it("refuses declared class labels that differ from the ZipMap's, naming both, and stores nothing", async () => {
    // Prepare
    const fixture = linearClassifier({ classes: 3 });
    const declared = ['virginica', 'versicolor', 'setosa'];

    // Act
    const error = refusalOf(
      await rejection(
        registryService.register({ model: 'sk-mismatch', bytes: fixture.bytes, metadata: { classLabels: declared }, actor: 'alice' }),
      ),
    );

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'ZIPMAP_LABELS_MISMATCH', path: ['metadata', 'classLabels'] });
    expect(error.message).toContain('["virginica", "versicolor", "setosa"]');
    expect(error.message).toContain('["setosa", "versicolor", "virginica"]');
    expect(await registry.getModel('sk-mismatch')).toBeUndefined();
  });

  it.each<[string, LinearClassifierOptions]>([
    ['a ZipMap whose output reaches the graph output through another node', { zipMap: 'behind-identity' }],
    ['a ZipMap output that another node also reads', { zipMap: 'also-read' }],
  ])('refuses %s with ZIPMAP_NOT_REWRITABLE and stores nothing', async (_name, options) => {
    // Prepare
    const fixture = linearClassifier(options);
    const model = `sk-${options.zipMap}`;

    // Act
    const error = refusalOf(await rejection(registryService.register({ model, bytes: fixture.bytes, metadata: {}, actor: 'alice' })));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'ZIPMAP_NOT_REWRITABLE', path: ['model'] });
    expect(error.message).toContain("'zipmap': False");
    expect(error.message.length).toBeLessThan(600);
    expect(await registry.getModel(model)).toBeUndefined();
  });

  it('serves the ZipMap fixture of the other tests (MatMul, Softmax, LabelEncoder before the ZipMap)', async () => {
    // Prepare
    const fixture = zipMapClassifier({ labels: 'int64s' });

    // Act
    const version = await registryService.register({
      model: 'sk-fixture',
      bytes: fixture.bytes,
      metadata: { features: ['a', 'b', 'c', 'd'] },
      actor: 'alice',
    });
    await promote('sk-fixture', version.version);
    const served = await predictions.predict('sk-fixture', { features: { a: 1, b: 0.5, c: -1, d: 2 } }, ctx());

    // Assess
    expect(version.metadata.classLabels).toEqual(['0', '1', '2']);
    expect(served.predictions[0]).toMatchObject({
      label: expect.stringMatching(/^[012]$/),
      probabilities: { 0: expect.any(Number), 1: expect.any(Number), 2: expect.any(Number) },
    });
  });
});

describe('rewriteZipMap', () => {
  it('replaces the ZipMap by an Identity of its input, typed [N, K] float, and returns its labels', async () => {
    // Prepare
    const fixture = linearClassifier({ classes: 3, labels: 'int64s' });

    // Act
    const result = await rewriteZipMap(fixture.bytes);

    // Assess
    expect(result).toMatchObject({ rewritten: true, classLabels: ['10', '20', '30'], outputs: ['output_probability'] });
    const graph = decodeModel(result.bytes).graph;
    expect(graph?.node.map((n) => [n.opType, n.domain, n.input, n.output])).toEqual([
      ['LinearClassifier', 'ai.onnx.ml', ['float_input'], ['output_label', 'probabilities']],
      ['Identity', '', ['probabilities'], ['output_probability']],
    ]);
    const type = graph?.output[1]?.type?.value;
    expect(type?.case).toBe('tensorType');
    expect(type?.case === 'tensorType' ? [type.value.elemType, type.value.shape?.dim.map((d) => d.value.value)] : undefined).toEqual([
      1,
      [undefined, 3n],
    ]);
  });

  it('gives back the same bytes, not rewritten, for a file without ZipMap or one that is not ONNX', async () => {
    const plain = linearClassifier().withoutZipMap;
    const junk = new TextEncoder().encode('ZipMap, but not a protobuf \u0000\u00ff');
    expect(await rewriteZipMap(plain)).toMatchObject({ bytes: plain, rewritten: false });
    expect(await rewriteZipMap(junk)).toMatchObject({ bytes: junk, rewritten: false });
  });

  it('keeps every field it does not read: unknown fields of the model, graph and nodes survive the rewrite', async () => {
    // Prepare: fields newer ONNX versions define and onnx.proto here does not (ModelProto
    // training_info 20, GraphProto metadata_props 16, NodeProto overload 8), plus a doc string.
    const model = decodeModel(linearClassifier({ classes: 2 }).bytes);
    const extra = (no: number, data: number[]) => [{ no, wireType: 2, data: Uint8Array.from([data.length, ...data]) }];
    const classifier = model.graph?.node[0];
    if (!model.graph || !classifier) throw new Error('fixture changed');
    model.$unknown = extra(20, [0x08, 0x01]);
    model.graph.$unknown = extra(16, [0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76]);
    classifier.$unknown = extra(8, [0x76, 0x32]);
    classifier.docString = 'trained on 150 rows';

    // Act
    const result = await rewriteZipMap(encodeModel(model));

    // Assess
    const after = decodeModel(result.bytes);
    expect(result.rewritten).toBe(true);
    expect(after.$unknown).toEqual(model.$unknown);
    expect(after.graph?.$unknown).toEqual(model.graph.$unknown);
    expect(after.graph?.node[0]?.$unknown).toEqual(classifier.$unknown);
    expect(after.graph?.node[0]?.docString).toBe('trained on 150 rows');
  });

  it('imports the default domain for the Identity when the file used ai.onnx.ml operators only', async () => {
    // Prepare
    const fixture = linearClassifier({ classes: 3 });
    const model: ModelProto = decodeModel(fixture.bytes);
    model.opsetImport = model.opsetImport.filter((o) => o.domain !== '');
    const rows = rowsOf(4, 3, 9);

    // Act
    const result = await rewriteZipMap(encodeModel(model));
    const session = await ort.InferenceSession.create(result.bytes);
    const out = await session.run({ float_input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 4]) });
    await session.release();

    // Assess
    expect(decodeModel(result.bytes).opsetImport.map((o) => [o.domain, o.version])).toEqual([
      ['ai.onnx.ml', 3n],
      ['', 13n],
    ]);
    expect(Array.from(out['output_probability']?.data as Float32Array)).toEqual(
      (await reference(fixture.withoutZipMap, rows)).probabilities.flat(),
    );
  });

  /** The fixture's model with its ZipMap node changed by `edit`. */
  async function withZipMap(edit: (model: ModelProto) => void): Promise<Uint8Array> {
    const model = decodeModel(linearClassifier({ classes: 3 }).bytes);
    edit(model);
    return encodeModel(model);
  }
  const zipMapOf = (model: ModelProto) => model.graph?.node.find((n) => n.opType === 'ZipMap') ?? create(NodeProtoSchema);

  it.each<[string, (model: ModelProto) => void, RegExp]>([
    [
      'no class labels',
      (m) => {
        zipMapOf(m).attribute = [];
      },
      /exactly one of the attributes classlabels_strings and classlabels_int64s/,
    ],
    [
      'duplicate class labels',
      (m) => {
        const a = zipMapOf(m).attribute[0];
        if (a) a.strings = ['a', 'b', 'a'].map((s) => new TextEncoder().encode(s));
      },
      /lists the class label "a" twice/,
    ],
    [
      'an empty class label',
      (m) => {
        const a = zipMapOf(m).attribute[0];
        if (a) a.strings = ['a', '', 'c'].map((s) => new TextEncoder().encode(s));
      },
      /class label 1 .* is empty/,
    ],
    [
      'a declared output type with int64 keys for string labels',
      (m) => {
        const output = m.graph?.output[1]?.type?.value;
        const map = output?.case === 'sequenceType' ? output.value.elemType?.value : undefined;
        if (map?.case === 'mapType') map.value.keyType = 7;
      },
      /declared with another type than seq\(map\(string, float\)\)/,
    ],
    [
      'a ZipMap with two inputs',
      (m) => {
        zipMapOf(m).input.push('float_input');
      },
      /has 2 inputs and 1 outputs/,
    ],
  ])('refuses %s with ZIPMAP_NOT_REWRITABLE', async (_name, edit, message) => {
    // Prepare
    const bytes = await withZipMap(edit);

    // Act
    const error = refusalOf(await rewriteZipMap(bytes).catch((e: unknown) => e));

    // Assess
    expect(error).toMatchObject({ status: 400, code: 'ZIPMAP_NOT_REWRITABLE', path: ['model'] });
    expect(error.message).toMatch(message);
  });

  it("servedClassLabels: the ZipMap's labels unless other labels were declared", () => {
    expect(servedClassLabels(undefined, ['a', 'b'])).toEqual(['a', 'b']);
    expect(servedClassLabels(['a', 'b'], ['a', 'b'])).toEqual(['a', 'b']);
    const many = Array.from({ length: 30 }, (_, i) => `label-${i}-${'x'.repeat(100)}`);
    const error = refusalOf(
      (() => {
        try {
          return servedClassLabels(many, ['a', 'b']);
        } catch (e) {
          return e;
        }
      })(),
    );
    expect(error.code).toBe('ZIPMAP_LABELS_MISMATCH');
    expect(error.message).toContain('(30 in all)');
    expect(error.message.length).toBeLessThan(1_000);
  });
});
