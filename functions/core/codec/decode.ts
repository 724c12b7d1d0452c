/**
 * Requests → input tensors. One generic decoder driven by the model's signature (and its
 * declared feature names), for the record forms (`features`, `instances`) and the Open Inference
 * Protocol v2 form. Many rows become one batched tensor per input: the model runs once.
 *
 * Cheap checks come first, in every form: the row count, the keys of a record against the
 * model's names, an array's length against the shape, a v2 tensor's name, datatype, shape and
 * element count; only then are values read. Names are looked up in Maps (`NameIndex`), never
 * in plain objects, and errors quote caller text as excerpts only.
 */
import { ValidationError, type FieldPath } from '../errors.js';
import { closestName, describeValue, didYouMean } from '../messages.js';
import type { Dim, ModelMetadata, ModelSignature, TensorSpec, TensorType } from '../model.js';
import { allocate, elementCount, type TensorData, type TensorMap } from '../tensor.js';
import { elementWriter, type ElementPath, type ElementWriter } from './elements.js';
import { NameIndex, checkRowCount, codecLimits, excerpt, nameList, pathExcerpt, type CodecLimits } from './limits.js';
import { V2InputSchema, V2_HINT, V2_INPUT_FIELDS, parseObject } from './request.js';
import { tensorFromBytes } from './binary.js';

/** A dimension the caller chooses (symbolic, unknown or negative in the model). */
export function isDynamic(dim: Dim): boolean {
  return typeof dim !== 'number' || dim < 0;
}

/**
 * How a record (one row as a JSON object) maps onto the model's inputs.
 * - `columns`: one 2-D input `[N, F]` and F declared feature names; each key is a feature.
 * - `inputs`: each key is an input name; its value is that input's slice for one row.
 * `index` looks the names up (features, or input names).
 */
export type RecordLayout =
  | { readonly kind: 'columns'; readonly input: TensorSpec; readonly features: readonly string[]; readonly index: NameIndex }
  | { readonly kind: 'inputs'; readonly inputs: readonly TensorSpec[]; readonly index: NameIndex };

export function recordLayout(signature: ModelSignature, metadata: ModelMetadata): RecordLayout {
  const [only, ...others] = signature.inputs;
  const features = metadata.features;
  if (only && others.length === 0 && only.shape.length === 2 && features && features.length > 0) {
    const width = only.shape[1] ?? null;
    if (isDynamic(width) || width === features.length) return { kind: 'columns', input: only, features, index: new NameIndex(features) };
  }
  return { kind: 'inputs', inputs: signature.inputs, index: new NameIndex(signature.inputs.map((i) => i.name)) };
}

/** Decoded request: the feeds for one `session.run`, and how many rows they hold. */
export interface DecodedInputs {
  readonly feeds: TensorMap;
  readonly rows: number;
}

/** A model's name (input, feature) as a message quotes it: an excerpt, in quotes. */
function quoted(name: string): string {
  return `"${excerpt(name)}"`;
}

/**
 * The magnitude below which a JSON number is stored in a tensor of `type` without further checks:
 * float32's and float64's largest finite values (a comparison is false for NaN, so only finite
 * numbers in range pass). Every other type (integers need integer checks, float16 rounding) has
 * -1: nothing passes, every value goes through its writer.
 */
function plainNumberLimit(type: TensorType): number {
  if (type === 'float32') return 3.4028234663852886e38;
  if (type === 'float64') return Number.MAX_VALUE;
  return -1;
}

/** Checks the batch axis of `spec` against the number of rows a request carries. */
function checkBatch(spec: TensorSpec, rows: number, path: FieldPath): void {
  const batch = spec.shape[0];
  if (spec.shape.length === 0) {
    if (rows !== 1) {
      throw new ValidationError('SHAPE_MISMATCH', `Input ${quoted(spec.name)} is a scalar: send exactly one row.`, path);
    }
    return;
  }
  if (batch !== undefined && !isDynamic(batch) && batch !== rows) {
    throw new ValidationError(
      'SHAPE_MISMATCH',
      `Input ${quoted(spec.name)} takes exactly ${String(batch)} row(s) per call; this request has ${rows}.`,
      path,
    );
  }
}

/**
 * Accumulates rows of one input into a single flat buffer. The per-row shape is the input's
 * shape without its batch axis (or `rowDims`, for declared features); dynamic inner dimensions
 * are fixed by the first row and every other row must agree. Each array's length is checked
 * before its elements are read.
 */
