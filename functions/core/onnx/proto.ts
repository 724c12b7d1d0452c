/**
 * A small protobuf wire-format encoder and decoder for the subset of `onnx.proto` that serving
 * needs: models, graphs, nodes, attributes, tensors and value types (including the sequence and
 * map types of scikit-learn's ZipMap outputs).
 *
 * Conventions:
 * - Field names are the protobuf JSON names (`ir_version` → `irVersion`).
 * - Repeated fields are always arrays (empty when absent). Optional scalars are `undefined` when
 *   absent, so presence survives a round trip. A handful of fields every valid model sets
 *   (`NodeProto.opType`, `TensorProto.dataType`, ...) are plain values that default to `''`/`0`
 *   on decode and are always written on encode.
 * - int64 values that can exceed 2^53 (tensor `int64_data`/`uint64_data`, attribute `i`/`ints`)
 *   are `bigint`; other int64 fields (versions, dims) are `number` and decoding rejects values
 *   outside the safe-integer range instead of rounding them.
 * - Fields are written in field-number order with `onnx.proto`'s packing (tensor data packed,
 *   dims and attribute lists not), like the reference implementation. The decoder accepts
 *   packed and unpacked encodings of every repeated scalar.
 * - Fields this module does not model are kept as raw `unknownFields` and written back at the
 *   end of their message, so decoding and re-encoding a model does not lose them.
 * - Malformed input throws {@link ProtobufDecodeError}; every loop consumes bytes or throws.
 */

/** A field the decoder does not model, kept verbatim. */
export interface UnknownField {
  readonly field: number;
  /** 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. */
  readonly wireType: number;
  /** The value's bytes: the varint's bytes, the fixed bytes, or the length-delimited payload. */
  readonly data: Uint8Array;
}

interface Message {
  /** Present only when the decoder met fields it does not model. */
  unknownFields?: UnknownField[];
}

export interface ModelProto extends Message {
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  opsetImport: OperatorSetIdProto[];
  metadataProps: StringStringEntryProto[];
}

export interface OperatorSetIdProto extends Message {
  /** `''` (or `'ai.onnx'`) is the default operator set; `'ai.onnx.ml'` the classic ML one. */
  domain: string;
  version: number;
}

export interface StringStringEntryProto extends Message {
  key: string;
  value: string;
}

export interface GraphProto extends Message {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
}

export interface NodeProto extends Message {
  input: string[];
  output: string[];
  name?: string;
  opType: string;
  attribute: AttributeProto[];
  docString?: string;
  domain?: string;
}

/** `AttributeProto.AttributeType`. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
} as const;

export interface AttributeProto extends Message {
  name: string;
  f?: number;
  i?: bigint;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: bigint[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  docString?: string;
  /** One of {@link AttributeType}'s values (other values are kept as they are). */
  type: number;
  refAttrName?: string;
}

/** `TensorProto.DataType` codes the serving contract uses (plus a few others for reading). */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

export interface TensorProto extends Message {
  dims: number[];
  /** One of {@link DataType}'s values. */
  dataType: number;
  floatData: number[];
  int32Data: number[];
  stringData: Uint8Array[];
  int64Data: bigint[];
  name?: string;
  /** Little-endian packed elements; the usual encoding of numeric initializers. */
  rawData?: Uint8Array;
  doubleData: number[];
  uint64Data: bigint[];
  docString?: string;
}

export interface ValueInfoProto extends Message {
  name: string;
  type?: TypeProto;
  docString?: string;
}

/** A value's type. Exactly one of the `*Type` members is expected to be set. */
export interface TypeProto extends Message {
  tensorType?: TypeProtoTensor;
  sequenceType?: TypeProtoSequence;
  mapType?: TypeProtoMap;
  denotation?: string;
  sparseTensorType?: TypeProtoTensor;
  optionalType?: TypeProtoSequence;
}

export interface TypeProtoTensor extends Message {
  elemType: number;
  /** Absent: rank unknown. */
  shape?: TensorShapeProto;
}

export interface TypeProtoSequence extends Message {
  elemType?: TypeProto;
}

export interface TypeProtoMap extends Message {
  /** A {@link DataType} code: STRING or an integer type. */
  keyType: number;
  valueType?: TypeProto;
}

export interface TensorShapeProto extends Message {
  dim: TensorShapeDimension[];
}

