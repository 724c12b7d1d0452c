/**
 * NumPy's `.npy` files ⇄ tensors in the binary extension's raw form ({@link RawTensor}), so an
 * array saved with `numpy.save` travels to a model, and an output back, without a conversion of
 * its values. Pure: typed arrays and `DataView` only.
 *
 * The format, as `numpy.lib.format` documents it: the magic string `\x93NUMPY`; a major and a
 * minor version byte (1.0, 2.0 or 3.0); the header's length, a little-endian uint16 in 1.0 and
 * uint32 in 2.0 and 3.0; the header, a Python literal dict with exactly the keys `descr` (the
 * dtype's string form, such as `'<f4'`), `fortran_order` (a bool) and `shape` (a tuple of ints),
 * encoded in latin-1 (1.0, 2.0) or UTF-8 (3.0), padded with spaces and ended with `\n` so that
 * the data starts at a multiple of 64 bytes; then the array's bytes.
 *
 * Read: the descrs below, either byte order (big-endian data is swapped to little-endian);
 * `fortran_order: True` data is reordered to row-major (C) order, the one the protocol uses.
 * Refused, with the reason: object arrays (pickled Python objects, never run here), structured
 * dtypes, dtypes without a protocol datatype (complex, datetime, longdouble, ...), a header over
 * {@link MAX_NPY_HEADER_BYTES}, and data whose length is not what the shape and dtype say, which
 * is checked before any element is copied.
 *
 * | descr | datatype | | descr | datatype |
 * |---|---|---|---|---|
 * | `<f2` | FP16 | | `\|u1` | UINT8 |
 * | `<f4` | FP32 | | `<u2` | UINT16 |
 * | `<f8` | FP64 | | `<u4` | UINT32 |
 * | `\|i1` | INT8 | | `<u8` | UINT64 |
 * | `<i2` | INT16 | | `\|b1` | BOOL |
 * | `<i4` | INT32 | | `<U<n>` | BYTES (UTF-32 code points → UTF-8; trailing NULs dropped, as NumPy does) |
 * | `<i8` | INT64 | | `\|S<n>` | BYTES (the bytes; trailing NULs dropped) |
 *
 * Written: version 1.0 (2.0 when the header would pass 65,535 bytes), the descrs above in
 * little-endian, C order. BYTES is written as `<U<n>` when every element is UTF-8, `|S<n>` when not.
 *
 * @example
 * const tensor = readNpy(await readFile('image.npy'));   // { datatype: 'FP32', shape: [1, 3, 224, 224], data }
 * await writeFile('copy.npy', writeNpy(tensor));
 */
import { MAX_V2_RANK } from './limits.js';
import {
  ELEMENT_BYTES,
  bytesElements,
  checkRawTensor,
  elementCount,
  joinBytesElements,
  type FixedDatatype,
  type RawTensor,
  type WireDatatype,
} from './tensor-bytes.js';

/** The first six bytes of every `.npy` file. */
export const NPY_MAGIC = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59);

/**
 * The longest header read, in bytes: NumPy's own default `max_header_size` for `numpy.load`
 * (10,000, since NumPy 1.24), which keeps the literal cheap to parse.
 */
export const MAX_NPY_HEADER_BYTES = 10_000;

/** Bytes before the header: magic, version, and the length (2 bytes in 1.0, 4 in 2.0 and 3.0). */
const PREFIX_V1 = NPY_MAGIC.length + 2 + 2;
const PREFIX_V2 = NPY_MAGIC.length + 2 + 4;
/** The data starts at a multiple of this many bytes (the alignment the format documents). */
const ALIGNMENT = 64;

/**
 * A file that is not a `.npy` this reader takes; the message says why and what to do, naming
 * the file as `readNpy`'s `name` option says.
 */
export class NpyError extends Error {
  override readonly name = 'NpyError';
}

/** What {@link readNpy} read: the tensor, and what the file said of it. */
export interface NpyArray extends RawTensor {
  /** The file's dtype, as its header wrote it (`'>f4'`). */
  readonly descr: string;
  /** `"1.0"`, `"2.0"` or `"3.0"`. */
  readonly version: string;
  /** Whether the file held the data in Fortran (column-major) order, reordered here. */
  readonly fortranOrder: boolean;
}

