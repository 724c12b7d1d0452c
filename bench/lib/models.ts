/**
 * The three models every section measures, built reproducibly on each run: the shipped sample
 * model (iris, 4 features), a small neural net (20 features) and a tree ensemble (100 trees of
 * depth 6, 20 features), the last two from the test fixtures with fixed seeds. Rows are real
 * iris measurements, and seeded pseudo-random values in [0, 1) for the others.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { defaultIntraOpThreads } from '../../functions/adapters/onnx-runtime.js';
import { mlpModel, seededRandom, treeEnsembleClassifier } from '../../test/fixtures/models.js';
import { ROOT } from './paths.js';

export type ModelId = 'iris' | 'mlp' | 'trees';
export const MODEL_IDS: readonly ModelId[] = ['iris', 'mlp', 'trees'];

export interface BenchModel {
  readonly id: ModelId;
  /** Its name in the registry (and the API path). */
  readonly name: string;
  readonly description: string;
  readonly bytes: Uint8Array;
  /** The model's one input, float32 [N, features]. */
  readonly inputName: string;
  readonly features: readonly string[];
  /** Metadata as registered (features in input order, class labels). */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** `count` rows of feature values, the same on every run. */
  rows(count: number): number[][];
}

const round4 = (x: number) => Math.round(x * 10_000) / 10_000;

function irisModel(): BenchModel {
  const bytes = new Uint8Array(readFileSync(path.join(ROOT, 'models/iris/model.onnx')));
  const metadata = JSON.parse(readFileSync(path.join(ROOT, 'models/iris/metadata.json'), 'utf8')) as { features: string[] };
  const data = readFileSync(path.join(ROOT, 'data/iris.csv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(',').slice(0, 4).map(Number));
  return {
    id: 'iris',
    name: 'iris',
    description: 'the sample model: multinomial logistic regression, 4 features, 3 classes',
    bytes,
    inputName: 'features',
    features: metadata.features,
    metadata,
    rows: (count) => Array.from({ length: count }, (_, i) => [...(data[i % data.length] ?? [])]),
  };
}

function generatedRows(features: number, seed: number): (count: number) => number[][] {
  return (count) => {
    const random = seededRandom(seed);
    return Array.from({ length: count }, () => Array.from({ length: features }, () => round4(random())));
  };
}

const featureNames = (count: number) => Array.from({ length: count }, (_, i) => `f${String(i + 1).padStart(2, '0')}`);

function neuralNet(): BenchModel {
  const fixture = mlpModel({ features: 20, hidden: 64, classes: 3, seed: 20 });
  const features = featureNames(20);
  return {
    id: 'mlp',
    name: 'mlp-20',
    description: 'neural net: 20 features → 64 ReLU → 3-class softmax (test fixture mlpModel, seed 20)',
    bytes: fixture.bytes,
    inputName: 'input',
    features,
    metadata: { algorithm: 'mlp', features, classLabels: ['low', 'medium', 'high'] },
    rows: generatedRows(20, 21),
  };
}

function treeEnsemble(): BenchModel {
  const fixture = treeEnsembleClassifier({ trees: 100, depth: 6, features: 20, classes: 3, seed: 6 });
  const features = featureNames(20);
  return {
    id: 'trees',
    name: 'trees-100x6',
    description: 'tree ensemble: 100 trees of depth 6, 20 features, 3 classes (test fixture treeEnsembleClassifier, seed 6)',
    bytes: fixture.bytes,
    inputName: 'input',
    features,
    metadata: { algorithm: 'random forest', features, classLabels: [...(fixture.classLabels as readonly string[])] },
    rows: generatedRows(20, 7),
  };
}

let built: readonly BenchModel[] | undefined;

/** The three models, built once per process. */
export function benchModels(): readonly BenchModel[] {
  built ??= [irisModel(), neuralNet(), treeEnsemble()];
  return built;
}

export function benchModel(id: ModelId): BenchModel {
  const model = benchModels().find((m) => m.id === id);
  if (!model) throw new Error(`no bench model ${id}`);
  return model;
}

// ---------------------------------------------------------------------------------------------
// ONNX Runtime called directly: the limit every other figure is divided by.

/** Intra-op threads the product uses on this machine (no Lambda memory size set). */
export const PRODUCT_THREADS = defaultIntraOpThreads(undefined);

export interface RawSessionOptions {
  /** @default {@link PRODUCT_THREADS} */
  readonly intraOpThreads?: number;
  /** ONNX Runtime's `session.intra_op.allow_spinning`. @default ORT's own default (on) */
  readonly spinning?: boolean;
}

/**
 * A session with the options the product's adapter uses (functions/adapters/onnx-runtime.ts):
 * CPU, all graph optimizations, sequential execution, one inter-op thread.
 */
export function rawSession(model: BenchModel, options: RawSessionOptions = {}): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model.bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    interOpNumThreads: 1,
    intraOpNumThreads: options.intraOpThreads ?? PRODUCT_THREADS,
    ...(options.spinning === undefined ? {} : { extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' } } } }),
  });
}

/** Rows flattened into one float32 tensor's data. */
export function float32Rows(rows: readonly (readonly number[])[]): Float32Array {
  const width = rows[0]?.length ?? 0;
  const data = new Float32Array(rows.length * width);
  rows.forEach((row, r) => data.set(row, r * width));
  return data;
}

/** One `session.run` on `data` ([rows, features]): what a caller of ONNX Runtime must do at least. */
export function rawRun(session: ort.InferenceSession, model: BenchModel, data: Float32Array, rows: number): Promise<unknown> {
  return session.run({ [model.inputName]: new ort.Tensor('float32', data, [rows, model.features.length]) });
}

export function onnxRuntimeVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/onnxruntime-node/package.json'), 'utf8')) as { version: string };
  return manifest.version;
}