/** A dimension: a fixed size, a symbolic name, or neither (unknown). */
export interface TensorShapeDimension extends Message {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

/** Thrown by {@link decodeModel} when the bytes are not a well-formed ONNX model. */
export class ProtobufDecodeError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`Invalid ONNX protobuf at byte ${offset}: ${message}`);
    this.name = 'ProtobufDecodeError';
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

const INT64_MIN = -(2n ** 63n);
const UINT64_LIMIT = 2n ** 64n;
const utf8 = new TextEncoder();

/** A growable byte buffer with protobuf primitives. */
class Writer {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Unsigned varint of a non-negative safe integer. */
  uvarint(value: number): void {
    this.reserve(10);
    let v = value;
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  /** Varint of any value in [-2^63, 2^64); negatives as 64-bit two's complement. */
  bigVarint(value: bigint): void {
    this.reserve(10);
    let v = BigInt.asUintN(64, value);
    while (v >= 0x80n) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }

  tag(field: number, wireType: number): void {
    this.uvarint(field * 8 + wireType);
  }

  fixed32Float(value: number): void {
    this.scratch.setFloat32(0, value, true);
    this.raw(new Uint8Array(this.scratch.buffer, 0, 4));
  }

  fixed64Double(value: number): void {
    this.scratch.setFloat64(0, value, true);
    this.raw(new Uint8Array(this.scratch.buffer, 0, 8));
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function checkInt64(value: bigint, what: string): bigint {
  if (value < INT64_MIN || value >= -INT64_MIN) throw new RangeError(`${what}: ${value} is outside the int64 range`);
  return value;
}

function checkUint64(value: bigint, what: string): bigint {
  if (value < 0n || value >= UINT64_LIMIT) throw new RangeError(`${what}: ${value} is outside the uint64 range`);
  return value;
}

function checkInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: ${value} is not a safe integer`);
  return value;
}

/** Field writers: one per protobuf scalar kind, each writing tag and value. */
const put = {
  int64(w: Writer, field: number, value: number, what: string): void {
    checkInteger(value, what);
    w.tag(field, WIRE_VARINT);
    if (value >= 0) w.uvarint(value);
    else w.bigVarint(BigInt(value));
  },
  int32(w: Writer, field: number, value: number, what: string): void {
    if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
      throw new RangeError(`${what}: ${value} is not an int32`);
    }
    put.int64(w, field, value, what);
  },
  bigInt64(w: Writer, field: number, value: bigint, what: string): void {
    w.tag(field, WIRE_VARINT);
    w.bigVarint(checkInt64(value, what));
  },
  float(w: Writer, field: number, value: number): void {
    w.tag(field, WIRE_FIXED32);
    w.fixed32Float(value);
  },
  bytes(w: Writer, field: number, value: Uint8Array): void {
    w.tag(field, WIRE_LEN);
    w.uvarint(value.length);
    w.raw(value);
  },
  string(w: Writer, field: number, value: string): void {
    put.bytes(w, field, utf8.encode(value));
  },
  message<T>(w: Writer, field: number, value: T, write: (w: Writer, m: T) => void): void {
    const inner = new Writer();
    write(inner, value);
    put.bytes(w, field, inner.finish());
  },
  /** Packed repeated field; written only when non-empty. */
  packed<T>(w: Writer, field: number, values: readonly T[], writeOne: (w: Writer, v: T) => void): void {
    if (values.length === 0) return;
    const inner = new Writer();
    for (const v of values) writeOne(inner, v);
    put.bytes(w, field, inner.finish());
  },
  unknown(w: Writer, fields: readonly UnknownField[] | undefined): void {
    for (const f of fields ?? []) {
      w.tag(f.field, f.wireType);
      if (f.wireType === WIRE_LEN) w.uvarint(f.data.length);
      w.raw(f.data);
    }
  },
};

function optString(w: Writer, field: number, value: string | undefined): void {
  if (value !== undefined) put.string(w, field, value);
}

function writeModel(w: Writer, m: ModelProto): void {
  if (m.irVersion !== undefined) put.int64(w, 1, m.irVersion, 'ModelProto.ir_version');
  optString(w, 2, m.producerName);
  optString(w, 3, m.producerVersion);
  optString(w, 4, m.domain);
  if (m.modelVersion !== undefined) put.int64(w, 5, m.modelVersion, 'ModelProto.model_version');
  optString(w, 6, m.docString);
  if (m.graph !== undefined) put.message(w, 7, m.graph, writeGraph);
  for (const o of m.opsetImport) put.message(w, 8, o, writeOperatorSetId);
  for (const p of m.metadataProps) put.message(w, 14, p, writeStringStringEntry);
  put.unknown(w, m.unknownFields);
}

function writeOperatorSetId(w: Writer, m: OperatorSetIdProto): void {
  put.string(w, 1, m.domain);
  put.int64(w, 2, m.version, 'OperatorSetIdProto.version');
  put.unknown(w, m.unknownFields);
}

function writeStringStringEntry(w: Writer, m: StringStringEntryProto): void {
  put.string(w, 1, m.key);
  put.string(w, 2, m.value);
  put.unknown(w, m.unknownFields);
}

function writeGraph(w: Writer, m: GraphProto): void {
  for (const n of m.node) put.message(w, 1, n, writeNode);
  optString(w, 2, m.name);
  for (const t of m.initializer) put.message(w, 5, t, writeTensor);
  optString(w, 10, m.docString);
  for (const v of m.input) put.message(w, 11, v, writeValueInfo);
  for (const v of m.output) put.message(w, 12, v, writeValueInfo);
  for (const v of m.valueInfo) put.message(w, 13, v, writeValueInfo);
  put.unknown(w, m.unknownFields);
}

function writeNode(w: Writer, m: NodeProto): void {
  for (const s of m.input) put.string(w, 1, s);
  for (const s of m.output) put.string(w, 2, s);
  optString(w, 3, m.name);
  put.string(w, 4, m.opType);
  for (const a of m.attribute) put.message(w, 5, a, writeAttribute);
  optString(w, 6, m.docString);
  optString(w, 7, m.domain);
  put.unknown(w, m.unknownFields);
}

function writeAttribute(w: Writer, m: AttributeProto): void {
  const what = `AttributeProto ${m.name}`;
  put.string(w, 1, m.name);
  if (m.f !== undefined) put.float(w, 2, m.f);
  if (m.i !== undefined) put.bigInt64(w, 3, m.i, what);
  if (m.s !== undefined) put.bytes(w, 4, m.s);
  if (m.t !== undefined) put.message(w, 5, m.t, writeTensor);
  if (m.g !== undefined) put.message(w, 6, m.g, writeGraph);
  for (const f of m.floats) put.float(w, 7, f);
  for (const i of m.ints) put.bigInt64(w, 8, i, what);
  for (const s of m.strings) put.bytes(w, 9, s);
  for (const t of m.tensors) put.message(w, 10, t, writeTensor);
  for (const g of m.graphs) put.message(w, 11, g, writeGraph);
  optString(w, 13, m.docString);
  put.int32(w, 20, m.type, `${what} type`);
  optString(w, 21, m.refAttrName);
  put.unknown(w, m.unknownFields);
}

function writeTensor(w: Writer, m: TensorProto): void {
  const what = `TensorProto ${m.name ?? ''}`.trim();
  for (const d of m.dims) put.int64(w, 1, d, `${what} dims`);
  put.int32(w, 2, m.dataType, `${what} data_type`);
  put.packed(w, 4, m.floatData, (inner, v) => inner.fixed32Float(v));
  put.packed(w, 5, m.int32Data, (inner, v) => {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new RangeError(`${what} int32_data: ${v} is not an int32`);
    if (v >= 0) inner.uvarint(v);
    else inner.bigVarint(BigInt(v));
  });
  for (const s of m.stringData) put.bytes(w, 6, s);
  put.packed(w, 7, m.int64Data, (inner, v) => inner.bigVarint(checkInt64(v, `${what} int64_data`)));
  optString(w, 8, m.name);
  if (m.rawData !== undefined) put.bytes(w, 9, m.rawData);
  put.packed(w, 10, m.doubleData, (inner, v) => inner.fixed64Double(v));
  put.packed(w, 11, m.uint64Data, (inner, v) => inner.bigVarint(checkUint64(v, `${what} uint64_data`)));
  optString(w, 12, m.docString);
  put.unknown(w, m.unknownFields);
}

function writeValueInfo(w: Writer, m: ValueInfoProto): void {
  put.string(w, 1, m.name);
  if (m.type !== undefined) put.message(w, 2, m.type, writeType);
  optString(w, 3, m.docString);
  put.unknown(w, m.unknownFields);
}

function writeType(w: Writer, m: TypeProto): void {
  if (m.tensorType !== undefined) put.message(w, 1, m.tensorType, writeTensorType);
  if (m.sequenceType !== undefined) put.message(w, 4, m.sequenceType, writeElemType);
  if (m.mapType !== undefined) put.message(w, 5, m.mapType, writeMapType);
  optString(w, 6, m.denotation);
  if (m.sparseTensorType !== undefined) put.message(w, 8, m.sparseTensorType, writeTensorType);
  if (m.optionalType !== undefined) put.message(w, 9, m.optionalType, writeElemType);
  put.unknown(w, m.unknownFields);
}

function writeTensorType(w: Writer, m: TypeProtoTensor): void {
  put.int32(w, 1, m.elemType, 'TypeProto.Tensor.elem_type');
  if (m.shape !== undefined) put.message(w, 2, m.shape, writeShape);
  put.unknown(w, m.unknownFields);
}

function writeElemType(w: Writer, m: TypeProtoSequence): void {
  if (m.elemType !== undefined) put.message(w, 1, m.elemType, writeType);
  put.unknown(w, m.unknownFields);
}

function writeMapType(w: Writer, m: TypeProtoMap): void {
  put.int32(w, 1, m.keyType, 'TypeProto.Map.key_type');
  if (m.valueType !== undefined) put.message(w, 2, m.valueType, writeType);
  put.unknown(w, m.unknownFields);
}

function writeShape(w: Writer, m: TensorShapeProto): void {
  for (const d of m.dim) put.message(w, 1, d, writeDimension);
  put.unknown(w, m.unknownFields);
}

function writeDimension(w: Writer, m: TensorShapeDimension): void {
  if (m.dimValue !== undefined) put.int64(w, 1, m.dimValue, 'TensorShapeProto.Dimension.dim_value');
  optString(w, 2, m.dimParam);
  optString(w, 3, m.denotation);
  put.unknown(w, m.unknownFields);
}

/** Serializes a model to ONNX protobuf bytes. Throws `RangeError` on out-of-range integers. */
export function encodeModel(model: ModelProto): Uint8Array {
  const w = new Writer();
  writeModel(w, model);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Nested messages deeper than this are rejected (graphs inside attributes can nest). */
const MAX_DEPTH = 64;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Reads one message's bytes: `[pos, end)` of a shared buffer. */
class Reader {
  private pos: number;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
    readonly depth: number,
  ) {
    if (depth > MAX_DEPTH) throw new ProtobufDecodeError(`messages nested deeper than ${MAX_DEPTH}`, start);
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  get offset(): number {
    return this.pos;
  }

  private fail(message: string, at = this.pos): never {
    throw new ProtobufDecodeError(message, at);
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) this.fail(`truncated ${what}`);
  }

  /** A varint as an unsigned 64-bit bigint. */
  varint(): bigint {
    const start = this.pos;
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint', start);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asUintN(64, result);
    }
    return this.fail('varint longer than 10 bytes', start);
  }

  /** A varint that must fit a safe non-negative number (tags, lengths). */
  uvarint(what: string): number {
    const start = this.pos;
    // Fast path: up to 4 bytes (28 bits) without bigint.
    let result = 0;
    for (let i = 0; i < 4 && this.pos < this.end; i++) {
      const b = this.buf[this.pos++]!;
      result |= (b & 0x7f) << (7 * i);
      if (b < 0x80) return result;
    }
    this.pos = start;
    const big = this.varint();
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} too large`, start);
    return Number(big);
  }