class RowBatcher {
  private readonly rowShape: number[] = [];
  private readonly rowDims: Dim[];
  private data: TensorData['data'] | undefined;
  private rowSize = -1;
  private readonly write: ElementWriter;
  /** Numbers within ±this are stored without the writer's checks (see `plainNumberLimit`). */
  private readonly plainLimit: number;

  constructor(
    private readonly spec: TensorSpec,
    private readonly rows: number,
    limits: CodecLimits,
    /** Overrides the row shape (the declared features' count for a `[N, F]` input). */
    rowDims?: Dim[],
    /** Overrides the message of a row of the wrong shape. */
    private readonly expectation?: string,
  ) {
    this.rowDims = rowDims ?? (spec.shape.length === 0 ? [] : spec.shape.slice(1));
    this.write = elementWriter(spec.type, limits);
    this.plainLimit = plainNumberLimit(spec.type);
  }

  add(row: number, value: unknown, path: FieldPath): void {
    if (this.rowSize < 0) {
      this.fixShape(value, path);
      this.data = allocate(this.spec.type, this.rows * this.rowSize);
    }
    const data = this.data as TensorData['data'];
    const offset = row * this.rowSize;
    // Called only when a value fails the fast check and its writer needs the path.
    const elementPath: ElementPath = (i) => [...path, ...this.indices(i - offset)];
    // A row of a rank-1 input is one value; a single-element row may be sent as a bare scalar
    // too: `"color": "red"` for a [N, 1] input.
    if (this.rowShape.length === 0 || (this.rowSize === 1 && !Array.isArray(value))) {
      if (Array.isArray(value)) throw this.shapeError(path, 'a single value', value);
      this.write(data, offset, value, () => path);
      return;
    }
    this.fill(data, offset, value, 0, path, elementPath);
  }

  tensor(): TensorData {
    const shape = this.spec.shape.length === 0 ? [] : [this.rows, ...this.rowShape];
    return { type: this.spec.type, shape, data: this.data } as TensorData;
  }

  /** The index within a row of its `flat`-th element, axis by axis. */
  private indices(flat: number): number[] {
    const out = new Array<number>(this.rowShape.length);
    for (let axis = this.rowShape.length - 1; axis >= 0; axis--) {
      const size = this.rowShape[axis] as number;
      out[axis] = flat % size;
      flat = Math.floor(flat / size);
    }
    return out;
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
      // Descend to fix the next axis; the values themselves are read by `fill`, after the check.
      if (axis < this.rowDims.length - 1) node = node[0];
    }
    this.rowSize = elementCount(this.rowShape);
  }

  private fill(target: TensorData['data'], offset: number, node: unknown, axis: number, path: FieldPath, elementPath: ElementPath): void {
    const size = this.rowShape[axis] as number;
    if (!Array.isArray(node) || node.length !== size) {
      throw this.shapeError(path, `an array of ${size}`, node);
    }
    if (axis === this.rowShape.length - 1) {
      const limit = this.plainLimit;
      for (let i = 0; i < size; i++) {
        const value: unknown = node[i];
        // The common case inline: a finite number within a float type's range is stored as is.
        if (typeof value === 'number' && value <= limit && value >= -limit) {
          target[offset + i] = value;
          continue;
        }
        if (Array.isArray(value)) throw this.shapeError([...path, i], 'a single value', value);
        this.write(target, offset + i, value, elementPath);
      }
      return;
    }
    let stride = 1;
    for (let a = axis + 1; a < this.rowShape.length; a++) stride *= this.rowShape[a] as number;
    for (let i = 0; i < size; i++) this.fill(target, offset + i * stride, node[i], axis + 1, [...path, i], elementPath);
  }

  private shapeError(path: FieldPath, expected: string, got: unknown): ValidationError {
    const shown = Array.isArray(got) ? `an array of ${got.length}` : describeValue(got);
    if (this.expectation) return new ValidationError('SHAPE_MISMATCH', `${this.expectation} Got ${shown}.`, path);
    const rowShape = this.rowDims.map((d) => (isDynamic(d) ? '?' : String(d))).join(', ');
    return new ValidationError(
      'SHAPE_MISMATCH',
      `Input ${quoted(this.spec.name)} takes rows of shape [${rowShape}]: expected ${expected}, got ${shown}.`,
      path,
    );
  }
}

/** Unknown keys a message names (and suggests a name for) at most; the rest are counted. */
const NAMED_UNKNOWN_KEYS = 3;

