/**
 * Output tensors → JSON text, written straight from the tensors' typed arrays (no intermediate
 * objects, no `JSON.stringify` of numbers). Record forms get one prediction object per row
 * (classifiers: label, confidence and probabilities keyed by class label); the v2 form gets the
 * tensors themselves.
 *
 * Numbers follow one convention everywhere (`elements.ts`): float32 and float16 values are
 * printed with the shortest digits that read back as the same value of their type, float64 with
 * JavaScript's own shortest digits; NaN and ±Infinity as the strings `"NaN"`, `"Infinity"`,
 * `"-Infinity"`; 64-bit integers beyond ±(2^53 − 1) as decimal strings.
 */
import type { ModelMetadata, ModelSignature, TensorSpec, TensorType } from '../model.js';
import type { TensorData, TensorMap } from '../tensor.js';
import { V2_DATATYPES, isDynamic } from './decode.js';
import { elementText, elementsText, floatValue, floatText } from './elements.js';
import { float16BitsToNumber, float16Json, float32Json, numberToFloat16Bits as halfBits } from './numbers.js';

/**
 * Which output holds class probabilities, and the labels of its columns. `binary`: the output
 * is one probability per row (`[N, 1]` or `[N]`, a sigmoid), the probability of the second
 * label; the first label's is its complement.
 */
export interface ClassifierView {
  readonly probabilities: string;
  readonly labels: readonly string[];
  readonly binary: boolean;
}

const FLOAT_TYPES: ReadonlySet<string> = new Set(['float16', 'float32', 'float64']);

/**
 * A model is served as a classifier when it declares class labels and has one floating-point
 * output `[N, K]` with K equal to the number of labels (or dynamic); with exactly two labels, an
 * output `[N, 1]` or `[N]` (one sigmoid probability per row) serves too. When several outputs
 * fit, the one whose name mentions "prob" wins.
 */
export function classifierView(signature: ModelSignature, metadata: ModelMetadata): ClassifierView | undefined {
  const labels = metadata.classLabels;
  if (!labels || labels.length === 0) return undefined;
  let candidates = signature.outputs.filter((o) => holdsClassRows(o, labels.length));
  if (candidates.length === 0) candidates = signature.outputs.filter((o) => holdsBinaryColumn(o, labels.length));
  const chosen = candidates.find((o) => o.name.toLowerCase().includes('prob')) ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!chosen) return undefined;
  const binary = labels.length === 2 && (chosen.shape.length === 1 || chosen.shape[1] === 1);
  return { probabilities: chosen.name, labels, binary };
}

export interface ClassPrediction {
  readonly label: string;
  readonly confidence: number | string;
  readonly probabilities: Record<string, number | string>;
}

/** A floating-point output of shape [N, k] (k dynamic, or the number of labels; or 1 with two labels: P(second label)). */
function holdsClassRows(o: TensorSpec, labelCount: number): boolean {
  if (!FLOAT_TYPES.has(o.type) || o.shape.length !== 2) return false;
  const width = o.shape[1] ?? null;
  return isDynamic(width) || width === labelCount || (labelCount === 2 && width === 1);
}

/** With two labels, a floating-point output of shape [N]: P(second label) per row. */
function holdsBinaryColumn(o: TensorSpec, labelCount: number): boolean {
  return labelCount === 2 && FLOAT_TYPES.has(o.type) && o.shape.length === 1;
}

/**
 * Whether `o` can hold the probabilities of `labelCount` classes the way {@link classifierView}
 * serves them: [N, k] of float16/32/64, or for two labels [N, 1] or [N] (the second label's
 * probability). The registry checks declared class labels with it, so that every output the
 * serving path reads as a classifier's is one a registration may declare labels for.
 */
export function holdsClassProbabilities(o: TensorSpec, labelCount: number): boolean {
  return holdsClassRows(o, labelCount) || holdsBinaryColumn(o, labelCount);
}

/** One JSON object's text per row: what the record forms answer, and what a batch job writes per row. */
export function recordPredictionTexts(outputs: TensorMap, rows: number, view: ClassifierView | undefined): string[] {
  const probs = view ? outputs[view.probabilities] : undefined;
  if (view && probs && FLOAT_TYPES.has(probs.type) && probs.shape[0] === rows) {
    const k = view.labels.length;
    if (probs.shape.length === 2 && probs.shape[1] === k) return classTexts(probs, rows, view.labels);
    if (k === 2 && (probs.shape.length === 1 || (probs.shape.length === 2 && probs.shape[1] === 1)))
      return binaryClassTexts(probs, rows, view.labels);
  }
  const entries = Object.entries(outputs).map(([name, tensor]) => [JSON.stringify(name), tensor] as const);
  const texts = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    let text = '{';
    for (let e = 0; e < entries.length; e++) {
      const [key, tensor] = entries[e] as (typeof entries)[number];
      text += `${e === 0 ? '' : ','}${key}:${rowText(tensor, r, rows)}`;
    }
    texts[r] = `${text}}`;
  }
  return texts;
}

/**
 * One JSON value per row (the texts parsed): what the golden-inputs gate compares, so a gate
 * sees exactly the numbers a caller is sent.
 */
export function recordPredictions(outputs: TensorMap, rows: number, view: ClassifierView | undefined): unknown[] {
  return recordPredictionTexts(outputs, rows, view).map((text) => JSON.parse(text) as unknown);
}

