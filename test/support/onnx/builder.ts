/**
 * An ergonomic way to write ONNX models in TypeScript: inputs and outputs in the serving
 * contract's type names, nodes with plain-JS attributes, initializers from typed arrays. Used by
 * the sample model's training script and the test fixtures; produces bytes ONNX Runtime loads.
 * It lives in test support because no serving code writes models: the functions only read them
 * (`functions/core/onnx/proto.ts` and `zipmap.ts`, on the same generated `onnx.proto` types), so
 * no function bundle carries this file.
 *
 * @example
 * const bytes = buildModel({
 *   inputs: [{ name: 'x', type: 'float32', shape: ['N', 3] }],
 *   outputs: [{ name: 'y', type: 'float32', shape: ['N', 3] }],
 *   initializers: [{ name: 'two', data: new Float32Array([2]), dims: [] }],
 *   nodes: [{ op: 'Mul', inputs: ['x', 'two'], outputs: ['y'] }],
 * });
 */
import { create } from '@bufbuild/protobuf';
import { ELEMENT_BYTES } from '../../../functions/core/codec/binary.js';
import type { Dim, TensorType } from '../../../functions/core/model.js';
import {
  AttributeProtoSchema,
  AttributeType,
  DataType,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProtoSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  encodeModel,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from '../../../functions/core/onnx/proto.js';

/**
 * The serving contract's tensor types and their `TensorProto.DataType` codes, both ways.
 * `float16` is IEEE 754 binary16 (ONNX's FLOAT16); bfloat16 is not a contract type.
 */
export const ONNX_DATA_TYPES: Readonly<Record<TensorType, DataType>> = {
  float16: DataType.FLOAT16,
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int8: DataType.INT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
};

const TYPE_BY_CODE = new Map<number, TensorType>(Object.entries(ONNX_DATA_TYPES).map(([type, code]) => [code, type as TensorType]));

/** The contract's name for an ONNX data type code, or `undefined` if the contract lacks it. */
export function tensorTypeFromOnnx(code: number): TensorType | undefined {
  return TYPE_BY_CODE.get(code);
}

/** Domain of the classic ML operators (TreeEnsembleClassifier, LabelEncoder, ZipMap, ...). */
export const ML_DOMAIN = 'ai.onnx.ml';
/** Opset versions used unless the spec says otherwise. */
export const DEFAULT_OPSETS: Readonly<Record<string, number>> = { '': 17, [ML_DOMAIN]: 3 };
/** IR version matching opset 17 (ONNX 1.12). */
export const DEFAULT_IR_VERSION = 8;
export const PRODUCER_NAME = 'onnx-lambda-serving';

// ---------------------------------------------------------------------------------------------
// Types

/** A value's type: a tensor, or the sequence/map types of scikit-learn ZipMap outputs. */
export type ValueType =
  | { readonly kind: 'tensor'; readonly type: TensorType; readonly shape?: readonly Dim[] }
  | { readonly kind: 'sequence'; readonly elem: ValueType }
  | { readonly kind: 'map'; readonly key: 'string' | 'int64'; readonly value: ValueType };

/** A graph input or output. `shape` absent: rank unknown; a `null` dim: size unknown. */
export type ValueSpec =
  | { readonly name: string; readonly type: TensorType; readonly shape?: readonly Dim[]; readonly docString?: string }
  | { readonly name: string; readonly valueType: ValueType; readonly docString?: string };

/** `tensor(type)` with an optional shape. */
export function tensorOf(type: TensorType, shape?: readonly Dim[]): ValueType {
  return shape === undefined ? { kind: 'tensor', type } : { kind: 'tensor', type, shape };
}
/** `seq(elem)`. */
export function sequenceOf(elem: ValueType): ValueType {
  return { kind: 'sequence', elem };
}
/** `map(key, value)`. */
export function mapOf(key: 'string' | 'int64', value: ValueType): ValueType {
  return { kind: 'map', key, value };
}

/**
 * Element data of a tensor. A plain `number[]` needs an explicit `type`. `float16` elements are
 * IEEE 754 binary16 bit patterns (a `Uint16Array`, or integers 0..65535, with `type: 'float16'`),
 * as the contract stores them.
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | readonly number[]
  | readonly bigint[]
  | readonly string[]
  | readonly boolean[];

/** A constant tensor (an initializer, or the value of a TENSOR attribute). */
export interface TensorInit {
  readonly name?: string;
  /** Inferred from `data` when omitted (Float32Array → float32, bigint[] → int64, ...; never float16). */
  readonly type?: TensorType;
  /** `[]` for a scalar. */
  readonly dims: readonly number[];
  readonly data: TensorData;
}

/** An attribute with its type spelled out (needed when inference would guess wrong). */
export type ExplicitAttribute =
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'int'; readonly value: number | bigint }
  | { readonly kind: 'string'; readonly value: string | Uint8Array }
  | { readonly kind: 'tensor'; readonly value: TensorInit }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'ints'; readonly value: readonly (number | bigint)[] }
  | { readonly kind: 'strings'; readonly value: readonly (string | Uint8Array)[] };