/** The little-endian descr each fixed-size datatype is written as. */
export const NPY_DESCRS: Readonly<Record<FixedDatatype, string>> = {
  FP16: '<f2',
  FP32: '<f4',
  FP64: '<f8',
  INT8: '|i1',
  INT16: '<i2',
  INT32: '<i4',
  INT64: '<i8',
  UINT8: '|u1',
  UINT16: '<u2',
  UINT32: '<u4',
  UINT64: '<u8',
  BOOL: '|b1',
};

/** A descr's kind and size (`f4`) → its fixed-size datatype. */
const FIXED_KINDS: Readonly<Record<string, FixedDatatype>> = Object.fromEntries(
  Object.entries(NPY_DESCRS).map(([datatype, descr]) => [descr.slice(1), datatype as FixedDatatype]),
);

const SUPPORTED = 'float16/32/64 (f2, f4, f8), int8-64 (i1-i8), uint8-64 (u1-u8), bool (b1), and strings (U<n>, S<n>)';

/** What a descr string says: how to read one element. */
interface Dtype {
  readonly datatype: WireDatatype;
  /** Bytes per element in the file. */
  readonly itemsize: number;
  readonly bigEndian: boolean;
  /** For BYTES: `U` (UTF-32 code points) or `S` (bytes). */
  readonly strings?: 'U' | 'S';
}

/** The dtype of a descr string, or an NpyError that says why it is not read. */
function dtypeOf(descr: string): Dtype {
  if (/^[<>|=]?O\d*$/.test(descr)) {
    throw new NpyError(
      'It holds an object array (pickled Python objects), which is not read here: save an array of a fixed dtype (numpy.asarray(x, dtype=...)).',
    );
  }
  const match = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!match) throw new NpyError(`Its dtype ${JSON.stringify(descr.slice(0, 40))} is not supported; supported: ${SUPPORTED}.`);
  const [, order = '', kind = '', digits = ''] = match;
  const size = Number(digits);
  if (kind === 'U' || kind === 'S' || kind === 'a') {
    if (!(size >= 1) || !Number.isSafeInteger(size * 4))
      throw new NpyError(`Its dtype ${descr} holds strings of length ${digits}; strings of length 1 or more are read.`);
    const units = kind === 'U' ? 'U' : 'S';
    if (units === 'U' && order === '=')
      throw new NpyError(`Its dtype ${descr} has native byte order, which the file cannot tell; save it with "<" or ">".`);
    return { datatype: 'BYTES', itemsize: units === 'U' ? size * 4 : size, bigEndian: order === '>', strings: units };
  }
  const datatype = FIXED_KINDS[`${kind}${digits}`];
  if (!datatype) throw new NpyError(`Its dtype ${descr} (${kind}${digits}) has no protocol datatype; supported: ${SUPPORTED}.`);
  const itemsize = ELEMENT_BYTES[datatype];
  if (itemsize > 1 && order === '|') throw new NpyError(`Its dtype ${descr} has no byte order, which a ${itemsize}-byte element needs.`);
  if (itemsize > 1 && order === '=')
    throw new NpyError(`Its dtype ${descr} has native byte order, which the file cannot tell; save it with "<" or ">".`);
  return { datatype, itemsize, bigEndian: order === '>' };
}

// ---------------------------------------------------------------------------------------------
// The header: a Python literal dict
// ---------------------------------------------------------------------------------------------

type Literal = string | number | boolean | null | Literal[] | { readonly [key: string]: Literal };

/** Nesting of the header literal read at most (a structured descr's list of tuples is 3 deep). */
const MAX_LITERAL_DEPTH = 8;

/**
 * Reads the Python literals the header uses: dicts with string keys, tuples and lists (as
 * arrays), strings in either quote, whole numbers (a Python 2 `L` suffix allowed), `True`,
 * `False` and `None`. Anything else is refused; nothing is evaluated.
 */
class LiteralReader {
  private at = 0;

  constructor(private readonly text: string) {}

  read(): Literal {
    const value = this.value(0);
    this.space();
    if (this.at !== this.text.length) this.fail('after the dict');
    return value;
  }

  private fail(where: string): never {
    const near = JSON.stringify(this.text.slice(this.at, this.at + 20));
    throw new NpyError(
      `Its header is not a Python literal dict: unexpected ${this.at >= this.text.length ? 'end' : near} ${where} (at character ${this.at}).`,
    );
  }

  private space(): void {
    while (this.at < this.text.length && ' \t\r\n'.includes(this.text[this.at] as string)) this.at += 1;
  }