/**
 * What is wrong with a record's keys, or `undefined` when they are exactly the index's names:
 * the keys it has that are none of them (the first `NAMED_UNKNOWN_KEYS`, and whether there are
 * more) and the first name it lacks. Reads no value; the common case, a record with every name,
 * costs one lookup per name and one per key.
 */
function keyProblem(
  record: Record<string, unknown>,
  index: NameIndex,
): { readonly unknown: readonly string[]; readonly more: boolean; readonly missing?: string } | undefined {
  let missing: string | undefined;
  for (const name of index.names) {
    if (!Object.hasOwn(record, name)) {
      missing = name;
      break;
    }
  }
  // Any key that is not a name is one the model does not take: a misspelling of the missing
  // name, or one too many. Stops after the few a message names.
  const unknown: string[] = [];
  let more = false;
  for (const key in record) {
    if (Object.hasOwn(record, key) && !index.has(key)) {
      if (unknown.length === NAMED_UNKNOWN_KEYS) {
        more = true;
        break;
      }
      unknown.push(key);
    }
  }
  if (missing === undefined && unknown.length === 0) return undefined;
  return missing === undefined ? { unknown, more } : { unknown, more, missing };
}

/**
 * `"sepal_length" (did you mean "sepal_length_cm"?)`, and the others after it: the keys a record
 * has that the model does not take, each with the closest of the names the record lacks (a
 * misspelling), else of all the names.
 */
function unknownNamesPhrase(unknown: readonly string[], more: boolean, record: Record<string, unknown>, names: readonly string[]): string {
  const lacking = names.filter((name) => !Object.hasOwn(record, name));
  const named = unknown.map((key) => {
    const closest = closestName(key, lacking) ?? closestName(key, names);
    return `${quoted(key)}${closest === undefined ? '' : ` (did you mean ${quoted(closest)}?)`}`;
  });
  const last = named.length > 1 && !more ? ` and ${named.pop()}` : '';
  return `${named.join(', ')}${last}${more ? ' and more' : ''}`;
}

/**
 * 400 `MISSING_FEATURE` or `UNKNOWN_FEATURE` unless the record's keys are the features. A key
 * that is no feature is reported first, with the feature it most likely misspells, and with the
 * missing feature when one is: `sepal_length` for `sepal_length_cm` is a typo, not an absence.
 */
function checkFeatureKeys(record: Record<string, unknown>, index: NameIndex, pathOf: (row: number) => FieldPath, row: number): void {
  const problem = keyProblem(record, index);
  if (!problem) return;
  const [first] = problem.unknown;
  if (first === undefined) {
    const missing = problem.missing as string;
    throw new ValidationError(
      'MISSING_FEATURE',
      `Feature ${quoted(missing)} is missing; the model takes: ${nameList(index.names)}.`,
      pathExcerpt([...pathOf(row), missing]),
    );
  }
  const several = problem.unknown.length > 1 || problem.more;
  const lacking = problem.missing === undefined ? '' : ` Feature ${quoted(problem.missing)} is missing.`;
  throw new ValidationError(
    'UNKNOWN_FEATURE',
    `${unknownNamesPhrase(problem.unknown, problem.more, record, index.names)} ${several ? 'are not features' : 'is not a feature'} of this model; it takes: ${nameList(index.names)}.${lacking}`,
    pathExcerpt([...pathOf(row), first]),
  );
}

/** 400 `MISSING_INPUT` or `UNKNOWN_INPUT` unless the record's keys are the input names (an unknown key first, as for features). */
function checkInputKeys(record: Record<string, unknown>, index: NameIndex, path: FieldPath): void {
  const problem = keyProblem(record, index);
  if (!problem) return;
  const [first] = problem.unknown;
  if (first === undefined) {
    const missing = problem.missing as string;
    throw new ValidationError(
      'MISSING_INPUT',
      `Input ${quoted(missing)} is missing; the model takes: ${nameList(index.names)}.`,
      pathExcerpt([...path, missing]),
    );
  }
  const several = problem.unknown.length > 1 || problem.more;
  const lacking = problem.missing === undefined ? '' : ` Input ${quoted(problem.missing)} is missing.`;
  throw new ValidationError(
    'UNKNOWN_INPUT',
    `${unknownNamesPhrase(problem.unknown, problem.more, record, index.names)} ${several ? 'are not inputs' : 'is not an input'} of this model; it takes: ${nameList(index.names)}.${lacking}`,
    pathExcerpt([...path, first]),
  );
}