/**
 * An attribute value. Inference: integer number, bigint or boolean → INT; other number → FLOAT;
 * string or bytes → STRING; arrays likewise (all-integer number arrays → INTS). JavaScript cannot
 * tell `1.0` from `1`, so float attributes whose value may be integral (Gemm `alpha`,
 * tree `nodes_values`, ...) must use {@link attr}`.float`/`attr.floats`. Empty arrays must be explicit.
 */
export type AttributeValue =
  | number
  | bigint
  | boolean
  | string
  | Uint8Array
  | readonly number[]
  | readonly bigint[]
  | readonly string[]
  | ExplicitAttribute;

/** Explicitly typed attribute values. */
export const attr = {
  float: (value: number): ExplicitAttribute => ({ kind: 'float', value }),
  int: (value: number | bigint): ExplicitAttribute => ({ kind: 'int', value }),
  string: (value: string | Uint8Array): ExplicitAttribute => ({ kind: 'string', value }),
  tensor: (value: TensorInit): ExplicitAttribute => ({ kind: 'tensor', value }),
  floats: (value: readonly number[]): ExplicitAttribute => ({ kind: 'floats', value }),
  ints: (value: readonly (number | bigint)[]): ExplicitAttribute => ({ kind: 'ints', value }),
  strings: (value: readonly (string | Uint8Array)[]): ExplicitAttribute => ({ kind: 'strings', value }),
};

export interface NodeSpec {
  readonly op: string;
  /** Value names; `''` skips an optional input. */
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Defaults to `<op>_<index>`. */
  readonly name?: string;
  /** `''` (default) for standard operators, {@link ML_DOMAIN} for the ML ones. */
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly docString?: string;
}

export interface ModelSpec {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly nodes: readonly NodeSpec[];
  readonly initializers?: readonly (TensorInit & { readonly name: string })[];
  /** Defaults to `'main'`. */
  readonly graphName?: string;
  /**
   * Opset versions by domain, merged over {@link DEFAULT_OPSETS}. A domain is imported when a
   * node uses it (the default domain always is); other domains need a version here.
   */
  readonly opsets?: Readonly<Record<string, number>>;
  /** Written to the model's `metadata_props`, in key order as given. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly docString?: string;
  readonly producerVersion?: string;
  readonly modelVersion?: number;
  readonly irVersion?: number;
}

// ---------------------------------------------------------------------------------------------
// Building

const utf8 = new TextEncoder();

function elementCount(dims: readonly number[]): number {
  return dims.reduce((n, d) => {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d}`);
    return n * d;
  }, 1);
}

function inferTensorType(data: TensorData): TensorType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof BigUint64Array) return 'uint64';
  const first: unknown = data[0];
  if (typeof first === 'bigint') return 'int64';
  if (typeof first === 'string') return 'string';
  if (typeof first === 'boolean') return 'bool';
  throw new TypeError('cannot infer the tensor type of a plain number array (or an empty one): give `type`');
}

/** Little-endian bytes of numeric elements, checked against the element type's range. */
function rawBytes(type: Exclude<TensorType, 'string'>, values: readonly unknown[], name: string): Uint8Array {
  const size = ELEMENT_BYTES[type];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  const bad = (v: unknown): never => {
    throw new RangeError(`tensor ${name}: ${String(v)} is not a valid ${type}`);
  };
  const int = (v: unknown, min: number, max: number): number => {
    const n = typeof v === 'bigint' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) bad(v);
    return n as number;
  };
  const big = (v: unknown, signed: boolean): bigint => {
    const b = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
    if (typeof b !== 'bigint') return bad(v);
    if (signed ? BigInt.asIntN(64, b) !== b : BigInt.asUintN(64, b) !== b) bad(v);
    return b;
  };
  values.forEach((v, i) => {
    const at = i * size;
    switch (type) {
      case 'float16':
        view.setUint16(at, int(v, 0, 65535), true);
        break;
      case 'float32':
        view.setFloat32(at, typeof v === 'number' ? v : bad(v), true);
        break;
      case 'float64':
        view.setFloat64(at, typeof v === 'number' ? v : bad(v), true);
        break;
      case 'int8':
        view.setInt8(at, int(v, -128, 127));
        break;
      case 'int16':
        view.setInt16(at, int(v, -32768, 32767), true);
        break;
      case 'int32':
        view.setInt32(at, int(v, -(2 ** 31), 2 ** 31 - 1), true);
        break;
      case 'uint8':
        view.setUint8(at, int(v, 0, 255));
        break;
      case 'uint16':
        view.setUint16(at, int(v, 0, 65535), true);
        break;
      case 'uint32':
        view.setUint32(at, int(v, 0, 2 ** 32 - 1), true);
        break;
      case 'int64':
        view.setBigInt64(at, big(v, true), true);
        break;
      case 'uint64':
        view.setBigUint64(at, big(v, false), true);
        break;
      case 'bool':
        view.setUint8(at, typeof v === 'boolean' ? Number(v) : int(v, 0, 1));
        break;
    }
  });
  return out;
}

