/**
 * Requests → input tensors. One generic decoder driven by the model's signature (and its
 * declared feature names), for the record forms (`features`, `instances`) and the Open Inference
 * Protocol v2 form. Many rows become one batched tensor per input: the model runs once.
 */
import { ValidationError, type FieldPath } from '../errors.js';
import type { Dim, ModelMetadata, ModelSignature, TensorSpec, TensorType } from '../model.js';
import { allocate, elementCount, type TensorData, type TensorMap } from '../tensor.js';
import { elementWriter } from './elements.js';

/** A dimension the caller chooses (symbolic, unknown or negative in the model). */
export function isDynamic(dim: Dim): boolean {
  return typeof dim !== 'number' || dim < 0;
}

/**
 * How a record (one row as a JSON object) maps onto the model's inputs.
 * - `columns`: one 2-D input `[N, F]` and F declared feature names; each key is a feature.
 * - `inputs`: each key is an input name; its value is that input's slice for one row.
 */
export type RecordLayout =
  | { readonly kind: 'columns'; readonly input: TensorSpec; readonly features: readonly string[] }
  | { readonly kind: 'inputs'; readonly inputs: readonly TensorSpec[] };

export function recordLayout(signature: ModelSignature, metadata: ModelMetadata): RecordLayout {
  const [only, ...others] = signature.inputs;
  const features = metadata.features;
  if (only && others.length === 0 && only.shape.length === 2 && features && features.length > 0) {
    const width = only.shape[1] ?? null;
    if (isDynamic(width) || width === features.length) return { kind: 'columns', input: only, features };
  }
  return { kind: 'inputs', inputs: signature.inputs };
}

/** Decoded request: the feeds for one `session.run`, and how many rows they hold. */
export interface DecodedInputs {
  readonly feeds: TensorMap;
  readonly rows: number;
}

function hasOwn(record: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, key);
}

/** Checks the batch axis of `spec` against the number of rows a request carries. */
function checkBatch(spec: TensorSpec, rows: number, path: FieldPath): void {
  const batch = spec.shape[0];
  if (spec.shape.length === 0) {
    if (rows !== 1) {
      throw new ValidationError('SHAPE_MISMATCH', `Input "${spec.name}" is a scalar: send exactly one row.`, path);
    }
    return;
  }
  if (batch !== undefined && !isDynamic(batch) && batch !== rows) {
    throw new ValidationError(
      'SHAPE_MISMATCH',
      `Input "${spec.name}" takes exactly ${String(batch)} row(s) per call; this request has ${rows}.`,
      path,
    );
  }
}

/**
 * Accumulates rows of one input into a single flat buffer. The per-row shape is the input's
 * shape without its batch axis; dynamic inner dimensions are fixed by the first row and every
 * other row must agree.
 */
class RowBatcher {
  private readonly rowShape: number[];
  private readonly rowDims: Dim[];
  private data: TensorData['data'] | undefined;
  private rowSize = -1;
  private readonly write;

  constructor(
    private readonly spec: TensorSpec,
    private readonly rows: number,
  ) {
    this.rowDims = spec.shape.length === 0 ? [] : spec.shape.slice(1);
    this.rowShape = [];
    this.write = elementWriter(spec.type);
  }

  add(row: number, value: unknown, path: FieldPath): void {
    if (this.rowSize < 0) {
      this.fixShape(value, path);
      this.data = allocate(this.spec.type, this.rows * this.rowSize);
    }
    const data = this.data as TensorData['data'];
    // A single-element row may be sent as a bare scalar: `"color": "red"` for a [N, 1] input.
    if (this.rowSize === 1 && !Array.isArray(value)) {
      this.write(data, row, value, () => path);
      return;
    }
    this.fill(data, row * this.rowSize, value, 0, path);
  }

  tensor(): TensorData {
    const shape = this.spec.shape.length === 0 ? [] : [this.rows, ...this.rowShape];
    return { type: this.spec.type, shape, data: this.data } as TensorData;
  }

