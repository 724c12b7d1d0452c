/**
 * `modelctl infer` against the local stack over real HTTP, with real ONNX Runtime and the local
 * S3 server: NumPy `.npy` inputs sent as binary tensors (Open Inference Protocol binary tensor
 * data extension) and the outputs written back as `.npy`, for every datatype; JSON inputs typed
 * from the model's metadata; an image-sized input over Lambda's 6 MB sent by reference and its
 * output of the same size downloaded by reference; versioned routes; and the errors a person
 * sees for a missing file, a file that is not `.npy`, an unsupported dtype and the API's refusals.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { readNpy, writeNpy } from '../../functions/core/codec/npy.js';
import { jsonToRaw, rawToJson, type RawTensor, type WireDatatype } from '../../functions/core/codec/tensor-bytes.js';
import type { TensorSpec, TensorType } from '../../functions/core/model.js';
import { buildModel } from '../support/onnx/builder.js';
import type { LocalStack } from '../../local/stack.js';
import { startTestStack } from '../fixtures/stack-log.js';
import { runModelctl, type ModelctlRun } from '../fixtures/modelctl.js';
import { identityModel, twoInputModel } from '../fixtures/models.js';

let stack: LocalStack;
let dataDir: string;
let work: string;
let token: string;
/** Requests modelctl made, as `METHOD URL content-type`. */
let requests: string[] = [];

/** Input `x` float32 [N, 3, H, W] → output `y` = x + x (exact in float32): an image-shaped model. */
function imageModel(): Uint8Array {
  const inputs: TensorSpec[] = [{ name: 'x', type: 'float32', shape: ['N', 3, 'H', 'W'] }];
  const outputs: TensorSpec[] = [{ name: 'y', type: 'float32', shape: ['N', 3, 'H', 'W'] }];
  return buildModel({ inputs, outputs, nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['y'] }] });
}

/** The protocol datatype of each model element type, with values that reach its edges. */
const DTYPES: readonly (readonly [TensorType, WireDatatype, readonly unknown[]])[] = [
  ['float16', 'FP16', [1.5, -65504, 'NaN', 'Infinity', '-Infinity', 6e-8]],
  ['float32', 'FP32', [0.1, -3.4028235e38, 'NaN', 'Infinity', '-Infinity', 1e-45]],
  ['float64', 'FP64', [0.1, 1e300, 'NaN', 'Infinity', '-Infinity', 5e-324]],
  ['int8', 'INT8', [-128, 127, 0, 1, -1, 2]],
  ['int16', 'INT16', [-32768, 32767, 0, 1, -1, 2]],
  ['int32', 'INT32', [-2147483648, 2147483647, 0, 1, -1, 2]],
  ['int64', 'INT64', ['-9223372036854775808', '9223372036854775807', '9007199254740993', 1, -1, 2]],
  ['uint8', 'UINT8', [0, 255, 1, 2, 3, 4]],
  ['uint16', 'UINT16', [0, 65535, 1, 2, 3, 4]],
  ['uint32', 'UINT32', [0, 4294967295, 1, 2, 3, 4]],
  ['uint64', 'UINT64', ['18446744073709551615', 0, 1, 2, 3, 4]],
  ['bool', 'BOOL', [true, false, true, true, false, false]],
  ['string', 'BYTES', ['héllo', '', '😀', 'a b', 'x', 'y']],
];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'modelctl-infer-'));
  work = await mkdtemp(path.join(os.tmpdir(), 'modelctl-infer-work-'));
  stack = await startTestStack({ seedSampleModel: false, dataDir });
  const minted = await run(
    'token',
    '--scope',
    'predict,models:read,models:write,models:promote',
    '--data-dir',
    dataDir,
    '--subject',
    'npy-user',
  );
  expect(minted.code).toBe(0);
  token = minted.out.trim();
  await register('image', imageModel());
  await register('pair', twoInputModel().bytes);
  for (const [type] of DTYPES) await register(`id-${type}`, identityModel(type).bytes);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  requests = [];
});

/** Runs modelctl in-process with real fetch and files, recording the requests it makes. */
function run(...argv: string[]): Promise<ModelctlRun> {
  const recording: typeof fetch = (input, init) => {
    const type = new Headers(init?.headers).get('content-type');
    requests.push(`${init?.method ?? 'GET'} ${String(input).split('?')[0]}${type ? ` ${type}` : ''}`);
    return fetch(input, init);
  };
  return runModelctl({ url: stack?.url, token, fetch: recording }, argv);
}

