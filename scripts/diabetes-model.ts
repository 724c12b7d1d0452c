/**
 * Trains the second sample model that `npm start` serves: a ridge regression of diabetes
 * progression on ten baseline measurements, written as an ONNX graph with the repository's own
 * builder. Where the iris model shows a classifier (labels and probabilities), this one shows a
 * regressor: one number per row, returned under the name of its output. Pure and deterministic:
 * the same CSV text gives the same bytes and metadata on every run (a closed-form solution, no
 * iteration, no randomness but a seeded split).
 *
 * @example
 * const { bytes, metadata, testR2 } = trainDiabetesModel(readFileSync('data/diabetes.csv', 'utf8'));
 */
import { profileRows, type ReferenceProfile } from '../functions/core/drift/profile.js';
import { DEFAULT_PREDICTION_BATCH_ROWS, openProfileTarget, predictionProfile } from '../functions/core/drift/profile-predictions.js';
import type { GoldenInput, ModelMetadata } from '../functions/core/model.js';
import type { ArtifactStore } from '../functions/core/ports.js';
import { buildModel } from '../test/support/onnx/builder.js';
import { parseCsv, seededRandom, sum, type Table } from './sample-model.js';

/** The model's name in the registry, as `npm start` registers it. */
export const MODEL_NAME = 'diabetes';
/** Input columns, in the order of the model's `features` tensor columns (the CSV's own names). */
export const FEATURES = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6'] as const;
/** The CSV column the model predicts, and the name of its output. */
export const TARGET = 'progression';
/** Date of the committed training run; a constant so that retraining reproduces the same bytes. */
export const TRAINED_AT = '2026-12-01';
export const DATA_SOURCE = 'Efron, Hastie, Johnstone, Tibshirani (2004), "Least Angle Regression"';
export const FRAMEWORK = 'onnx-lambda-serving/ts-trainer';
export const ALGORITHM = 'ridge regression';
/**
 * Split and fit settings: a seeded 80/20 split, and `l2`, the weight of the penalty
 * `l2 · ‖w‖²` on the standardized features' weights (the intercept is not penalized).
 */
export const TRAINING = { testFraction: 0.2, seed: 7, l2: 1 } as const;
/**
 * Absolute tolerance of the golden inputs, in units of the target: predictions are around 150,
 * where float32 steps are 1.5e-5, and ONNX Runtime may sum in another order on another CPU.
 */
export const GOLDEN_TOLERANCE = 0.001;

/** One row: the ten feature values and the measured progression. */
export interface Observation {
  readonly features: readonly number[];
  readonly target: number;
}
export interface Split {
  readonly train: readonly Observation[];
  readonly test: readonly Observation[];
}
/**
 * A fitted regression: `((x - mean) / std) · weights + intercept`. All parameters are
 * float32-representable, so this is exactly what the ONNX graph holds.
 */
export interface LinearModel {
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly weights: readonly number[];
  readonly intercept: number;
}
/** Fit quality on a set of rows: R², root mean squared error and mean absolute error (target units). */
export interface Fit {
  readonly r2: number;
  readonly rmse: number;
  readonly mae: number;
}
export interface DiabetesModel {
  readonly bytes: Uint8Array;
  readonly metadata: ModelMetadata;
  readonly model: LinearModel;
  readonly split: Split;
  readonly train: Fit;
  readonly test: Fit;
}

/**
 * Table records as observations: the `features` columns and the `target` column as numbers.
 * Throws on a missing column or a value that is not a finite number.
 */
export function toObservations(table: Table, features: readonly string[], target: string): Observation[] {
  const column = (name: string): number => {
    const index = table.header.indexOf(name);
    if (index < 0) throw new Error(`CSV has no column '${name}'`);
    return index;
  };
  const featureColumns = features.map(column);
  const targetColumn = column(target);
  const number = (text: string | undefined): number => (text ? Number(text) : Number.NaN);
  return table.records.map((record, row) => {
    const values = featureColumns.map((c) => number(record[c]));
    const value = number(record[targetColumn]);
    if (!values.every(Number.isFinite) || !Number.isFinite(value)) throw new Error(`row ${row + 1}: a value is not a number`);
    return { features: values, target: value };
  });
}

/**
 * Splits rows into train and test sets: a seeded shuffle (Fisher–Yates over `seededRandom`)
 * puts `round(count · testFraction)` rows in the test set. Both sets keep the input order.
 */
export function randomSplit<T>(rows: readonly T[], testFraction: number, seed: number): { train: T[]; test: T[] } {
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`testFraction ${testFraction} is not in (0, 1)`);
  const random = seededRandom(seed);
  const order = rows.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const testIndexes = new Set(order.slice(0, Math.round(rows.length * testFraction)));
  return { train: rows.filter((_, i) => !testIndexes.has(i)), test: rows.filter((_, i) => testIndexes.has(i)) };
}

