/**
 * The ONNX Runtime layer as Lambda would unpack it, per architecture: the output of the layer's
 * build script (layers/onnxruntime/build.ts), cached by it under layers/onnxruntime/build/.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { buildOnnxRuntimeLayer } from '../../layers/onnxruntime/build.js';

export type Architecture = 'x86_64' | 'arm64';

export interface LayerFiles {
  readonly architecture: Architecture;
  /** Holds `nodejs/node_modules/onnxruntime-node`. */
  readonly contentDir: string;
  readonly unzippedBytes: number;
  readonly files: number;
  readonly largestFile: { readonly path: string; readonly bytes: number };
  readonly source: string;
}

/** Files under `dir` (recursively), with their sizes. */
function filesUnder(dir: string, prefix = ''): Array<{ path: string; bytes: number }> {
  const out: Array<{ path: string; bytes: number }> = [];
  for (const entry of readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const relative = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...filesUnder(dir, relative));
    else out.push({ path: relative, bytes: statSync(path.join(dir, relative)).size });
  }
  return out;
}

/** The layer for `architecture`, built (or reused from its cache) by the repository's build script. */
export function layerFiles(architecture: Architecture): LayerFiles {
  const { contentDir } = buildOnnxRuntimeLayer({ architecture });
  const files = filesUnder(contentDir);
  return {
    architecture,
    contentDir,
    unzippedBytes: files.reduce((sum, f) => sum + f.bytes, 0),
    files: files.length,
    largestFile: files.reduce((a, b) => (b.bytes > a.bytes ? b : a), { path: '', bytes: 0 }),
    source: 'layers/onnxruntime/build.ts',
  };
}
