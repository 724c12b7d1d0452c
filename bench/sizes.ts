/**
 * 6b. Sizes: the predict function's bundle (as `cdk synth` stages it) and the ONNX Runtime
 * layer unzipped, per architecture, from the layer's build script.
 */
import type { FunctionBundle } from './lib/bundle.js';
import { layerFiles } from './lib/layer.js';
import type { BenchContext } from './lib/context.js';
import type { SizeResult } from './results.js';

export function runSizes(ctx: BenchContext, bundle: FunctionBundle): SizeResult {
  ctx.progress('sizes: bundle and layers');
  const layers = (['x86_64', 'arm64'] as const).map((arch) => layerFiles(arch));
  return {
    bundle: {
      jsBytes: bundle.jsBytes,
      mapBytes: bundle.mapBytes,
      assetBytes: bundle.jsBytes + bundle.mapBytes,
      largestInputs: bundle.largestInputs,
      families: bundle.families,
      lazyBytes: bundle.lazyBytes,
    },
    layers: layers.map(({ architecture, unzippedBytes, files, largestFile, source }) => ({
      architecture,
      unzippedBytes,
      files,
      largestFile,
      source,
    })),
  };
}
