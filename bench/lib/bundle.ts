/**
 * The predict function bundled as `cdk synth` bundles it (lib/serving-function.ts): esbuild,
 * ESM `index.mjs` for node22, minified, with a linked source map without sources, the `require`
 * banner, and ONNX Runtime (the layer) and the AWS SDK (the Lambda runtime) left as imports.
 * Keep these options in step with that file.
 */
import { build, type Metafile } from 'esbuild';
import { statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.js';

export const EXTERNAL_MODULES: readonly string[] = ['onnxruntime-node', 'onnxruntime-common', '@aws-sdk/*'];

// `import.meta` + `.url` in two parts: the bench's own build (build.ts) rewrites the whole
// expression in its sources, and this one belongs to the function's bundle.
const ESM_REQUIRE_BANNER =
  `import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(${'import.meta'}.url);`;

export interface FunctionBundle {
  readonly file: string;
  readonly jsBytes: number;
  readonly mapBytes: number;
  /** Source files by their bytes in the output, largest first. */
  readonly largestInputs: ReadonlyArray<{ readonly path: string; readonly bytes: number }>;
}

/** Bundles `entry` (relative to the repository root) into `outDir/index.mjs`. */
export async function bundleFunction(entry: string, outDir: string, external: readonly string[] = EXTERNAL_MODULES): Promise<FunctionBundle> {
  const file = path.join(outDir, 'index.mjs');
  const result = await build({
    entryPoints: [path.join(ROOT, entry)],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    external: [...external],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  });
  return {
    file,
    jsBytes: statSync(file).size,
    mapBytes: statSync(`${file}.map`).size,
    largestInputs: largestInputs(result.metafile, 8),
  };
}

/** Output bytes per package (node_modules/<name>) or, for our own code, per top folder. */
function largestInputs(metafile: Metafile, count: number): Array<{ path: string; bytes: number }> {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const parts = input.split('/');
      const at = parts.lastIndexOf('node_modules');
      const group = at >= 0
        ? parts.slice(at + 1, at + (parts[at + 1]?.startsWith('@') ? 3 : 2)).join('/')
        : parts.slice(0, 2).join('/');
      totals.set(group, (totals.get(group) ?? 0) + bytesInOutput);
    }
  }
  return [...totals].map(([p, bytes]) => ({ path: p, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, count);
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