/**
 * Rows given as JSON objects (the `features` form is one such row). More than `maxRows` rows:
 * 413 `TOO_MANY_ROWS`, before any row is read.
 */
export function decodeRecords(
  layout: RecordLayout,
  records: readonly unknown[],
  pathOf: (row: number) => FieldPath,
  limits: Partial<CodecLimits> = {},
): DecodedInputs {
  const bounds = codecLimits(limits);
  const rows = records.length;
  const batchPath = pathOf(0).slice(0, -1);
  checkRowCount(rows, bounds.maxRows, batchPath);
  if (layout.kind === 'columns') {
    const { input, features, index } = layout;
    checkBatch(input, rows, batchPath);
    const width = features.length;
    const data = allocate(input.type, rows * width) as TensorData['data'];
    const write = elementWriter(input.type, bounds);
    const limit = plainNumberLimit(input.type);
    for (let r = 0; r < rows; r++) {
      const record = asRecord(records[r], pathOf, r);
      checkFeatureKeys(record, index, pathOf, r);
      const offset = r * width;
      for (let j = 0; j < width; j++) {
        const value = record[features[j] as string];
        if (typeof value === 'number' && value <= limit && value >= -limit) data[offset + j] = value;
        // The path is built only here, for a value the fast check did not take.
        else write(data, offset + j, value, (i) => [...pathOf(r), features[i - offset] as string]);
      }
    }
    return { feeds: feedsOf([[input.name, { type: input.type, shape: [rows, width], data } as TensorData]]), rows };
  }

  const { inputs, index } = layout;
  for (const spec of inputs) checkBatch(spec, rows, batchPath);
  const batchers = inputs.map((spec) => new RowBatcher(spec, rows, bounds));
  for (let r = 0; r < rows; r++) {
    const at = pathOf(r);
    const record = asRecord(records[r], pathOf, r);
    checkInputKeys(record, index, at);
    inputs.forEach((spec, k) => (batchers[k] as RowBatcher).add(r, record[spec.name], pathExcerpt([...at, spec.name])));
  }
  return { feeds: feedsOf(inputs.map((spec, k) => [spec.name, (batchers[k] as RowBatcher).tensor()])), rows };
}

/**
 * Rows given as JSON arrays: only for single-input models. More than `maxRows` rows: 413
 * `TOO_MANY_ROWS`, before any row is read; each row's length is checked before its values.
 */
export function decodeArrays(
  layout: RecordLayout,
  arrays: readonly unknown[],
  pathOf: (row: number) => FieldPath,
  limits: Partial<CodecLimits> = {},
): DecodedInputs {
  const bounds = codecLimits(limits);
  const spec = layout.kind === 'columns' ? layout.input : layout.inputs[0];
  if (!spec || (layout.kind === 'inputs' && layout.inputs.length !== 1)) {
    throw new ValidationError(
      'AMBIGUOUS_ROW',
      `This model has ${layout.kind === 'inputs' ? layout.inputs.length : 0} inputs: send each instance as an object keyed by input name.`,
      pathOf(0),
    );
  }
  const rows = arrays.length;
  const batchPath = pathOf(0).slice(0, -1);
  checkRowCount(rows, bounds.maxRows, batchPath);
  checkBatch(spec, rows, batchPath);
  if (layout.kind === 'columns') {
    const fast = floatColumns(spec, layout.features.length, arrays, bounds, pathOf);
    if (fast) return { feeds: feedsOf([[spec.name, fast]]), rows };
  }
  const batcher =
    layout.kind === 'columns'
      ? new RowBatcher(
          spec,
          rows,
          bounds,
          [layout.features.length],
          `Each instance needs ${layout.features.length} values, in this order: ${nameList(layout.features)}.`,
        )
      : new RowBatcher(spec, rows, bounds);
  for (let r = 0; r < rows; r++) batcher.add(r, arrays[r], pathOf(r));
  return { feeds: feedsOf([[spec.name, batcher.tensor()]]), rows };
}

/**
 * The common case of array rows, in one tight loop: a float32 or float64 `[N, F]` input, F > 1,
 * every row an array of exactly F values. A value the inline check does not take (a string such
 * as "NaN", a number out of range, anything else) goes through the type's writer, which stores
 * it or throws with its path. `undefined` when the case does not apply or a row is not an array
 * of F (the general path then reads the rows and reports the first that is wrong).
 */