  private value(depth: number): Literal {
    if (depth > MAX_LITERAL_DEPTH) this.fail('(nested too deep)');
    this.space();
    const c = this.text[this.at];
    if (c === '{') return this.dict(depth);
    if (c === '(') return this.sequence(')', depth);
    if (c === '[') return this.sequence(']', depth);
    if (c === "'" || c === '"') return this.string();
    const word = /^(True|False|None|-?[0-9]+L?)/.exec(this.text.slice(this.at, this.at + 32))?.[1];
    if (word === undefined) this.fail('where a value should be');
    this.at += word.length;
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    const number = Number(word.replace(/L$/, ''));
    if (!Number.isSafeInteger(number)) this.fail(`(the number ${word} is too large)`);
    return number;
  }

  private string(): string {
    const quote = this.text[this.at];
    this.at += 1;
    let out = '';
    while (this.at < this.text.length && this.text[this.at] !== quote) {
      if (this.text[this.at] === '\\') this.at += 1; // an escaped character stands for itself
      out += this.text[this.at] ?? '';
      this.at += 1;
    }
    if (this.at >= this.text.length) this.fail('in a string');
    this.at += 1;
    return out;
  }

  /** Items up to `close`, separated by commas, a trailing comma allowed. */
  private items(close: string, item: () => void): void {
    this.at += 1;
    for (;;) {
      this.space();
      if (this.text[this.at] === close) break;
      item();
      this.space();
      if (this.text[this.at] === ',') this.at += 1;
      else if (this.text[this.at] !== close) this.fail(`where "," or "${close}" should be`);
    }
    this.at += 1;
  }

  private sequence(close: string, depth: number): Literal[] {
    const values: Literal[] = [];
    this.items(close, () => values.push(this.value(depth + 1)));
    return values;
  }

  private dict(depth: number): Record<string, Literal> {
    const entries = new Map<string, Literal>();
    this.items('}', () => {
      const key = this.value(depth + 1);
      if (typeof key !== 'string') this.fail('(a key that is not a string)');
      this.space();
      if (this.text[this.at] !== ':') this.fail('where ":" should be');
      this.at += 1;
      if (entries.has(key)) this.fail(`(the key ${JSON.stringify(key)} twice)`);
      entries.set(key, this.value(depth + 1));
    });
    return Object.fromEntries(entries) as Record<string, Literal>;
  }
}

interface Header {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: number[];
}

function parseHeader(text: string): Header {
  const dict = new LiteralReader(text).read();
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) throw new NpyError('Its header is not a dict.');
  const keys = Object.keys(dict).sort();
  if (keys.join() !== 'descr,fortran_order,shape') {
    throw new NpyError(
      `Its header has the keys ${keys.map((k) => `'${k.slice(0, 20)}'`).join(', ') || '(none)'}; a .npy header has exactly 'descr', 'fortran_order' and 'shape'.`,
    );
  }
  const { descr, fortran_order: fortranOrder, shape } = dict as Record<string, Literal>;
  if (Array.isArray(descr))
    throw new NpyError('It holds a structured array (a dtype with fields), which is not read here: save each field as its own array.');
  if (typeof descr !== 'string') throw new NpyError("Its header's 'descr' is not a string.");
  if (typeof fortranOrder !== 'boolean') throw new NpyError("Its header's 'fortran_order' is not True or False.");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && d >= 0)) {
    throw new NpyError("Its header's 'shape' is not a tuple of whole numbers from 0.");
  }
  if (shape.length > MAX_V2_RANK)
    throw new NpyError(`Its shape has ${shape.length} dimensions; at most ${MAX_V2_RANK} are read (the protocol's limit).`);
  return { descr, fortranOrder, shape: shape as number[] };
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

