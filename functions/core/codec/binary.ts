/**
 * The Open Inference Protocol's binary tensor data extension: tensor elements as raw bytes
 * after the JSON header of a request or response (KServe / Triton "binary_tensor_data").
 *
 * Layout of one tensor's bytes: little-endian, row-major, no padding between elements; every
 * element in its type's native size (FP16 2 bytes, FP32 4, FP64 8, INT64 8, ...); BOOL one byte,
 * 0 or 1; BYTES one element after another, each a 4-byte little-endian unsigned length followed
 * by that many bytes (here: UTF-8 text, as ONNX Runtime's string tensors hold text).
 *
 * Every host Node and Lambda run on (x86-64, arm64) is little-endian, so numeric tensors are
 * copied byte for byte; the module refuses to load on a big-endian host rather than swap.
 */
import { endianness } from 'node:os';
import { ValidationError, type FieldPath } from '../errors.js';
import type { TensorType } from '../model.js';
import { allocate, type TensorData } from '../tensor.js';
import { elementWriter } from './elements.js';
import type { CodecLimits } from './limits.js';
import { BYTES_LENGTH_PREFIX, joinBytesElements } from './tensor-bytes.js';

if (endianness() !== 'LE') throw new Error('the binary tensor codec needs a little-endian host');

/** The header that gives the length of the JSON part of a binary request or response. */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** The media type of a binary request or response (API Gateway's binary media type). */
export const BINARY_MEDIA_TYPE = 'application/octet-stream';

/** Bytes per element of each fixed-size type (BYTES has none). */
export const ELEMENT_BYTES: Readonly<Record<Exclude<TensorType, 'string'>, number>> = {
  float16: 2,
  float32: 4,
  float64: 8,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
};

/** Bytes of the length prefix of each BYTES element. */
const LENGTH_PREFIX_BYTES = BYTES_LENGTH_PREFIX;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A tensor of `type` and `shape` read from `bytes` (exactly its size: `count × element size`
 * for fixed-size types; for BYTES, `count` length-prefixed elements and nothing after them).
 * `path` is where the tensor's bytes were announced (`inputs[i].parameters.binary_data_size`).
 *
 * @throws ValidationError 400 `BINARY_SIZE_MISMATCH` (the byte count does not match the shape),
 *   `INVALID_BOOL` (a BOOL byte other than 0 or 1), `MALFORMED_UTF8` (a BYTES element that is not
 *   UTF-8), and the string rules of `elementWriter` (`NUL_IN_STRING`, `STRING_TOO_LONG`)
 */
export function tensorFromBytes(
  type: TensorType,
  shape: readonly number[],
  count: number,
  bytes: Uint8Array,
  limits: CodecLimits,
  path: FieldPath,
): TensorData {
  if (type === 'string') return stringsFromBytes(shape, count, bytes, limits, path);
  const size = ELEMENT_BYTES[type];
  if (bytes.byteLength !== count * size) {
    throw new ValidationError(
      'BINARY_SIZE_MISMATCH',
      `A tensor of shape [${shape.join(', ')}] and element type ${type} takes ${count * size} bytes (${count} × ${size}); ${bytes.byteLength} were given.`,
      path,
    );
  }
  const data = allocate(type, count);
  // One copy of the bytes into the tensor's own (aligned) buffer.
  new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
  if (type === 'bool') {
    const values = data as Uint8Array;
    for (let i = 0; i < count; i++) {
      if ((values[i] as number) > 1) {
        throw new ValidationError(
          'INVALID_BOOL',
          `BOOL element ${i} is the byte ${values[i]}; a BOOL is one byte, 0 (false) or 1 (true).`,
          path,
        );
      }
    }
  }
  return { type, shape: [...shape], data } as TensorData;
}

function stringsFromBytes(shape: readonly number[], count: number, bytes: Uint8Array, limits: CodecLimits, path: FieldPath): TensorData {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const data = allocate('string', count);
  const write = elementWriter('string', limits);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + LENGTH_PREFIX_BYTES > bytes.byteLength) {
      throw new ValidationError(
        'BINARY_SIZE_MISMATCH',
        `BYTES data ends after ${i} of ${count} elements (shape [${shape.join(', ')}]): each element is a 4-byte little-endian length and then its bytes.`,
        path,
      );
    }
    const length = view.getUint32(at, true);
    at += LENGTH_PREFIX_BYTES;
    if (at + length > bytes.byteLength) {
      throw new ValidationError(
        'BINARY_SIZE_MISMATCH',
        `BYTES element ${i} says it is ${length} bytes long, but only ${bytes.byteLength - at} bytes are left.`,
        path,
      );
    }
    let text: string;
    try {
      text = UTF8.decode(bytes.subarray(at, at + length));
    } catch {
      throw new ValidationError(
        'MALFORMED_UTF8',
        `BYTES element ${i} is not valid UTF-8 text; string tensors of ONNX models hold text.`,
        path,
      );
    }
    try {
      write(data, i, text, () => path);
    } catch (error) {
      // The rule's message, naming the element (the path names the tensor's bytes).
      if (error instanceof ValidationError) throw new ValidationError(error.code, `BYTES element ${i}: ${error.message}`, path);
      throw error;
    }
    at += length;
  }
  if (at !== bytes.byteLength) {
    throw new ValidationError(
      'BINARY_SIZE_MISMATCH',
      `BYTES data holds ${bytes.byteLength - at} bytes after its ${count} elements (shape [${shape.join(', ')}]).`,
      path,
    );
  }
  return { type: 'string', shape: [...shape], data };
}

/** The tensor's elements as the extension's bytes (a view of the tensor's own memory where it can be). */
export function tensorBytes(tensor: TensorData): Uint8Array {
  if (tensor.type !== 'string') {
    const data = tensor.data;
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return joinBytesElements(tensor.data.map((s) => Buffer.from(s, 'utf8')));
}

/**
 * The JSON header's length from the `Inference-Header-Content-Length` value: a decimal integer
 * from 1 to the body's length.
 *
 * @throws ValidationError 400 `INVALID_HEADER_LENGTH` (missing, not an integer, or beyond the body)
 */
export function headerLength(value: string | undefined, bodyBytes: number): number {
  const path: FieldPath = ['headers', INFERENCE_HEADER_CONTENT_LENGTH];
  if (value === undefined) {
    throw new ValidationError(
      'INVALID_HEADER_LENGTH',
      `A binary (${BINARY_MEDIA_TYPE}) request needs the header Inference-Header-Content-Length: the byte length of its JSON part.`,
      path,
    );
  }
  const trimmed = value.trim();
  if (!/^[0-9]{1,12}$/.test(trimmed)) {
    throw new ValidationError(
      'INVALID_HEADER_LENGTH',
      `Inference-Header-Content-Length must be a byte count (a decimal integer), not "${trimmed.slice(0, 24)}".`,
      path,
    );
  }
  const n = Number(trimmed);
  if (n < 1 || n > bodyBytes) {
    throw new ValidationError(
      'INVALID_HEADER_LENGTH',
      `Inference-Header-Content-Length is ${n}, but the body has ${bodyBytes} bytes: it must give the length of the JSON part that starts the body.`,
      path,
    );
  }
  return n;
}
