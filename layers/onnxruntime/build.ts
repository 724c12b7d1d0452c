/**
 * Builds the ONNX Runtime Lambda layer locally, without Docker: copies onnxruntime-node and its one
 * run-time dependency, onnxruntime-common, from this repository's node_modules into
 * `<outDir>/<packages and versions>/layer/nodejs/node_modules` (where Lambda's Node.js runtimes look for layer packages),
 * keeping the native binaries of ONE Linux architecture only.
 *
 * What the layer leaves out, and why:
 * - `bin/napi-v6/{darwin,win32}/**` and the other Linux architecture: Lambda runs Linux on the
 *   layer's declared architecture, and the other platforms' binaries are ~250 MB together, more
 *   than Lambda allows a function and its layers to hold unzipped.
 * - onnxruntime-node's `script/` and its dependencies `adm-zip` and `global-agent`: they serve its
 *   install script (downloading GPU binaries), never `require('onnxruntime-node')`.
 * - TypeScript sources (`lib/`), declarations (`*.d.ts`), source maps and READMEs: not loaded at
 *   run time.
 *
 * The CDK construct (`lib/onnxruntime-layer.ts`) calls `buildOnnxRuntimeLayer` at synth time;
 * the result is cached under `layers/onnxruntime/build/<architecture>/` (git-ignored) and rebuilt
 * only when the installed packages or this script's layout change.
 *
 * Run by hand (prints the layer's unzipped size and, with `--function-dir`, checks a function
 * bundle plus the layer against Lambda's 250 MB unzipped limit):
 *
 * @example
 * npx tsx layers/onnxruntime/build.ts --arch arm64
 * npx tsx layers/onnxruntime/build.ts --arch x86_64 --function-dir cdk.out/asset.1234
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** Lambda's names for the two architectures it offers. */
export const LAYER_ARCHITECTURES = ['arm64', 'x86_64'] as const;
export type LayerArchitecture = (typeof LAYER_ARCHITECTURES)[number];

/** Node's `process.arch` for each Lambda architecture: onnxruntime-node picks its binary by it. */
const NODE_ARCH: Readonly<Record<LayerArchitecture, string>> = { arm64: 'arm64', x86_64: 'x64' };

/**
 * Lambda's limit on a function's unzipped deployment package plus all of its layers:
 * 250 MB, i.e. 262,144,000 bytes.
 */
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000;

/** Bump when the copied layout changes, so cached builds are redone. */
const LAYOUT_VERSION = 1;

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Where builds are cached by default: `layers/onnxruntime/build/` (git-ignored). */
export const DEFAULT_BUILD_ROOT = path.join(HERE, 'build');

export interface BuildLayerOptions {
  readonly architecture: LayerArchitecture;
  /** Folder for this architecture's build. @default `layers/onnxruntime/build/<architecture>` */
  readonly outDir?: string;
  /** Rebuild even when a matching cached build exists. @default false */
  readonly force?: boolean;
}

export interface LayerBuild {
  readonly architecture: LayerArchitecture;
  /** The layer's content root (it holds `nodejs/node_modules`): what Lambda unpacks into `/opt`. */
  readonly contentDir: string;
  /** Versions of the packages the layer holds. */
  readonly packages: Readonly<Record<string, string>>;
  /** Unzipped size in bytes: every file's size, summed. */
  readonly unzippedBytes: number;
  readonly files: number;
  /** False when a cached build was reused. */
  readonly built: boolean;
}

interface Stamp {
  readonly layout: number;
  readonly architecture: LayerArchitecture;
  readonly packages: Readonly<Record<string, string>>;
}

/** A package to copy and which of its files a running function needs. */
interface PackagePlan {
  readonly name: string;
  readonly dir: string;
  readonly version: string;
  readonly keep: (relativePath: string) => boolean;
}

const RUNTIME_FILE = /\.(c|m)?js$/;
const NOT_AT_RUN_TIME = /(\.d\.ts|\.map)$/;