  tag(): { field: number; wireType: number; at: number } {
    const at = this.pos;
    const key = this.uvarint('field tag');
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) this.fail('field number 0', at);
    return { field, wireType, at };
  }

  expect(wireType: number, expected: number, what: string, at: number): void {
    if (wireType !== expected) this.fail(`${what}: wire type ${wireType}, expected ${expected}`, at);
  }

  int64(what: string): number {
    const at = this.pos;
    const v = BigInt.asIntN(64, this.varint());
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      this.fail(`${what}: ${v} does not fit a JavaScript number exactly`, at);
    }
    return Number(v);
  }

  int32(): number {
    return Number(BigInt.asIntN(32, this.varint()));
  }

  bigInt64(): bigint {
    return BigInt.asIntN(64, this.varint());
  }

  float(): number {
    this.need(4, 'fixed32');
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8, 'fixed64');
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** The payload of a length-delimited field, as a sub-range of the buffer. */
  private delimited(what: string): { start: number; end: number } {
    const at = this.pos;
    const len = this.uvarint(`${what} length`);
    if (len > this.end - this.pos) this.fail(`${what}: length ${len} runs past the end of its message`, at);
    const start = this.pos;
    this.pos += len;
    return { start, end: this.pos };
  }

  bytes(what: string): Uint8Array {
    const { start, end } = this.delimited(what);
    return this.buf.slice(start, end);
  }

  string(what: string): string {
    const { start, end } = this.delimited(what);
    try {
      return utf8Strict.decode(this.buf.subarray(start, end));
    } catch {
      return this.fail(`${what}: invalid UTF-8`, start);
    }
  }

  message(what: string): Reader {
    const { start, end } = this.delimited(what);
    return new Reader(this.buf, start, end, this.depth + 1);
  }

  /** Reads a field this module does not model, keeping its bytes. */
  unknown(field: number, wireType: number, at: number): UnknownField {
    const start = this.pos;
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return { field, wireType, data: this.buf.slice(start, this.pos) };
      case WIRE_FIXED64:
        this.need(8, 'fixed64');
        this.pos += 8;
        return { field, wireType, data: this.buf.slice(start, this.pos) };
      case WIRE_LEN:
        return { field, wireType, data: this.bytes(`field ${field}`) };
      case WIRE_FIXED32:
        this.need(4, 'fixed32');
        this.pos += 4;
        return { field, wireType, data: this.buf.slice(start, this.pos) };
      default:
        return this.fail(`field ${field}: unsupported wire type ${wireType}`, at);
    }
  }

  /**
   * One element (unpacked) or all elements (packed) of a repeated scalar field.
   * `scalarWireType` is the element's own wire type.
   */
  repeated<T>(wireType: number, scalarWireType: number, what: string, at: number, readOne: (r: Reader) => T, out: T[]): void {
    if (wireType === WIRE_LEN) {
      const sub = this.message(what);
      while (!sub.done()) out.push(readOne(sub));
    } else {
      this.expect(wireType, scalarWireType, what, at);
      out.push(readOne(this));
    }
  }
}

