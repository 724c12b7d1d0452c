/**
 * An image model served through `npm run invoke` (issue 12): the app synthesized with an endpoint
 * `segmenter` (this test's context only, with a metrics baseline), the user's ONNX file registered
 * with `--register` through the real registry service and promoted through the gates, and the
 * bundled predict function run on an API Gateway event carrying a 512 × 512 image in the Open
 * Inference Protocol's binary form. Its output bytes are compared with ONNX Runtime called
 * directly on the same input, and both payloads with Lambda's synchronous limit.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { LAMBDA_SYNC_PAYLOAD_BYTES, serializedBytes } from '../../functions/core/codec/payload-limits.js';
import { buildModel } from '../support/onnx/builder.js';
import { createServingApp } from '../../lib/app.js';
import { CONFIG_CONTEXT_KEY } from '../../lib/config.js';
import { invoke, isProxyResult, RegistrationRefusedError, resultBody, type ProxyResultShape } from '../../local/invoke.js';
import { binaryBody, rawBytes, runDirect, tensorRaw } from '../fixtures/binary-http.js';
import { seededRandom } from '../fixtures/models.js';
import { proxyEvent } from '../fixtures/proxy-events.js';
import { captureOutput, jsonLines } from '../fixtures/output.js';
import { bundlingQuietly, cdkJsonConfig, cdkJsonContext } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OCTET = 'application/octet-stream';
/** The metrics gate of the test's endpoint: a version must declare iou ≥ 0.8 to go live. */
const BASELINE = { iou: { min: 0.8 } };
const METADATA = { algorithm: '1 × 1 convolution (grayscale)', metrics: { iou: 0.91 } };

/** Grayscale by a 1 × 1 convolution: x [1, 3, H, W] float32 → y [1, 1, H, W], H and W dynamic. */
function imageModel(): Uint8Array {
  return buildModel({
    inputs: [{ name: 'x', type: 'float32', shape: [1, 3, 'H', 'W'] }],
    outputs: [{ name: 'y', type: 'float32', shape: [1, 1, 'H', 'W'] }],
    initializers: [
      { name: 'w', dims: [1, 3, 1, 1], data: new Float32Array([0.299, 0.587, 0.114]) },
      { name: 'b', dims: [1], data: new Float32Array([0.0625]) },
    ],
    nodes: [{ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { kernel_shape: [1, 1] } }],
  });
}

/** `count` seeded float32 values in [0, 1): pixels. */
function pixels(count: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: count }, () => random());
}

/**
 * The REST proxy event API Gateway sends the segmenter's function for a binary infer request
 * (`binary_data_output` asked for): the body base64-encoded, `isBase64Encoded: true`.
 */
function binaryInferEvent(x: Float32Array, h: number, w: number) {
  const header = {
    inputs: [{ name: 'x', shape: [1, 3, h, w], datatype: 'FP32', parameters: { binary_data_size: x.byteLength } }],
    parameters: { binary_data_output: true },
  };
  const { body, headerLength } = binaryBody(header, [rawBytes(x)]);
  return proxyEvent({
    method: 'POST',
    resource: '/v2/models/segmenter/infer',
    headers: [
      ['Content-Type', OCTET],
      ['Accept', OCTET],
      ['Inference-Header-Content-Length', String(headerLength)],
    ],
    body,
  });
}

/** A binary answer's JSON header and the bytes after it, split at `inference-header-content-length`. */
function splitAnswer(result: ProxyResultShape, body: Buffer): { header: Record<string, unknown>; rest: Buffer } {
  const length = Number(result.headers?.['inference-header-content-length']);
  return { header: JSON.parse(body.subarray(0, length).toString('utf8')) as Record<string, unknown>, rest: body.subarray(length) };
}