/**
 * `"label":…,"confidence":…,"probabilities":{…}` per row. The label is the column of the
 * largest probability (the first of equals; NaN never wins). When every probability is NaN
 * there is no label: `"label": null`, `"confidence": "NaN"`.
 */
function classTexts(probs: TensorData, rows: number, labels: readonly string[]): string[] {
  const k = labels.length;
  const keys = labels.map((label) => `${JSON.stringify(label)}:`);
  const labelTexts = labels.map((label) => `{"label":${JSON.stringify(label)},"confidence":`);
  const NO_LABEL = '{"label":null,"confidence":';
  const values = floatValues(probs);
  const text = floatTextOf(probs.type);
  const texts = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * k;
    let best = -1;
    let bestP = Number.NaN;
    let bestText = '"NaN"';
    let body = '';
    for (let j = 0; j < k; j++) {
      const p = values[base + j] as number;
      const pText = text(p);
      body += j === 0 ? (keys[j] as string) + pText : `,${keys[j] as string}${pText}`;
      if (best < 0 ? p === p : p > bestP) {
        best = j;
        bestP = p;
        // The confidence is this probability: its text is written once.
        bestText = pText;
      }
    }
    texts[r] = `${best < 0 ? NO_LABEL : (labelTexts[best] as string)}${bestText},"probabilities":{${body}}}`;
  }
  return texts;
}

/** A float tensor's values as numbers (float16 bit patterns widened once). */
function floatValues(tensor: TensorData): ArrayLike<number> {
  if (tensor.type === 'float16') return Float64Array.from(tensor.data, float16BitsToNumber);
  return tensor.data as Float32Array | Float64Array;
}

/** The JSON text of one value of a float type (see `floatText`), chosen once per tensor. */
function floatTextOf(type: TensorType): (v: number) => string {
  if (type === 'float32') return float32Json;
  if (type === 'float16') return float16Json;
  return (v) => floatText('float64', v);
}

/**
 * A binary classifier with one probability per row, `p` = the probability of `labels[1]`; the
 * first label's is `1 − p`, computed in the output's own type (so float32 models print float32
 * digits). The label is `labels[1]` when `p ≥ 0.5`; `null` when `p` is NaN.
 */
function binaryClassTexts(probs: TensorData, rows: number, labels: readonly string[]): string[] {
  const [negative, positive] = labels.map((label) => JSON.stringify(label)) as [string, string];
  const round = probs.type === 'float32' ? Math.fround : probs.type === 'float16' ? roundHalf : (v: number) => v;
  const texts = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    const p = floatValue(probs, r);
    const q = round(1 - p);
    const label = Number.isNaN(p) ? 'null' : p >= 0.5 ? positive : negative;
    const confidence = Number.isNaN(p) ? p : p >= 0.5 ? p : q;
    texts[r] =
      `{"label":${label},"confidence":${floatText(probs.type, confidence)},"probabilities":{${negative}:${floatText(probs.type, q)},${positive}:${floatText(probs.type, p)}}}`;
  }
  return texts;
}

/** `v` rounded to the nearest float16 value, as a number. */
function roundHalf(v: number): number {
  return float16BitsToNumber(halfBits(v));
}

/** Row `r` of an output whose first axis is the batch; the whole output otherwise. */
function rowText(tensor: TensorData, r: number, rows: number): string {
  if (tensor.shape.length === 0 || tensor.shape[0] !== rows) return nestedText(tensor, 0, tensor.shape);
  const rowShape = tensor.shape.slice(1);
  let size = 1;
  for (const d of rowShape) size *= d;
  return nestedText(tensor, r * size, rowShape);
}

/**
 * The elements `[start, start + count)` of a tensor as a nested JSON array of `shape`
 * (a scalar when `shape` is empty).
 */
export function nestedText(tensor: TensorData, start: number, shape: readonly number[]): string {
  if (shape.length === 0) return elementText(tensor, start);
  if (shape.length === 1) return `[${elementsText(tensor, start, shape[0] as number)}]`;
  const [first = 0, ...rest] = shape;
  let stride = 1;
  for (const d of rest) stride *= d;
  let text = '[';
  for (let i = 0; i < first; i++) text += `${i === 0 ? '' : ','}${nestedText(tensor, start + i * stride, rest)}`;
  return `${text}]`;
}

/** One output of the v2 form. `data` is JSON text (flat, row-major) when sent as JSON; absent when sent as binary or by reference. */
export interface V2Output {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly tensor: TensorData;
}

/** The v2 form's outputs, in the order given (the model's order by default). */
export function v2Outputs(outputs: TensorMap, names: readonly string[]): V2Output[] {
  return names.map((name) => {
    const tensor = outputs[name] as TensorData;
    return { name, datatype: V2_DATATYPES[tensor.type], shape: tensor.shape, tensor };
  });
}

/** `{"name","datatype","shape","data":[…]}`: an output sent as JSON, its data flat in row-major order. */
export function v2OutputJsonText(output: V2Output, parameters?: Readonly<Record<string, unknown>>): string {
  const head = `{"name":${JSON.stringify(output.name)},"datatype":"${output.datatype}","shape":[${output.shape.join(',')}]`;
  const params = parameters && Object.keys(parameters).length > 0 ? `,"parameters":${JSON.stringify(parameters)}` : '';
  return `${head}${params},"data":[${elementsText(output.tensor, 0, output.tensor.data.length)}]}`;
}