/** Runs `onField` for each field of the message in `r`; unhandled fields are kept as unknown. */
function readFields<T extends Message>(
  r: Reader,
  m: T,
  onField: (field: number, wireType: number, at: number) => boolean,
): T {
  while (!r.done()) {
    const { field, wireType, at } = r.tag();
    if (!onField(field, wireType, at)) (m.unknownFields ??= []).push(r.unknown(field, wireType, at));
  }
  return m;
}

/** Typed single-field readers that check the wire type first. */
function fieldReader(r: Reader, wireType: number, at: number, message: string) {
  const what = (name: string) => `${message}.${name}`;
  return {
    string: (name: string): string => {
      r.expect(wireType, WIRE_LEN, what(name), at);
      return r.string(what(name));
    },
    bytes: (name: string): Uint8Array => {
      r.expect(wireType, WIRE_LEN, what(name), at);
      return r.bytes(what(name));
    },
    int64: (name: string): number => {
      r.expect(wireType, WIRE_VARINT, what(name), at);
      return r.int64(what(name));
    },
    int32: (name: string): number => {
      r.expect(wireType, WIRE_VARINT, what(name), at);
      return r.int32();
    },
    bigInt64: (name: string): bigint => {
      r.expect(wireType, WIRE_VARINT, what(name), at);
      return r.bigInt64();
    },
    float: (name: string): number => {
      r.expect(wireType, WIRE_FIXED32, what(name), at);
      return r.float();
    },
    message: <T>(name: string, read: (sub: Reader) => T): T => {
      r.expect(wireType, WIRE_LEN, what(name), at);
      return read(r.message(what(name)));
    },
    repeated: <T>(name: string, scalarWireType: number, readOne: (sub: Reader) => T, out: T[]): void =>
      r.repeated(wireType, scalarWireType, what(name), at, readOne, out),
  };
}

