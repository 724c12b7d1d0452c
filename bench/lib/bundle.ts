/**
 * The predict function bundled as `cdk synth` bundles it (lib/serving-function.ts): esbuild,
 * ESM `index.mjs` for node22, minified, with a linked source map without sources, the `require`
 * banner, and ONNX Runtime (the layer) left as imports; the AWS SDK is bundled in.
 *
 * These options must stay those of lib/serving-function.ts. That file cannot be imported here (it
 * loads aws-cdk-lib, which would then load in every bench process), so the bench keeps its own
 * copy and test/integration/bench-quick.test.ts fails when the two differ: it imports
 * `EXTERNAL_MODULES` from both files and compares `FUNCTION_BUNDLING` with the `bundling` block of
 * lib/serving-function.ts.
 */
import { build, type Metafile } from 'esbuild';
import { statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.js';

/** lib/serving-function.ts `EXTERNAL_MODULES`: what the bundle leaves as imports (the layer's packages). */
export const EXTERNAL_MODULES: readonly string[] = ['onnxruntime-node', 'onnxruntime-common'];

/** lib/serving-function.ts `TRACING_MODULES`: left as imports too, unless the function is synthesized with tracing on. */
export const TRACING_MODULES: readonly string[] = ['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core'];

/** lib/serving-function.ts `externalModules`. */
export function externalModules(tracing: boolean): string[] {
  return [...EXTERNAL_MODULES, ...(tracing ? [] : TRACING_MODULES)];
}

/** lib/serving-function.ts `bundling` options, in esbuild's words. */
export const FUNCTION_BUNDLING = {
  format: 'esm',
  target: 'node22',
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
} as const;

// `import.meta` + `.url` in two parts: the bench's own build (build.ts) rewrites the whole
// expression in its sources, and this one belongs to the function's bundle.
const ESM_REQUIRE_BANNER = `import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(${'import.meta'}.url);`;

/** Output bytes of one group of inputs: a package (node_modules/<name>) or a top folder of ours. */
export interface InputBytes {
  readonly path: string;
  readonly bytes: number;
}

/** Output bytes by family, so a reader sees at once what the bundle is made of. */
export interface BundleFamily {
  readonly family: BundleFamilyId;
  readonly bytes: number;
  /** The packages (or folders) in it, largest first. */
  readonly inputs: readonly InputBytes[];
}

export type BundleFamilyId = 'awsSdk' | 'zod' | 'tracing' | 'powertools' | 'ours' | 'other';

export interface FunctionBundle {
  readonly file: string;
  readonly jsBytes: number;
  readonly mapBytes: number;
  /** Packages and folders of ours by their bytes in the output, largest first. */
  readonly largestInputs: readonly InputBytes[];
  readonly families: readonly BundleFamily[];
  /**
   * Output bytes reachable only through a dynamic `import()` (the tracing, loaded when
   * TRACING=true; the SDK's credential providers for SSO, STS and the like): in the file and
   * parsed at load, evaluated only when imported.
   */
  readonly lazyBytes: number;
}

/**
 * Bundles `entry` (relative to the repository root) into `outDir/<name>.mjs` (default
 * `index.mjs`, as the asset holds it) with the function's options.
 */
export async function bundleFunction(
  entry: string,
  outDir: string,
  name = 'index',
  options: { readonly tracing?: boolean } = {},
): Promise<FunctionBundle> {
  const file = path.join(outDir, `${name}.mjs`);
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [path.join(ROOT, entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: FUNCTION_BUNDLING.target,
    format: FUNCTION_BUNDLING.format,
    mainFields: [...FUNCTION_BUNDLING.mainFields],
    banner: { js: ESM_REQUIRE_BANNER },
    external: externalModules(options.tracing ?? false),
    minify: FUNCTION_BUNDLING.minify,
    sourcemap: FUNCTION_BUNDLING.sourcemap,
    sourcesContent: FUNCTION_BUNDLING.sourcesContent,
    metafile: true,
    logLevel: 'warning',
  });
  // Metafile paths are relative to absWorkingDir.
  const eager = reachable(result.metafile, entry, false);
  const tracing = reachable(result.metafile, TRACING_ADAPTER, true);
  const totals = groupTotals(result.metafile, () => true);
  const lazyTotals = groupTotals(result.metafile, (input) => !eager.has(input));
  const tracingTotals = groupTotals(result.metafile, (input) => !eager.has(input) && tracing.has(input));
  return {
    file,
    jsBytes: statSync(file).size,
    mapBytes: statSync(`${file}.map`).size,
    largestInputs: sortedBytes(totals).slice(0, 10),
    families: families(totals, tracingTotals),
    lazyBytes: [...lazyTotals.values()].reduce((sum, bytes) => sum + bytes, 0),
  };
}

/** The group of an input path: `node_modules/<name>` (scoped names whole), or its top two folders. */
function groupOf(input: string): string {
  const parts = input.split('/');
  const at = parts.lastIndexOf('node_modules');
  return at >= 0 ? parts.slice(at + 1, at + (parts[at + 1]?.startsWith('@') ? 3 : 2)).join('/') : parts.slice(0, 2).join('/');
}

function groupTotals(metafile: Metafile, keep: (input: string) => boolean): Map<string, number> {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      if (!keep(input)) continue;
      const group = groupOf(input);
      totals.set(group, (totals.get(group) ?? 0) + bytesInOutput);
    }
  }
  return totals;
}