/**
 * A `TensorProto` from typed or plain arrays: numbers as little-endian `raw_data`, strings as
 * `string_data`. Throws when the element count does not match `dims` or a value is out of range.
 */
export function makeTensor(init: TensorInit): TensorProto {
  const type = init.type ?? inferTensorType(init.data);
  const name = init.name ?? '';
  const values = Array.from(init.data as ArrayLike<unknown>);
  const count = elementCount(init.dims);
  if (values.length !== count) {
    throw new RangeError(`tensor ${name}: ${values.length} elements for dims [${init.dims.join(', ')}] (needs ${count})`);
  }
  const data =
    type === 'string'
      ? {
          stringData: values.map((v) => {
            if (typeof v !== 'string') throw new TypeError(`tensor ${name}: ${String(v)} is not a string`);
            return utf8.encode(v);
          }),
        }
      : { rawData: rawBytes(type, values, name) };
  return create(TensorProtoSchema, {
    dims: init.dims.map(BigInt),
    dataType: ONNX_DATA_TYPES[type],
    name: init.name,
    ...data,
  });
}

/** An int64 attribute value; throws `RangeError` outside [-2^63, 2^63) or on a non-integer. */
function toBigInt(v: number | bigint, what: string): bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new RangeError(`${what}: ${v} is not an integer`);
  const b = BigInt(v);
  if (BigInt.asIntN(64, b) !== b) throw new RangeError(`${what}: ${v} is outside the int64 range`);
  return b;
}

function toBytes(v: string | Uint8Array): Uint8Array {
  return typeof v === 'string' ? utf8.encode(v) : v;
}

/** Turns a plain attribute value into its explicit form (see {@link AttributeValue}). */
function explicit(name: string, value: AttributeValue): ExplicitAttribute {
  if (typeof value === 'number') return Number.isInteger(value) ? attr.int(value) : attr.float(value);
  if (typeof value === 'bigint') return attr.int(value);
  if (typeof value === 'boolean') return attr.int(value ? 1 : 0);
  if (typeof value === 'string' || value instanceof Uint8Array) return attr.string(value);
  if (!Array.isArray(value)) return value as ExplicitAttribute;
  const list: readonly unknown[] = value;
  if (list.length === 0) throw new TypeError(`attribute ${name}: an empty list needs an explicit type (attr.ints([]), ...)`);
  if (list.every((v) => typeof v === 'string')) return attr.strings(list as string[]);
  if (list.every((v) => typeof v === 'bigint')) return attr.ints(list as bigint[]);
  if (list.every((v) => typeof v === 'number')) {
    const nums = list as number[];
    return nums.every(Number.isInteger) ? attr.ints(nums) : attr.floats(nums);
  }
  throw new TypeError(`attribute ${name}: mixed list element types`);
}

/** An `AttributeProto` from a plain or explicit value. */
export function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  const e = explicit(name, value);
  const what = `attribute ${name}`;
  switch (e.kind) {
    case 'float':
      return create(AttributeProtoSchema, { name, type: AttributeType.FLOAT, f: e.value });
    case 'int':
      return create(AttributeProtoSchema, { name, type: AttributeType.INT, i: toBigInt(e.value, what) });
    case 'string':
      return create(AttributeProtoSchema, { name, type: AttributeType.STRING, s: toBytes(e.value) });
    case 'tensor':
      return create(AttributeProtoSchema, { name, type: AttributeType.TENSOR, t: makeTensor(e.value) });
    case 'floats':
      return create(AttributeProtoSchema, { name, type: AttributeType.FLOATS, floats: [...e.value] });
    case 'ints':
      return create(AttributeProtoSchema, { name, type: AttributeType.INTS, ints: e.value.map((v) => toBigInt(v, what)) });
    case 'strings':
      return create(AttributeProtoSchema, { name, type: AttributeType.STRINGS, strings: e.value.map(toBytes) });
  }
}