function plans(architecture: LayerArchitecture): PackagePlan[] {
  const require = createRequire(import.meta.url);
  const nodePackageJson = require.resolve('onnxruntime-node/package.json');
  const nodeDir = path.dirname(nodePackageJson);
  // onnxruntime-common's `exports` hides its package.json: resolve its entry from
  // onnxruntime-node's point of view (the copy it really loads), then walk up to the package.
  const commonDir = packageRoot(createRequire(nodePackageJson).resolve('onnxruntime-common'), 'onnxruntime-common');
  const binaryDir = `bin/napi-v6/linux/${NODE_ARCH[architecture]}/`;
  const isPackageJson = (file: string) => path.posix.basename(file) === 'package.json';
  return [
    {
      name: 'onnxruntime-node',
      dir: nodeDir,
      version: readVersion(nodeDir),
      keep: (file) =>
        isPackageJson(file) ||
        (file.startsWith('dist/') && RUNTIME_FILE.test(file) && !NOT_AT_RUN_TIME.test(file)) ||
        file.startsWith(binaryDir),
    },
    {
      name: 'onnxruntime-common',
      dir: commonDir,
      version: readVersion(commonDir),
      // Both builds: `exports` sends `require` to dist/cjs and `import` to dist/esm.
      keep: (file) => isPackageJson(file) || (file.startsWith('dist/') && RUNTIME_FILE.test(file) && !NOT_AT_RUN_TIME.test(file)),
    },
  ];
}

function packageRoot(entry: string, name: string): string {
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === name) return dir;
  }
  throw new Error(`Cannot find the ${name} package above ${entry}; run npm ci.`);
}

function readVersion(dir: string): string {
  const { version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof version !== 'string') throw new Error(`${dir}/package.json has no version`);
  return version;
}

/**
 * Every file under `dir`, as POSIX paths relative to it. `ownFilesOnly` skips nested
 * `node_modules` folders (another package's files, when listing one package).
 */
function listFiles(dir: string, ownFilesOnly = false, prefix = ''): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      if (!(ownFilesOnly && entry.name === 'node_modules')) files.push(...listFiles(dir, ownFilesOnly, relative));
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      files.push(relative);
    }
  }
  return files;
}

/** Total size and count of the files under `dir` (what Lambda counts against its unzipped limit). */
export function directorySize(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const file of listFiles(dir)) {
    bytes += statSync(path.join(dir, file)).size;
    files += 1;
  }
  return { bytes, files };
}