/** Registers a model file as version 1 of `model`, live. */
async function register(model: string, bytes: Uint8Array): Promise<void> {
  const file = path.join(work, `${model}.onnx`);
  await writeFile(file, bytes);
  const registered = await run('register', model, file, '--production');
  expect({ model, code: registered.code, err: registered.err }).toEqual({ model, code: 0, err: '' });
}

/** Writes a tensor as a .npy file in the work folder; its path. */
async function npy(name: string, tensor: RawTensor): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, writeNpy(tensor));
  return file;
}

/**
 * A version 1.0 `.npy` file as the format documents it: `\x93NUMPY`, version 1.0, the header's
 * length (uint16 LE), the header dict padded with spaces and a `\n` to a multiple of 64, the data.
 */
function handMadeNpy(dict: string, data: Buffer): Buffer {
  const length = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const size = Buffer.alloc(2);
  size.writeUInt16LE(length);
  return Buffer.concat([
    Buffer.from([0x93]),
    Buffer.from('NUMPY'),
    Buffer.from([1, 0]),
    size,
    Buffer.from(`${dict.padEnd(length - 1)}\n`, 'latin1'),
    data,
  ]);
}

/** `count` float32 values, deterministic, of varied magnitude and sign. */
function floats(count: number): Float32Array {
  const values = new Float32Array(count);
  for (let i = 0; i < count; i += 1) values[i] = Math.fround(Math.sin(i) * (1 + (i % 97)));
  return values;
}

describe('binary tensors', () => {
  it.each(DTYPES)('sends a %s .npy file and writes the output back as .npy, every value unchanged', async (type, datatype, values) => {
    // Prepare
    const tensor: RawTensor = { datatype, shape: [2, 3], data: jsonToRaw(datatype, values) };
    const input = await npy(`in-${type}.npy`, tensor);
    const out = path.join(work, `out-${type}`);

    // Act
    const result = await run('infer', `id-${type}`, '--input', `x=${input}`, '--output-dir', out);

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(requests).toEqual([`POST ${stack.url}/v2/models/id-${type}/infer application/octet-stream`]);
    const output = readNpy(await readFile(path.join(out, 'y.npy')));
    expect(output).toMatchObject({ datatype, shape: [2, 3] });
    expect(rawToJson(output)).toEqual(rawToJson(tensor));
    expect(result.out).toMatch(
      new RegExp(
        `^id-${type} v1 \\(request [^)]+\\)\\n {2}y {2}${datatype} +\\[2, 3\\] {2}.+ {2}-> ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/y\\.npy\\n$`,
      ),
    );
  });

  it('sends several inputs in the order listed and reads several outputs, as ONNX Runtime computes them', async () => {
    // Prepare
    const a: RawTensor = { datatype: 'FP32', shape: [3, 2], data: new Uint8Array(floats(6).buffer) };
    const b: RawTensor = { datatype: 'FP32', shape: [3, 2], data: new Uint8Array(floats(12).slice(6).buffer) };
    const session = await ort.InferenceSession.create(twoInputModel().bytes);
    const direct = await session.run({
      a: new ort.Tensor('float32', new Float32Array(a.data.slice().buffer), [3, 2]),
      b: new ort.Tensor('float32', new Float32Array(b.data.slice().buffer), [3, 2]),
    });
    await session.release();
    const out = path.join(work, 'out-pair');

    // Act: b first on the command line
    const result = await run(
      'infer',
      'pair',
      '--input',
      `b=${await npy('b.npy', b)}`,
      '--input',
      `a=${await npy('a.npy', a)}`,
      '--output-dir',
      out,
    );

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    for (const name of ['sum', 'product']) {
      const written = readNpy(await readFile(path.join(out, `${name}.npy`)));
      expect({ name, shape: written.shape, data: [...new Float32Array(written.data.buffer)] }).toEqual({
        name,
        shape: [3, 2],
        data: [...(direct[name]?.data as Float32Array)],
      });
    }
  });

  it('takes a Fortran-ordered and a big-endian file as NumPy would read them', async () => {
    // Prepare: [[1, 2, 3], [4, 5, 6]] as big-endian float32 in Fortran order (column by column)
    const body = Buffer.alloc(24);
    [1, 4, 2, 5, 3, 6].forEach((v, i) => body.writeFloatBE(v, i * 4));
    const file = path.join(work, 'fortran-be.npy');
    await writeFile(file, handMadeNpy("{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }", body));

    // Act
    const result = await run('infer', 'id-float32', '--input', `x=${file}`, '--json');

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    expect((JSON.parse(result.out) as { outputs: unknown[] }).outputs).toEqual([
      { name: 'y', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
    ]);
  });

  it("prints the answer as JSON with --json: each output's values as data, NaN and the infinities as words", async () => {
    // Prepare
    const input = await npy('nan.npy', { datatype: 'FP32', shape: [1, 3], data: jsonToRaw('FP32', ['NaN', 'Infinity', 0.25]) });

    // Act
    const result = await run('infer', 'id-float32', '--input', `x=${input}`, '--json');

    // Assess
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(result.out)).toMatchObject({
      model_name: 'id-float32',
      model_version: '1',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: ['NaN', 'Infinity', 0.25] }],
    });
  });

  it('takes JSON inputs, inline or from a file, typed as the model declares them', async () => {
    // Prepare
    const file = path.join(work, 'colors.json');
    await writeFile(
      file,
      JSON.stringify([
        [1, 2, 3],
        [4, 5, 6],
      ]),
    );

    // Act
    const inline = await run('infer', 'id-int64', '--input', 'x=[[1, 2, "9007199254740993"]]');
    const fromFile = await run('infer', 'id-uint8', '--input', `x=@${file}`);

    // Assess
    expect(inline).toMatchObject({ code: 0, err: '' });
    expect(inline.out).toMatch(/^ {2}y {2}INT64 {2}\[1, 3\] {2}1, 2, 9007199254740993$/m);
    expect(requests.filter((r) => r.startsWith('GET'))).toEqual([
      `GET ${stack.url}/v2/models/id-int64`,
      `GET ${stack.url}/v2/models/id-uint8`,
    ]);
    expect(fromFile.out).toMatch(/^ {2}y {2}UINT8 {2}\[2, 3\] {2}1, 2, 3, 4, 5, 6$/m);
  });

  it('calls the version asked for with --version', async () => {
    const input = await npy('v.npy', { datatype: 'FP64', shape: [1, 3], data: jsonToRaw('FP64', [1, 2, 3]) });

    const result = await run('infer', 'id-float64', '--version', '1', '--input', `x=${input}`);

    expect(result).toMatchObject({ code: 0, err: '' });
    expect(requests).toEqual([`POST ${stack.url}/v2/models/id-float64/versions/1/infer application/octet-stream`]);
    expect(result.out).toMatch(/^id-float64 v1 /);
  });
});

