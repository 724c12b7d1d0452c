/**
 * The ONNX Runtime layer build: `nodejs/node_modules/onnxruntime-node` (+ onnxruntime-common)
 * with the Linux binary of the declared architecture only, its unzipped size printed, the layer
 * loadable by Node, and synth failing when a function plus its layer pass Lambda's 250 MB.
 * Builds go to the cached, git-ignored `layers/onnxruntime/build/`.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import {
  buildOnnxRuntimeLayer,
  checkUnzippedSize,
  directorySize,
  LAMBDA_UNZIPPED_LIMIT_BYTES,
  type LayerArchitecture,
  type LayerBuild,
} from '../../layers/onnxruntime/build.js';
import { OnnxRuntimeLayer } from '../../lib/onnxruntime-layer.js';
import { ServingFunction } from '../../lib/serving-function.js';
import { bundlingQuietly, testApp } from './helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Every file under `dir`, relative to it. */
function tree(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? tree(dir, relative) : [relative];
  });
}

/** The machine an ELF file is built for (e_machine at offset 18): 0xB7 aarch64, 0x3E x86-64. */
function elfMachine(file: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return header.readUInt16LE(18);
}

const ARCHES: [LayerArchitecture, string, number][] = [
  ['arm64', 'arm64', 0xb7],
  ['x86_64', 'x64', 0x3e],
];

describe.each(ARCHES)('the %s layer', (architecture, nodeArch, machine) => {
  let build: LayerBuild;

  beforeAll(() => {
    build = buildOnnxRuntimeLayer({ architecture });
  });

  it('holds onnxruntime-node and onnxruntime-common under nodejs/node_modules, and nothing else', () => {
    expect(readdirSync(path.join(build.contentDir))).toEqual(['nodejs']);
    expect(readdirSync(path.join(build.contentDir, 'nodejs/node_modules')).sort()).toEqual(['onnxruntime-common', 'onnxruntime-node']);
  });

  it(`carries the linux/${nodeArch} binaries only, built for that machine`, () => {
    // Prepare
    const node = path.join(build.contentDir, 'nodejs/node_modules/onnxruntime-node');

    // Assess: no darwin/win32, no other Linux architecture.
    expect(readdirSync(path.join(node, 'bin/napi-v6'))).toEqual(['linux']);
    expect(readdirSync(path.join(node, 'bin/napi-v6/linux'))).toEqual([nodeArch]);
    const binaries = readdirSync(path.join(node, `bin/napi-v6/linux/${nodeArch}`)).sort();
    expect(binaries).toEqual(['libonnxruntime.so.1', 'onnxruntime_binding.node']);
    for (const binary of binaries) expect(elfMachine(path.join(node, `bin/napi-v6/linux/${nodeArch}`, binary))).toBe(machine);
  });

  it('leaves out what is not loaded at run time: install script, sources, declarations, source maps', () => {
    const files = tree(build.contentDir);
    expect(files.filter((f) => /\.d\.ts$|\.map$|\/lib\/.*\.ts$|\/script\/|README/.test(f))).toEqual([]);
    expect(files).toEqual(
      expect.arrayContaining([
        'nodejs/node_modules/onnxruntime-node/package.json',
        'nodejs/node_modules/onnxruntime-node/dist/index.js',
        'nodejs/node_modules/onnxruntime-common/dist/cjs/index.js',
        'nodejs/node_modules/onnxruntime-common/dist/esm/index.js',
      ]),
    );
  });

  it('reports its unzipped size, far below the 250 MB limit', () => {
    expect(build.unzippedBytes).toBe(directorySize(build.contentDir).bytes);
    expect(build.unzippedBytes).toBeGreaterThan(10 * 1_048_576);
    expect(build.unzippedBytes).toBeLessThan(LAMBDA_UNZIPPED_LIMIT_BYTES / 2);
    expect(build.packages).toEqual({ 'onnxruntime-node': expect.any(String), 'onnxruntime-common': expect.any(String) });
  });

  it('is reused from the cache when nothing changed', () => {
    const before = statSync(path.join(build.contentDir, 'nodejs/node_modules/onnxruntime-node/package.json')).mtimeMs;
    const again = buildOnnxRuntimeLayer({ architecture });
    expect(again.built).toBe(false);
    expect(again.unzippedBytes).toBe(build.unzippedBytes);
    expect(statSync(path.join(again.contentDir, 'nodejs/node_modules/onnxruntime-node/package.json')).mtimeMs).toBe(before);
  });
});

