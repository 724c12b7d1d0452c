/**
 * NumPy's `.npy` format: every datatype written and read back; files built here byte by byte
 * from the format's documentation (magic, version, little-endian header length, a Python
 * literal dict padded with spaces and `\n` to a multiple of 64, then the data) read as they
 * should be, and what `writeNpy` writes is exactly such a file; big-endian data, Fortran order,
 * versions 2.0 and 3.0; and every malformed file refused with a message that says why.
 */
import { MAX_NPY_HEADER_BYTES, NpyError, readNpy, writeNpy } from '../../../functions/core/codec/npy.js';
import { jsonToRaw, rawToJson, type RawTensor, type WireDatatype } from '../../../functions/core/codec/tensor-bytes.js';

const MAGIC = [0x93, ...Buffer.from('NUMPY', 'latin1')];

/**
 * A `.npy` file built from the documented layout: `\x93NUMPY`, major and minor version, the
 * header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0), the header padded with spaces and a
 * final `\n` so that the data starts at a multiple of 64 (or as `pad: false` leaves it), the data.
 */
function npyFile(
  dict: string,
  data: readonly number[] | Uint8Array,
  options: { version?: 1 | 2 | 3; pad?: boolean; headerLength?: number; encoding?: BufferEncoding } = {},
): Uint8Array {
  const version = options.version ?? 1;
  const prefix = version === 1 ? 10 : 12;
  const text = Buffer.from(dict, options.encoding ?? 'latin1');
  const padTo = options.pad === false ? prefix + text.length + 1 : Math.ceil((prefix + text.length + 1) / 64) * 64;
  const header = Buffer.concat([text, Buffer.alloc(padTo - prefix - text.length - 1, ' '), Buffer.from('\n')]);
  const length = Buffer.alloc(version === 1 ? 2 : 4);
  const announced = options.headerLength ?? header.length;
  if (version === 1) length.writeUInt16LE(announced);
  else length.writeUInt32LE(announced);
  return new Uint8Array(Buffer.concat([Buffer.from(MAGIC), Buffer.from([version, 0]), length, header, Buffer.from(data)]));
}