function readModel(r: Reader): ModelProto {
  const m: ModelProto = { opsetImport: [], metadataProps: [] };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'ModelProto');
    switch (field) {
      case 1: m.irVersion = f.int64('ir_version'); return true;
      case 2: m.producerName = f.string('producer_name'); return true;
      case 3: m.producerVersion = f.string('producer_version'); return true;
      case 4: m.domain = f.string('domain'); return true;
      case 5: m.modelVersion = f.int64('model_version'); return true;
      case 6: m.docString = f.string('doc_string'); return true;
      case 7: m.graph = f.message('graph', readGraph); return true;
      case 8: m.opsetImport.push(f.message('opset_import', readOperatorSetId)); return true;
      case 14: m.metadataProps.push(f.message('metadata_props', readStringStringEntry)); return true;
      default: return false;
    }
  });
}

function readOperatorSetId(r: Reader): OperatorSetIdProto {
  const m: OperatorSetIdProto = { domain: '', version: 0 };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'OperatorSetIdProto');
    switch (field) {
      case 1: m.domain = f.string('domain'); return true;
      case 2: m.version = f.int64('version'); return true;
      default: return false;
    }
  });
}

function readStringStringEntry(r: Reader): StringStringEntryProto {
  const m: StringStringEntryProto = { key: '', value: '' };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'StringStringEntryProto');
    switch (field) {
      case 1: m.key = f.string('key'); return true;
      case 2: m.value = f.string('value'); return true;
      default: return false;
    }
  });
}