describe('the build script', () => {
  it('builds a fresh tree into an empty folder, identical to the cached one', () => {
    // Prepare
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'onnx-layer-'));

    // Act
    const fresh = buildOnnxRuntimeLayer({ architecture: 'arm64', outDir });
    const cached = buildOnnxRuntimeLayer({ architecture: 'arm64' });

    // Assess
    expect(fresh.built).toBe(true);
    expect(fresh.contentDir.startsWith(outDir)).toBe(true);
    expect(tree(fresh.contentDir).sort()).toEqual(tree(cached.contentDir).sort());
    expect(fresh.unzippedBytes).toBe(cached.unzippedBytes);
    rmSync(outDir, { recursive: true, force: true });
  });

  it('prints the layer size when run by hand', () => {
    // Act
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'layers/onnxruntime/build.ts', '--arch', 'arm64'], {
      cwd: ROOT,
      encoding: 'utf8',
    });

    // Assess
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(
      /^onnxruntime layer \(arm64\): \d+\.\d MB unzipped \(\d+ bytes, \d+ files; onnxruntime-node@[\d.]+, onnxruntime-common@[\d.]+\)/,
    );
  });

  it('rejects an unknown architecture', () => {
    expect(() => buildOnnxRuntimeLayer({ architecture: 'ppc64' as LayerArchitecture })).toThrow(/Unknown layer architecture "ppc64"/);
  });

  const hostArch = ({ arm64: 'arm64', x64: 'x86_64' } as Record<string, LayerArchitecture | undefined>)[process.arch];
  (process.platform === 'linux' && hostArch ? it : it.skip)(
    `the layer for this machine (${hostArch ?? process.arch}) loads on its own and runs the iris model`,
    () => {
      // Prepare: a script importing onnxruntime-node as an ES module from the layer's folder only.
      const build = buildOnnxRuntimeLayer({ architecture: hostArch as LayerArchitecture });
      const script = `
      import * as ort from 'onnxruntime-node';
      const session = await ort.InferenceSession.create(${JSON.stringify(path.join(ROOT, 'models/iris/model.onnx'))});
      const input = new ort.Tensor('float32', Float32Array.from([5.1, 3.5, 1.4, 0.2]), [1, 4]);
      const out = await session.run({ [session.inputNames[0]]: input });
      console.log(JSON.stringify({ inputs: session.inputNames, outputs: Object.keys(out) }));`;

      // Act
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: path.join(build.contentDir, 'nodejs'),
        encoding: 'utf8',
      });

      // Assess
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout)).toEqual({ inputs: ['features'], outputs: ['probabilities', 'label'] });
    },
  );
});

describe("Lambda's 250 MB unzipped limit", () => {
  it('checkUnzippedSize passes within the limit and reports every part', () => {
    const check = checkUnzippedSize({ 'function iris': 1_048_576, 'layer onnxruntime (arm64)': 25 * 1_048_576 });
    expect(check).toMatchObject({ ok: true, totalBytes: 26 * 1_048_576 });
    expect(check.report).toBe('function iris 1.0 MB + layer onnxruntime (arm64) 25.0 MB = 26.0 MB of 250.0 MB');
  });

  it('checkUnzippedSize fails one byte over the limit', () => {
    expect(checkUnzippedSize({ function: LAMBDA_UNZIPPED_LIMIT_BYTES - 10, layer: 11 }).ok).toBe(false);
    expect(checkUnzippedSize({ function: LAMBDA_UNZIPPED_LIMIT_BYTES - 10, layer: 10 }).ok).toBe(true);
  });

  it('synth fails, naming the sizes, when a function plus its layer pass the limit', () => {
    // Prepare: a limit below the real layer's size, so the check must trip.
    const stack = new Stack(testApp(), 'TooBig');
    const layer = new OnnxRuntimeLayer(stack, 'Layer', { architecture: 'arm64' });
    const { bundled } = bundlingQuietly(
      () =>
        new ServingFunction(stack, 'Predict', {
          entry: 'functions/predict/handler.ts',
          layer,
          memoryMb: 1024,
          timeout: Duration.seconds(10),
          logRetention: RetentionDays.ONE_WEEK,
          unzippedSizeLimitBytes: 10 * 1_048_576,
        }),
    );
    expect(bundled).toEqual(['TooBig/Predict/Function/Code/Stage']);

    // Act + Assess
    expect(() => Template.fromStack(stack)).toThrow(
      /Function and layers pass Lambda's unzipped size limit: function TooBig\/Predict [\d.]+ MB \+ layer onnxruntime \(arm64\) [\d.]+ MB = [\d.]+ MB of 10\.0 MB/,
    );
  });

  it('the layer build folder is git-ignored', () => {
    const ignored = spawnSync('git', ['check-ignore', '-q', 'layers/onnxruntime/build/arm64/any/stamp.json'], { cwd: ROOT });
    expect(existsSync(path.join(ROOT, '.gitignore'))).toBe(true);
    expect(ignored.status).toBe(0);
  });
});