function floatColumns(
  spec: TensorSpec,
  width: number,
  arrays: readonly unknown[],
  limits: CodecLimits,
  pathOf: (row: number) => FieldPath,
): TensorData | undefined {
  const limit = plainNumberLimit(spec.type);
  if (limit < 0 || width < 2) return undefined;
  const rows = arrays.length;
  for (let r = 0; r < rows; r++) {
    const row = arrays[r];
    if (!Array.isArray(row) || row.length !== width) return undefined;
  }
  const data = allocate(spec.type, rows * width) as Float32Array | Float64Array;
  let write: ElementWriter | undefined;
  for (let r = 0; r < rows; r++) {
    const row = arrays[r] as readonly unknown[];
    const offset = r * width;
    for (let j = 0; j < width; j++) {
      const value = row[j];
      if (typeof value === 'number' && value <= limit && value >= -limit) {
        data[offset + j] = value;
        continue;
      }
      if (Array.isArray(value)) {
        throw new ValidationError('SHAPE_MISMATCH', `Each instance needs ${width} values: expected a single value, got an array.`, [
          ...pathOf(r),
          j,
        ]);
      }
      write ??= elementWriter(spec.type, limits);
      write(data, offset + j, value, () => [...pathOf(r), j]);
    }
  }
  return { type: spec.type, shape: [rows, width], data } as TensorData;
}

/**
 * Feeds keyed by input name, in an object without a prototype: an input named `constructor` or
 * `toString` is found only when it was given, and `__proto__` is a plain key.
 */
function feedsOf(entries: readonly (readonly [string, TensorData])[]): TensorMap {
  const feeds = Object.create(null) as TensorMap;
  for (const [name, tensor] of entries) feeds[name] = tensor;
  return feeds;
}

function asRecord(value: unknown, pathOf: (row: number) => FieldPath, row: number): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('WRONG_TYPE', `Expected an object of named features (got ${describeValue(value)}).`, pathOf(row));
  }
  return value as Record<string, unknown>;
}

/** Open Inference Protocol v2 datatypes, and ours. */
export const V2_DATATYPES: Readonly<Record<TensorType, string>> = {
  float16: 'FP16',
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

/** What to do about the datatype mixes NumPy's defaults make (float64, int64 arrays). */
const DATATYPE_HINTS: Readonly<Record<string, string>> = {
  'FP64>FP32': " Convert the array first, e.g. NumPy's arr.astype('float32') (NumPy's default float is float64).",
  'FP32>FP64': " Convert the array first, e.g. NumPy's arr.astype('float64').",
  'INT64>INT32': " Convert the array first, e.g. NumPy's arr.astype('int32') (NumPy's default integer is int64).",
  'INT32>INT64': " Convert the array first, e.g. NumPy's arr.astype('int64').",
  'FP32>FP16': " Convert the array first, e.g. NumPy's arr.astype('float16').",
  'FP64>FP16': " Convert the array first, e.g. NumPy's arr.astype('float16').",
};

export interface V2InputTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly datatype: string;
  readonly data: readonly unknown[];
}

/** A v2 tensor whose cheap checks passed, waiting for its values to be read: from JSON `data`, or from bytes. */
type PlannedTensor = {
  readonly spec: TensorSpec;
  readonly shape: readonly number[];
  readonly count: number;
  readonly path: FieldPath;
} & ({ readonly data: readonly unknown[]; readonly nested: boolean } | { readonly bytes: Uint8Array });

/**
 * Where the elements of v2 inputs may come from besides JSON `data`: the bytes after the JSON
 * header of a binary request (inputs with `parameters.binary_data_size`, in the order listed),
 * and payloads uploaded beforehand (inputs with `parameters.data_ref`), already read.
 */
export interface V2Sources {
  /** The body after its JSON header (binary tensor data extension); `undefined` for a JSON request. */
  readonly binary?: Uint8Array;
  /** The bytes of each `data_ref` the request names, by payload id. */
  readonly references?: ReadonlyMap<string, Uint8Array>;
}

/**
 * The payload ids a v2 request's inputs name in `parameters.data_ref` (unchecked strings; the
 * payload store checks their form), read before the request is decoded.
 */
export function v2References(inputs: readonly unknown[]): { readonly id: string; readonly path: FieldPath }[] {
  const refs: { id: string; path: FieldPath }[] = [];
  inputs.forEach((input, i) => {
    const parameters = input !== null && typeof input === 'object' ? (input as Record<string, unknown>)['parameters'] : undefined;
    const ref =
      parameters !== null && typeof parameters === 'object' && Object.hasOwn(parameters, 'data_ref')
        ? (parameters as Record<string, unknown>)['data_ref']
        : undefined;
    if (typeof ref === 'string') refs.push({ id: ref, path: ['inputs', i, 'parameters', 'data_ref'] });
  });
  return refs;
}

