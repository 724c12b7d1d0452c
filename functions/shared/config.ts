/**
 * The functions' configuration, parsed once from the environment with zod. This is the only file
 * that reads `process.env`; a missing or malformed variable fails the cold start with a message
 * that names it.
 */
import * as z from 'zod';
import { environmentProblems, plainParse } from '../core/messages.js';
import { MODEL_NAME_PATTERN } from '../core/model.js';
import { DEFAULT_METRICS_NAMESPACE, LOG_LEVELS } from '../core/observability.js';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => v === 'true' || v === '1');
/** A true/false variable that is on unless set to `false` or `0`. */
const flagOn = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((v) => v === undefined || v === 'true' || v === '1');
const rate = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback);

export const MetricBaselinesSchema = z.record(
  z.string().regex(MODEL_NAME_PATTERN),
  z.record(z.string().min(1), z.strictObject({ min: z.number().optional(), max: z.number().optional() })),
);

const CustomShiftSchema = z.strictObject({
  kind: z.enum(['canary', 'linear']),
  percent: z.number().int().min(1).max(99),
  intervalMinutes: z.number().int().min(1),
  configName: z.string().min(1),
});

const EndpointsSchema = z.record(
  z.string().regex(MODEL_NAME_PATTERN),
  z.strictObject({
    functionName: z.string().min(1),
    alias: z.string().min(1),
    application: z.string().min(1).optional(),
    deploymentGroup: z.string().min(1).optional(),
    preTrafficHook: z.string().min(1).optional(),
    postTrafficHook: z.string().min(1).optional(),
    customShifts: z.array(CustomShiftSchema).optional(),
  }),
);

/** A JSON-valued variable, parsed and checked with `schema`; empty or unset gives `{}`. */
function jsonVariable<T>(schema: z.ZodType<T>, example: string) {
  return z
    .string()
    .optional()
    .transform((text, ctx): T | Record<string, never> => {
      if (text === undefined || text.trim() === '') return {};
      try {
        return schema.parse(JSON.parse(text));
      } catch (error) {
        ctx.addIssue({
          code: 'custom',
          message: `must be JSON like ${example}: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`,
        });
        return z.NEVER;
      }
    });
}

const s3PrefixUri = z
  .string()
  .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/([^*?]*\/)?$/, 'must be s3://<bucket>/ or s3://<bucket>/<prefix>/');
/** By model name, or `*` for every model (the local stack's one data bucket). */
export const BatchLocationsSchema = z.record(
  z.union([z.literal('*'), z.string().regex(MODEL_NAME_PATTERN)]),
  z.strictObject({ inputs: z.array(s3PrefixUri), outputs: z.array(s3PrefixUri) }),
);

/** `METRIC_BASELINES`, shared by the control plane and the post-traffic hook (both run the gates). */
export function metricBaselinesVariable() {
  return jsonVariable(MetricBaselinesSchema, '{"iris": {"accuracy": {"min": 0.7}}}');
}