function readGraph(r: Reader): GraphProto {
  const m: GraphProto = { node: [], initializer: [], input: [], output: [], valueInfo: [] };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'GraphProto');
    switch (field) {
      case 1: m.node.push(f.message('node', readNode)); return true;
      case 2: m.name = f.string('name'); return true;
      case 5: m.initializer.push(f.message('initializer', readTensor)); return true;
      case 10: m.docString = f.string('doc_string'); return true;
      case 11: m.input.push(f.message('input', readValueInfo)); return true;
      case 12: m.output.push(f.message('output', readValueInfo)); return true;
      case 13: m.valueInfo.push(f.message('value_info', readValueInfo)); return true;
      default: return false;
    }
  });
}

function readNode(r: Reader): NodeProto {
  const m: NodeProto = { input: [], output: [], opType: '', attribute: [] };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'NodeProto');
    switch (field) {
      case 1: m.input.push(f.string('input')); return true;
      case 2: m.output.push(f.string('output')); return true;
      case 3: m.name = f.string('name'); return true;
      case 4: m.opType = f.string('op_type'); return true;
      case 5: m.attribute.push(f.message('attribute', readAttribute)); return true;
      case 6: m.docString = f.string('doc_string'); return true;
      case 7: m.domain = f.string('domain'); return true;
      default: return false;
    }
  });
}

function readAttribute(r: Reader): AttributeProto {
  const m: AttributeProto = { name: '', floats: [], ints: [], strings: [], tensors: [], graphs: [], type: 0 };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'AttributeProto');
    switch (field) {
      case 1: m.name = f.string('name'); return true;
      case 2: m.f = f.float('f'); return true;
      case 3: m.i = f.bigInt64('i'); return true;
      case 4: m.s = f.bytes('s'); return true;
      case 5: m.t = f.message('t', readTensor); return true;
      case 6: m.g = f.message('g', readGraph); return true;
      case 7: f.repeated('floats', WIRE_FIXED32, (s) => s.float(), m.floats); return true;
      case 8: f.repeated('ints', WIRE_VARINT, (s) => s.bigInt64(), m.ints); return true;
      case 9: m.strings.push(f.bytes('strings')); return true;
      case 10: m.tensors.push(f.message('tensors', readTensor)); return true;
      case 11: m.graphs.push(f.message('graphs', readGraph)); return true;
      case 13: m.docString = f.string('doc_string'); return true;
      case 20: m.type = f.int32('type'); return true;
      case 21: m.refAttrName = f.string('ref_attr_name'); return true;
      default: return false;
    }
  });
}