/** The source of one v2 input's elements, from its fields and parameters: exactly one of them. */
function elementSource(
  input: { readonly data?: readonly unknown[] | undefined; readonly parameters?: Record<string, unknown> | undefined },
  name: string,
  path: FieldPath,
): { readonly kind: 'json' } | { readonly kind: 'binary'; readonly size: number } | { readonly kind: 'reference'; readonly id: string } {
  const parameters = input.parameters;
  const size = parameters && Object.hasOwn(parameters, 'binary_data_size') ? parameters['binary_data_size'] : undefined;
  const ref = parameters && Object.hasOwn(parameters, 'data_ref') ? parameters['data_ref'] : undefined;
  const given = [
    input.data !== undefined ? '"data"' : '',
    size !== undefined ? '"parameters.binary_data_size"' : '',
    ref !== undefined ? '"parameters.data_ref"' : '',
  ].filter(Boolean);
  if (given.length === 0) {
    throw new ValidationError(
      'MISSING_DATA',
      `Input ${quoted(name)} has no elements: give "data" (JSON), "parameters.binary_data_size" (bytes after the JSON header) or "parameters.data_ref" (an uploaded payload).`,
      path,
    );
  }
  if (given.length > 1) {
    throw new ValidationError(
      'CONFLICTING_FIELDS',
      `Input ${quoted(name)} gives ${given.join(' and ')}; give exactly one source of its elements.`,
      path,
    );
  }
  if (size !== undefined) {
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      const beyond = typeof size === 'number' && Number.isInteger(size) && size > 0;
      throw new ValidationError(
        beyond ? 'OUT_OF_RANGE' : 'WRONG_TYPE',
        beyond
          ? `binary_data_size ${size} is beyond any body this API takes (at most 2^53 − 1, and in practice the body's own length).`
          : `binary_data_size must be a byte count (a whole number, at least 0; got ${describeValue(size)}).`,
        [...path, 'parameters', 'binary_data_size'],
      );
    }
    return { kind: 'binary', size };
  }
  if (ref !== undefined) {
    if (typeof ref !== 'string')
      throw new ValidationError(
        'WRONG_TYPE',
        `data_ref must be the payloadId of an upload (POST /v1/models/{model}/payloads), a string (got ${describeValue(ref)}).`,
        [...path, 'parameters', 'data_ref'],
      );
    return { kind: 'reference', id: ref };
  }
  return { kind: 'json' };
}

/**
 * The v2 form: explicit tensors, flat (row-major) or nested `data`. Two passes. The first checks
 * each entry on its own fields only: its envelope (`V2InputSchema`), its name against the model
 * (an unknown or repeated name stops the pass, so a list longer than the model's inputs costs at
 * most one entry more than it has), its datatype, rank and fixed dimensions, its rows against
 * `maxRows`, shared symbolic dimensions, and its data's length (or nesting) against its shape.
 * The second reads the values.
 */
