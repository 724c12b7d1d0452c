/**
 * Trains the sample model that `npm start` serves: a multinomial logistic regression (softmax)
 * on the iris data set, written as an ONNX graph with the repository's own builder. Pure and
 * deterministic: the same CSV text gives the same bytes and metadata on every run.
 *
 * @example
 * const { bytes, metadata, testAccuracy } = trainSampleModel(readFileSync('data/iris.csv', 'utf8'));
 */
import { profileRows, type ReferenceProfile } from '../functions/core/drift/profile.js';
import { DEFAULT_PREDICTION_BATCH_ROWS, openProfileTarget, predictionProfile } from '../functions/core/drift/profile-predictions.js';
import type { ArtifactStore } from '../functions/core/ports.js';
import { attr, buildModel, ML_DOMAIN } from '../test/support/onnx/builder.js';
import type { GoldenInput, ModelMetadata } from '../functions/core/model.js';

/** Input columns, in the order of the model's `features` tensor columns. */
export const FEATURES = ['sepal_length_cm', 'sepal_width_cm', 'petal_length_cm', 'petal_width_cm'] as const;
export const TARGET = 'species';
/** Class labels, in the order of the model's `probabilities` columns. */
export const CLASS_LABELS = ['setosa', 'versicolor', 'virginica'] as const;
/** Date of the committed training run; a constant so that retraining reproduces the same bytes. */
export const TRAINED_AT = '2026-11-22';
export const DATA_SOURCE = 'R. A. Fisher (1936), UCI Machine Learning Repository, CC BY 4.0';
export const FRAMEWORK = 'onnx-lambda-serving/ts-trainer';
export const ALGORITHM = 'multinomial logistic regression';
/** Split and optimizer settings of the sample model. */
export const TRAINING = { testFraction: 0.2, seed: 42, iterations: 2000, learningRate: 0.5, l2: 1e-3 } as const;

export interface Table {
  readonly header: readonly string[];
  readonly records: readonly (readonly string[])[];
}
/** One labelled row: feature values and the index of its class. */
export interface Example {
  readonly features: readonly number[];
  readonly label: number;
}
export interface Split {
  readonly train: readonly Example[];
  readonly test: readonly Example[];
}
export interface TrainingOptions {
  readonly iterations: number;
  readonly learningRate: number;
  /** Weight of the L2 penalty `l2/2 · ‖W‖²` (the bias is not penalized). */
  readonly l2: number;
}
/**
 * A trained classifier: `softmax(((x - mean) / std) · weights + bias)`. All parameters are
 * float32-representable, so this is exactly what the ONNX graph holds.
 */
export interface SoftmaxModel {
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** `[features][classes]`. */
  readonly weights: readonly (readonly number[])[];
  readonly bias: readonly number[];
}
export interface SampleModel {
  readonly bytes: Uint8Array;
  readonly metadata: ModelMetadata;
  readonly model: SoftmaxModel;
  readonly split: Split;
  readonly trainAccuracy: number;
  readonly testAccuracy: number;
}

/**
 * Parses simple CSV text (a header row, comma-separated fields, no quoting; LF or CRLF; blank
 * lines skipped). Throws when a record's field count differs from the header's.
 */
export function parseCsv(text: string): Table {
  const lines = text
    .split(/\r?\n/)
    .flatMap((line, i) => (line.trim() === '' ? [] : [{ fields: line.split(',').map((field) => field.trim()), lineNumber: i + 1 }]));
  const [first, ...rest] = lines;
  if (first === undefined) throw new Error('CSV text is empty');
  const header = first.fields;
  const records = rest.map(({ fields, lineNumber }) => {
    if (fields.length !== header.length) {
      throw new Error(`CSV line ${lineNumber}: ${fields.length} fields, the header has ${header.length}`);
    }
    return fields;
  });
  return { header, records };
}

/**
 * Turns table records into examples: the `features` columns as numbers, in the given order, and
 * the `target` column as an index into `classLabels`. Throws on a missing column, a value that is
 * not a finite number, or an unknown label.
 */
