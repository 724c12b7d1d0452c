/**
 * The shape of `docs/benchmarks.json`: every figure the report prints, raw. The sections fill
 * it, the report writer reads it, and the CI test checks its structure (never its values).
 */
import type { ModelId } from './lib/models.js';
import type { ProfileSummary } from './lib/profile.js';
import type { Stat } from './lib/stats.js';

export type { ModelId } from './lib/models.js';
export type { ProfileSummary } from './lib/profile.js';
export type { Stat } from './lib/stats.js';

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly totalMemoryGb: number;
  readonly os: string;
  readonly arch: string;
  readonly node: string;
  readonly onnxruntime: string;
}

export interface ModelInfo {
  readonly id: ModelId;
  readonly name: string;
  readonly description: string;
  readonly bytes: number;
  readonly features: number;
}

/** 1. ONNX Runtime called directly. */
export interface LimitResult {
  readonly models: ReadonlyArray<{
    readonly model: ModelId;
    readonly batches: ReadonlyArray<{ readonly rows: number; readonly stat: Stat; readonly rowsPerSecond: number }>;
  }>;
}

/** 2. The predict handler called in-process, one row, against the raw run. */
export interface HandlerResult {
  readonly models: ReadonlyArray<{
    readonly model: ModelId;
    /** `session.run` on the bench's own session. */
    readonly raw: Stat;
    /** The adapter's `ModelSession.run` (the handler's own session, tensors in and out). */
    readonly adapter: Stat;
    /** `PredictionService.predict` (request schema, pointer lookup, decode, run, encode), log off. */
    readonly core: Stat;
    /** The middy handler on an API Gateway event (body parsing, errors, response JSON), log off. */
    readonly handler: Stat;
    readonly overheadMedianMs: number;
    readonly overheadP99Ms: number;
    /** handler median ÷ raw median. */
    readonly ratio: number;
  }>;
  /** CPU profile of the handler on single rows of `profiledModel`, log off. */
  readonly profiledModel: ModelId;
  readonly profile: ProfileSummary;
  /** The same handler writing prediction logs to the local DynamoDB-compatible server. */
  readonly log: {
    readonly model: ModelId;
    readonly withoutLog: Stat;
    readonly withLog: Stat;
    readonly addedMedianMs: number;
    readonly addedP99Ms: number;
  };
}

/** 3. One 1000-instance request through the handler. */
export interface BatchResult {
  readonly rows: number;
  readonly models: ReadonlyArray<{
    readonly model: ModelId;
    /** One `session.run` on all rows. */
    readonly raw: Stat;
    readonly adapter: Stat;
    /** Service, `instances` as arrays, log off. */
    readonly core: Stat;
    /** Handler, `instances` as arrays in feature order. */
    readonly handler: Stat;
    /** Handler, `instances` as records of named features. */
    readonly handlerRecords: Stat;
    /** The tutorial pattern: one `session.run` per row, in a loop, over the same rows. */
    readonly perRowLoop: Stat;
    readonly rawRowsPerSecond: number;
    readonly handlerRowsPerSecond: number;
    /** handler rows/s ÷ raw batched rows/s. */
    readonly efficiency: number;
    readonly recordsEfficiency: number;
    /** per-row loop time ÷ batched handler time. */
    readonly speedupOverLoop: number;
    readonly requestBytes: number;
    readonly responseBytes: number;
  }>;
  /** CPU profile of the handler on 1000-row requests of `profiledModel`. */
  readonly profiledModel: ModelId;
  readonly profile: ProfileSummary;
}

export const COLD_START_PHASES = [
  'bootstrap',
  'runtimeLoad',
  'moduleLoad',
  'registry',
  'artifactFetch',
  'sessionCreate',
  'firstRun',
  'rest',
] as const;
export type ColdStartPhase = (typeof COLD_START_PHASES)[number];

/** 4. A fresh Node process serving its first request. */
export interface ColdStartResult {
  readonly runs: number;
  readonly nodeOptions: string;
  readonly models: ReadonlyArray<{
    readonly model: ModelId;
    readonly modelBytes: number;
    /** Process start to the first response, the bundled function (ms, over the runs). */
    readonly total: Stat;
    /** Median of each phase over the runs, ms. */
    readonly phases: Readonly<Record<ColdStartPhase, number>>;
    /** Process start to the first result, ONNX Runtime alone reading the file from disk. */
    readonly bare: Stat;
    readonly bareRuntimeLoadMs: number;
    readonly bareSessionCreateMs: number;
    /** The second request in the same process, for scale. */
    readonly secondRequest: Stat;
    /** total median ÷ bare median. */
    readonly ratio: number;
  }>;
  /** CPU profile of one more cold start of `profiledModel` (the whole process, `--cpu-prof`). */
  readonly profiledModel: ModelId;
  readonly profile: ProfileSummary;
  /** What-if: the same function with the AWS SDK bundled in (tree-shaken) instead of external. */
  readonly sdkBundled: {
    readonly model: ModelId;
    readonly jsBytes: number;
    readonly mapBytes: number;
    readonly total: Stat;
    readonly phases: Readonly<Record<ColdStartPhase, number>>;
  };
}

