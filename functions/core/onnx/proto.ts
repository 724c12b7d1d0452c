/**
 * ONNX's wire format, read and written by protobuf-es (`@bufbuild/protobuf` v2) with the schema
 * in `onnx.proto` (generated code: `gen/onnx_pb.ts`, `npm run gen:onnx`). This module only adds
 * what serving wants around it: one error type for malformed files, a nesting limit, and short
 * names for the two enums.
 *
 * Message shapes (protobuf-es conventions): field names are camelCase (`ir_version` →
 * `irVersion`); 64-bit integers (versions, dims, int64 attributes and tensor data) are `bigint`;
 * repeated fields are arrays; a singular field nobody set reads as its default (`''`, `0`, `0n`)
 * and is not written (proto2 presence, see `isFieldSet` from `@bufbuild/protobuf`); `oneof`s are
 * `{ case, value }` (`TypeProto.value`, `TensorShapeProto.Dimension.value`). Fields the schema
 * does not declare are kept in each message's `$unknown` and written back, at the end of their
 * message, by {@link encodeModel}: decoding and re-encoding a model loses nothing.
 *
 * Strings are decoded as UTF-8 without validation (proto2 semantics, as ONNX's own reader):
 * invalid bytes read as U+FFFD.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, type ModelProto } from './gen/onnx_pb.js';

/** protobuf-es's message constructor: `create(NodeProtoSchema, { opType: 'Relu', ... })`. */
export { create, isFieldSet } from '@bufbuild/protobuf';

export {
  AttributeProto_AttributeType as AttributeType,
  TensorProto_DataType as DataType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
} from './gen/onnx_pb.js';
export type {
  AttributeProto,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  StringStringEntryProto,
  TensorProto,
  TensorShapeProto,
  TensorShapeProto_Dimension as TensorShapeDimension,
  TypeProto,
  ValueInfoProto,
} from './gen/onnx_pb.js';

/**
 * Messages nested deeper than this are refused. Graphs nest inside attributes (If, Loop, Scan)
 * and types inside types; real models stay far below it, and a file built to nest deeper would
 * otherwise exhaust the stack.
 */
export const MAX_NESTING = 64;

/** Thrown by {@link decodeModel} when the bytes are not a well-formed ONNX protobuf message. */
export class ProtobufDecodeError extends Error {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`Invalid ONNX protobuf: ${reason}`, options);
    this.name = 'ProtobufDecodeError';
  }
}

/**
 * Parses ONNX model bytes (a `.onnx` file). The returned message shares the byte fields
 * (`rawData`, attribute `s`) with `bytes`: it copies no tensor data.
 *
 * @throws ProtobufDecodeError on truncated or malformed input or nesting beyond {@link MAX_NESTING}
 *
 * @example
 * const model = decodeModel(await readFile('model.onnx'));
 * console.log(model.graph?.input.map((i) => i.name));
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    return fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true, recursionLimit: MAX_NESTING });
  } catch (error) {
    throw new ProtobufDecodeError(error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/**
 * Serializes a model to ONNX protobuf bytes, unknown fields included. Deterministic: fields in
 * field-number order, each message's unknown fields after its known ones.
 *
 * @throws Error (from protobuf-es) when an integer does not fit its field's type
 */
export function encodeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model, { writeUnknownFields: true });
}
