/**
 * Output tensors → JSON. Record forms get one prediction object per row (classifiers: label,
 * confidence and probabilities keyed by class label); the v2 form gets the tensors themselves.
 */
import type { ModelMetadata, ModelSignature, TensorSpec } from '../model.js';
import type { TensorData, TensorMap } from '../tensor.js';
import { V2_DATATYPES, isDynamic } from './decode.js';
import { flatToJson, sliceToJson } from './elements.js';

/** Which output holds class probabilities, and the labels of its columns. */
export interface ClassifierView {
  readonly probabilities: string;
  readonly labels: readonly string[];
}

/**
 * A model is served as a classifier when it declares class labels and has one floating-point
 * output `[N, K]` with K equal to the number of labels (or dynamic). When several outputs fit,
 * the one whose name mentions "prob" wins.
 */
export function classifierView(signature: ModelSignature, metadata: ModelMetadata): ClassifierView | undefined {
  const labels = metadata.classLabels;
  if (!labels || labels.length === 0) return undefined;
  const fits = (o: TensorSpec): boolean => {
    const width = o.shape[1] ?? null;
    return (o.type === 'float32' || o.type === 'float64') && o.shape.length === 2 && (isDynamic(width) || width === labels.length);
  };
  const candidates = signature.outputs.filter(fits);
  const chosen = candidates.find((o) => o.name.toLowerCase().includes('prob')) ?? (candidates.length === 1 ? candidates[0] : undefined);
  return chosen ? { probabilities: chosen.name, labels } : undefined;
}

export interface ClassPrediction {
  readonly label: string;
  readonly confidence: number;
  readonly probabilities: Record<string, number>;
}

/** One JSON object per row. */
export function recordPredictions(outputs: TensorMap, rows: number, view: ClassifierView | undefined): unknown[] {
  const probs = view ? outputs[view.probabilities] : undefined;
  if (view && probs && probs.shape.length === 2 && probs.shape[0] === rows && probs.shape[1] === view.labels.length) {
    return classPredictions(probs, rows, view.labels);
  }
  const predictions = new Array<Record<string, unknown>>(rows);
  const entries = Object.entries(outputs);
  // `fromEntries` defines each key as the row's own: an output named like a prototype member is
  // a plain field, never an assignment to `__proto__`.
  for (let r = 0; r < rows; r++) predictions[r] = Object.fromEntries(entries.map(([name, tensor]) => [name, rowValue(tensor, r, rows)]));
  return predictions;
}

function classPredictions(probs: TensorData, rows: number, labels: readonly string[]): ClassPrediction[] {
  const k = labels.length;
  const data = probs.data as Float32Array | Float64Array;
  const out = new Array<ClassPrediction>(rows);
  for (let r = 0; r < rows; r++) {
    const entries = new Array<[string, number]>(k);
    let best = 0;
    let bestP = -Infinity;
    for (let j = 0; j < k; j++) {
      const p = data[r * k + j] as number;
      entries[j] = [labels[j] as string, Number.isFinite(p) ? p : 0];
      if (p > bestP) {
        bestP = p;
        best = j;
      }
    }
    // Labels become own keys whatever they are (`constructor`, `__proto__`).
    out[r] = { label: labels[best] as string, confidence: Number.isFinite(bestP) ? bestP : 0, probabilities: Object.fromEntries(entries) };
  }
  return out;
}

/** Row `r` of an output whose first axis is the batch; the whole output otherwise. */
function rowValue(tensor: TensorData, r: number, rows: number): unknown {
  if (tensor.shape.length === 0 || tensor.shape[0] !== rows) return sliceToJson(tensor, 0, tensor.shape);
  const rowShape = tensor.shape.slice(1);
  let size = 1;
  for (const d of rowShape) size *= d;
  return sliceToJson(tensor, r * size, rowShape);
}

export interface V2OutputTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data: unknown[];
}

/** The v2 form's outputs, in the order given (the model's order by default). */
export function v2Outputs(outputs: TensorMap, names: readonly string[]): V2OutputTensor[] {
  return names.map((name) => {
    const tensor = outputs[name] as TensorData;
    return { name, datatype: V2_DATATYPES[tensor.type], shape: tensor.shape, data: flatToJson(tensor) };
  });
}