  private fixShape(value: unknown, path: FieldPath): void {
    let node: unknown = value;
    for (let axis = 0; axis < this.rowDims.length; axis++) {
      const dim = this.rowDims[axis] ?? null;
      if (!Array.isArray(node)) {
        if (axis === 0 && this.rowDims.every((d) => d === 1 || isDynamic(d))) {
          // A bare scalar for a row of one element.
          this.rowDims.forEach(() => this.rowShape.push(1));
          this.rowSize = 1;
          return;
        }
        throw this.shapeError(path, `an array at depth ${axis + 1}`, node);
      }
      if (node.length === 0) throw this.shapeError(path, 'a non-empty array', node);
      this.rowShape.push(isDynamic(dim) ? node.length : (dim as number));
      node = node[0];
    }
    this.rowSize = elementCount(this.rowShape);
  }

  private fill(target: TensorData['data'], offset: number, node: unknown, axis: number, path: FieldPath): void {
    if (axis === this.rowShape.length) {
      if (Array.isArray(node)) throw this.shapeError(path, 'a single value', node);
      this.write(target, offset, node, () => path);
      return;
    }
    const size = this.rowShape[axis] as number;
    if (!Array.isArray(node) || node.length !== size) {
      throw this.shapeError(path, `an array of ${size}`, node);
    }
    let stride = 1;
    for (let a = axis + 1; a < this.rowShape.length; a++) stride *= this.rowShape[a] as number;
    for (let i = 0; i < size; i++) this.fill(target, offset + i * stride, node[i], axis + 1, [...path, i]);
  }

  private shapeError(path: FieldPath, expected: string, got: unknown): ValidationError {
    const shown = Array.isArray(got) ? `an array of ${got.length}` : typeof got;
    const rowShape = this.rowDims.map((d) => (isDynamic(d) ? '?' : String(d))).join(', ');
    return new ValidationError(
      'SHAPE_MISMATCH',
      `Input "${this.spec.name}" takes rows of shape [${rowShape}]: expected ${expected}, got ${shown}.`,
      path,
    );
  }
}

/** Rows given as JSON objects (the `features` form is one such row). */
export function decodeRecords(
  layout: RecordLayout,
  records: readonly unknown[],
  pathOf: (row: number) => FieldPath,
): DecodedInputs {
  const rows = records.length;
  if (layout.kind === 'columns') {
    const { input, features } = layout;
    checkBatch(input, rows, pathOf(0).slice(0, -1));
    const width = features.length;
    const data = allocate(input.type, rows * width) as TensorData['data'];
    const write = elementWriter(input.type);
    for (let r = 0; r < rows; r++) {
      const record = asRecord(records[r], pathOf(r));
      let seen = 0;
      for (let j = 0; j < width; j++) {
        const name = features[j] as string;
        if (!hasOwn(record, name)) {
          throw new ValidationError('MISSING_FEATURE', `Feature "${name}" is missing; the model takes: ${features.join(', ')}.`, [...pathOf(r), name]);
        }
        seen++;
        write(data, r * width + j, record[name], () => [...pathOf(r), name]);
      }
      if (Object.keys(record).length !== seen) {
        const extra = Object.keys(record).find((k) => !features.includes(k)) as string;
        throw new ValidationError('UNKNOWN_FEATURE', `"${extra}" is not a feature of this model; it takes: ${features.join(', ')}.`, [...pathOf(r), extra]);
      }
    }
    return { feeds: { [input.name]: { type: input.type, shape: [rows, width], data } as TensorData }, rows };
  }

  const names = layout.inputs.map((i) => i.name);
  const batchers = layout.inputs.map((spec) => new RowBatcher(spec, rows));
  for (const spec of layout.inputs) checkBatch(spec, rows, pathOf(0).slice(0, -1));
  for (let r = 0; r < rows; r++) {
    const record = asRecord(records[r], pathOf(r));
    for (let k = 0; k < layout.inputs.length; k++) {
      const name = names[k] as string;
      if (!hasOwn(record, name)) {
        throw new ValidationError('MISSING_INPUT', `Input "${name}" is missing; the model takes: ${names.join(', ')}.`, [...pathOf(r), name]);
      }
      (batchers[k] as RowBatcher).add(r, record[name], [...pathOf(r), name]);
    }
    if (Object.keys(record).length !== names.length) {
      const extra = Object.keys(record).find((key) => !names.includes(key)) as string;
      throw new ValidationError('UNKNOWN_INPUT', `"${extra}" is not an input of this model; it takes: ${names.join(', ')}.`, [...pathOf(r), extra]);
    }
  }
  return { feeds: Object.fromEntries(batchers.map((b, k) => [names[k], b.tensor()])), rows };
}