function latin1(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

/**
 * Reads a `.npy` file's bytes. Throws an NpyError that says what is wrong: not a `.npy` file (no
 * magic), a version other than 1.0/2.0/3.0, a header that is too long, cut off or not the dict
 * the format describes, an unsupported dtype, or data that does not match the shape (checked
 * from the lengths alone, before any element is copied). Its message names the file as
 * `options.name` (default "The file"): `image.npy is not a .npy file: ...`.
 */
export function readNpy(file: Uint8Array, options: { readonly name?: string } = {}): NpyArray {
  try {
    return read(file);
  } catch (error) {
    if (!(error instanceof NpyError)) throw error;
    // The messages speak of "it"; the caller's name for the file takes its place.
    const name = options.name ?? 'The file';
    throw new NpyError(error.message.replace(/^Its /, `${name}'s `).replace(/^It /, `${name} `));
  }
}

function read(file: Uint8Array): NpyArray {
  if (file.byteLength < NPY_MAGIC.length || NPY_MAGIC.some((byte, i) => file[i] !== byte)) {
    throw new NpyError('It is not a .npy file: it does not start with "\\x93NUMPY" (save arrays with numpy.save).');
  }
  if (file.byteLength < PREFIX_V1) throw new NpyError('It is cut off before its header.');
  const major = file[6] as number;
  const minor = file[7] as number;
  if (minor !== 0 || major < 1 || major > 3)
    throw new NpyError(`Its format version is ${major}.${minor}; versions 1.0, 2.0 and 3.0 are read.`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let prefix = PREFIX_V1;
  let headerLength: number;
  if (major === 1) headerLength = view.getUint16(8, true);
  else {
    if (file.byteLength < PREFIX_V2) throw new NpyError('It is cut off before its header.');
    headerLength = view.getUint32(8, true);
    prefix = PREFIX_V2;
  }
  if (headerLength > MAX_NPY_HEADER_BYTES)
    throw new NpyError(`Its header is ${headerLength} bytes; at most ${MAX_NPY_HEADER_BYTES} are read.`);
  if (prefix + headerLength > file.byteLength)
    throw new NpyError(`It is cut off in its header (${headerLength} bytes announced, ${file.byteLength - prefix} present).`);
  const headerBytes = file.subarray(prefix, prefix + headerLength);
  let headerText: string;
  if (major === 3) {
    try {
      headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw new NpyError('Its version 3.0 header is not UTF-8.');
    }
  } else headerText = latin1(headerBytes);
  const header = parseHeader(headerText);
  const dtype = dtypeOf(header.descr);
  const body = file.subarray(prefix + headerLength);

  // The lengths first: the shape's element count against the bytes present, with no allocation.
  const count = checkedCount(header.shape, dtype.itemsize, body.byteLength);
  let data = body;
  if (header.fortranOrder && header.shape.length > 1) data = toRowMajor(data, header.shape, dtype.itemsize);
  const tensor = {
    datatype: dtype.datatype,
    shape: header.shape,
    descr: header.descr,
    version: `${major}.0`,
    fortranOrder: header.fortranOrder,
  };
  if (dtype.datatype === 'BYTES') return { ...tensor, data: stringsToBytes(data, count, dtype) };
  if (dtype.bigEndian && dtype.itemsize > 1) data = swapped(data, dtype.itemsize);
  else if (data === body) data = new Uint8Array(body); // a copy in its own buffer (a Buffer's slice() would be a view)
  if (dtype.datatype === 'BOOL') for (let i = 0; i < data.length; i += 1) if (data[i] !== 0) data[i] = 1;
  return { ...tensor, data };
}

/** The element count of `shape`, once the data is known to hold exactly that many elements. */
function checkedCount(shape: readonly number[], itemsize: number, present: number): number {
  const available = Math.floor(present / itemsize);
  let count = 1;
  for (const dim of shape) {
    count *= dim;
    // Past what the data holds, stop counting (the product could pass any bound).
    if (count > available) break;
  }
  const described = `shape (${shape.join(', ')}${shape.length === 1 ? ',' : ''}) of ${itemsize}-byte elements`;
  if (count > available) throw new NpyError(`It is cut off: its ${described} needs more than the ${present} data bytes present.`);
  if (count * itemsize !== present)
    throw new NpyError(`Its ${described} takes ${count * itemsize} bytes, but ${present} follow the header.`);
  return count;
}

/** Each `size`-byte element's bytes reversed (big-endian → little-endian), into a new array. */
function swapped(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  for (let offset = 0; offset < data.byteLength; offset += size) {
    for (let b = 0; b < size; b += 1) out[offset + b] = data[offset + size - 1 - b] as number;
  }
  return out;
}

/**
 * Fortran-ordered elements (the first index varies fastest) reordered to row-major order (the
 * last index varies fastest), into a new array.
 */
function toRowMajor(data: Uint8Array, shape: readonly number[], size: number): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  const count = data.byteLength / size;
  const rank = shape.length;
  // Column-major strides (in elements) of each dimension.
  const strides: number[] = [];
  let stride = 1;
  for (const dim of shape) {
    strides.push(stride);
    stride *= dim;
  }
  const index = new Array<number>(rank).fill(0);
  let source = 0;
  for (let target = 0; target < count; target += 1) {
    out.set(data.subarray(source * size, source * size + size), target * size);
    // The next row-major index: the last dimension moves first.
    for (let d = rank - 1; d >= 0; d -= 1) {
      index[d] = (index[d] as number) + 1;
      source += strides[d] as number;
      if ((index[d] as number) < (shape[d] as number)) break;
      source -= (index[d] as number) * (strides[d] as number);
      index[d] = 0;
    }
  }
  return out;
}

const UTF8_ENCODER = new TextEncoder();

/**
 * NumPy's fixed-width strings as BYTES raw data: `U` elements are UTF-32 code points, `S`
 * elements bytes; trailing NULs are padding (NumPy drops them too). A code point that is not a
 * Unicode scalar value (a surrogate, or past U+10FFFF) is refused.
 */
function stringsToBytes(data: Uint8Array, count: number, dtype: Dtype): Uint8Array {
  const elements: Uint8Array[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < count; i += 1) {
    const start = i * dtype.itemsize;
    if (dtype.strings === 'S') {
      let end = start + dtype.itemsize;
      while (end > start && data[end - 1] === 0) end -= 1;
      elements.push(data.subarray(start, end));
      continue;
    }
    let chars = dtype.itemsize / 4;
    const at = (c: number) => view.getUint32(start + c * 4, !dtype.bigEndian);
    while (chars > 0 && at(chars - 1) === 0) chars -= 1;
    let text = '';
    for (let c = 0; c < chars; c += 1) {
      const point = at(c);
      if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
        throw new NpyError(`Its element ${i} holds 0x${point.toString(16)}, which is not a Unicode character.`);
      }
      text += String.fromCodePoint(point);
    }
    elements.push(UTF8_ENCODER.encode(text));
  }
  return joinBytesElements(elements);
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** A Python tuple literal of the shape: `()`, `(3,)`, `(2, 3)`. */
function shapeLiteral(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/**
 * A `.npy` file of `tensor` (checked against its shape first): version 1.0 unless the header
 * needs 2.0's longer length, C order, little-endian.
 */
export function writeNpy(tensor: RawTensor): Uint8Array {
  checkRawTensor(tensor);
  const { descr, data } =
    tensor.datatype === 'BYTES'
      ? bytesToStrings(tensor.data, elementCount(tensor.shape))
      : { descr: NPY_DESCRS[tensor.datatype], data: tensor.data };
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeLiteral(tensor.shape)}, }`;
  // The header (with its "\n") pads with spaces so that the data starts at a multiple of 64;
  // version 1.0 holds its length in 16 bits.
  const padded = (prefix: number) => Math.ceil((prefix + dict.length + 1) / ALIGNMENT) * ALIGNMENT - prefix;
  const v1 = padded(PREFIX_V1) <= 0xffff;
  const prefix = v1 ? PREFIX_V1 : PREFIX_V2;
  const headerLength = padded(prefix);
  const file = new Uint8Array(prefix + headerLength + data.byteLength);
  file.set(NPY_MAGIC, 0);
  file[6] = v1 ? 1 : 2;
  file[7] = 0;
  const view = new DataView(file.buffer);
  if (v1) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  const header = `${dict}${' '.repeat(headerLength - dict.length - 1)}\n`;
  for (let i = 0; i < header.length; i += 1) file[prefix + i] = header.charCodeAt(i);
  file.set(data, prefix + headerLength);
  return file;
}

/**
 * BYTES raw data as NumPy fixed-width strings: `<U<n>` (UTF-32LE, n the longest element's code
 * points) when every element is UTF-8, else `|S<n>` (the bytes). Shorter elements are padded with
 * NULs; n is at least 1.
 */
function bytesToStrings(raw: Uint8Array, count: number): { descr: string; data: Uint8Array } {
  const elements = bytesElements(raw, count);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let texts: string[] | undefined = [];
  for (const element of elements) {
    try {
      texts.push(decoder.decode(element));
    } catch {
      texts = undefined;
      break;
    }
  }
  if (texts === undefined) {
    const width = elements.reduce((most, e) => Math.max(most, e.byteLength), 1);
    const data = new Uint8Array(width * count);
    elements.forEach((element, i) => data.set(element, i * width));
    return { descr: `|S${width}`, data };
  }
  const points = texts.map((text) => Array.from(text, (c) => c.codePointAt(0) as number));
  const width = points.reduce((most, p) => Math.max(most, p.length), 1);
  const data = new Uint8Array(width * 4 * count);
  const view = new DataView(data.buffer);
  points.forEach((codes, i) => codes.forEach((code, c) => view.setUint32((i * width + c) * 4, code, true)));
  return { descr: `<U${width}`, data };
}
