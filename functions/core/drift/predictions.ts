/**
 * Prediction columns: a model's outputs turned into one value per row and per column, so drift
 * detection and the canary gate can compare predictions the way they compare input features
 * (issue 13). Pure: no I/O.
 *
 * The same function reads the tensors ONNX Runtime returns (a `TensorMap`: when a profile runs
 * the training data through the model) and the tensors a capture record stores (v2 datatypes,
 * flat row-major JSON data), and gives the same columns for the same outputs.
 *
 * ## Columns
 *
 * - A classifier (`ClassifierView` of `codec/encode.ts`, when its probabilities output has one
 *   row per request row): `label`, categorical, the class label the record forms answer (the
 *   column of the largest probability, the first of equals, NaN never winning; `null` when every
 *   probability is NaN; a binary view's label is the second label when p ≥ 0.5); and
 *   `probability[<label>]`, numeric, one per class, the probabilities the record forms answer.
 * - Every other output of shape `[N]` or `[N, 1]`: one column named after the output.
 * - An output `[N, K]` with 2 ≤ K ≤ {@link MAX_PREDICTION_WIDTH}: columns `<name>[0]` …
 *   `<name>[K−1]`.
 * - Not profiled: outputs whose first axis is not the row count, of rank 3 or more, wider than
 *   {@link MAX_PREDICTION_WIDTH}, or whose data does not hold as many elements as their shape
 *   says; and an output whose column name a classifier column already takes (a model's own
 *   `label` output beside its probabilities: the derived label wins).
 *
 * ## Values
 *
 * Floats are the numbers the API prints (`floatText` of `codec/elements.ts`: float32 and float16
 * values read as their shortest digits, so `0.1f` is `0.1`, not `0.10000000149011612`); NaN is
 * `null` (a missing value for `profile.ts` and the drift report); ±Infinity are the strings
 * `"Infinity"` / `"-Infinity"` (JSON has no number for them; a numeric column counts them as
 * invalid). Integers are numbers (64-bit integers beyond 2^53 lose their last digits, which a
 * distribution does not feel). Booleans are `true` / `false`, strings (BYTES) as they are.
 */
import type { TensorType } from '../model.js';
import type { TensorData } from '../tensor.js';
import type { ClassifierView } from '../codec/encode.js';
import { V2_DATATYPES } from '../codec/decode.js';
import { floatText } from '../codec/elements.js';
import { float16BitsToNumber, nonFiniteFromJson, numberToFloat16Bits } from '../codec/numbers.js';

/** Widest `[N, K]` output profiled column by column. */
export const MAX_PREDICTION_WIDTH = 10;

/** The classifier's label column. */
export const LABEL_COLUMN = 'label';

/** The column of one class's probability: `probability[<label>]`. */
export function probabilityColumn(label: string): string {
  return `probability[${label}]`;
}

/**
 * A tensor as a capture record stores it: a v2 datatype (`FP32`, `INT64`, `BYTES`, `BOOL`, …),
 * a concrete shape, and its elements flat in row-major order; non-finite floats as the strings
 * `"NaN"`, `"Infinity"`, `"-Infinity"`, 64-bit integers beyond 2^53 as decimal strings.
 */
export interface CapturedTensorLike {
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: readonly unknown[];
}

/** One value of a prediction column: a number, a string, a boolean, or `null` when missing. */
export type PredictionValue = number | string | boolean | null;

/** Columns by name, one value per row. */
export type PredictionColumns = Record<string, PredictionValue[]>;

/**
 * The prediction columns of one batch of outputs (see the module docstring).
 *
 * @param outputs the output tensors by name: ONNX Runtime's (`TensorMap`) or captured ones
 *   (`CapturedTensorLike`); both kinds may be mixed.
 * @param rows the batch's row count (a capture record's `capturedRows`): the first axis a
 *   per-row output has.
 * @param classifier the model's `classifierView`, when it is served as a classifier.
 * @returns columns in a fixed order: the classifier's (`label`, then one probability per class
 *   in label order), then the other outputs' in the order of `outputs`. Each holds `rows` values.
 *   Never throws on a malformed tensor: it is left out.
 *
 * @example
 * predictionColumns({ probabilities: { type: 'float32', shape: [1, 2], data: new Float32Array([0.25, 0.75]) } }, 1,
 *   { probabilities: 'probabilities', labels: ['no', 'yes'], binary: false });
 * // { label: ['yes'], 'probability[no]': [0.25], 'probability[yes]': [0.75] }
 */
