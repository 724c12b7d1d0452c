/**
 * The bench's own code, bundled with esbuild and run by plain Node, like the function on Lambda.
 * Run through tsx instead, every module would carry tsx's `keepNames` helper (a `__name(...)`
 * call each time a closure is created), a cost the deployed bundle does not have and that
 * shows up in the per-request figures. Packages stay imports, found through a `node_modules`
 * link next to the output; `import.meta.url` is replaced in each module by its source file's
 * URL, so paths computed from it stay right.
 */
import { build, type Plugin } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { symlinkSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './paths.js';

const keepSourceUrls: Plugin = {
  name: 'source-import-meta-url',
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      return { contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

/** Bundles each entry (relative to the repository root) to `outDir/<name>.mjs`. */
export async function buildEntries(entries: readonly string[], outDir: string): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(entries.map((entry) => [path.basename(entry, '.ts'), path.join(ROOT, entry)])),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    plugins: [keepSourceUrls],
    logLevel: 'warning',
  });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(outDir, 'node_modules'));
}
