/**
 * The prediction cache: answers of a model version kept in memory per sandbox (a Lambda
 * execution environment, or the local process) and served again for the same input, without
 * running the model. Opt-in per version (`metadata.predictionCache`), never for a version
 * declared `deterministic: false`. Keyed by the model version and the canonical hash of the
 * decoded input tensors (`canonicalInputSha256`, the one the prediction log keeps) and the
 * outputs asked for, so the same rows sent as `features`, `instances` or v2 tensors share an
 * entry, and two versions never do: each version has its own cache.
 *
 * What is kept is the model's output tensors; each form encodes its answer from them as it would
 * after a run. Bounded by the version's `maxEntries`, by `maxBytes` per version (output bytes,
 * strings at 2 bytes per character) and by `ttlSeconds`; least recently used entries go first
 * (lru-cache). At most {@link MAX_CACHED_VERSIONS} versions keep a cache at once.
 */
import { LRUCache } from 'lru-cache';
import type { PredictionCacheSettings } from './model.js';
import type { TensorMap } from './tensor.js';

/** Versions whose caches are kept at once per sandbox; the least recently used one's is dropped past it. */
export const MAX_CACHED_VERSIONS = 16;

/** Default bound on one version's cached outputs, in bytes: 32 MiB. */
export const DEFAULT_CACHE_MAX_BYTES = 32 * 1024 * 1024;

/** Bytes an entry is counted for: its tensors' data, strings at 2 bytes per UTF-16 unit, plus 256 for the entry itself. */
function entryBytes(outputs: TensorMap): number {
  let bytes = 256;
  for (const name of Object.keys(outputs)) {
    const tensor = outputs[name];
    if (!tensor) continue;
    if (tensor.type === 'string') for (const s of tensor.data) bytes += 2 * s.length + 16;
    else bytes += tensor.data.byteLength;
  }
  return bytes;
}

export class PredictionCaches {
  private readonly versions: LRUCache<string, LRUCache<string, TensorMap>>;

  /** @param maxBytes bound on one version's cached outputs (`PREDICTION_CACHE_MAX_BYTES`) */
  constructor(private readonly maxBytes: number = DEFAULT_CACHE_MAX_BYTES) {
    this.versions = new LRUCache({ max: MAX_CACHED_VERSIONS });
  }

  /** The cache of `model` version `version` with `settings`, made on first use. */
  of(model: string, version: string, settings: PredictionCacheSettings): VersionCache {
    const id = `${model}@${version}`;
    let cache = this.versions.get(id);
    if (!cache) {
      cache = new LRUCache<string, TensorMap>({
        max: settings.maxEntries,
        maxSize: this.maxBytes,
        sizeCalculation: entryBytes,
        ...(settings.ttlSeconds === undefined ? {} : { ttl: settings.ttlSeconds * 1000 }),
      });
      this.versions.set(id, cache);
    }
    const entries = cache;
    return {
      get: (key) => entries.get(key),
      set: (key, outputs) => {
        // An answer larger than the whole bound is not kept (lru-cache would refuse it anyway).
        if (entryBytes(outputs) <= this.maxBytes) entries.set(key, outputs);
      },
      size: () => entries.size,
    };
  }
}

/** One version's cache: output tensors by `cacheKey`. */
export interface VersionCache {
  get(key: string): TensorMap | undefined;
  set(key: string, outputs: TensorMap): void;
  /** Entries kept now. */
  size(): number;
}

/** The key of an answer: the input's canonical hash, and the outputs asked for (all, or these names in order). */
export function cacheKey(inputSha256: string, outputs: readonly string[] | undefined): string {
  return outputs === undefined ? `${inputSha256}|*` : `${inputSha256}|${outputs.map((o) => JSON.stringify(o)).join(',')}`;
}