export function predictionColumns(
  outputs: Readonly<Record<string, TensorData | CapturedTensorLike>>,
  rows: number,
  classifier?: ClassifierView,
): PredictionColumns {
  const columns: PredictionColumns = Object.create(null) as PredictionColumns;
  const tensors = Object.entries(outputs).flatMap(([name, tensor]) => {
    const view = readable(tensor);
    return view ? [[name, view] as const] : [];
  });
  const probabilities = classifier ? tensors.find(([name]) => name === classifier.probabilities)?.[1] : undefined;
  const classified = classifier !== undefined && probabilities !== undefined && classify(probabilities, rows, classifier, columns);
  for (const [name, tensor] of tensors) {
    if (classified && name === classifier.probabilities) continue;
    const { shape } = tensor;
    if (shape[0] !== rows || shape.length > 2) continue;
    const width = shape.length === 1 ? 1 : (shape[1] as number);
    if (width < 1 || width > MAX_PREDICTION_WIDTH) continue;
    for (let j = 0; j < width; j++) {
      const column = shape.length === 1 || width === 1 ? name : `${name}[${j}]`;
      if (Object.hasOwn(columns, column)) continue;
      const values = new Array<PredictionValue>(rows);
      for (let r = 0; r < rows; r++) values[r] = tensor.value(r * width + j);
      columns[column] = values;
    }
  }
  // A plain object (with a prototype) for callers; fromEntries keeps a "__proto__" name a key.
  return Object.fromEntries(Object.entries(columns));
}

/** A tensor of either kind, read element by element as prediction values. */
interface Readable {
  readonly shape: readonly number[];
  readonly float: boolean;
  /** The canonical value of element `index` (see the module docstring). */
  value(index: number): PredictionValue;
  /** A float element as a number (NaN and ±Infinity as such), for comparing probabilities. */
  number(index: number): number;
  /** The float type the values print in. */
  readonly type: TensorType;
}

const FLOAT_TYPES: ReadonlySet<TensorType> = new Set(['float16', 'float32', 'float64']);
const TYPE_OF_DATATYPE: ReadonlyMap<string, TensorType> = new Map(
  Object.entries(V2_DATATYPES).map(([type, datatype]) => [datatype, type as TensorType]),
);

function readable(tensor: TensorData | CapturedTensorLike): Readable | undefined {
  if (typeof tensor !== 'object' || tensor === null || !Array.isArray(tensor.shape)) return undefined;
  if (!tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return undefined;
  const count = tensor.shape.reduce((n, d) => n * d, 1);
  if ('datatype' in tensor) {
    const type = TYPE_OF_DATATYPE.get(tensor.datatype);
    if (type === undefined || !Array.isArray(tensor.data) || tensor.data.length !== count) return undefined;
    return capturedReadable(type, tensor.shape, tensor.data);
  }
  if (!('type' in tensor) || tensor.data.length !== count) return undefined;
  return runtimeReadable(tensor);
}

function runtimeReadable(tensor: TensorData): Readable {
  const { type, shape } = tensor;
  if (FLOAT_TYPES.has(type)) {
    const data = tensor.data as ArrayLike<number>;
    const number = type === 'float16' ? (i: number) => float16BitsToNumber(data[i] as number) : (i: number) => data[i] as number;
    return { shape, type, float: true, number, value: (i) => floatValue(type, number(i)) };
  }
  const data = tensor.data as ArrayLike<unknown>;
  let value: (i: number) => PredictionValue;
  if (type === 'bool') value = (i) => data[i] !== 0;
  else if (type === 'string') value = (i) => data[i] as string;
  else value = (i) => Number(data[i] as number | bigint);
  return { shape, type, float: false, number: (i) => Number(value(i)), value };
}

function capturedReadable(type: TensorType, shape: readonly number[], data: readonly unknown[]): Readable {
  if (FLOAT_TYPES.has(type)) {
    // Rounded to the type, so a value read back from its printed digits is the tensor's own.
    const round =
      type === 'float32' ? Math.fround : type === 'float16' ? (v: number) => float16BitsToNumber(numberToFloat16Bits(v)) : (v: number) => v;
    const number = (i: number): number => {
      const v = data[i];
      if (typeof v === 'number') return round(v);
      return nonFiniteFromJson(v) ?? Number.NaN;
    };
    return { shape, type, float: true, number, value: (i) => floatValue(type, number(i)) };
  }
  let value: (i: number) => PredictionValue;
  if (type === 'bool')
    value = (i) => (typeof data[i] === 'boolean' ? (data[i] as boolean) : data[i] === 1 ? true : data[i] === 0 ? false : null);
  else if (type === 'string') value = (i) => (typeof data[i] === 'string' ? (data[i] as string) : null);
  else {
    value = (i) => {
      const v = data[i];
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) return Number(v);
      return null;
    };
  }
  return { shape, type, float: false, number: (i) => Number(value(i)), value };
}

