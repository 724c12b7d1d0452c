/**
 * A memo of the most recent promises by key, bounded by count: `get(key, load)` returns the kept
 * promise of `key` (now the most recently used) or keeps `load()`'s; a promise that rejects is
 * dropped, so the next call loads again; past `max` keys the least recently used is dropped.
 * Concurrent callers of one key share one load. Used for registry records that never change once
 * written (a model version's record), so nothing kept goes stale.
 */
export class RecentPromises<V> {
  /** Insertion order is recency order: the first key is the least recently used. */
  private readonly kept = new Map<string, Promise<V>>();

  constructor(private readonly max: number) {}

  get(key: string, load: () => Promise<V>): Promise<V> {
    let promise = this.kept.get(key);
    if (promise) {
      this.kept.delete(key);
    } else {
      const loading = load();
      promise = loading;
      loading.catch(() => {
        if (this.kept.get(key) === loading) this.kept.delete(key);
      });
    }
    this.kept.set(key, promise);
    if (this.kept.size > this.max) {
      const oldest = this.kept.keys().next().value;
      if (oldest !== undefined) this.kept.delete(oldest);
    }
    return promise;
  }
}