export function decodeV2(
  signature: ModelSignature,
  inputs: readonly unknown[],
  limits: Partial<CodecLimits> = {},
  sources: V2Sources = {},
): DecodedInputs {
  const bounds = codecLimits(limits);
  let binaryAt = 0;
  const index = new NameIndex(signature.inputs.map((s) => s.name));
  const planned = new Array<PlannedTensor | undefined>(signature.inputs.length);
  const symbolic = new Map<string, { size: number; input: string }>();
  let rows = 0;
  for (let i = 0; i < inputs.length; i++) {
    const path: FieldPath = ['inputs', i];
    const input = parseObject(V2InputSchema, V2_INPUT_FIELDS, inputs[i], V2_HINT, path);
    const k = index.indexOf(input.name);
    if (k === undefined) {
      throw new ValidationError(
        'UNKNOWN_INPUT',
        `${quoted(input.name)} is not an input of this model${didYouMean(input.name, index.names)}; it takes: ${nameList(index.names)}.`,
        [...path, 'name'],
      );
    }
    const spec = signature.inputs[k] as TensorSpec;
    if (planned[k]) throw new ValidationError('DUPLICATE_INPUT', `Input ${quoted(spec.name)} is given twice.`, [...path, 'name']);
    const expected = V2_DATATYPES[spec.type];
    if (input.datatype !== expected) {
      const convert = DATATYPE_HINTS[`${input.datatype}>${expected}`] ?? '';
      throw new ValidationError(
        'DATATYPE_MISMATCH',
        `Input ${quoted(spec.name)} is ${expected}, not ${quoted(input.datatype)}.${convert}`,
        [...path, 'datatype'],
      );
    }
    const { shape } = input;
    if (shape.length !== spec.shape.length) {
      throw new ValidationError(
        'SHAPE_MISMATCH',
        `Input ${quoted(spec.name)} has rank ${spec.shape.length} (${formatDims(spec.shape)}), not ${shape.length}.`,
        [...path, 'shape'],
      );
    }
    shape.forEach((d, axis) => {
      const want = spec.shape[axis] ?? null;
      if (!isDynamic(want) && want !== d) {
        throw new ValidationError(
          'SHAPE_MISMATCH',
          `Input ${quoted(spec.name)} has shape ${formatDims(spec.shape)}: axis ${axis} must be ${String(want)}, not ${d}.`,
          [...path, 'shape', axis],
        );
      }
    });
    if (shape.length > 0) checkRowCount(shape[0] as number, bounds.maxRows, [...path, 'shape', 0]);
    checkSymbolicDims(spec, shape, symbolic, [...path, 'shape']);
    const count = elementCount(shape);
    const source = elementSource(input, spec.name, path);
    if (source.kind === 'binary') {
      const sizePath: FieldPath = [...path, 'parameters', 'binary_data_size'];
      const binary = sources.binary;
      if (!binary) {
        throw new ValidationError(
          'BINARY_DATA_WITHOUT_BODY',
          `Input ${quoted(spec.name)} gives binary_data_size, but the request is JSON: send the tensor bytes after the JSON header, with "Content-Type: application/octet-stream" and "Inference-Header-Content-Length".`,
          sizePath,
        );
      }
      if (binaryAt + source.size > binary.byteLength) {
        throw new ValidationError(
          'BINARY_SIZE_MISMATCH',
          `Input ${quoted(spec.name)} announces ${source.size} bytes, but only ${binary.byteLength - binaryAt} bytes of tensor data are left after the JSON header.`,
          sizePath,
        );
      }
      planned[k] = { spec, shape, count, path: sizePath, bytes: binary.subarray(binaryAt, binaryAt + source.size) };
      binaryAt += source.size;
    } else if (source.kind === 'reference') {
      const bytes = sources.references?.get(source.id);
      if (!bytes) throw new Error(`payload ${source.id} was not read before decoding`);
      planned[k] = { spec, shape, count, path: [...path, 'parameters', 'data_ref'], bytes };
    } else {
      const data = input.data as readonly unknown[];
      // `data` is flat (row-major, the protocol's form) or nested exactly as `shape`; either way
      // its length (or nesting) is checked against the shape before a value is read.
      const nested = data.length > 0 && Array.isArray(data[0]);
      if (nested) {
        checkNesting(spec.name, data, shape, 0, [...path, 'data']);
      } else if (data.length !== count) {
        throw new ValidationError(
          'SHAPE_MISMATCH',
          `Input ${quoted(spec.name)} has shape [${shape.join(', ')}], which holds ${count} values; data has ${data.length}.`,
          [...path, 'data'],
        );
      }
      planned[k] = { spec, shape, data, nested, count, path: [...path, 'data'] };
    }
    if (i === 0) rows = spec.shape.length === 0 ? 1 : (shape[0] ?? 1);
  }
  signature.inputs.forEach((spec, k) => {
    if (!planned[k]) {
      throw new ValidationError('MISSING_INPUT', `Input ${quoted(spec.name)} is missing; the model takes: ${nameList(index.names)}.`, [
        'inputs',
      ]);
    }
  });
  if (sources.binary && binaryAt !== sources.binary.byteLength) {
    throw new ValidationError(
      'BINARY_SIZE_MISMATCH',
      `The body holds ${sources.binary.byteLength} bytes of tensor data after its JSON header, but the inputs announce ${binaryAt} (their binary_data_size values).`,
      ['inputs'],
    );
  }
  const tensors = (planned as PlannedTensor[]).map(
    (p) =>
      [p.spec.name, 'bytes' in p ? tensorFromBytes(p.spec.type, p.shape, p.count, p.bytes, bounds, p.path) : tensorOf(p, bounds)] as const,
  );
  return { feeds: feedsOf(tensors), rows };
}