/** Rows given as JSON arrays: only for single-input models. */
export function decodeArrays(
  layout: RecordLayout,
  arrays: readonly unknown[],
  pathOf: (row: number) => FieldPath,
): DecodedInputs {
  const spec = layout.kind === 'columns' ? layout.input : layout.inputs[0];
  if (!spec || (layout.kind === 'inputs' && layout.inputs.length !== 1)) {
    throw new ValidationError(
      'AMBIGUOUS_ROW',
      `This model has ${layout.kind === 'inputs' ? layout.inputs.length : 0} inputs: send each instance as an object keyed by input name.`,
      pathOf(0),
    );
  }
  const rows = arrays.length;
  checkBatch(spec, rows, pathOf(0).slice(0, -1));
  const batcher = new RowBatcher(spec, rows);
  for (let r = 0; r < rows; r++) batcher.add(r, arrays[r], pathOf(r));
  const tensor = batcher.tensor();
  if (layout.kind === 'columns' && tensor.shape[1] !== layout.features.length) {
    throw new ValidationError(
      'SHAPE_MISMATCH',
      `Each instance needs ${layout.features.length} values, in this order: ${layout.features.join(', ')}.`,
      pathOf(0),
    );
  }
  return { feeds: { [spec.name]: tensor }, rows };
}

function asRecord(value: unknown, path: FieldPath): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('WRONG_TYPE', 'Expected an object of named features.', path);
  }
  return value as Record<string, unknown>;
}

/** Open Inference Protocol v2 datatypes, and ours. */
export const V2_DATATYPES: Readonly<Record<TensorType, string>> = {
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
};

export interface V2InputTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly datatype: string;
  readonly data: readonly unknown[];
}