export function toExamples(table: Table, features: readonly string[], target: string, classLabels: readonly string[]): Example[] {
  const column = (name: string): number => {
    const index = table.header.indexOf(name);
    if (index < 0) throw new Error(`CSV has no column '${name}'`);
    return index;
  };
  const featureColumns = features.map(column);
  const targetColumn = column(target);
  return table.records.map((record, row) => {
    const values = featureColumns.map((c) => (record[c] ? Number(record[c]) : NaN));
    if (!values.every(Number.isFinite)) throw new Error(`row ${row + 1}: a feature is not a number`);
    const label = classLabels.indexOf(record[targetColumn] ?? '');
    if (label < 0) throw new Error(`row ${row + 1}: unknown ${target} '${record[targetColumn]}'`);
    return { features: values, label };
  });
}

/** Deterministic pseudo-random numbers in [0, 1) (xorshift32), the same on every platform. */
export function seededRandom(seed: number): () => number {
  let state = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/**
 * Splits examples into train and test sets, class by class: a seeded shuffle of each class's rows
 * puts `round(count · testFraction)` of them in the test set. Both sets keep the input order.
 */
export function stratifiedSplit(examples: readonly Example[], testFraction: number, seed: number): Split {
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`testFraction ${testFraction} is not in (0, 1)`);
  const random = seededRandom(seed);
  const byClass = new Map<number, number[]>();
  examples.forEach((e, i) => byClass.set(e.label, [...(byClass.get(e.label) ?? []), i]));
  const testIndexes = new Set<number>();
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const indexes = byClass.get(label) ?? [];
    for (let i = indexes.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [indexes[i], indexes[j]] = [indexes[j] as number, indexes[i] as number];
    }
    indexes.slice(0, Math.round(indexes.length * testFraction)).forEach((i) => testIndexes.add(i));
  }
  return {
    train: examples.filter((_, i) => !testIndexes.has(i)),
    test: examples.filter((_, i) => testIndexes.has(i)),
  };
}

/** The sum of `values` (0 for none), added left to right. */
export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Softmax of one row of logits, shifted by the maximum so that `exp` cannot overflow. */
function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const total = sum(exps);
  return exps.map((e) => e / total);
}

/** `x · weights + bias` for one row of (standardized) features. */
function logits(x: readonly number[], weights: readonly (readonly number[])[], bias: readonly number[]): number[] {
  return bias.map((b, c) => x.reduce((acc, v, f) => acc + v * (weights[f]?.[c] ?? 0), b));
}

/**
 * Trains a softmax regression by full-batch gradient descent on the mean cross-entropy plus an
 * L2 penalty, after standardizing each feature with the training set's mean and (population)
 * standard deviation. The returned parameters are rounded to float32.
 */
export function trainSoftmaxRegression(train: readonly Example[], classCount: number, options: TrainingOptions): SoftmaxModel {
  const first = train[0];
  if (first === undefined) throw new Error('no training examples');
  const n = train.length;
  const columns = first.features.map((_, f) => train.map((e) => e.features[f] ?? 0));
  const mean = columns.map((values) => sum(values) / n);
  const std = columns.map((values, f) => Math.sqrt(sum(values.map((v) => (v - (mean[f] ?? 0)) ** 2)) / n) || 1);
  const data = train.map((e) => ({ x: e.features.map((v, f) => (v - (mean[f] ?? 0)) / (std[f] ?? 1)), label: e.label }));

  const { iterations, learningRate, l2 } = options;
  let weights = columns.map(() => new Array<number>(classCount).fill(0));
  let bias = new Array<number>(classCount).fill(0);
  for (let iteration = 0; iteration < iterations; iteration++) {
    // Gradient of the mean cross-entropy with respect to the logits: (p - onehot(label)) / n.
    const residuals = data.map(({ x, label }) => ({
      x,
      r: softmax(logits(x, weights, bias)).map((p, c) => (p - (c === label ? 1 : 0)) / n),
    }));
    weights = weights.map((row, f) =>
      row.map((w, c) => w - learningRate * (l2 * w + sum(residuals.map(({ x, r }) => (x[f] ?? 0) * (r[c] ?? 0))))),
    );
    bias = bias.map((b, c) => b - learningRate * sum(residuals.map(({ r }) => r[c] ?? 0)));
  }
  const f32 = (values: readonly number[]): number[] => values.map(Math.fround);
  return { mean: f32(mean), std: f32(std), weights: weights.map(f32), bias: f32(bias) };
}

