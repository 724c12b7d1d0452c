/**
 * What every section gets from the runner: how long to measure (the full run or `--quick`), the
 * local AWS look-alikes, a scratch folder, and a progress line writer.
 */
import type { Budget } from './stats.js';
import type { AwsEndpoints } from './children.js';

export interface Profile {
  readonly mode: 'full' | 'quick';
  /** Single rows (fractions of a millisecond per call). */
  readonly small: Budget;
  /** 1000-row batches and per-row loops (milliseconds per call). */
  readonly large: Budget;
  /**
   * Cold starts per kind; warm requests each sample-model process serves after its first two
   * (tracing off and on); runs of each Powertools probe.
   */
  readonly coldStart: { readonly runs: number; readonly warmRequests: number; readonly probeRuns: number };
  /** Per server and concurrency: a warm-up, then `seconds` of load in `rounds` slices alternating between the servers. */
  readonly http: {
    readonly warmupSeconds: number;
    readonly seconds: number;
    readonly rounds: number;
    readonly connections: readonly number[];
  };
  /** The target run (100,000 requests), then a shorter one with prediction logs on; each capped in time. */
  readonly memory: {
    readonly warmupRequests: number;
    readonly requests: number;
    readonly loggedRequests: number;
    readonly connections: number;
    readonly maxSeconds: number;
  };
  /** Section 8: each hostile body (5.8 MB) and its JSON.parse baseline, tens of milliseconds per call. */
  readonly hostile: Budget;
  /** How long each CPU profile samples. */
  readonly profileMs: number;
  /** Section 7: passes over the configurations (forward, then reverse), and calls measured one at a time for CPU per isolated call. */
  readonly threads: { readonly passes: 1 | 2; readonly isolatedCalls: { readonly small: number; readonly large: number } };
  /**
   * Section 9: rows of the timed JSON Lines job and of its floor; rounds of (floor, job), and a
   * last floor, so the floor brackets every job; rows of the one job run under the CPU profiler.
   */
  readonly batchJobs: { readonly rows: number; readonly rounds: number; readonly profileRows: number };
}

export const FULL: Profile = {
  mode: 'full',
  small: { warmup: 300, minSamples: 2_000, maxSamples: 40_000, maxMs: 2_500, blockSize: 50 },
  large: { warmup: 5, minSamples: 40, maxSamples: 2_000, maxMs: 4_000, blockSize: 5 },
  coldStart: { runs: 10, warmRequests: 300, probeRuns: 20 },
  http: { warmupSeconds: 1, seconds: 5, rounds: 5, connections: [1, 8, 32] },
  memory: { warmupRequests: 10_000, requests: 100_000, loggedRequests: 20_000, connections: 8, maxSeconds: 150 },
  hostile: { warmup: 2, minSamples: 10, maxSamples: 40, maxMs: 3_000, blockSize: 2 },
  profileMs: 2_000,
  threads: { passes: 2, isolatedCalls: { small: 200, large: 20 } },
  batchJobs: { rows: 1_000_000, rounds: 2, profileRows: 200_000 },
};

export const QUICK: Profile = {
  mode: 'quick',
  small: { warmup: 20, minSamples: 30, maxSamples: 400, maxMs: 100, blockSize: 10 },
  large: { warmup: 1, minSamples: 3, maxSamples: 20, maxMs: 100, blockSize: 2 },
  coldStart: { runs: 1, warmRequests: 30, probeRuns: 2 },
  http: { warmupSeconds: 0.1, seconds: 0.3, rounds: 1, connections: [1, 8, 32] },
  memory: { warmupRequests: 200, requests: 1_000, loggedRequests: 200, connections: 8, maxSeconds: 10 },
  hostile: { warmup: 1, minSamples: 2, maxSamples: 2, maxMs: 0, blockSize: 1 },
  profileMs: 300,
  threads: { passes: 1, isolatedCalls: { small: 10, large: 2 } },
  batchJobs: { rows: 20_000, rounds: 1, profileRows: 20_000 },
};

export interface BenchContext {
  readonly profile: Profile;
  readonly aws: AwsEndpoints;
  /** CPU time used so far by the process of the local AWS look-alikes (dynalite, s3rver, the log sink), ms. */
  awsCpuMs(): Promise<number>;
  /** A scratch folder for this run, removed at the end. */
  readonly tmpDir: string;
  progress(message: string): void;
}
