/**
 * What the product observes about each request, and the one definition of failure that the
 * release safety net uses everywhere: the CloudWatch alarms CodeDeploy watches on AWS, the local
 * release monitor, `GET /v1/models/{m}/deployment` and `GET /v1/models/{m}/stats`.
 *
 * A request **fails** when its response has status 500 or more, whether our code caught the error
 * and answered it or the function crashed, timed out or ran out of memory before answering (on
 * AWS those are Lambda's own `Errors` metric; locally the emulation counts a thrown handler as a
 * 500). Errors that are our fault but look like the caller's (an artifact that vanished from S3,
 * a pinned model version missing from the registry) are answered with a 5xx by the serving core,
 * so they count too. 4xx answers are the caller's errors and never fail a canary.
 *
 * Metric names follow Amazon SageMaker's endpoint metrics (`Invocations`,
 * `Invocation4XXErrors`, `Invocation5XXErrors`, `ModelLatency`, `OverheadLatency`:
 * https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html), so a SageMaker
 * user's dashboards and alarms translate one to one. Latencies are in milliseconds (SageMaker's
 * are microseconds).
 */

/** The CloudWatch namespace of the product's own metrics (the CDK app may set another per stack). */
export const DEFAULT_METRICS_NAMESPACE = 'OnnxServing';

/** Metric names, as published in Embedded Metric Format and read back by alarms, dashboards and stats. */
export const METRIC = {
  /** 1 per request to a model route (predict, infer, model metadata, model ready). */
  invocations: 'Invocations',
  /** 1 when the answer was 4xx (the caller's error), else 0: its Average is the 4xx rate. */
  clientErrors: 'Invocation4XXErrors',
  /** 1 when the answer was 5xx (our fault), else 0: its Average is the 5xx rate. */
  serverErrors: 'Invocation5XXErrors',
  /** 1 when ONNX Runtime failed (the model could not be loaded or run), else 0. */
  modelErrors: 'ModelErrors',
  /** Milliseconds spent in `session.run`. */
  modelLatency: 'ModelLatency',
  /** Milliseconds of the handler outside `session.run` (decode, registry, encode, ...). */
  overheadLatency: 'OverheadLatency',
  /** Rows (records, or the batch dimension of v2 tensors) in a served request. */
  rows: 'RowsPerRequest',
  /** 1 on the first request a sandbox (a Lambda execution environment, or a local process) serves. */
  coldStart: 'ColdStart',
  /** 1 per request answered from the version's prediction cache (versions with a cache only). */
  cacheHits: 'PredictionCacheHits',
  /** 1 per request of a version with a cache that ran the model (not in the cache). */
  cacheMisses: 'PredictionCacheMisses',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** Dimension names of the product's metrics. */
export const DIMENSION = {
  model: 'Model',
  /** The Lambda function version that served (`$LATEST`, `7`, ...): what a canary alarm selects. */
  functionVersion: 'FunctionVersion',
  /** The model version that served: what a dashboard by model version selects. */
  modelVersion: 'ModelVersion',
} as const;

/**
 * The dimension sets every request's metrics are published under (each set is its own
 * CloudWatch metric, billed as a custom metric per distinct combination of values):
 *
 * - (Model, FunctionVersion): one Lambda version, what the canary alarms and the stats read;
 * - (Model, ModelVersion): one model version across the Lambda versions that served it, for
 *   dashboards that follow a model version through releases.
 *
 * Two sets keep the cost at 2 × 8 metrics per live version; a set per model alone would add 8
 * more and can be computed from the first with SEARCH and SUM. A request that failed before a
 * model version was resolved (an unknown model) is published under the first set only.
 */
export const DIMENSION_SETS = [
  [DIMENSION.model, DIMENSION.functionVersion],
  [DIMENSION.model, DIMENSION.modelVersion],
] as const;

/** Error codes that mean ONNX Runtime (or the model file it needed) failed: `ModelErrors`. */
export const MODEL_ERROR_CODES: ReadonlySet<string> = new Set([
  'MODEL_LOAD_FAILED',
  'MODEL_RUN_FAILED',
  'ARTIFACT_INTEGRITY',
  'ARTIFACT_NOT_FOUND',
]);

/** The one definition of a failed request: an answer of 500 or more (see the module comment). */
export function isFailure(statusCode: number): boolean {
  return statusCode >= 500;
}

/** A caller's error: 400 to 499. */
export function isClientError(statusCode: number): boolean {
  return statusCode >= 400 && statusCode < 500;
}

/** One request as the serving core saw it; what metrics, access logs and stats are made of. */
export interface RequestObservation {
  readonly requestId: string;
  /** `"POST /v1/models/{model}/predict"` */
  readonly route: string;
  readonly model: string;
  /** The model version that served; absent when the request failed before one was resolved. */
  readonly modelVersion?: string;
  readonly functionVersion: string;
  readonly statusCode: number;
  /** The error code of a 4xx or 5xx answer. */
  readonly errorCode?: string;
  /** The handler's time, arrival to answer, in ms. */
  readonly latencyMs: number;
  /** Time inside `session.run`, in ms (0 when the request did not run the model). */
  readonly modelLatencyMs: number;
  /** Rows the request carried; 0 for requests without rows. */
  readonly rows: number;
  /** The first request of this sandbox. */
  readonly coldStart: boolean;
  /** For a version with a prediction cache: whether the answer came from it. */
  readonly cache?: 'hit' | 'miss';
}

/**
 * Where observations go: Embedded Metric Format on Lambda, the process's own counters and access
 * log locally. `observe` is called once per request, after the answer is built; it must not throw
 * and must not wait for I/O.
 */
export interface RequestObserver {
  observe(observation: RequestObservation): void;
}

/** Observes nothing. */
export const NO_OBSERVER: RequestObserver = { observe: () => undefined };

/** Sends each observation to every observer in turn; one that throws does not stop the others. */
export function observers(...list: readonly RequestObserver[]): RequestObserver {
  return {
    observe(observation) {
      for (const observer of list) {
        try {
          observer.observe(observation);
        } catch {
          // An observer is never allowed to turn a served request into an error.
        }
      }
    },
  };
}

/** Levels a function may be configured with (Powertools Logger's names). */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Extra keys of one log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * The log of one request: every line carries the request's keys (request id, model, model
 * version, function version, caller, cold start). Implemented over Powertools' Logger
 * (`functions/shared/logger.ts`); the core never formats a line itself.
 */