/** Class probabilities of one row of raw (unstandardized) features. */
export function predictProbabilities(model: SoftmaxModel, features: readonly number[]): number[] {
  const x = features.map((v, f) => (v - (model.mean[f] ?? 0)) / (model.std[f] ?? 1));
  return softmax(logits(x, model.weights, model.bias));
}

/** Index of the largest value (the first one on ties, like ONNX ArgMax). */
export function argMax(values: readonly number[]): number {
  return values.reduce((best, v, i) => (v > (values[best] ?? -Infinity) ? i : best), 0);
}

/** Fraction of examples whose most probable class is their label. */
export function accuracy(model: SoftmaxModel, examples: readonly Example[]): number {
  if (examples.length === 0) throw new Error('accuracy of no examples');
  const correct = examples.filter((e) => argMax(predictProbabilities(model, e.features)) === e.label).length;
  return correct / examples.length;
}

/**
 * The ONNX graph of a trained iris model. Input `features` float32 [N, 4]; outputs
 * `probabilities` float32 [N, 3] (columns in {@link CLASS_LABELS} order) and `label` string [N]
 * (ArgMax of the probabilities mapped to its name by an ai.onnx.ml LabelEncoder).
 */
export function buildIrisOnnx(model: SoftmaxModel): Uint8Array {
  const classCount = CLASS_LABELS.length;
  return buildModel({
    graphName: 'iris_softmax_regression',
    docString: `Iris species classifier (${ALGORITHM}), trained on ${DATA_SOURCE}.`,
    inputs: [{ name: 'features', type: 'float32', shape: ['N', FEATURES.length] }],
    outputs: [
      { name: 'probabilities', type: 'float32', shape: ['N', classCount] },
      { name: 'label', type: 'string', shape: ['N'] },
    ],
    initializers: [
      { name: 'mean', data: Float32Array.from(model.mean), dims: [FEATURES.length] },
      { name: 'std', data: Float32Array.from(model.std), dims: [FEATURES.length] },
      { name: 'weights', data: Float32Array.from(model.weights.flat()), dims: [FEATURES.length, classCount] },
      { name: 'bias', data: Float32Array.from(model.bias), dims: [classCount] },
    ],
    nodes: [
      { op: 'Sub', inputs: ['features', 'mean'], outputs: ['centered'] },
      { op: 'Div', inputs: ['centered', 'std'], outputs: ['standardized'] },
      { op: 'MatMul', inputs: ['standardized', 'weights'], outputs: ['scores'] },
      { op: 'Add', inputs: ['scores', 'bias'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: -1 } },
      { op: 'ArgMax', inputs: ['probabilities'], outputs: ['label_index'], attributes: { axis: 1, keepdims: 0 } },
      {
        op: 'LabelEncoder',
        domain: ML_DOMAIN,
        inputs: ['label_index'],
        outputs: ['label'],
        attributes: {
          keys_int64s: attr.ints(CLASS_LABELS.map((_, i) => i)),
          values_strings: [...CLASS_LABELS],
          default_string: attr.string(''),
        },
      },
    ],
    metadata: {
      framework: FRAMEWORK,
      algorithm: ALGORITHM,
      features: JSON.stringify(FEATURES),
      target: TARGET,
      class_labels: JSON.stringify(CLASS_LABELS),
      trained_at: TRAINED_AT,
      data_source: DATA_SOURCE,
    },
  });
}

/** The first held-out example of each class, in class order. */
function firstOfEachClass(examples: readonly Example[]): Example[] {
  return CLASS_LABELS.flatMap((_, c) => examples.filter((e) => e.label === c).slice(0, 1));
}