export const ConfigSchema = z.object({
  REGISTRY_TABLE: z.string().min(1),
  /** Every function that serves or reads predictions (not the batch workflow's). */
  PREDICTION_LOG_TABLE: z.string().min(1).optional(),
  /** Every function that loads or stores model files (not the batch workflow's steps). */
  ARTIFACT_BUCKET: z.string().min(1).optional(),
  /**
   * Endpoint functions: the payload bucket, where inputs are uploaded by reference
   * (`inputs/<model>/<payloadId>`) and large outputs written (`outputs/<model>/<requestId>/<output>`).
   * Unset or empty: by-reference payloads are off, and requests or answers too large for Lambda get 413s.
   */
  PAYLOAD_BUCKET: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).optional()),
  /**
   * Data capture (`functions/core/capture.ts`): the bucket captured records are read from (the
   * control plane, for drift and replays) and, without `CAPTURE_STREAM`, written to (one JSON
   * Lines object per partition per flush: the local stack). Unset: capture is off.
   */
  CAPTURE_BUCKET: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).optional()),
  /** Endpoint functions on AWS: the Firehose delivery stream captured records are put to. */
  CAPTURE_STREAM: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).optional()),
  /** Longest a captured record waits in memory before its batch is delivered, in ms (each invocation's are delivered after it on Lambda). */
  CAPTURE_FLUSH_MS: z.coerce.number().int().nonnegative().default(1_000),
  /** Most captured requests one drift run reads (the newest are kept). */
  DRIFT_MAX_RECORDS: positiveInt(10_000),
  /** Set on endpoint functions: the one model this function serves. */
  SERVED_MODEL: z.string().regex(MODEL_NAME_PATTERN).optional(),
  /** Set in a published version's configuration: the model version it is pinned to. */
  PINNED_MODEL_VERSION: z
    .string()
    .regex(/^[1-9][0-9]*$/)
    .optional(),
  MAX_ROWS: positiveInt(1000),
  /** Lambda's synchronous payload limit is 6 MB; API Gateway's is 10 MB. */
  MAX_BODY_BYTES: positiveInt(6_000_000),
  MAX_JSON_DEPTH: positiveInt(32),
  /** Most characters in one string (BYTES) tensor element of a prediction request. */
  MAX_STRING_CHARS: positiveInt(65_536),
  /**
   * Control plane: the largest model file it registers, in bytes. It reads the file whole into
   * memory and ONNX Runtime loads it, so keep this at most a quarter of the function's memory
   * (the CDK app sets it so). Files sent inline are limited by MAX_BODY_BYTES first.
   */
  MAX_ARTIFACT_BYTES: positiveInt(250_000_000),
  LOG_TTL_DAYS: positiveInt(30),
  MAX_LOGGED_OUTPUT_BYTES: positiveInt(16_384),
  POINTER_CACHE_MS: z.coerce.number().int().nonnegative().default(5_000),
  MODEL_CACHE_DIR: z.string().min(1).default('/tmp/models'),
  ORT_INTRA_OP_THREADS: z.coerce.number().int().positive().optional(),
  /**
   * Model sessions a process keeps loaded at most (least recently used freed first). Sessions
   * serving a request are never freed, so more can be loaded while more versions are in use at once.
   */
  SESSION_CACHE_MAX_SESSIONS: positiveInt(4),
  /**
   * Their summed size at most, in bytes, each session counted as its model file's size (what its
   * weights take in ONNX Runtime). Default: 40% of the function's memory on Lambda
   * (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), 512 MiB elsewhere.
   */
  SESSION_CACHE_MAX_BYTES: z.coerce.number().int().positive().optional(),
  /**
   * Endpoint functions: the DynamoDB tables holding online features this function may read, comma
   * separated (the CDK app sets it from the endpoint's `onlineFeatureTables` and grants reads on
   * exactly those). Unset: any table its credentials can read (the local stack). Empty: none.
   */
  ONLINE_FEATURE_TABLES: z
    .string()
    .optional()
    .transform((value) =>
      value === undefined
        ? undefined
        : new Set(
            value
              .split(',')
              .map((t) => t.trim())
              .filter((t) => t.length > 0),
          ),
    ),
  /** Bound on one model version's prediction cache per sandbox, in bytes of cached outputs. @default 32 MiB */
  PREDICTION_CACHE_MAX_BYTES: positiveInt(32 * 1024 * 1024),
  /** Set by Lambda. */
  AWS_LAMBDA_FUNCTION_VERSION: z.string().default('$LATEST'),
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: z.coerce.number().int().positive().optional(),
  AWS_REGION: z.string().default('us-east-1'),
  /**
   * Control plane: metrics each model's versions must declare to be promoted, as JSON:
   * `{"iris": {"accuracy": {"min": 0.7}}}`. A model without an entry has no metrics gate.
   */
  METRIC_BASELINES: metricBaselinesVariable(),
  /** Control plane: the endpoints it releases (functions, aliases, CodeDeploy groups), as JSON set by the CDK app. */
  ENDPOINTS: jsonVariable(EndpointsSchema, '{"iris": {"functionName": "...", "alias": "live"}}'),
  /** S3-compatible servers without virtual-host addressing (the local stack) need path style. */
  S3_FORCE_PATH_STYLE: flag,
  /** Lowest level logged (Powertools' names); Lambda's AWS_LAMBDA_LOG_LEVEL wins when set. */
  LOG_LEVEL: z.preprocess((value) => (typeof value === 'string' ? value.toUpperCase() : value), z.enum(LOG_LEVELS)).default('INFO'),
  /** CloudWatch namespace of the per-request metrics. */
  METRICS_NAMESPACE: z.string().min(1).max(255).default(DEFAULT_METRICS_NAMESPACE),
  /** Per-request metrics as Embedded Metric Format lines on stdout (on Lambda). The local stack turns them off and counts in-process. */
  EMF_METRICS: flagOn,
  /** X-Ray subsegments with Powertools Tracer around registry, artifact, session, run and log write. */
  TRACING: flag,
  /** Longest a prediction-log record waits in memory for its batch to fill, in ms. */
  PREDICTION_LOG_FLUSH_MS: z.coerce.number().int().nonnegative().default(50),
  /** Prediction-log records queued at most; more go straight to the fallback. */
  PREDICTION_LOG_MAX_QUEUED: positiveInt(10_000),
  /** One attempt of a prediction-log batch write, in ms. */
  PREDICTION_LOG_TIMEOUT_MS: positiveInt(1_000),
  /**
   * The functions' AWS SDK clients: the longest a connection may take to open, and the longest a
   * call may wait for its response's headers (then it fails and the SDK retries), in ms.
   */
  AWS_CONNECT_TIMEOUT_MS: positiveInt(1_000),
  AWS_REQUEST_TIMEOUT_MS: positiveInt(3_000),
  /** `GET /v1/models/{m}/stats`: a version is unhealthy above this error rate (the seeds' 5%). */
  HEALTH_MAX_ERROR_RATE: rate(0.05),
  /** `GET /v1/models/{m}/stats`: a version is unhealthy above this mean latency, in ms (the seeds' 1 s). */
  HEALTH_MAX_MEAN_LATENCY_MS: positiveInt(1_000),
  /** Batch jobs: the job table (control plane, batch and steps functions). */
  BATCH_JOBS_TABLE: z.string().min(1).optional(),
  /** Control plane: the batch workflow's state machine (Step Functions). */
  BATCH_STATE_MACHINE_ARN: z.string().min(1).optional(),
  /**
   * Control plane: where each model's batch jobs may read and write, as JSON set by the CDK app:
   * `{"iris": {"inputs": ["s3://data/scoring/"], "outputs": ["s3://data/results/"]}}`.
   */
  BATCH_LOCATIONS: jsonVariable(BatchLocationsSchema, '{"iris": {"inputs": ["s3://bucket/in/"], "outputs": ["s3://bucket/out/"]}}'),
  /** Control plane: the most records a job's batch may hold (the batch function's MAX_ROWS). */
  BATCH_MAX_ROWS_PER_BATCH: positiveInt(1000),
  /** Control plane: the most batches a job may run at once (its maxConcurrency at most this). */
  BATCH_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(10_000).default(100),
  /** Days a batch job's record is kept. */
  BATCH_JOB_TTL_DAYS: positiveInt(90),
  /** Set by Lambda: the Runtime API's host:port, where the prediction-log drain extension registers. */
  AWS_LAMBDA_RUNTIME_API: z.string().min(1).optional(),
  /** Set by Lambda. */
  AWS_LAMBDA_FUNCTION_NAME: z.string().min(1).optional(),
});

export type Config = z.infer<typeof ConfigSchema>;

/**
 * The value of a variable only some functions need (`ARTIFACT_BUCKET`, `PREDICTION_LOG_TABLE`),
 * asked for by the code that needs it: unset, the cold start fails with a message naming it.
 */
export function required(config: Config, name: 'ARTIFACT_BUCKET' | 'PREDICTION_LOG_TABLE' | 'BATCH_JOBS_TABLE'): string {
  const value = config[name];
  if (value === undefined) throw new Error(`Invalid function configuration (environment variables): ${name} is required by this function.`);
  return value;
}

/** Parses `env` (default: `process.env`), throwing one error that lists every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const result = plainParse(ConfigSchema, env);
  if (result.success) return result.data;
  throw new Error(`Invalid function configuration (environment variables): ${environmentProblems(result.issues, env)}`);
}