function readStamp(file: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

function sameStamp(a: Stamp | undefined, b: Stamp): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Builds (or reuses the cached build of) the layer for one architecture.
 *
 * Each build lives in a folder named after what it holds (`<outDir>/onnxruntime-node-1.30.0-...`),
 * so a build in use is never deleted or rewritten: several processes building at once (jest
 * workers) each copy into their own temporary folder and move it into place with one rename;
 * the first rename wins and the others discard their copy. Builds of other versions are removed.
 */
export function buildOnnxRuntimeLayer(options: BuildLayerOptions): LayerBuild {
  const { architecture } = options;
  if (!LAYER_ARCHITECTURES.includes(architecture)) {
    throw new Error(`Unknown layer architecture "${String(architecture)}"; use one of ${LAYER_ARCHITECTURES.join(', ')}.`);
  }
  const outDir = options.outDir ?? path.join(DEFAULT_BUILD_ROOT, architecture);
  const packagePlans = plans(architecture);
  const stamp: Stamp = {
    layout: LAYOUT_VERSION,
    architecture,
    packages: Object.fromEntries(packagePlans.map((p) => [p.name, p.version])),
  };
  const key = `${packagePlans.map((p) => `${p.name}-${p.version}`).join('-')}-layout${LAYOUT_VERSION}`;
  const buildDir = path.join(outDir, key);
  const contentDir = path.join(buildDir, 'layer');
  const stampFile = path.join(buildDir, 'stamp.json');

  let built = false;
  if (options.force || !sameStamp(readStamp(stampFile), stamp)) {
    mkdirSync(outDir, { recursive: true });
    const staging = path.join(outDir, `.tmp-${process.pid}-${Date.now()}`);
    for (const plan of packagePlans) {
      const kept = listFiles(plan.dir, true).filter(plan.keep);
      if (plan.name === 'onnxruntime-node' && !kept.some((f) => f.endsWith('onnxruntime_binding.node'))) {
        throw new Error(`onnxruntime-node ${plan.version} ships no linux/${NODE_ARCH[architecture]} binary in ${plan.dir}/bin.`);
      }
      for (const file of kept) {
        const target = path.join(staging, 'layer', 'nodejs', 'node_modules', plan.name, file);
        mkdirSync(path.dirname(target), { recursive: true });
        copyFileSync(path.join(plan.dir, file), target);
      }
    }
    // The stamp is written last: a folder with a stamp is complete.
    writeFileSync(path.join(staging, 'stamp.json'), `${JSON.stringify(stamp, null, 2)}\n`);
    if (options.force && existsSync(buildDir)) rmSync(buildDir, { recursive: true, force: true });
    try {
      renameSync(staging, buildDir);
      built = true;
    } catch (error) {
      // Another process moved its identical build into place first: use that one.
      rmSync(staging, { recursive: true, force: true });
      if (!sameStamp(readStamp(stampFile), stamp)) throw error;
    }
    for (const entry of readdirSync(outDir)) {
      // Builds of other package versions (never a temporary folder: another process may be filling it).
      if (entry !== key && !entry.startsWith('.tmp-')) rmSync(path.join(outDir, entry), { recursive: true, force: true });
    }
  }
  const { bytes, files } = directorySize(contentDir);
  return { architecture, contentDir, packages: stamp.packages, unzippedBytes: bytes, files, built };
}

export interface SizeCheck {
  readonly ok: boolean;
  readonly totalBytes: number;
  readonly limitBytes: number;
  /** One line a person can read: each part's size, the total and the limit. */
  readonly report: string;
}

/** Megabytes as Lambda's quotas count them (1 MB = 1,048,576 bytes), one decimal. */
export function formatMb(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

/**
 * Checks a function's unzipped code plus its layers against Lambda's limit.
 *
 * @example
 * checkUnzippedSize({ 'function iris': 1_200_000, 'layer onnxruntime (arm64)': 27_000_000 });
 * // { ok: true, report: 'function iris 1.1 MB + layer onnxruntime (arm64) 25.7 MB = 26.9 MB of 250.0 MB', ... }
 */
export function checkUnzippedSize(parts: Readonly<Record<string, number>>, limitBytes: number = LAMBDA_UNZIPPED_LIMIT_BYTES): SizeCheck {
  const totalBytes = Object.values(parts).reduce((sum, bytes) => sum + bytes, 0);
  const detail = Object.entries(parts)
    .map(([name, bytes]) => `${name} ${formatMb(bytes)}`)
    .join(' + ');
  const report = `${detail} = ${formatMb(totalBytes)} of ${formatMb(limitBytes)}`;
  return { ok: totalBytes <= limitBytes, totalBytes, limitBytes, report };
}

function main(argv: readonly string[]): number {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      arch: { type: 'string', default: 'arm64' },
      'out-dir': { type: 'string' },
      'function-dir': { type: 'string' },
      force: { type: 'boolean', default: false },
    },
  });
  const architecture = values.arch as LayerArchitecture;
  const build = buildOnnxRuntimeLayer({
    architecture,
    force: values.force ?? false,
    ...(values['out-dir'] ? { outDir: path.resolve(values['out-dir']) } : {}),
  });
  const packages = Object.entries(build.packages)
    .map(([name, version]) => `${name}@${version}`)
    .join(', ');
  console.log(
    `onnxruntime layer (${architecture}): ${formatMb(build.unzippedBytes)} unzipped (${build.unzippedBytes} bytes, ` +
      `${build.files} files; ${packages}) ${build.built ? 'built' : 'cached'} in ${build.contentDir}`,
  );
  if (values['function-dir']) {
    const check = checkUnzippedSize({
      function: directorySize(path.resolve(values['function-dir'])).bytes,
      [`layer (${architecture})`]: build.unzippedBytes,
    });
    console.log(`${check.ok ? 'OK' : 'TOO LARGE'}: ${check.report}`);
    return check.ok ? 0 : 1;
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
