/**
 * Tensors as the core sees them: a type, a concrete shape and flat row-major data. The ONNX
 * Runtime adapter converts these to and from `ort.Tensor` without copying.
 */
import type { TensorType } from './model.js';

export interface TensorDataMap {
  /** IEEE 754 binary16 bit patterns (what ONNX Runtime's Node binding takes without Float16Array). */
  float16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: BigInt64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  uint64: BigUint64Array;
  /** One byte per element, 0 or 1 (ONNX Runtime's representation). */
  bool: Uint8Array;
  string: string[];
}

export type TensorData<T extends TensorType = TensorType> = {
  [K in T]: { readonly type: K; readonly shape: readonly number[]; readonly data: TensorDataMap[K] };
}[T];

/**
 * Tensors by name. The codec builds these without a prototype (`Object.create(null)`): a name the
 * map lacks is `undefined` there, `constructor` and `toString` included. Iterate with
 * `Object.entries` / `Object.keys`, never with methods of the map itself.
 */
export type TensorMap = Record<string, TensorData>;

/** Number of elements of a concrete shape (1 for a scalar). */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocates the flat storage for `count` elements of `type`. */
export function allocate<T extends TensorType>(type: T, count: number): TensorDataMap[T] {
  const make: { [K in TensorType]: (n: number) => TensorDataMap[K] } = {
    float16: (n) => new Uint16Array(n),
    float32: (n) => new Float32Array(n),
    float64: (n) => new Float64Array(n),
    int8: (n) => new Int8Array(n),
    int16: (n) => new Int16Array(n),
    int32: (n) => new Int32Array(n),
    int64: (n) => new BigInt64Array(n),
    uint8: (n) => new Uint8Array(n),
    uint16: (n) => new Uint16Array(n),
    uint32: (n) => new Uint32Array(n),
    uint64: (n) => new BigUint64Array(n),
    bool: (n) => new Uint8Array(n),
    string: (n) => new Array<string>(n).fill(''),
  };
  return make[type](count);
}