/** `npm run invoke -- ...`, as a user runs it (the script is `tsx local/invoke-cli.ts`). */
function cli(args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'local/invoke-cli.ts'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

const H = 512;
const W = 512;
const MODEL = imageModel();
const X = pixels(3 * H * W, 1);

let dir: string;
let templateFile: string;
let modelFile: string;
let metadataFile: string;
let eventFile: string;
let expected: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'invoke-image-'));
  // Prepare: the app as `cdk synth` makes it, with an image endpoint besides cdk.json's.
  // (cdk.json's placeholder issuer replaced, as it warns at synth.)
  const config = cdkJsonConfig();
  const { built: stack } = bundlingQuietly(() => {
    const { app, stack } = createServingApp({
      context: {
        ...cdkJsonContext(),
        [CONFIG_CONTEXT_KEY]: { ...config, endpoints: [...config.endpoints, { model: 'segmenter', memoryMb: 2048, baseline: BASELINE }] },
      },
      outdir: path.join(dir, 'cdk.out'),
      nag: false,
    });
    app.synth();
    return stack;
  });
  templateFile = path.join(dir, 'cdk.out', `${stack.stackName}.template.json`);
  // The user's files: the model, its metadata, a 512 × 512 binary event.
  modelFile = path.join(dir, 'segmenter.onnx');
  metadataFile = path.join(dir, 'segmenter.metadata.json');
  eventFile = path.join(dir, 'infer-512.json');
  await writeFile(modelFile, MODEL);
  await writeFile(metadataFile, JSON.stringify(METADATA));
  await writeFile(eventFile, JSON.stringify(binaryInferEvent(X, H, W)));
  // ONNX Runtime called directly on the same input.
  const direct = await runDirect(MODEL, { x: new ort.Tensor('float32', X, [1, 3, H, W]) });
  expected = tensorRaw(direct['y'] as ort.Tensor);
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("serves the registered image model at 512 × 512 in binary form: ONNX Runtime's output bytes, both payloads within Lambda's limit", async () => {
  // Prepare
  const event = binaryInferEvent(X, H, W);

  // Act
  const { result, registered } = await invoke({
    templateFile,
    functionName: 'segmenter',
    event,
    seedSampleModel: false,
    register: [{ model: 'segmenter', bytes: MODEL, metadata: METADATA }],
  });

  // Assess
  expect(registered).toEqual([{ model: 'segmenter', version: '1' }]);
  expect(isProxyResult(result)).toBe(true);
  const response = result as ProxyResultShape;
  expect(response).toMatchObject({ statusCode: 200, isBase64Encoded: true, headers: { 'content-type': OCTET } });
  const { header, rest } = splitAnswer(response, resultBody(result) as Buffer);
  expect(header).toMatchObject({ model_name: 'segmenter', model_version: '1' });
  expect(header['outputs']).toEqual([
    expect.objectContaining({ name: 'y', datatype: 'FP32', shape: [1, 1, H, W], parameters: { binary_data_size: H * W * 4 } }),
  ]);
  expect(rest.equals(expected)).toBe(true);
  // 3.1 MB of floats, 4.2 MB as the event carries them; 1 MB back, 1.4 MB as the result carries it.
  expect(serializedBytes(event)).toBeGreaterThan(4_000_000);
  expect(serializedBytes(event)).toBeLessThan(LAMBDA_SYNC_PAYLOAD_BYTES);
  expect(serializedBytes(result)).toBeGreaterThan(H * W * 4);
  expect(serializedBytes(result)).toBeLessThan(LAMBDA_SYNC_PAYLOAD_BYTES);
}, 120_000);

it('npm run invoke --register --metadata registers the file, makes it live and writes the binary answer with --out', async () => {
  // Prepare
  const outFile = path.join(dir, 'answer.bin');

  // Act
  const run = await cli([
    'segmenter',
    '-e',
    eventFile,
    '-t',
    templateFile,
    '--register',
    `segmenter=${modelFile}`,
    '--metadata',
    metadataFile,
    '--out',
    outFile,
  ]);

  // Assess
  expect({ code: run.code, err: run.code === 0 ? '' : run.err }).toEqual({ code: 0, err: '' });
  expect(run.err).toContain('Registered segmenter version 1, live (production).');
  const printed = JSON.parse(run.out) as ProxyResultShape & { bodyBytes: number; bodyFile: string };
  expect(printed).toMatchObject({ statusCode: 200, isBase64Encoded: true, bodyFile: outFile });
  const body = await readFile(outFile);
  expect(body.length).toBe(printed.bodyBytes);
  const { header, rest } = splitAnswer(printed, body);
  expect(header).toMatchObject({ model_name: 'segmenter', model_version: '1' });
  expect(rest.equals(expected)).toBe(true);
}, 120_000);