/**
 * Solves `A x = b` for a symmetric positive definite `A` (Cholesky, `A = L Lᵀ`). Throws when
 * `A` is not positive definite.
 */
export function solveSpd(a: readonly (readonly number[])[], b: readonly number[]): number[] {
  const n = b.length;
  const l = a.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]?.[j] ?? 0;
      for (let k = 0; k < j; k++) s -= (l[i]?.[k] ?? 0) * (l[j]?.[k] ?? 0);
      if (i === j) {
        if (!(s > 0)) throw new Error('the matrix is not positive definite');
        (l[i] as number[])[j] = Math.sqrt(s);
      } else {
        (l[i] as number[])[j] = s / (l[j]?.[j] ?? 1);
      }
    }
  }
  // L y = b, then Lᵀ x = y.
  const y = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) y[i] = ((b[i] ?? 0) - sum(y.slice(0, i).map((v, k) => v * (l[i]?.[k] ?? 0)))) / (l[i]?.[i] ?? 1);
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i] ?? 0;
    for (let k = i + 1; k < n; k++) s -= (l[k]?.[i] ?? 0) * (x[k] ?? 0);
    x[i] = s / (l[i]?.[i] ?? 1);
  }
  return x;
}

/**
 * Fits a ridge regression in closed form: each feature standardized with the training rows'
 * mean and (population) standard deviation, then `w = (ZᵀZ + l2·I)⁻¹ Zᵀ(y − ȳ)` and the
 * intercept `ȳ` (the standardized columns have mean 0, so the intercept needs no penalty term).
 * The returned parameters are rounded to float32.
 */
export function fitRidge(train: readonly Observation[], l2: number): LinearModel {
  const first = train[0];
  if (first === undefined) throw new Error('no training rows');
  const n = train.length;
  const columns = first.features.map((_, f) => train.map((o) => o.features[f] ?? 0));
  const mean = columns.map((values) => sum(values) / n);
  const std = columns.map((values, f) => Math.sqrt(sum(values.map((v) => (v - (mean[f] ?? 0)) ** 2)) / n) || 1);
  const z = train.map((o) => o.features.map((v, f) => (v - (mean[f] ?? 0)) / (std[f] ?? 1)));
  const yMean = sum(train.map((o) => o.target)) / n;
  const centered = train.map((o) => o.target - yMean);
  const gram = mean.map((_, i) => mean.map((_, j) => sum(z.map((row) => (row[i] ?? 0) * (row[j] ?? 0))) + (i === j ? l2 : 0)));
  const moment = mean.map((_, i) => sum(z.map((row, r) => (row[i] ?? 0) * (centered[r] ?? 0))));
  const weights = solveSpd(gram, moment);
  const f32 = (values: readonly number[]): number[] => values.map(Math.fround);
  return { mean: f32(mean), std: f32(std), weights: f32(weights), intercept: Math.fround(yMean) };
}

/** The model's prediction for one row of raw (unstandardized) features. */
export function predict(model: LinearModel, features: readonly number[]): number {
  return features.reduce(
    (acc, v, f) => acc + ((v - (model.mean[f] ?? 0)) / (model.std[f] ?? 1)) * (model.weights[f] ?? 0),
    model.intercept,
  );
}

/** R², RMSE and MAE of the model's predictions on `rows`. */
export function fitOf(model: LinearModel, rows: readonly Observation[]): Fit {
  if (rows.length === 0) throw new Error('the fit of no rows');
  const errors = rows.map((o) => o.target - predict(model, o.features));
  const targetMean = sum(rows.map((o) => o.target)) / rows.length;
  const total = sum(rows.map((o) => (o.target - targetMean) ** 2));
  const squared = sum(errors.map((e) => e * e));
  return { r2: 1 - squared / total, rmse: Math.sqrt(squared / rows.length), mae: sum(errors.map(Math.abs)) / rows.length };
}

/**
 * The ONNX graph of a fitted model. Input `features` float32 [N, 10] (columns in
 * {@link FEATURES} order); output `progression` float32 [N], one prediction per row.
 */
export function buildDiabetesOnnx(model: LinearModel): Uint8Array {
  const width = FEATURES.length;
  return buildModel({
    graphName: 'diabetes_ridge_regression',
    docString: `Diabetes progression one year after baseline (${ALGORITHM}), trained on ${DATA_SOURCE}.`,
    inputs: [{ name: 'features', type: 'float32', shape: ['N', width] }],
    outputs: [{ name: TARGET, type: 'float32', shape: ['N'] }],
    initializers: [
      { name: 'mean', data: Float32Array.from(model.mean), dims: [width] },
      { name: 'std', data: Float32Array.from(model.std), dims: [width] },
      { name: 'weights', data: Float32Array.from(model.weights), dims: [width] },
      { name: 'intercept', data: Float32Array.from([model.intercept]), dims: [] },
    ],
    nodes: [
      { op: 'Sub', inputs: ['features', 'mean'], outputs: ['centered'] },
      { op: 'Div', inputs: ['centered', 'std'], outputs: ['standardized'] },
      // [N, 10] · [10] is [N]: one number per row, no reshape.
      { op: 'MatMul', inputs: ['standardized', 'weights'], outputs: ['score'] },
      { op: 'Add', inputs: ['score', 'intercept'], outputs: [TARGET] },
    ],
    metadata: {
      framework: FRAMEWORK,
      algorithm: ALGORITHM,
      features: JSON.stringify(FEATURES),
      target: TARGET,
      trained_at: TRAINED_AT,
      data_source: DATA_SOURCE,
    },
  });
}