function readTensor(r: Reader): TensorProto {
  const m: TensorProto = {
    dims: [], dataType: 0, floatData: [], int32Data: [], stringData: [], int64Data: [], doubleData: [], uint64Data: [],
  };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'TensorProto');
    switch (field) {
      case 1: f.repeated('dims', WIRE_VARINT, (s) => s.int64('TensorProto.dims'), m.dims); return true;
      case 2: m.dataType = f.int32('data_type'); return true;
      case 4: f.repeated('float_data', WIRE_FIXED32, (s) => s.float(), m.floatData); return true;
      case 5: f.repeated('int32_data', WIRE_VARINT, (s) => s.int32(), m.int32Data); return true;
      case 6: m.stringData.push(f.bytes('string_data')); return true;
      case 7: f.repeated('int64_data', WIRE_VARINT, (s) => s.bigInt64(), m.int64Data); return true;
      case 8: m.name = f.string('name'); return true;
      case 9: m.rawData = f.bytes('raw_data'); return true;
      case 10: f.repeated('double_data', WIRE_FIXED64, (s) => s.double(), m.doubleData); return true;
      case 11: f.repeated('uint64_data', WIRE_VARINT, (s) => s.varint(), m.uint64Data); return true;
      case 12: m.docString = f.string('doc_string'); return true;
      default: return false;
    }
  });
}

function readValueInfo(r: Reader): ValueInfoProto {
  const m: ValueInfoProto = { name: '' };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'ValueInfoProto');
    switch (field) {
      case 1: m.name = f.string('name'); return true;
      case 2: m.type = f.message('type', readType); return true;
      case 3: m.docString = f.string('doc_string'); return true;
      default: return false;
    }
  });
}

function readType(r: Reader): TypeProto {
  const m: TypeProto = {};
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'TypeProto');
    switch (field) {
      case 1: m.tensorType = f.message('tensor_type', readTensorType); return true;
      case 4: m.sequenceType = f.message('sequence_type', readElemType); return true;
      case 5: m.mapType = f.message('map_type', readMapType); return true;
      case 6: m.denotation = f.string('denotation'); return true;
      case 8: m.sparseTensorType = f.message('sparse_tensor_type', readTensorType); return true;
      case 9: m.optionalType = f.message('optional_type', readElemType); return true;
      default: return false;
    }
  });
}

function readTensorType(r: Reader): TypeProtoTensor {
  const m: TypeProtoTensor = { elemType: 0 };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'TypeProto.Tensor');
    switch (field) {
      case 1: m.elemType = f.int32('elem_type'); return true;
      case 2: m.shape = f.message('shape', readShape); return true;
      default: return false;
    }
  });
}

function readElemType(r: Reader): TypeProtoSequence {
  const m: TypeProtoSequence = {};
  return readFields(r, m, (field, wt, at) => {
    if (field !== 1) return false;
    m.elemType = fieldReader(r, wt, at, 'TypeProto').message('elem_type', readType);
    return true;
  });
}

function readMapType(r: Reader): TypeProtoMap {
  const m: TypeProtoMap = { keyType: 0 };
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'TypeProto.Map');
    switch (field) {
      case 1: m.keyType = f.int32('key_type'); return true;
      case 2: m.valueType = f.message('value_type', readType); return true;
      default: return false;
    }
  });
}

function readShape(r: Reader): TensorShapeProto {
  const m: TensorShapeProto = { dim: [] };
  return readFields(r, m, (field, wt, at) => {
    if (field !== 1) return false;
    m.dim.push(fieldReader(r, wt, at, 'TensorShapeProto').message('dim', readDimension));
    return true;
  });
}

function readDimension(r: Reader): TensorShapeDimension {
  const m: TensorShapeDimension = {};
  return readFields(r, m, (field, wt, at) => {
    const f = fieldReader(r, wt, at, 'TensorShapeProto.Dimension');
    switch (field) {
      case 1: m.dimValue = f.int64('dim_value'); return true;
      case 2: m.dimParam = f.string('dim_param'); return true;
      case 3: m.denotation = f.string('denotation'); return true;
      default: return false;
    }
  });
}

/**
 * Parses ONNX protobuf bytes. Throws {@link ProtobufDecodeError} (with the byte offset) on
 * truncated or malformed input; fields it does not model are kept in `unknownFields`.
 *
 * @example
 * const model = decodeModel(await readFile('model.onnx'));
 * console.log(model.graph?.input.map((i) => i.name));
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return readModel(new Reader(bytes, 0, bytes.length, 0));
}