it('a 1024 × 1024 binary event (over 6 MiB once base64-encoded) is refused before the function runs, as Lambda refuses it', async () => {
  // Prepare: 12.6 MB of floats, 16.8 MB in the event.
  const event = binaryInferEvent(pixels(3 * 1024 * 1024, 2), 1024, 1024);
  expect(serializedBytes(event)).toBeGreaterThan(LAMBDA_SYNC_PAYLOAD_BYTES);

  // Act
  const run = invoke({
    templateFile,
    functionName: 'segmenter',
    event,
    seedSampleModel: false,
    register: [{ model: 'segmenter', bytes: MODEL, metadata: METADATA }],
  });

  // Assess
  await expect(run).rejects.toThrow(
    new RegExp(`The event is \\d+ bytes as JSON, over Lambda's ${LAMBDA_SYNC_PAYLOAD_BYTES}-byte limit .*RequestEntityTooLargeException`),
  );
}, 60_000);

describe('--register errors say what to fix', () => {
  it('a model file that does not exist is named', async () => {
    const missing = path.join(dir, 'no-such-model.onnx');
    const run = await cli(['segmenter', '-e', eventFile, '-t', templateFile, '--register', `segmenter=${missing}`]);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`invoke failed: The model file "${missing}" (--register segmenter=${missing}) does not exist`);
  }, 60_000);

  it('a model the function does not serve is refused, naming the model it serves', async () => {
    const run = await cli(['segmenter', '-e', eventFile, '-t', templateFile, '--register', `iris=${modelFile}`]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(
      /invoke failed: EndpointSegmenter\w+ serves the model "segmenter", not "iris": register its file as --register segmenter=<file.onnx>/,
    );
  }, 60_000);

  it('--register without <model>= and --metadata before any --register are refused with the form expected', async () => {
    const bare = await cli(['segmenter', '-e', eventFile, '-t', templateFile, '--register', modelFile]);
    expect(bare.err).toContain('--register takes <model>=<file.onnx>');
    const early = await cli([
      'segmenter',
      '-e',
      eventFile,
      '-t',
      templateFile,
      '--metadata',
      metadataFile,
      '--register',
      `segmenter=${modelFile}`,
    ]);
    expect(early.err).toContain(`--metadata ${metadataFile} comes before any --register`);
    expect([bare.code, early.code]).toEqual([2, 2]);
    // Two runs of the CLI, each a process of its own: more than jest's 5 s default on a busy machine.
  }, 60_000);

  it("a promotion the metrics gate refuses prints the gate's code and message, and the function does not run", async () => {
    // Act: no metadata, so no iou for the endpoint's baseline (read from the template's control function).
    const run = await cli(['segmenter', '-e', eventFile, '-t', templateFile, '--register', `segmenter=${modelFile}`]);

    // Assess
    expect(run.code).toBe(1);
    expect(run.err).toMatch(
      /invoke failed: Promoting version 1 of "segmenter" was refused: GATE_METRICS: Gate "metrics" refused the promotion: .*iou/,
    );
    expect(run.out).toBe('');
  }, 120_000);

  it("a file ONNX Runtime cannot load is refused at registration with the API's code", async () => {
    // Act
    let refused: unknown;
    const printed = await captureOutput(async () => {
      refused = await invoke({
        templateFile,
        functionName: 'segmenter',
        event: binaryInferEvent(pixels(3, 3), 1, 1),
        seedSampleModel: false,
        register: [{ model: 'segmenter', bytes: Buffer.from('not an onnx file'), metadata: METADATA }],
      }).then(
        () => undefined,
        (error: unknown) => error,
      );
    });

    // Assess: refused, and ONNX Runtime's own words logged (not shown to the caller) under a reference.
    expect(refused).toBeInstanceOf(RegistrationRefusedError);
    expect(refused).toMatchObject({ model: 'segmenter', code: 'INVALID_MODEL', path: 'model' });
    expect((refused as Error).message).toMatch(/^Registering "segmenter" was refused: INVALID_MODEL: .+ \(at model\)$/);
    expect(jsonLines(printed)).toContainEqual(
      expect.objectContaining({ level: 'WARN', message: 'ONNX Runtime refused a model file', reference: expect.stringMatching(/^ort-/) }),
    );
  }, 120_000);
});