/**
 * A golden input for the registry's promotion gate: named-feature rows and the predictions the
 * API must return for them (label, confidence, probabilities by class), rounded to 6 decimals;
 * the gate compares within 1e-5.
 */
function goldenInput(model: SoftmaxModel, examples: readonly Example[]): GoldenInput {
  const round = (v: number) => Math.round(v * 1e6) / 1e6;
  return {
    request: { instances: examples.map((e) => Object.fromEntries(FEATURES.map((f, j) => [f, e.features[j]]))) },
    expected: examples.map((e) => {
      const p = predictProbabilities(model, e.features);
      const best = argMax(p);
      return {
        label: CLASS_LABELS[best],
        confidence: round(p[best] ?? 0),
        probabilities: Object.fromEntries(CLASS_LABELS.map((label, c) => [label, round(p[c] ?? 0)])),
      };
    }),
  };
}

/**
 * The reference profile of the training split (`functions/core/drift/profile.ts`): per feature,
 * deciles and bin shares, a bounded sample, missing counts; and `predictions`, the profile of
 * the model's own predictions on those rows (`profile-predictions.ts`: the `label` column and one
 * `probability[<class>]` column per class), run in ONNX Runtime as the API serves them. Drift
 * detection compares captured traffic with it.
 */
export async function trainingProfile(
  train: readonly Example[],
  model: Pick<SampleModel, 'bytes' | 'metadata'>,
): Promise<ReferenceProfile> {
  const rows = train.map((example) => Object.fromEntries(FEATURES.map((name, i) => [name, example.features[i]])));
  const features = profileRows(rows, FEATURES);
  // Loaded here only: what imports this module for the trainer alone does not load the runtime.
  const { OnnxRuntime } = await import('../functions/adapters/onnx-runtime.js');
  const runtime = new OnnxRuntime(NO_ARTIFACTS, { intraOpThreads: 1 });
  const opened = await openProfileTarget(runtime, model.bytes, model.metadata, 'iris');
  try {
    return { ...features, predictions: await predictionProfile(opened.target, rows, DEFAULT_PREDICTION_BATCH_ROWS) };
  } finally {
    opened.release();
  }
}

/** The runtime opens the model from its bytes; no registered artifact is ever read. */
const NO_ARTIFACTS: ArtifactStore = {
  bucket: 'none',
  put: () => Promise.reject(new Error("the sample model's profile reads no artifact store")),
  get: () => Promise.reject(new Error("the sample model's profile reads no artifact store")),
};

/**
 * Trains the sample model from the text of `data/iris.csv`: stratified split, softmax regression,
 * accuracies, the ONNX bytes and the registry metadata (`metrics.accuracy` is held-out accuracy).
 */
export function trainSampleModel(csvText: string): SampleModel {
  const examples = toExamples(parseCsv(csvText), FEATURES, TARGET, CLASS_LABELS);
  const split = stratifiedSplit(examples, TRAINING.testFraction, TRAINING.seed);
  const model = trainSoftmaxRegression(split.train, CLASS_LABELS.length, TRAINING);
  const trainAccuracy = accuracy(model, split.train);
  const testAccuracy = accuracy(model, split.test);
  const metadata: ModelMetadata = {
    framework: FRAMEWORK,
    algorithm: ALGORITHM,
    trainedAt: TRAINED_AT,
    features: [...FEATURES],
    target: TARGET,
    classLabels: [...CLASS_LABELS],
    metrics: { accuracy: testAccuracy, trainAccuracy, testRows: split.test.length, trainRows: split.train.length },
    description:
      `Iris species from sepal and petal measurements (cm); ${ALGORITHM} on standardized features, ` +
      `trained on a stratified ${100 - TRAINING.testFraction * 100}% of data/iris.csv ` +
      `(${DATA_SOURCE}); accuracy is measured on the held-out rest.`,
    goldenInputs: [goldenInput(model, firstOfEachClass(split.test))],
  };
  return { bytes: buildIrisOnnx(model), metadata, model, split, trainAccuracy, testAccuracy };
}