/** Reads a planned v2 tensor's values: its shape and lengths are known to agree. */
function tensorOf(
  planned: PlannedTensor & { readonly data: readonly unknown[]; readonly nested: boolean },
  limits: CodecLimits,
): TensorData {
  const { spec, shape, data, nested, count, path } = planned;
  const target = allocate(spec.type, count) as TensorData['data'];
  const write = elementWriter(spec.type, limits);
  const single = (at: FieldPath): ValidationError =>
    new ValidationError(
      'SHAPE_MISMATCH',
      `Input ${quoted(spec.name)} has shape [${shape.join(', ')}]: expected a single value, got an array.`,
      at,
    );
  if (!nested) {
    const elementPath: ElementPath = (i) => [...path, i];
    for (let i = 0; i < count; i++) {
      const value: unknown = data[i];
      if (Array.isArray(value)) throw single([...path, i]);
      write(target, i, value, elementPath);
    }
  } else {
    const elementPath: ElementPath = (i) => [...path, ...unravel(i, shape)];
    let written = 0;
    const fill = (node: readonly unknown[], axis: number, at: FieldPath): void => {
      if (axis === shape.length - 1) {
        for (let i = 0; i < node.length; i++) {
          const value: unknown = node[i];
          if (Array.isArray(value)) throw single([...at, i]);
          write(target, written++, value, elementPath);
        }
        return;
      }
      for (let i = 0; i < node.length; i++) fill(node[i] as unknown[], axis + 1, [...at, i]);
    };
    fill(data, 0, path);
  }
  return { type: spec.type, shape: [...shape], data: target } as TensorData;
}

/** The index along each axis of `shape` of the `flat`-th element in row-major order. */
function unravel(flat: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis] as number;
    out[axis] = flat % size;
    flat = Math.floor(flat / size);
  }
  return out;
}

/**
 * Nested v2 `data` must follow `shape` axis by axis: no ragged rows, no extra depth. Checks the
 * arrays only (lengths, and that each axis but the last holds arrays); the values of the last
 * axis are checked as they are read.
 */
function checkNesting(input: string, node: readonly unknown[], shape: readonly number[], axis: number, path: FieldPath): void {
  const size = shape[axis];
  if (size === undefined || node.length !== size) {
    const expected = size === undefined ? 'a single value' : `an array of ${size}`;
    throw new ValidationError(
      'SHAPE_MISMATCH',
      `Input ${quoted(input)} has shape [${shape.join(', ')}]: expected ${expected} at axis ${axis}, got an array of ${node.length}.`,
      path,
    );
  }
  if (axis === shape.length - 1) return;
  for (let k = 0; k < node.length; k++) {
    const child = node[k];
    if (!Array.isArray(child)) {
      throw new ValidationError(
        'SHAPE_MISMATCH',
        `Input ${quoted(input)} has shape [${shape.join(', ')}]: expected an array of ${String(shape[axis + 1])} at axis ${axis + 1}, got ${describeValue(child)}.`,
        [...path, k],
      );
    }
    checkNesting(input, child, shape, axis + 1, [...path, k]);
  }
}

/**
 * The outputs a v2 request asks for, checked against the model's (a Map lookup: `toString` is no
 * output unless the model has one). No list, or an empty one, asks for all of them; a name asked
 * twice is computed once.
 */
export function selectOutputs(signature: ModelSignature, requested: readonly string[] | undefined): string[] {
  const index = new NameIndex(signature.outputs.map((o) => o.name));
  if (!requested || requested.length === 0) return [...index.names];
  const wanted: string[] = [];
  const seen = new Set<string>();
  requested.forEach((name, i) => {
    if (!index.has(name)) {
      throw new ValidationError(
        'UNKNOWN_OUTPUT',
        `${quoted(name)} is not an output of this model${didYouMean(name, index.names)}; it has: ${nameList(index.names)}.`,
        ['outputs', i, 'name'],
      );
    }
    if (!seen.has(name)) {
      seen.add(name);
      wanted.push(name);
    }
  });
  return wanted;
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
        `Dimension ${quoted(dim)} is ${first.size} in input ${quoted(first.input)} but ${size} in input ${quoted(spec.name)}; inputs that share it must agree.`,
        [...path, axis],
      );
    }
  });
}

export function formatDims(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (isDynamic(d) ? (typeof d === 'string' && d ? d : '?') : String(d))).join(', ')}]`;
}