/** A `TypeProto` from a {@link ValueType}. */
export function makeType(t: ValueType): TypeProto {
  switch (t.kind) {
    case 'tensor': {
      const shape =
        t.shape === undefined
          ? undefined
          : {
              dim: t.shape.map((d) => {
                if (d === null) return {};
                if (typeof d === 'string') return { value: { case: 'dimParam' as const, value: d } };
                if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`invalid dimension ${d}`);
                return { value: { case: 'dimValue' as const, value: BigInt(d) } };
              }),
            };
      return create(TypeProtoSchema, { value: { case: 'tensorType', value: { elemType: ONNX_DATA_TYPES[t.type], shape } } });
    }
    case 'sequence':
      return create(TypeProtoSchema, { value: { case: 'sequenceType', value: { elemType: makeType(t.elem) } } });
    case 'map':
      return create(TypeProtoSchema, {
        value: { case: 'mapType', value: { keyType: ONNX_DATA_TYPES[t.key], valueType: makeType(t.value) } },
      });
  }
}

function makeValueInfo(v: ValueSpec): ValueInfoProto {
  const type = 'valueType' in v ? v.valueType : tensorOf(v.type, v.shape);
  return create(ValueInfoProtoSchema, { name: v.name, type: makeType(type), docString: v.docString });
}

/**
 * Checks that names are unique and every node input exists before it is used, so a broken
 * spec fails here with a readable message rather than inside ONNX Runtime.
 */
function checkGraph(spec: ModelSpec): void {
  const defined = new Set<string>();
  const define = (name: string, what: string): void => {
    if (name === '') throw new Error(`${what} has an empty name`);
    if (defined.has(name)) throw new Error(`${what}: value '${name}' is defined twice`);
    defined.add(name);
  };
  for (const i of spec.inputs) define(i.name, 'graph input');
  for (const t of spec.initializers ?? []) define(t.name, 'initializer');
  spec.nodes.forEach((n, index) => {
    for (const i of n.inputs) {
      if (i !== '' && !defined.has(i)) throw new Error(`node ${index} (${n.op}): input '${i}' is not defined before it`);
    }
    for (const o of n.outputs) define(o, `node ${index} (${n.op}) output`);
  });
  for (const o of spec.outputs) {
    if (!defined.has(o.name)) throw new Error(`graph output '${o.name}' is not produced by any node`);
  }
}

/** The `ModelProto` for a spec (see {@link buildModel}). */
export function buildModelProto(spec: ModelSpec): ModelProto {
  checkGraph(spec);
  const opsets: Record<string, number> = { ...DEFAULT_OPSETS, ...spec.opsets };
  const domains = new Set<string>(['']);
  for (const n of spec.nodes) domains.add(n.domain ?? '');
  const opsetImport = [...domains].map((domain) => {
    const version = opsets[domain];
    if (version === undefined) throw new Error(`domain '${domain}' is used by a node but has no opset version: pass opsets`);
    return { domain, version: BigInt(version) };
  });

  const node: NodeProto[] = spec.nodes.map((n, index) =>
    create(NodeProtoSchema, {
      input: [...n.inputs],
      output: [...n.outputs],
      name: n.name ?? `${n.op}_${index}`,
      opType: n.op,
      attribute: Object.entries(n.attributes ?? {}).map(([name, value]) => makeAttribute(name, value)),
      docString: n.docString,
      domain: n.domain === '' ? undefined : n.domain,
    }),
  );

  return create(ModelProtoSchema, {
    irVersion: BigInt(spec.irVersion ?? DEFAULT_IR_VERSION),
    producerName: PRODUCER_NAME,
    producerVersion: spec.producerVersion,
    modelVersion: spec.modelVersion === undefined ? undefined : BigInt(spec.modelVersion),
    docString: spec.docString,
    graph: {
      node,
      name: spec.graphName ?? 'main',
      initializer: (spec.initializers ?? []).map(makeTensor),
      input: spec.inputs.map(makeValueInfo),
      output: spec.outputs.map(makeValueInfo),
    },
    opsetImport,
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}

/**
 * Builds an ONNX model and returns its bytes. Deterministic: the same spec gives the same bytes.
 * Throws on an inconsistent graph (undefined inputs, duplicate names, unknown domains).
 */
export function buildModel(spec: ModelSpec): Uint8Array {
  return encodeModel(buildModelProto(spec));
}