export type HttpVariantId = 'baseline' | 'api' | 'apiAuth' | 'apiLog' | 'npmStart';

/** 5. The local API under autocannon, beside a minimal server. */
export interface HttpResult {
  readonly model: ModelId;
  /** Seconds of load per server and concurrency, in `rounds` alternating slices. */
  readonly seconds: number;
  readonly rounds: number;
  readonly warmupSeconds: number;
  readonly variants: ReadonlyArray<{ readonly id: HttpVariantId; readonly description: string }>;
  readonly points: ReadonlyArray<{
    readonly variant: HttpVariantId;
    readonly connections: number;
    readonly requests: number;
    readonly requestsPerSecond: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
    readonly errors: number;
    readonly non2xx: number;
  }>;
  /** req/s ÷ the baseline's req/s at the same concurrency, for every variant but the baseline. */
  readonly ratios: ReadonlyArray<{ readonly variant: HttpVariantId; readonly connections: number; readonly ratio: number }>;
  /** CPU profiles of servers under load at concurrency `profileConnections`. */
  readonly profileConnections: number;
  readonly profiles: ReadonlyArray<{ readonly variant: HttpVariantId; readonly profile: ProfileSummary }>;
}

/** 6a. RSS of a server process over many requests. */
export interface MemoryRun {
  /** Which server, in words. */
  readonly server: string;
  readonly connections: number;
  readonly warmupRequests: number;
  /** Requests asked for, and answered (fewer when the run hit its time limit). */
  readonly requests: number;
  readonly answered: number;
  readonly errors: number;
  readonly requestsPerSecond: number;
  readonly rssAfterWarmupMb: number;
  readonly rssEndMb: number;
  readonly rssPeakMb: number;
  readonly rssGrowthMb: number;
  /** V8 heap in use after a forced GC, after warm-up and at the end. */
  readonly heapAfterWarmupMb: number;
  readonly heapEndMb: number;
  readonly samples: ReadonlyArray<{ readonly requests: number; readonly rssMb: number }>;
}

export interface MemoryResult {
  /** The first run is the one the target is checked on. */
  readonly runs: readonly MemoryRun[];
}

/** 6b. What is deployed. */
export interface SizeResult {
  readonly bundle: {
    readonly jsBytes: number;
    readonly mapBytes: number;
    /** What the CDK asset holds (code and source map): Lambda's unzipped code size. */
    readonly assetBytes: number;
    readonly largestInputs: ReadonlyArray<{ readonly path: string; readonly bytes: number }>;
  };
  readonly layers: ReadonlyArray<{
    readonly architecture: 'x86_64' | 'arm64';
    readonly unzippedBytes: number;
    readonly files: number;
    readonly largestFile: { readonly path: string; readonly bytes: number };
    readonly source: string;
  }>;
}

export interface ThreadConfig {
  readonly id: string;
  readonly intraOpThreads: number;
  readonly spinning: boolean;
}

/** 7. Intra-op threads and spinning. */
export interface ThreadsResult {
  readonly configs: readonly ThreadConfig[];
  readonly points: ReadonlyArray<{
    readonly config: string;
    readonly model: ModelId;
    readonly rows: number;
    readonly stat: Stat;
    readonly rowsPerSecond: number;
    /** Process CPU time per call, calls back to back (every thread, spinning included), ms. */
    readonly cpuMsPerCall: number;
    /** Process CPU time per call when calls come one at a time with a pause between (as requests at low load), ms. */
    readonly isolatedCpuMsPerCall: number;
  }>;
  /** The pause between isolated calls, ms. */
  readonly isolatedGapMs: number;
  /** What the product uses today on this machine. */
  readonly current: string;
  /** The configuration the figures favour, and why, in one sentence built from them. */
  readonly recommended: string;
  readonly reason: string;
}

export interface TargetCheck {
  readonly id: string;
  readonly name: string;
  /** The target as the issue states it. */
  readonly target: string;
  readonly value: number;
  readonly unit: string;
  readonly limit: number;
  /** `max`: the value must not exceed the limit; `min`: it must reach it. */
  readonly kind: 'max' | 'min';
  readonly met: boolean;
  /** How far off, in the target's unit ('' when met). */
  readonly shortfall: string;
}

export interface BenchResults {
  readonly schema: 1;
  readonly mode: 'full' | 'quick';
  readonly date: string;
  readonly durationSeconds: number;
  readonly command: string;
  readonly machine: Machine;
  /** The machine's 1-minute load average at the start and at the end (other work on it skews absolute figures). */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly intraOpThreads: number;
  readonly models: readonly ModelInfo[];
  readonly limit: LimitResult;
  readonly handler: HandlerResult;
  readonly batch: BatchResult;
  readonly coldStart: ColdStartResult;
  readonly http: HttpResult;
  readonly memory: MemoryResult;
  readonly sizes: SizeResult;
  readonly threads: ThreadsResult;
  readonly headline: readonly string[];
  readonly targets: readonly TargetCheck[];
}

/** The sections, in the order the runner runs them and the JSON holds them. */
export const SECTIONS = ['limit', 'handler', 'batch', 'threads', 'coldStart', 'http', 'memory', 'sizes'] as const;
export type SectionId = (typeof SECTIONS)[number];