/**
 * A float as the API prints it, read back: `null` for NaN, the strings "Infinity" / "-Infinity",
 * else the number the shortest digits of its type name (a float64 ±0 is 0, as printed).
 */
function floatValue(type: TensorType, v: number): PredictionValue {
  if (v !== v) return null;
  const text = floatText(type, v);
  // A quoted text is a non-finite value: the type may overflow a finite double (1e39 in float32).
  if (text.charCodeAt(0) === 34) return text === '"NaN"' ? null : text.slice(1, -1);
  return Number(text);
}

/**
 * The classifier's columns into `columns`, as `recordPredictionTexts` forms them; false (nothing
 * written) when the probabilities tensor does not fit the view (the record forms then answer the
 * raw outputs, and so do the columns).
 */
function classify(probs: Readable, rows: number, view: ClassifierView, columns: PredictionColumns): boolean {
  if (!probs.float || probs.shape[0] !== rows) return false;
  const labels = view.labels;
  const k = labels.length;
  const { shape } = probs;
  if (shape.length === 2 && shape[1] === k) {
    const labelColumn = new Array<PredictionValue>(rows);
    const perClass = labels.map(() => new Array<PredictionValue>(rows));
    for (let r = 0; r < rows; r++) {
      let best = -1;
      let bestP = Number.NaN;
      for (let j = 0; j < k; j++) {
        const p = probs.number(r * k + j);
        (perClass[j] as PredictionValue[])[r] = floatValue(probs.type, p);
        // The first non-NaN starts; only a strictly larger one replaces it (encode.ts's rule).
        if (best < 0 ? p === p : p > bestP) {
          best = j;
          bestP = p;
        }
      }
      labelColumn[r] = best < 0 ? null : (labels[best] as string);
    }
    columns[LABEL_COLUMN] = labelColumn;
    labels.forEach((label, j) => {
      columns[probabilityColumn(label)] = perClass[j] as PredictionValue[];
    });
    return true;
  }
  if (k === 2 && (shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    const [negative, positive] = labels as readonly [string, string];
    const round =
      probs.type === 'float32'
        ? Math.fround
        : probs.type === 'float16'
          ? (v: number) => float16BitsToNumber(numberToFloat16Bits(v))
          : (v: number) => v;
    const labelColumn = new Array<PredictionValue>(rows);
    const negatives = new Array<PredictionValue>(rows);
    const positives = new Array<PredictionValue>(rows);
    for (let r = 0; r < rows; r++) {
      const p = probs.number(r);
      labelColumn[r] = p !== p ? null : p >= 0.5 ? positive : negative;
      negatives[r] = floatValue(probs.type, round(1 - p));
      positives[r] = floatValue(probs.type, p);
    }
    columns[LABEL_COLUMN] = labelColumn;
    columns[probabilityColumn(negative)] = negatives;
    columns[probabilityColumn(positive)] = positives;
    return true;
  }
  return false;
}