const sortedBytes = (totals: ReadonlyMap<string, number>): InputBytes[] =>
  [...totals].map(([p, bytes]) => ({ path: p, bytes })).sort((a, b) => b.bytes - a.bytes);

/** The module the predict function imports dynamically when TRACING is on. */
const TRACING_ADAPTER = 'functions/adapters/xray-tracing.ts';

/**
 * Inputs reachable from `from` (a metafile path, relative to the repository root) through static
 * imports and `require` calls, and with `dynamic` through dynamic `import()` as well. esbuild
 * inlines a dynamically imported module into the one output file, where it is parsed at load but
 * runs only when imported.
 */
function reachable(metafile: Metafile, from: string, dynamic: boolean): Set<string> {
  const seen = new Set<string>();
  const stack = metafile.inputs[from] ? [from] : [];
  while (stack.length > 0) {
    const input = stack.pop() ?? '';
    if (seen.has(input)) continue;
    seen.add(input);
    for (const edge of metafile.inputs[input]?.imports ?? []) {
      if (!edge.external && (dynamic || edge.kind !== 'dynamic-import')) stack.push(edge.path);
    }
  }
  return seen;
}

/** The AWS SDK's packages and the few dependencies only it brings. */
const AWS_SDK = /^(@aws-sdk\/|@smithy\/|@aws-crypto\/|@aws\/|fast-xml-parser$|strnum$|tslib$|bowser$|uuid$)/;
const POWERTOOLS = /^@aws-lambda-powertools\/(logger|metrics|commons)$/;

/** Totals by family; what only the tracing adapter's dynamic import reaches is `tracing`. */
function families(totals: ReadonlyMap<string, number>, tracingTotals: ReadonlyMap<string, number>): BundleFamily[] {
  const byFamily = new Map<BundleFamilyId, Map<string, number>>();
  const add = (family: BundleFamilyId, group: string, bytes: number) => {
    if (bytes <= 0) return;
    const inputs = byFamily.get(family) ?? new Map<string, number>();
    inputs.set(group, (inputs.get(group) ?? 0) + bytes);
    byFamily.set(family, inputs);
  };
  for (const [group, bytes] of totals) {
    const lazy = tracingTotals.get(group) ?? 0;
    add('tracing', group, lazy);
    const eager = bytes - lazy;
    if (AWS_SDK.test(group)) add('awsSdk', group, eager);
    else if (group === 'zod') add('zod', group, eager);
    else if (POWERTOOLS.test(group)) add('powertools', group, eager);
    else if (group.startsWith('functions/')) add('ours', group, eager);
    else add('other', group, eager);
  }
  return [...byFamily]
    .map(([family, inputs]) => ({ family, bytes: [...inputs.values()].reduce((sum, b) => sum + b, 0), inputs: sortedBytes(inputs) }))
    .sort((a, b) => b.bytes - a.bytes);
}

/** Bundles a bench harness (a plain Node script run without tsx), its imports left as `external`. */
export async function bundleScript(entry: string, outfile: string, external: readonly string[]): Promise<void> {
  await build({
    entryPoints: [path.join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    external: [...external],
    logLevel: 'warning',
  });
}