/**
 * A golden input for the registry's promotion gate: named-feature rows and the predictions the
 * API must return for them (`{"progression": <number>}` per row), rounded to 4 decimals and
 * compared within {@link GOLDEN_TOLERANCE}.
 */
function goldenInput(model: LinearModel, rows: readonly Observation[]): GoldenInput {
  const round = (v: number) => Math.round(v * 1e4) / 1e4;
  return {
    request: { instances: rows.map((o) => Object.fromEntries(FEATURES.map((f, j) => [f, o.features[j]]))) },
    expected: rows.map((o) => ({ [TARGET]: round(predict(model, o.features)) })),
    tolerance: GOLDEN_TOLERANCE,
  };
}

/** Rounds a metric for the metadata: 4 decimals are more than an 88-row test set supports. */
const metric = (v: number) => Math.round(v * 1e4) / 1e4;

/**
 * Trains the model from the text of `data/diabetes.csv`: seeded split, ridge fit, fit
 * measures on both sets, the ONNX bytes and the registry metadata (`metrics.r2`, `rmse` and
 * `mae` are held-out figures).
 */
export function trainDiabetesModel(csvText: string): DiabetesModel {
  const rows = toObservations(parseCsv(csvText), FEATURES, TARGET);
  const split = randomSplit(rows, TRAINING.testFraction, TRAINING.seed);
  const model = fitRidge(split.train, TRAINING.l2);
  const train = fitOf(model, split.train);
  const test = fitOf(model, split.test);
  const metadata: ModelMetadata = {
    framework: FRAMEWORK,
    algorithm: ALGORITHM,
    trainedAt: TRAINED_AT,
    features: [...FEATURES],
    target: TARGET,
    metrics: {
      r2: metric(test.r2),
      rmse: metric(test.rmse),
      mae: metric(test.mae),
      trainR2: metric(train.r2),
      testRows: split.test.length,
      trainRows: split.train.length,
    },
    description:
      'Diabetes progression one year after baseline (a quantitative measure) from age (years), sex (1 or 2), ' +
      'body mass index, average blood pressure and six blood serum measurements (s1 to s6), unscaled; ' +
      `${ALGORITHM} on standardized features (penalty ${TRAINING.l2}), trained on a seeded ` +
      `${100 - TRAINING.testFraction * 100}% of data/diabetes.csv (${DATA_SOURCE}); ` +
      'r2, rmse and mae are measured on the held-out rest.',
    goldenInputs: [goldenInput(model, split.test.slice(0, 3))],
  };
  return { bytes: buildDiabetesOnnx(model), metadata, model, split, train, test };
}

/**
 * The reference profile of the training split (`functions/core/drift/profile.ts`): per feature,
 * deciles and bin shares, a bounded sample, missing counts; and `predictions`, the profile of
 * the model's own `progression` on those rows, run in ONNX Runtime as the API serves it.
 */
export async function trainingProfile(
  train: readonly Observation[],
  model: Pick<DiabetesModel, 'bytes' | 'metadata'>,
): Promise<ReferenceProfile> {
  const rows = train.map((o) => Object.fromEntries(FEATURES.map((name, i) => [name, o.features[i]])));
  const features = profileRows(rows, FEATURES);
  // Loaded here only: what imports this module for the trainer alone does not load the runtime.
  const { OnnxRuntime } = await import('../functions/adapters/onnx-runtime.js');
  const runtime = new OnnxRuntime(NO_ARTIFACTS, { intraOpThreads: 1 });
  const opened = await openProfileTarget(runtime, model.bytes, model.metadata, MODEL_NAME);
  try {
    return { ...features, predictions: await predictionProfile(opened.target, rows, DEFAULT_PREDICTION_BATCH_ROWS) };
  } finally {
    opened.release();
  }
}

/** The runtime opens the model from its bytes; no registered artifact is ever read. */
const NO_ARTIFACTS: ArtifactStore = {
  bucket: 'none',
  put: () => Promise.reject(new Error("the diabetes model's profile reads no artifact store")),
  get: () => Promise.reject(new Error("the diabetes model's profile reads no artifact store")),
};