/** The header dict `numpy.save` writes (its key order and spacing, a trailing comma). */
function dictOf(descr: string, shape: string, fortran = false): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shape}, }`;
}

/** The NpyError a file gets (fails the test when it is read). */
function refusal(file: Uint8Array): NpyError {
  try {
    readNpy(file, { name: 'x.npy' });
  } catch (error) {
    if (error instanceof NpyError) return error;
    throw error;
  }
  throw new Error('the file was read');
}

/** Bytes of little-endian float32 values. */
function f32(...values: number[]): number[] {
  return [...new Uint8Array(Float32Array.from(values).buffer)];
}

describe('round trips', () => {
  const CASES: readonly (readonly [WireDatatype, string, readonly unknown[]])[] = [
    ['FP16', '<f2', [0, 1.5, -2.25, 65504, -65504, 6e-8, 'NaN', 'Infinity', '-Infinity']],
    ['FP32', '<f4', [0.1, -3.4028235e38, 1e-45, 'NaN', 'Infinity', '-Infinity']],
    ['FP64', '<f8', [0.1, 1e300, 5e-324, 'NaN', '-Infinity']],
    ['INT8', '|i1', [-128, 127, 0]],
    ['INT16', '<i2', [-32768, 32767]],
    ['INT32', '<i4', [-2147483648, 2147483647]],
    ['INT64', '<i8', ['-9223372036854775808', '9223372036854775807', 9007199254740991, -1]],
    ['UINT8', '|u1', [0, 255]],
    ['UINT16', '<u2', [0, 65535]],
    ['UINT32', '<u4', [0, 4294967295]],
    ['UINT64', '<u8', ['18446744073709551615', 0, 9007199254740991]],
    ['BOOL', '|b1', [true, false, true]],
    ['BYTES', '<U5', ['héllo', '', '😀', 'a\u0000b']],
  ];

  it.each(CASES)('%s is written as %s and read back unchanged', (datatype, descr, values) => {
    // Prepare
    const tensor: RawTensor = { datatype, shape: [1, values.length], data: jsonToRaw(datatype, values) };

    // Act
    const file = writeNpy(tensor);
    const read = readNpy(file);

    // Assess
    expect(Buffer.from(file.subarray(10, 10 + 70)).toString('latin1')).toContain(dictOf(descr, `(1, ${values.length})`));
    expect(read).toMatchObject({ datatype, shape: [1, values.length], descr, version: '1.0', fortranOrder: false });
    expect(Buffer.from(read.data).equals(Buffer.from(tensor.data))).toBe(true);
    expect(rawToJson(read)).toEqual(rawToJson(tensor));
  });

  it('writes exactly the file the format describes: magic, version 1.0, padded header, then the data', () => {
    // Prepare
    const tensor: RawTensor = { datatype: 'FP32', shape: [2, 3], data: new Uint8Array(f32(1, 2, 3, 4, 5, 6)) };

    // Act
    const file = writeNpy(tensor);

    // Assess
    expect(Buffer.from(file).equals(Buffer.from(npyFile(dictOf('<f4', '(2, 3)'), f32(1, 2, 3, 4, 5, 6))))).toBe(true);
    expect((file.byteLength - 24) % 64).toBe(0);
  });

  it('writes a scalar as shape () and one dimension as (n,)', () => {
    const scalar = writeNpy({ datatype: 'FP64', shape: [], data: new Uint8Array(Float64Array.of(2.5).buffer) });
    const vector = writeNpy({ datatype: 'UINT8', shape: [3], data: Uint8Array.of(1, 2, 3) });

    expect(Buffer.from(scalar).equals(Buffer.from(npyFile(dictOf('<f8', '()'), [...new Uint8Array(Float64Array.of(2.5).buffer)])))).toBe(
      true,
    );
    expect(Buffer.from(vector).equals(Buffer.from(npyFile(dictOf('|u1', '(3,)'), [1, 2, 3])))).toBe(true);
    expect(readNpy(scalar).shape).toEqual([]);
    expect(readNpy(vector).shape).toEqual([3]);
  });

  it('writes BYTES that are not UTF-8 as |S<n>, padded with NULs, and reads them back', () => {
    // Prepare: two elements, the first 0xff 0xfe (not UTF-8), the second "ab"
    const raw = Uint8Array.of(2, 0, 0, 0, 0xff, 0xfe, 2, 0, 0, 0, 0x61, 0x62);

    // Act
    const file = writeNpy({ datatype: 'BYTES', shape: [2], data: raw });

    // Assess
    expect(Buffer.from(file).equals(Buffer.from(npyFile(dictOf('|S2', '(2,)'), [0xff, 0xfe, 0x61, 0x62])))).toBe(true);
    expect(Buffer.from(readNpy(file).data).equals(Buffer.from(raw))).toBe(true);
  });

  it('writes an empty array, and reads one', () => {
    const file = writeNpy({ datatype: 'FP32', shape: [0, 3], data: new Uint8Array(0) });

    expect(readNpy(file)).toMatchObject({ shape: [0, 3], data: new Uint8Array(0) });
  });

  it('refuses to write data that does not match its shape', () => {
    expect(() => writeNpy({ datatype: 'FP32', shape: [2], data: new Uint8Array(4) })).toThrow('takes 8 bytes, not 4');
  });
});

describe('files built by hand', () => {
  it('gives the data its own buffer, also when the file is a Node Buffer (whose slice() is a view)', () => {
    // Prepare
    const file = Buffer.from(npyFile(dictOf('<f4', '(2,)'), f32(1, 2)));

    // Act
    const { data } = readNpy(file);

    // Assess
    expect([data.byteOffset, data.buffer.byteLength]).toEqual([0, 8]);
    expect([...new Float32Array(data.buffer)]).toEqual([1, 2]);
  });

  it('reads a little-endian float32 file byte for byte', () => {
    const read = readNpy(npyFile(dictOf('<f4', '(2,)'), [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]));

    expect(read).toMatchObject({ datatype: 'FP32', shape: [2] });
    expect(rawToJson(read)).toEqual([1, -2]);
  });

  it('swaps big-endian data to little-endian: floats, integers and strings', () => {
    // Prepare
    const f4 = npyFile(dictOf('>f4', '(2,)'), [0x3f, 0x80, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00]);
    const i8 = npyFile(dictOf('>i8', '(1,)'), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    const u2 = npyFile(dictOf('>u2', '(1,)'), [0x01, 0x02]);
    const f2 = npyFile(dictOf('>f2', '(1,)'), [0x3c, 0x00]);
    const u = npyFile(dictOf('>U2', '(1,)'), [0, 0, 0, 0x68, 0, 0x01, 0xf6, 0x00]); // "h", U+1F600

    // Act
    const read = [f4, i8, u2, f2, u].map((file) => readNpy(file));

    // Assess
    expect(read.map((t) => t.datatype)).toEqual(['FP32', 'INT64', 'UINT16', 'FP16', 'BYTES']);
    expect([...(read[0]?.data ?? [])]).toEqual([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]);
    expect(read.map((t) => rawToJson(t))).toEqual([[1, -2], [-2], [0x0102], [1], ['h😀']]);
  });

  it('reads the descrs NumPy writes for one-byte types with any byte-order mark, and bool bytes other than 0 and 1 as true', () => {
    const i1 = readNpy(npyFile(dictOf('<i1', '(2,)'), [0xff, 0x01]));
    const b1 = readNpy(npyFile(dictOf('|b1', '(3,)'), [0, 1, 7]));

    expect(rawToJson(i1)).toEqual([-1, 1]);
    expect([...b1.data]).toEqual([0, 1, 1]);
  });

  it('reads strings: U as UTF-32 code points and S as bytes, trailing NULs dropped as NumPy does', () => {
    // Prepare: <U3 ["ab", "é"]; |S3 ["xy", "z"]
    const u = npyFile(dictOf('<U3', '(2,)'), [0x61, 0, 0, 0, 0x62, 0, 0, 0, 0, 0, 0, 0, 0xe9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const s = npyFile(dictOf('|S3', '(2,)'), [0x78, 0x79, 0, 0x7a, 0, 0]);

    // Act
    const [readU, readS] = [readNpy(u), readNpy(s)];

    // Assess
    expect(rawToJson(readU)).toEqual(['ab', 'é']);
    expect([...readU.data]).toEqual([2, 0, 0, 0, 0x61, 0x62, 2, 0, 0, 0, 0xc3, 0xa9]);
    expect([...readS.data]).toEqual([2, 0, 0, 0, 0x78, 0x79, 1, 0, 0, 0, 0x7a]);
  });

  it('reorders Fortran-ordered data to row-major order', () => {
    // Prepare: the 2×3 array [[1, 2, 3], [4, 5, 6]] stored column by column: 1 4 2 5 3 6
    const fortran = npyFile(dictOf('<i2', '(2, 3)', true), [1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6, 0]);
    // the 2×2×2 array with element (i, j, k) = 100i + 10j + k, stored with i varying fastest
    const cube: number[] = [];
    for (let k = 0; k < 2; k += 1) for (let j = 0; j < 2; j += 1) for (let i = 0; i < 2; i += 1) cube.push(100 * i + 10 * j + k);
    const fortranCube = npyFile(dictOf('|u1', '(2, 2, 2)', true), cube);

    // Act
    const [matrix, read] = [readNpy(fortran), readNpy(fortranCube)];

    // Assess
    expect(matrix).toMatchObject({ shape: [2, 3], fortranOrder: true });
    expect(rawToJson(matrix)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(rawToJson(read)).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
  });

  it('reads version 2.0 (4-byte header length) and 3.0 (UTF-8 header)', () => {
    const v2 = readNpy(npyFile(dictOf('<u2', '(2,)'), [1, 0, 2, 0], { version: 2 }));
    const v3 = readNpy(npyFile(dictOf('<u4', '(1,)'), [9, 0, 0, 0], { version: 3, encoding: 'utf8' }));

    expect(v2).toMatchObject({ version: '2.0', datatype: 'UINT16' });
    expect(rawToJson(v2)).toEqual([1, 2]);
    expect(v3).toMatchObject({ version: '3.0', datatype: 'UINT32' });
    expect(rawToJson(v3)).toEqual([9]);
  });

  it('reads headers in the other forms Python literals take: double quotes, no trailing comma, no alignment padding, Python 2 longs, lists', () => {
    const file = npyFile('{"shape": [2L, 1], "fortran_order": False, "descr": "<i4"}', [1, 0, 0, 0, 2, 0, 0, 0], { pad: false });

    expect(readNpy(file)).toMatchObject({ datatype: 'INT32', shape: [2, 1] });
  });
});

describe('malformed files', () => {
  const VALID = npyFile(dictOf('<f4', '(2,)'), f32(1, 2));

  it.each([
    [
      'a zip archive (.npz)',
      Uint8Array.of(0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0),
      /^x\.npy is not a \.npy file: it does not start with "\\x93NUMPY"/,
    ],
    ['an empty file', new Uint8Array(0), /^x\.npy is not a \.npy file/],
    ['the magic alone', Uint8Array.from(MAGIC), /^x\.npy is cut off before its header\./],
    [
      'version 4.0',
      Uint8Array.from([...VALID.subarray(0, 6), 4, 0, ...VALID.subarray(8)]),
      /^x\.npy's format version is 4\.0; versions 1\.0, 2\.0 and 3\.0 are read\./,
    ],
    ['version 1.1', Uint8Array.from([...VALID.subarray(0, 6), 1, 1, ...VALID.subarray(8)]), /format version is 1\.1/],
    ['a cut-off header', VALID.subarray(0, 40), /^x\.npy is cut off in its header \(118 bytes announced, 30 present\)\./],
    ['a cut-off header length (2.0)', Uint8Array.from([...MAGIC, 2, 0, 1, 0]), /^x\.npy is cut off before its header\./],
    [
      'cut-off data',
      VALID.subarray(0, VALID.byteLength - 1),
      /^x\.npy is cut off: its shape \(2,\) of 4-byte elements needs more than the 7 data bytes present\./,
    ],
    [
      'data longer than the shape',
      npyFile(dictOf('<f4', '(2,)'), f32(1, 2, 3)),
      /^x\.npy's shape \(2,\) of 4-byte elements takes 8 bytes, but 12 follow the header\./,
    ],
  ])('refuses %s', (_name, file, message) => {
    expect(refusal(file).message).toMatch(message);
  });

  it('refuses a header longer than the bound before reading it, whatever the file holds', () => {
    // Prepare: version 2.0 announcing a 1 GB header, with only a few bytes behind it
    const huge = npyFile(dictOf('<f4', '(2,)'), f32(1, 2), { version: 2, headerLength: 1_000_000_000 });
    const justOver = npyFile(`${dictOf('<f4', '(1,)')}${' '.repeat(MAX_NPY_HEADER_BYTES)}`, f32(1), { pad: false });

    // Act / Assess
    expect(refusal(huge).message).toBe(`x.npy's header is 1000000000 bytes; at most ${MAX_NPY_HEADER_BYTES} are read.`);
    expect(refusal(justOver).message).toMatch(/^x\.npy's header is 100\d\d bytes; at most 10000 are read\./);
  });

  it('refuses a shape whose element count passes the data before counting it whole (no allocation)', () => {
    const file = npyFile(dictOf('<f8', '(1099511627776, 1099511627776, 1099511627776)'), [0, 0, 0, 0, 0, 0, 0, 0]);

    expect(refusal(file).message).toMatch(
      /^x\.npy is cut off: its shape \(1099511627776, 1099511627776, 1099511627776\) of 8-byte elements needs more than the 8 data bytes present\./,
    );
  });

  it.each([
    ['<c8', /dtype <c8 \(c8\) has no protocol datatype; supported: float16\/32\/64/],
    ['<f16', /dtype <f16 \(f16\) has no protocol datatype/],
    ['<M8[ns]', /dtype "<M8\[ns\]" is not supported; supported: /],
    ['|V8', /dtype \|V8 \(V8\) has no protocol datatype/],
    ['|O', /holds an object array \(pickled Python objects\), which is not read here/],
    ['=f4', /dtype =f4 has native byte order, which the file cannot tell/],
    ['|f4', /dtype \|f4 has no byte order, which a 4-byte element needs/],
    ['<U0', /holds strings of length 0/],
  ])('refuses the dtype %s', (descr, message) => {
    expect(refusal(npyFile(dictOf(descr, '(0,)'), [])).message).toMatch(message);
  });

  it('refuses a structured array, and a header that is not the dict the format describes', () => {
    // Prepare
    const cases: [string, RegExp][] = [
      [
        "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
        /holds a structured array \(a dtype with fields\)/,
      ],
      [
        "{'descr': '<f4', 'fortran_order': False, }",
        /header has the keys 'descr', 'fortran_order'; a \.npy header has exactly 'descr', 'fortran_order' and 'shape'\./,
      ],
      [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        /header has the keys 'descr', 'extra', 'fortran_order', 'shape'/,
      ],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", /'shape' is not a tuple of whole numbers from 0\./],
      ["{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", /'fortran_order' is not True or False\./],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", /not a Python literal dict: unexpected end where "," or "}" should be/],
      ["__import__('os').system('true')", /not a Python literal dict: unexpected "__import__\('os'\).sys" where a value should be/],
      ["{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", /the key "descr" twice/],
      ['[[[[[[[[[[1]]]]]]]]]]', /nested too deep/],
      [
        `{'descr': '<f4', 'fortran_order': False, 'shape': (${Array(65).fill(1).join(', ')}), }`,
        /shape has 65 dimensions; at most 64 are read/,
      ],
    ];

    // Act / Assess
    for (const [dict, message] of cases)
      expect({ dict, message: refusal(npyFile(dict, f32(1))).message }).toEqual({
        dict,
        message: expect.stringMatching(message) as unknown,
      });
  });

  it('refuses a 3.0 header that is not UTF-8, and a string element that is not a Unicode character', () => {
    const latin = npyFile("{'descr': '<u1', 'fortran_order': False, 'shape': (1,), } \xe9", [1], { version: 3 });
    const surrogate = npyFile(dictOf('<U1', '(1,)'), [0x00, 0xd8, 0, 0]);

    expect(refusal(latin).message).toBe("x.npy's version 3.0 header is not UTF-8.");
    expect(refusal(surrogate).message).toBe("x.npy's element 0 holds 0xd800, which is not a Unicode character.");
  });

  it('names the file "The file" when no name is given', () => {
    expect(() => readNpy(new Uint8Array(3))).toThrow(/^The file is not a \.npy file/);
  });
});