export interface RequestLog {
  /** Adds keys to every later line of this request (the model version, once it is known). */
  set(keys: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Whether DEBUG lines are written (to skip building request data that would be dropped). */
  isDebug(): boolean;
}

/** A log that writes nothing. */
export const SILENT_LOG: RequestLog = {
  set: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  isDebug: () => false,
};

/**
 * What the serving core learns while it serves a request, filled in as it goes so that a request
 * that fails halfway still reports what was known (the model version, say, when the run failed).
 */
export interface RequestFacts {
  model?: string;
  modelVersion?: string;
  rows: number;
  /** Sum of the `session.run` times of the request, in ms. */
  modelLatencyMs: number;
  /** For a version with a prediction cache: whether the answer came from it. */
  cache?: 'hit' | 'miss';
}

export function newFacts(): RequestFacts {
  return { rows: 0, modelLatencyMs: 0 };
}

/**
 * Spans around the steps of serving (registry lookup, artifact fetch, session create, online
 * feature read, run, prediction-log write): X-Ray subsegments on AWS when tracing is on (Powertools Tracer), nothing
 * otherwise. `span` runs `work` and returns what it returns; a failure is recorded on the span
 * and rethrown.
 */
export interface Tracing {
  span<T>(name: SpanName, work: () => Promise<T>): Promise<T>;
}

/** The steps traced, as their subsegments are named. */
export const SPAN = {
  registry: 'registry lookup',
  artifact: 'artifact fetch',
  session: 'session create',
  run: 'run',
  features: 'online feature read',
  logWrite: 'prediction log write',
} as const;

export type SpanName = (typeof SPAN)[keyof typeof SPAN];

/** Tracing off: runs the work as it is. */
export const NO_TRACING: Tracing = { span: (_name, work) => work() };
