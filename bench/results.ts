/**
 * The shape of `docs/benchmarks.json`: every figure the report prints, raw. The sections fill
 * it, the report writer reads it, and the CI test checks its structure (never its values).
 */
import type { BundleFamily, InputBytes } from './lib/bundle.js';
import type { ModelId } from './lib/models.js';
import type { ProfileSummary } from './lib/profile.js';
import type { Stat } from './lib/stats.js';

export type { BundleFamily, BundleFamilyId, InputBytes } from './lib/bundle.js';
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

/**
 * A feature measured on and off in alternating blocks of the same loop (prediction logs, data
 * capture): the added latency, the on ÷ off ratios, and the process's CPU time per request, ms,
 * the blocks and the background work and flushes after them included.
 */
export interface OnOffFigures {
  readonly addedMedianMs: number;
  readonly addedP99Ms: number;
  /** The "on" median ÷ the "off" median (the target's figure). */
  readonly ratio: number;
  /** The same at p99, for information. */
  readonly p99Ratio: number;
  readonly cpuMsPerCallWithout: number;
  readonly cpuMsPerCallWith: number;
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
  /**
   * Prediction logs on against off, single rows of `model`, in alternating blocks of one loop.
   * On: the product's `DynamoDbPredictionLog` with its default options (`write` queues; records
   * are built and stored with BatchWriteItem in the background) writing to the local
   * DynamoDB-compatible server in another process. Off: a log that keeps nothing. After each
   * block of "on" its last records are flushed, untimed (as the drain extension does after an
   * invocation on Lambda), so none of its writes land in an "off" block.
   */
  readonly log: OnOffFigures & {
    readonly model: ModelId;
    readonly withoutLog: Stat;
    readonly withLog: Stat;
    /** Records the "on" handler queued (warm-up included), BatchWriteItem calls made for them, records that went to the fallback. */
    readonly records: number;
    readonly batchWrites: number;
    readonly fallbackRecords: number;
    /** CPU time of the DynamoDB-compatible server's process (dynalite, another process) per record stored, ms. */
    readonly storeCpuMsPerRecord: number;
    /** CPU profile of the "on" handler, flushed every 50 calls as in the measured loop. */
    readonly profile: ProfileSummary;
    /**
     * The writer's capacity: `records` requests answered back to back without waiting for their
     * records (as a server under load does), then every record stored.
     */
    readonly writer: {
      readonly records: number;
      /** Time to answer the requests, ms, and records still queued then. */
      readonly answeredMs: number;
      readonly queuedAtEnd: number;
      /** Time until every record was stored, from the first request, ms; records over that time. */
      readonly storedMs: number;
      readonly recordsPerSecond: number;
      readonly batchWrites: number;
      /** BatchWriteItem calls in flight at once, at most (the adapter's default `concurrency` is 4). */
      readonly maxInFlight: number;
      /** This process's CPU per record (request and write), and dynalite's process's, ms. */
      readonly processCpuMsPerRecord: number;
      readonly storeCpuMsPerRecord: number;
    };
  };
  /**
   * Data capture at `samplePercent` against capture off, single rows of `model`, in alternating
   * blocks of one loop; prediction logs off in both. One handler serves both cases, with the
   * product's `BufferedCaptureLog` (default options: `write` queues; records are built and
   * delivered in the background) over `S3CaptureDelivery` writing JSON Lines objects to the local
   * S3-compatible server in another process. Before each block the model's capture settings are
   * switched on the registry (on: no redaction, the default record bound; off: none) and re-read
   * by the handler, untimed. After each block of "on" its records are flushed, untimed, as the
   * drain extension does after an invocation on Lambda.
   */
  readonly capture: OnOffFigures & {
    readonly model: ModelId;
    readonly samplePercent: number;
    readonly withoutCapture: Stat;
    readonly withCapture: Stat;
    /** Records the handler queued (the "on" blocks, their warm-up, and the switches' requests), records delivered, records that went to the fallback. */
    readonly records: number;
    readonly deliveredRecords: number;
    readonly fallbackRecords: number;
    /** Objects the S3-compatible server listed under `capture/` afterwards (one per flush: after each "on" block and each switch). */
    readonly objects: number;
    /** Bytes of one record's JSON line with its line break, mean. */
    readonly meanRecordBytes: number;
    /** CPU time of the S3-compatible server's process (s3rver, another process) per record delivered, ms. */
    readonly storeCpuMsPerRecord: number;
    /** CPU profile of the handler with capture on, flushed every 50 calls as in the measured loop. */
    readonly profile: ProfileSummary;
  };
  /**
   * A shadow test on `samplePercent` of the requests against no shadow test, single rows of
   * `model`, in alternating blocks of one loop; prediction logs kept by a log that records what
   * it is given, data capture off. One handler serves both cases, over the product's
   * `DynamoDbRegistry` on the local DynamoDB-compatible server in another process; its
   * model has two versions of the same file, the production one and the candidate (so each
   * candidate run is a real ONNX Runtime run, on a session of its own). Before each block the
   * shadow test is started (`ShadowService.start`, as `POST /v1/models/{m}/shadow` does) or
   * stopped (`DELETE`) and re-read by the handler, untimed. Each request is timed from the
   * handler's call to its answer; after each one `PredictionService.flush()` runs, untimed, as
   * the drain extension does after an invocation on Lambda (the sandbox takes its next
   * invocation after the drain), so a candidate's run never overlaps the next request.
   */
  readonly shadow: OnOffFigures & {
    readonly model: ModelId;
    readonly samplePercent: number;
    /** The caller's latency: the handler's call to its answer. */
    readonly withoutShadow: Stat;
    readonly withShadow: Stat;
    /** The flush after each request (on Lambda, the drain before the next invocation), ms. */
    readonly drainWithout: Stat;
    readonly drainWith: Stat;
    /** Requests of the "on" case (warm-up included); their log records that carried the candidate's result; those that did not. */
    readonly requests: number;
    readonly shadowResults: number;
    readonly missingResults: number;
    /** Results with an error (the candidate failed, or its job was refused) instead of its outputs. */
    readonly failedResults: number;
    /** The candidate's time to decode the request and run (`latencyMs` of a result), mean, ms. */
    readonly candidateMeanMs: number;
    /** The largest difference between the candidate's outputs and the primary's over every result (0: the same file). */
    readonly maxAbsDiff: number;
    /** CPU profile of the handler with the shadow test on, flushed after every call as in the measured loop. */
    readonly profile: ProfileSummary;
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
    /** The JSON floor: JSON.parse of the body, one raw `session.run`, JSON.stringify of the answer. */
    readonly jsonFloor: Stat;
    /** Handler, the same rows as a binary v2 request with binary outputs. */
    readonly binaryHandler: Stat;
    /** handler time ÷ JSON floor time (medians). */
    readonly floorRatio: number;
    /** binary handler time ÷ raw run time (medians). */
    readonly binaryRatio: number;
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
  /** The function as deployed: the AWS SDK bundled in, ONNX Runtime from the layer. */
  readonly bundle: { readonly jsBytes: number; readonly mapBytes: number; readonly external: readonly string[] };
  /** Code bytes of the same function synthesized with tracing on (the Tracer and X-Ray SDK bundled in). */
  readonly tracedBundleBytes: number;
  /** Warm requests each sample-model process serves after its first two (for the tracing figures). */
  readonly warmRequests: number;
  /**
   * The sample model with tracing on: the same bundle with TRACING=true in the environment Lambda
   * gives a traced function, its segments sent to a UDP socket standing in for the X-Ray daemon.
   * Runs alternate with the as-deployed (tracing off) ones.
   */
  readonly tracing: {
    readonly model: ModelId;
    /** The variables set beyond the as-deployed environment. */
    readonly env: readonly string[];
    readonly total: Stat;
    readonly phases: Readonly<Record<ColdStartPhase, number>>;
    /** total median − the as-deployed median (same model, same runs). */
    readonly addedMedianMs: number;
    /** total median ÷ bare median. */
    readonly ratio: number;
    /** Warm requests in the same processes, every sample pooled: tracing off (as deployed) and on. */
    readonly warmOff: Stat;
    readonly warmOn: Stat;
    readonly warmAddedMedianMs: number;
    readonly warmAddedP99Ms: number;
    /** warmOn median ÷ warmOff median. */
    readonly warmRatio: number;
    /** Process CPU time per warm request (background log writes included), ms. */
    readonly cpuMsPerWarmRequestOff: number;
    readonly cpuMsPerWarmRequestOn: number;
    /** Datagrams (one segment document each) and bytes the daemon stand-in received per traced request. */
    readonly segmentsPerRequest: number;
    readonly segmentBytesPerRequest: number;
    /** The segment documents by name (span or AWS service), per traced request, most frequent first. */
    readonly segmentNames: ReadonlyArray<{ readonly name: string; readonly perRequest: number }>;
  };
  /**
   * The sample model with per-request metrics off (EMF_METRICS=false), tracing off: what the
   * EMF line (Powertools Metrics, one JSON line on stdout per request) costs. Runs rotate with the others.
   */
  readonly emf: {
    readonly model: ModelId;
    readonly total: Stat;
    readonly warmOff: Stat;
    /** As deployed (EMF on) − EMF off, warm requests. */
    readonly warmAddedMedianMs: number;
    readonly warmAddedP99Ms: number;
    readonly cpuMsPerWarmRequestOff: number;
  };
  /**
   * Powertools' own cost at cold start, in isolation: fresh processes bundled as the function is
   * and started with its NODE_OPTIONS, time from process start to the end of the script, medians.
   */
  readonly powertools: {
    readonly runs: number;
    /** A script that does nothing. */
    readonly empty: Stat;
    /** Imports Powertools Logger and Metrics and builds them as the predict function does. */
    readonly loggerMetrics: Stat;
    /** Imports Powertools Tracer and the X-Ray SDK (functions/adapters/xray-tracing.ts) and builds the tracing, in a traced Lambda environment. */
    readonly tracer: Stat;
    /** loggerMetrics median − empty median. */
    readonly loggerMetricsMs: number;
    /** tracer median − empty median. */
    readonly tracerMs: number;
    readonly loggerMetricsBundleBytes: number;
    readonly tracerBundleBytes: number;
  };
  /** The last committed run before Powertools and the bundled SDK (quoted, not measured here). */
  readonly before: ColdStartBefore;
}

export interface ColdStartBefore {
  /** Where the figures come from. */
  readonly source: string;
  readonly commit: string;
  readonly date: string;
  readonly model: ModelId;
  /** As deployed then: the AWS SDK external (the runtime's copy), no Powertools. */
  readonly sdkExternalMs: number;
  readonly sdkExternalModuleLoadMs: number;
  /** That run's what-if: the AWS SDK bundled in, no Powertools. */
  readonly sdkBundledMs: number;
  readonly sdkBundledModuleLoadMs: number;
  readonly bareMs: number;
}

export type HttpVariantId = 'baseline' | 'api' | 'apiAuth' | 'apiLog' | 'npmStartQuiet' | 'npmStartBundled' | 'npmStart';

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
    /** Prediction-log records still queued when a slice's load ended, mean per slice. */
    readonly logBacklog: number;
    /** Time the server then took to store them, mean per slice, ms (untimed in req/s). */
    readonly drainMs: number;
    /** Responses over load time plus drain time: the rate at which the server also keeps up with its log. */
    readonly sustainedRequestsPerSecond: number;
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
    readonly largestInputs: readonly InputBytes[];
    /** What the bundle is made of, largest family first. */
    readonly families: readonly BundleFamily[];
    /** Bytes only a dynamic import reaches (the tracing): parsed at load, evaluated only with TRACING=true. */
    readonly lazyBytes: number;
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

/** 8. One hostile body: built to be expensive, just under the body limit, and refused. */
export interface HostileCase {
  readonly id: string;
  readonly description: string;
  /** Bytes of the event body as sent (base64 for a compressed one). */
  readonly requestBytes: number;
  /** The refusal the body must get. */
  readonly status: number;
  readonly code: string;
  /** Bytes of the error body: an excerpt of the request at most, never the request. */
  readonly responseBytes: number;
  /** `JSON.parse` of the same text (of a body at the limit, for a compressed one). */
  readonly parse: Stat;
  /** The predict handler refusing it, in-process. */
  readonly handler: Stat;
  /** handler median ÷ parse median. */
  readonly ratio: number;
}

export interface HostileResult {
  /** The function's default body limit the bodies are built under, bytes. */
  readonly limitBytes: number;
  readonly cases: readonly HostileCase[];
}

/**
 * 9's phases of a job, each from the end of the one before (the first from submission) to the
 * end of the S3 write that closes it: `submit` (the job API's checks, the job stored, the
 * workflow started), `plan` (the input read whole, its splits file written), `map` (the
 * Distributed Map's batches, to the last part written), `resultWriter` (the map's result files),
 * `assemble` (the parts concatenated into the outputs, the job's end recorded, the workflow ended).
 */
export const BATCH_JOB_PHASES = ['submit', 'plan', 'map', 'resultWriter', 'assemble'] as const;
export type BatchJobPhase = (typeof BATCH_JOB_PHASES)[number];

/** One timed job of section 9: submission to SUCCEEDED through the job service of the local stack. */
export interface BatchJobRun {
  readonly ms: number;
  readonly rowsPerSecond: number;
  /** CPU time of the stack's process (handlers, emulated workflow, AWS SDK clients), ms. */
  readonly cpuMs: number;
  /** CPU time of the process of the S3- and DynamoDB-compatible servers (s3rver, dynalite), ms; 0 where /proc cannot be read. */
  readonly serversCpuMs: number;
  /** Bytes of `predictions.jsonl`. */
  readonly outputBytes: number;
  /** Wall time of each phase, ms; they add up to `ms`. */
  readonly phases: Readonly<Record<BatchJobPhase, number>>;
  /** The Distributed Map's children, from the ResultWriter's SUCCEEDED results (StartDate to StopDate). */
  readonly batches: {
    readonly count: number;
    readonly medianMs: number;
    readonly p99Ms: number;
    /** Sum of the children's durations ÷ the map phase's wall time: batches in flight on average. */
    readonly meanInFlight: number;
  };
  /**
   * The SDK calls the stack's S3 and DynamoDB clients made during the job, by what they touched
   * (`input`, `splits`, `parts`, `map results`, `outputs`, `job table`, ...) and command: how many,
   * and their summed wall time (calls overlap: batches run side by side), ms.
   */
  readonly calls: ReadonlyArray<{ readonly target: string; readonly command: string; readonly count: number; readonly totalMs: number }>;
}

/** One timed floor of section 9: the same work written plainly, in the same process, on the same servers. */
export interface BatchFloorRun {
  readonly ms: number;
  readonly rowsPerSecond: number;
  readonly cpuMs: number;
  readonly serversCpuMs: number;
  readonly outputBytes: number;
  /** Where its wall time went, ms: splitting and parsing the lines and filling the tensors, `session.run`, encoding the predictions; the rest is waiting on S3. */
  readonly parseMs: number;
  readonly runMs: number;
  readonly encodeMs: number;
}

/** 9. A batch job of the sample model on the local stack, against the floor measured in the same run. */
export interface BatchJobsResult {
  readonly model: ModelId;
  readonly rows: number;
  /** Bytes of the JSON Lines input. */
  readonly inputBytes: number;
  readonly rowsPerBatch: number;
  readonly maxConcurrency: number;
  /** Rows of the untimed warm-up job and floor run first (the model loaded, connections open). */
  readonly warmupRows: number;
  /** The timed jobs, in run order. */
  readonly jobs: readonly BatchJobRun[];
  /** The timed floors, in run order: one before every job and one after the last. */
  readonly floors: readonly BatchFloorRun[];
  /** Medians over the runs. */
  readonly jobMs: number;
  readonly jobRowsPerSecond: number;
  readonly floorMs: number;
  readonly floorRowsPerSecond: number;
  /** jobRowsPerSecond ÷ floorRowsPerSecond (the target's figure). */
  readonly ratio: number;
  /** CPU profile of the stack's process through one more job of `profileRows` rows, submission to end. */
  readonly profileRows: number;
  readonly profile: ProfileSummary;
}

/** 10. One model's requests through a version with a prediction cache: hits, misses, and the same version without a cache. */
export interface CacheModelFigures {
  readonly model: ModelId;
  /** Rows per request (`{"features": {...}}` for one, `{"instances": [[...], ...]}` for more). */
  readonly rows: number;
  /** The same version through a serving core without prediction caches, the miss case's inputs. */
  readonly noCache: Stat;
  /** Each request an input the cache does not hold (it runs the model, then keeps the answer). */
  readonly miss: Stat;
  /** The same request repeated (answered from the cache). */
  readonly hit: Stat;
  /** `canonicalInputSha256` alone on the decoded tensors of one request (the key's hash). */
  readonly hash: Stat;
  /** hit median ÷ miss median, and the same at p99. */
  readonly hitRatio: number;
  readonly hitP99Ratio: number;
  /** miss median ÷ no-cache median (the key's hash and the cache's bookkeeping), and the same at p99. */
  readonly missRatio: number;
  readonly missP99Ratio: number;
  /** miss median − hit median: what a hit saves, ms. */
  readonly savedMedianMs: number;
  /** Requests of the hit and miss cases (warm-ups included) whose log records said `cacheHit` true and false: every one checked. */
  readonly hits: number;
  readonly misses: number;
}

/** 10. Online features: one row, or `rows` rows of distinct keys, by key against the full vector. */
export interface OnlineLookupFigures {
  readonly rows: number;
  /** Distinct entity keys per request, and batched reads (BatchGetItem calls) per request, from the log records. */
  readonly keysPerRequest: number;
  readonly readsPerRequest: number;
  /** The version with online features, sent the keys and the request-time feature. */
  readonly byKey: Stat;
  /** The same file without online features, sent every feature (the values the table holds). */
  readonly fullVector: Stat;
  /** byKey median ÷ fullVector median, and the same at p99. */
  readonly ratio: number;
  readonly p99Ratio: number;
  readonly addedMedianMs: number;
  readonly addedP99Ms: number;
  /** CPU time of the DynamoDB-compatible server's process (dynalite, another process) per by-key request, ms. */
  readonly storeCpuMsPerRequest: number;
}

/** 10. The prediction cache (hits against misses against none) and online features (by key against the full vector). */
export interface CacheResult {
  /** The cached versions' `predictionCache.maxEntries`; the miss case cycles through one more distinct input than that. */
  readonly maxEntries: number;
  readonly distinctInputs: number;
  readonly models: readonly CacheModelFigures[];
  readonly online: {
    /** The model, in words, and its features: looked up from the table, and sent with the request. */
    readonly description: string;
    readonly lookedUp: readonly string[];
    readonly requestTime: readonly string[];
    readonly entity: string;
    /** The plain-layout table in the local DynamoDB-compatible server, its items, and the time to load them. */
    readonly table: string;
    readonly items: number;
    readonly loadMs: number;
    readonly sizes: readonly OnlineLookupFigures[];
  };
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
  readonly cache: CacheResult;
  readonly batch: BatchResult;
  readonly coldStart: ColdStartResult;
  readonly http: HttpResult;
  readonly memory: MemoryResult;
  readonly sizes: SizeResult;
  readonly threads: ThreadsResult;
  readonly hostile: HostileResult;
  readonly batchJobs: BatchJobsResult;
  readonly headline: readonly string[];
  readonly targets: readonly TargetCheck[];
}

/** The sections, in the order the runner runs them and the JSON holds them. */
export const SECTIONS = [
  'limit',
  'handler',
  'cache',
  'batch',
  'threads',
  'coldStart',
  'http',
  'memory',
  'sizes',
  'hostile',
  'batchJobs',
] as const;
export type SectionId = (typeof SECTIONS)[number];