/** The v2 form: explicit tensors, flat (row-major) or nested `data`. */
export function decodeV2(signature: ModelSignature, inputs: readonly V2InputTensor[]): DecodedInputs {
  const feeds: TensorMap = {};
  const symbolic = new Map<string, { size: number; input: string }>();
  let rows = 0;
  inputs.forEach((input, i) => {
    const path: FieldPath = ['inputs', i];
    const spec = signature.inputs.find((s) => s.name === input.name);
    if (!spec) {
      throw new ValidationError('UNKNOWN_INPUT', `"${input.name}" is not an input of this model; it takes: ${signature.inputs.map((s) => s.name).join(', ')}.`, [...path, 'name']);
    }
    if (feeds[spec.name]) throw new ValidationError('DUPLICATE_INPUT', `Input "${spec.name}" is given twice.`, [...path, 'name']);
    const expected = V2_DATATYPES[spec.type];
    if (input.datatype !== expected) {
      throw new ValidationError('DATATYPE_MISMATCH', `Input "${spec.name}" is ${expected}, not ${input.datatype}.`, [...path, 'datatype']);
    }
    if (input.shape.length !== spec.shape.length) {
      throw new ValidationError('SHAPE_MISMATCH', `Input "${spec.name}" has rank ${spec.shape.length} (${formatDims(spec.shape)}), not ${input.shape.length}.`, [...path, 'shape']);
    }
    input.shape.forEach((d, axis) => {
      const want = spec.shape[axis] ?? null;
      if (!isDynamic(want) && want !== d) {
        throw new ValidationError('SHAPE_MISMATCH', `Input "${spec.name}" has shape ${formatDims(spec.shape)}: axis ${axis} must be ${String(want)}, not ${d}.`, [...path, 'shape', axis]);
      }
    });
    const count = elementCount(input.shape);
    // Check before allocating: the shape is the caller's claim, the data is what was sent.
    // `data` is flat (row-major, the protocol's form) or nested exactly as `shape`.
    const nested = input.data.some(Array.isArray);
    if (nested) {
      checkNesting(spec.name, input.data, input.shape, 0, [...path, 'data']);
    } else if (input.data.length !== count) {
      throw new ValidationError('SHAPE_MISMATCH', `Input "${spec.name}" has shape [${input.shape.join(', ')}], which holds ${count} values; data has ${input.data.length}.`, [...path, 'data']);
    }
    const data = allocate(spec.type, count) as TensorData['data'];
    const write = elementWriter(spec.type);
    let written = 0;
    const walk = (node: readonly unknown[], at: FieldPath): void => {
      for (let k = 0; k < node.length; k++) {
        const value = node[k];
        if (Array.isArray(value)) {
          walk(value, [...at, k]);
          continue;
        }
        write(data, written++, value, () => [...at, k]);
      }
    };
    walk(input.data, [...path, 'data']);
    checkSymbolicDims(spec, input.shape, symbolic, [...path, 'shape']);
    feeds[spec.name] = { type: spec.type, shape: [...input.shape], data } as TensorData;
    if (i === 0) rows = spec.shape.length === 0 ? 1 : (input.shape[0] ?? 1);
  });
  for (const spec of signature.inputs) {
    if (!feeds[spec.name]) {
      throw new ValidationError('MISSING_INPUT', `Input "${spec.name}" is missing; the model takes: ${signature.inputs.map((s) => s.name).join(', ')}.`, ['inputs']);
    }
  }
  return { feeds, rows };
}

/** Nested v2 `data` must follow `shape` axis by axis: no ragged rows, no extra depth. */
function checkNesting(input: string, node: readonly unknown[], shape: readonly number[], axis: number, path: FieldPath): void {
  const size = shape[axis];
  if (size === undefined || node.length !== size) {
    const expected = size === undefined ? 'a single value' : `an array of ${size}`;
    throw new ValidationError('SHAPE_MISMATCH', `Input "${input}" has shape [${shape.join(', ')}]: expected ${expected} at axis ${axis}, got an array of ${node.length}.`, path);
  }
  const last = axis === shape.length - 1;
  for (let k = 0; k < node.length; k++) {
    const child = node[k];
    if (Array.isArray(child) === last) {
      throw new ValidationError('SHAPE_MISMATCH', `Input "${input}" has shape [${shape.join(', ')}]: expected ${last ? 'a single value' : `an array of ${String(shape[axis + 1])}`} at axis ${axis + 1}.`, [...path, k]);
    }
    if (!last) checkNesting(input, child as unknown[], shape, axis + 1, [...path, k]);
  }
}

/**
 * A symbolic dimension (`"N"`, `"batch_size"`) names one size: every input that declares it
 * must be sent with the same size there.
 */
function checkSymbolicDims(
  spec: TensorSpec,
  shape: readonly number[],
  seen: Map<string, { size: number; input: string }>,
  path: FieldPath,
): void {
  spec.shape.forEach((dim, axis) => {
    if (typeof dim !== 'string' || dim === '') return;
    const size = shape[axis] as number;
    const first = seen.get(dim);
    if (!first) {
      seen.set(dim, { size, input: spec.name });
    } else if (first.size !== size) {
      throw new ValidationError(
        'SHAPE_MISMATCH',
        `Dimension "${dim}" is ${first.size} in input "${first.input}" but ${size} in input "${spec.name}"; inputs that share it must agree.`,
        [...path, axis],
      );
    }
  });
}

export function formatDims(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (isDynamic(d) ? (typeof d === 'string' && d ? d : '?') : String(d))).join(', ')}]`;
}
