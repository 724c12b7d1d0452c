/**
 * Load generation with autocannon, against 127.0.0.1 only. Latencies are taken from each
 * response with sub-millisecond resolution (autocannon's own histogram counts whole ms), and
 * rates are responses over the run's wall time.
 */
import autocannon from 'autocannon';
import { precise, quantile } from './stats.js';

export interface LoadOptions {
  readonly url: string;
  readonly body: string;
  /** Sent as `authorization: Bearer <token>` when not empty. */
  readonly token?: string;
  readonly connections: number;
  /** Run for this long (and until `minResponses` have come back)... */
  readonly seconds?: number;
  /** ...or until this many requests have been answered... */
  readonly amount?: number;
  /** ...but never longer than this. @default 60 */
  readonly maxSeconds?: number;
  /** A timed run goes on until this many responses. @default 10 */
  readonly minResponses?: number;
  /** Called with the number of responses so far, about twice a second. */
  readonly onProgress?: (responses: number) => void;
}

export interface LoadResult {
  /** Successful (2xx) responses. */
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly seconds: number;
  /** Every 2xx response's latency, ms, ascending (for merging runs). */
  readonly latencies: readonly number[];
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  const url = new URL(options.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`the bench only loads 127.0.0.1, not ${url.hostname}`);
  const maxSeconds = options.maxSeconds ?? 60;
  const latencies: number[] = [];
  let responses = 0;
  const started = performance.now();
  const instance = autocannon({
    url: options.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
    body: options.body,
    connections: options.connections,
    timeout: 10,
    // autocannon checks for the end of a run once per sample interval (1 s by default).
    sampleInt: 50,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: maxSeconds }),
  });
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    responses++;
    if (statusCode >= 200 && statusCode < 300) latencies.push(ms);
  });
  const minResponses = options.minResponses ?? 10;
  const timed = options.amount === undefined ? (options.seconds ?? 1) * 1000 : Number.POSITIVE_INFINITY;
  const ending = setInterval(() => {
    const elapsed = performance.now() - started;
    if ((elapsed >= timed && responses >= minResponses) || elapsed >= maxSeconds * 1000) instance.stop();
  }, 20);
  const progress = options.onProgress;
  const reporting = progress ? setInterval(() => progress(responses), 500) : undefined;
  try {
    const result = await instance;
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      requests: latencies.length,
      requestsPerSecond: precise(latencies.length / seconds),
      p50Ms: precise(latencies.length > 0 ? quantile(latencies, 0.5) : 0),
      p99Ms: precise(latencies.length > 0 ? quantile(latencies, 0.99) : 0),
      errors: result.errors,
      non2xx: result.non2xx,
      seconds: precise(seconds),
      latencies,
    };
  } finally {
    clearInterval(ending);
    if (reporting) clearInterval(reporting);
  }
}