describe('by reference', () => {
  it("uploads an image-sized input over Lambda's 6 MB first, and downloads its output of the same size", async () => {
    // Prepare: 1 × 3 × 1024 × 1024 float32, 12.6 MB raw (16.8 MB once base64-encoded)
    const x = floats(3 * 1024 * 1024);
    const input = await npy('image.npy', { datatype: 'FP32', shape: [1, 3, 1024, 1024], data: new Uint8Array(x.buffer) });
    const out = path.join(work, 'out-image');

    // Act
    const result = await run('infer', 'image', '--input', `x=${input}`, '--output-dir', out);

    // Assess
    expect(result.code).toBe(0);
    expect(result.err).toContain("Input x is 12.0 MB: too large for Lambda's 6 MB inline, so it is uploaded first and sent by reference.");
    // The model's metadata first (the input's datatype and rows checked before any upload).
    expect(requests.slice(0, 4)).toEqual([
      `GET ${stack.url}/v2/models/image`,
      `POST ${stack.url}/v1/models/image/payloads application/json`,
      expect.stringMatching(/^PUT http:\/\/127\.0\.0\.1:\d+\/onnx-payloads\//) as unknown,
      `POST ${stack.url}/v2/models/image/infer application/octet-stream`,
    ]);
    expect(requests[4]).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/onnx-payloads\//); // the output, by reference
    const y = readNpy(await readFile(path.join(out, 'y.npy')));
    expect(y.shape).toEqual([1, 3, 1024, 1024]);
    const doubled = new Float32Array(y.data.buffer);
    let wrong = 0;
    for (let i = 0; i < x.length; i += 1) if (doubled[i] !== (x[i] as number) * 2) wrong += 1;
    expect(wrong).toBe(0);
  }, 60_000);
});

describe('errors', () => {
  it('says when a file is missing, is not a .npy file, or holds a dtype the protocol has not', async () => {
    // Prepare
    const complex = path.join(work, 'complex.npy');
    await writeFile(complex, handMadeNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", Buffer.alloc(8)));

    // Act
    const missing = await run('infer', 'id-float32', '--input', `x=${path.join(work, 'nope.npy')}`);
    const notNpy = await run('infer', 'id-float32', '--input', `x=${path.join(work, 'image.onnx')}`);
    const unsupported = await run('infer', 'id-float32', '--input', `x=${complex}`);

    // Assess
    expect(missing).toMatchObject({ code: 1, out: '', err: `modelctl: cannot read ${path.join(work, 'nope.npy')}: no such file.\n` });
    expect(notNpy.err).toBe(
      `modelctl: ${path.join(work, 'image.onnx')} is not a .npy file: it does not start with "\\x93NUMPY" (save arrays with numpy.save).\n`,
    );
    expect(unsupported.err).toMatch(/^modelctl: .+complex\.npy's dtype <c8 \(c8\) has no protocol datatype; supported: /);
    expect(requests).toEqual([]); // nothing was sent
  });

  it("shows the API's refusals as CODE: message (at path), exit 1", async () => {
    // Prepare
    const ints = await npy('ints.npy', { datatype: 'INT32', shape: [1, 3], data: jsonToRaw('INT32', [1, 2, 3]) });

    // Act
    const wrongType = await run('infer', 'id-float32', '--input', `x=${ints}`);
    const wrongName = await run('infer', 'id-int32', '--input', `nope=${ints}`);
    const noModel = await run('infer', 'ghost', '--input', `x=${ints}`);
    const jsonWrongName = await run('infer', 'id-int32', '--input', 'nope=[[1, 2, 3]]');

    // Assess
    expect(wrongType).toMatchObject({ code: 1, out: '' });
    expect(wrongType.err).toMatch(/^400 DATATYPE_MISMATCH: .+ \(at inputs\[0\]\.datatype\)\n$/);
    expect(wrongName.err).toMatch(/^400 UNKNOWN_INPUT: .+\n$/);
    expect(noModel.err).toMatch(/^404 MODEL_NOT_FOUND: /);
    expect(jsonWrongName.err).toBe(
      'The model has no input "nope" (its inputs: "x"); a JSON --input takes the datatype the model declares.\n',
    );
  });

  it('refuses bad usage with exit 2, the mistake and where the help is, before anything is sent', async () => {
    // Act
    const results = {
      noInput: await run('infer', 'id-float32'),
      badForm: await run('infer', 'id-float32', '--input', 'x.npy'),
      twice: await run('infer', 'id-float32', '--input', 'x=[1]', '--input', 'x=[2]'),
      bodyAndInput: await run('infer', 'id-float32', '--body', 'b.json', '--input', 'x=[1]'),
      foreign: await run('infer', 'id-float32', '--input', 'x=[1]', '--format', 'csv'),
      badJson: await run('infer', 'id-float32', '--input', 'x=[1, 2'),
    };

    // Assess
    for (const [name, result] of Object.entries(results))
      expect({ name, code: result.code, hint: result.err.split('\n').slice(1) }).toEqual({
        name,
        code: 2,
        hint: ['Run "modelctl infer --help" for usage.', ''],
      });
    expect(results.noInput.err).toMatch(/^"infer" takes --input NAME=FILE\.npy \(once per input\), or --body FILE/);
    expect(results.badForm.err).toMatch(/^--input is NAME=FILE\.npy, NAME=@FILE\.json or NAME='\[JSON array\]', not "x\.npy"\./);
    expect(results.twice.err).toMatch(/^--input "x" is given twice\./);
    expect(results.foreign.err).toMatch(/^Unknown option '--format'/);
    expect(results.bodyAndInput.err).toMatch(/^--body sends a JSON request as it is; it goes without --input and --output-dir\./);
    expect(results.badJson.err).toMatch(/^--input x is not valid JSON/);
    expect(requests).toEqual([]);
  });

  it("still sends a JSON request as it is with --body: the summary, or with -o json the API's answer", async () => {
    // Prepare
    const body = path.join(work, 'request.json');
    await writeFile(body, JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }));

    // Act
    const text = await run('infer', 'id-float32', '--body', body);
    const json = await run('infer', 'id-float32', '--body', body, '-o', 'json');

    // Assess
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^id-float32 v1 \(request \S+\)\n {2}y {2}FP32 {2}\[1, 3\] {2}1, 2, 3\n$/);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({ outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }] });
  });
});
