/**
 * The CDK app's configuration: which model endpoints to create and how to size, protect and watch
 * them, who may call them (`auth`: the JWT authorizer and usage plans), and how the functions
 * report what they do (`observability`: metrics namespace, log level, tracing), and how batch jobs
 * run (`batch`, and per endpoint the S3 locations its jobs may read and write), and how captured
 * requests are kept (`capture`: retention and Firehose buffering). Parsed once with
 * zod from `cdk.json` context (key `onnxServing`) or from a JSON file named
 * by the context key `onnxServingConfigFile`; anything wrong fails synth with a message that names
 * the field, e.g. `endpoints[0].memoryMb: ...`.
 *
 * @example cdk.json
 * { "context": { "onnxServing": { "endpoints": [{ "model": "iris", "memoryMb": 2048 }] } } }
 * @example a file instead: `npx cdk synth -c onnxServingConfigFile=config/prod.json`
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { MODEL_NAME_PATTERN } from '../functions/core/model.js';
import { TABLE_NAME_PATTERN } from '../functions/core/features/declaration.js';
import { DEFAULT_METRICS_NAMESPACE, LOG_LEVELS } from '../functions/core/observability.js';
import { everyRefusal, plainParse } from '../functions/core/messages.js';

/** Context key holding the config object (or its JSON text, when given with `-c`). */
export const CONFIG_CONTEXT_KEY = 'onnxServing';
/** Context key naming a JSON config file, resolved against the working directory. */
export const CONFIG_FILE_CONTEXT_KEY = 'onnxServingConfigFile';

export const ARCHITECTURES = ['arm64', 'x86_64'] as const;
export type ArchitectureName = (typeof ARCHITECTURES)[number];

/** The retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Lambda's synchronous invocation payload limit is 6 MB; the request event wraps the body. */
const MAX_BODY_LIMIT = 6_000_000;

const architecture = z.enum(ARCHITECTURES, {
  error: (issue) => `unknown architecture ${JSON.stringify(issue.input)}; Lambda offers ${ARCHITECTURES.join(' or ')}`,
});

const memoryMb = z
  .number({ error: 'must be a whole number of MB' })
  .int('must be a whole number of MB')
  .refine((mb) => mb >= 128 && mb <= 10_240, {
    error: (issue) => `${String(issue.input)} MB is outside Lambda's memory range, 128 to 10240 MB`,
  });

/**
 * The canary alarms of an endpoint (see `lib/model-endpoint.ts`). The errors alarm watches the
 * failure rate of the version alias `live` is shifting to: responses of 500 or more, caught
 * (the EMF metric `Invocation5XXErrors`) or not (Lambda's `Errors`), in percent of that version's
 * invocations through the alias, counted once the version has `minInvocations` in a period.
 */
const AlarmsSchema = z.strictObject({
  /** Alarm when the version's failures exceed this percent of its invocations in a period. @default 5 */
  errorRatePercent: z
    .number({ error: 'must be a number of percent' })
    .min(0, 'must be 0 (any failure) or more percent')
    .lt(100, 'must be below 100 percent (the alarm fires above it)')
    .default(5),
  /**
   * Invocations of the version in one period below which its failure rate is not judged (a
   * handful of requests says little about a rate). @default 20
   */
  minInvocations: z
    .number({ error: 'must be a whole number of invocations' })
    .int('must be a whole number of invocations')
    .min(1, 'must be 1 or more invocations')
    .default(20),
  /** Replaced by `errorRatePercent` and `minInvocations`; refused with a message that says so. */
  errors: z
    .never({ error: "was replaced by errorRatePercent (failures in percent of the version's invocations) and minInvocations" })
    .optional(),
  /** Alarm when the live version's p99 duration exceeds this, in milliseconds. @default 1000 */
  p99LatencyMs: z.number().positive().default(1_000),
  /** Length of one evaluation period, in seconds (a multiple of 60). @default 60 */
  periodSeconds: z.number().int().min(60).multipleOf(60, 'must be a multiple of 60').default(60),
  /** Periods that must breach, out of as many evaluated, before the alarm fires. @default 3 */
  evaluationPeriods: z.number().int().min(1).max(100).default(3),
});

/**
 * The characters CloudWatch allows in a namespace: letters, digits, `.`, `-`, `_`, `/`, `#`,
 * `:` and space, 1 to 255 of them, at least one not blank; `AWS/` is reserved for AWS's own
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Namespace).
 */
const METRICS_NAMESPACE_PATTERN = /^[0-9A-Za-z.\-_/#: ]{1,255}$/;

/**
 * How the endpoint functions report what they do: the CloudWatch namespace of their per-request
 * metrics (the canary alarms and dashboards read it), their log level, and X-Ray tracing.
 */
const ObservabilitySchema = z.strictObject({
  /** CloudWatch namespace of the per-request EMF metrics. @default 'OnnxServing' */
  metricsNamespace: z
    .string({ error: 'must be a CloudWatch namespace' })
    .regex(METRICS_NAMESPACE_PATTERN, 'CloudWatch namespaces are 1-255 of letters, digits, ".", "-", "_", "/", "#", ":" and space')
    .refine((ns) => ns.trim() !== '', 'must hold at least one character that is not a space')
    .refine((ns) => !ns.startsWith(':'), 'must not start with ":"')
    .refine((ns) => !ns.startsWith('AWS/'), 'namespaces starting with "AWS/" are reserved for AWS services')
    .default(DEFAULT_METRICS_NAMESPACE),
  /** Lowest level the functions log (Powertools Logger's names). @default 'INFO' */
  logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('INFO'),
  /**
   * X-Ray active tracing of the endpoint functions (Powertools Tracer subsegments around the
   * registry, artifact, session, run and log write). Costs X-Ray traces. @default false
   */
  tracing: z.boolean({ error: 'must be true or false' }).default(false),
});

/**
 * How a managed release (CodeDeploy) shifts alias `live`, and how `cdk deploy` shifts it when it
 * publishes new code: `canary` moves `percent` for `intervalMinutes`, then the rest; `linear`
 * moves `percent` more every `intervalMinutes`. CodeDeploy's predefined configurations are used
 * when they match (canary 10% for 5/10/15/30 min; linear 10% every 1/2/3/10 min); any other
 * shift gets a custom deployment configuration. @default canary 10% for 5 minutes
 */
const ReleaseSchema = z.strictObject({
  managed: z.enum(['canary', 'linear'], { error: 'must be "canary" or "linear"' }).default('canary'),
  percent: z.number().int().min(1).max(99, 'a step moves 1 to 99 percent').default(10),
  intervalMinutes: z.number().int().min(1).max(2_880, 'CodeDeploy waits at most 2880 minutes between steps').default(5),
});

/** An S3 location of batch jobs: a bucket and a key prefix, `""` (the whole bucket) or ending in `/`. */
export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
}

/** S3's longest object key, in bytes; a prefix is part of every key under it. */
const MAX_S3_KEY_BYTES = 1_024;
/** A config value quoted in a message, cut short. */
const quoted = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);

/**
 * What is wrong with `name` as the name of a general purpose S3 bucket, or `undefined`
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
 */
export function bucketNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name)) {
    return `bucket ${quoted(name)} is not an S3 bucket name: 3-63 of a-z, 0-9, "." and "-", starting and ending with a letter or digit`;
  }
  if (name.includes('..')) return `bucket ${quoted(name)} is not an S3 bucket name: it has two adjacent periods`;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return `bucket ${quoted(name)} is not an S3 bucket name: it is formatted as an IP address`;
  const reservedPrefix = ['xn--', 'sthree-', 'amzn-s3-demo-'].find((p) => name.startsWith(p));
  if (reservedPrefix) return `bucket ${quoted(name)} is not an S3 bucket name: the prefix "${reservedPrefix}" is reserved`;
  const reservedSuffix = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'].find((p) => name.endsWith(p));
  if (reservedSuffix) return `bucket ${quoted(name)} is not an S3 bucket name: the suffix "${reservedSuffix}" is reserved`;
  return undefined;
}

/**
 * Reads `s3://bucket/prefix/` (or `s3://bucket/`, `s3://bucket`: the whole bucket) as a bucket
 * and a prefix that is empty or ends in `/`; anything else is a message saying what is wrong.
 * Refused: other schemes, bad bucket names, a prefix not ending in `/`, wildcards (`*`, `?`: IAM
 * would read them as patterns), IAM policy variables (`${`), empty segments (`//`), control
 * characters, prefixes longer than S3's 1024-byte keys.
 *
 * @example parseS3Location('s3://acme-data/scoring/in/') // { bucket: 'acme-data', prefix: 'scoring/in/' }
 * @example parseS3Location('https://acme-data.s3.amazonaws.com/in/') // 'must be an s3:// URI ...'
 */
export function parseS3Location(uri: string): S3Location | string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1];
  if (scheme === undefined) return `${quoted(uri)} is not a URI; give an S3 location like s3://bucket/prefix/`;
  if (scheme !== 's3') return `${quoted(uri)} has the scheme "${scheme.slice(0, 20)}:"; give an S3 location like s3://bucket/prefix/`;
  const rest = uri.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1);
  if (/[*?]/.test(uri)) return `${quoted(uri)} has a wildcard ("*" or "?"); give a prefix ending in "/": everything under it is allowed`;
  const bucketProblem = bucketNameProblem(bucket);
  if (bucketProblem) return bucketProblem;
  if (prefix !== '' && !prefix.endsWith('/')) {
    return `the prefix ${quoted(prefix)} must end with "/" (s3://${bucket}/${prefix.slice(0, 80)}/), or be empty for the whole bucket (s3://${bucket}/)`;
  }
  if (prefix.startsWith('/') || prefix.includes('//')) return `the prefix ${quoted(prefix)} has an empty segment ("//")`;
  if (prefix.includes('${')) return `the prefix ${quoted(prefix)} has "\${", which IAM reads as a policy variable`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(prefix)) return `the prefix ${quoted(prefix)} has a control character`;
  if (Buffer.byteLength(prefix) >= MAX_S3_KEY_BYTES)
    return `the prefix is ${Buffer.byteLength(prefix)} bytes; S3 keys are at most ${MAX_S3_KEY_BYTES}`;
  return { bucket, prefix };
}

/** An S3 location as `s3://bucket/prefix/` (the form `BATCH_LOCATIONS` and job URIs use). */
export function s3LocationUri(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}

/** A location in the config: checked, then written in its one canonical form (`s3://bucket/` for a whole bucket). */
const s3LocationField = z.string({ error: 'must be an S3 location like "s3://bucket/prefix/"' }).transform((uri, ctx) => {
  const location = parseS3Location(uri);
  if (typeof location === 'string') {
    ctx.addIssue({ code: 'custom', message: location });
    return z.NEVER;
  }
  return s3LocationUri(location);
});

/** Most locations of each kind per endpoint (every one is a resource in several IAM policies). */
const MAX_BATCH_LOCATIONS = 10;

const locationList = (kind: string) =>
  z
    .array(s3LocationField, { error: `must be a list of S3 locations ("s3://bucket/prefix/") jobs may ${kind}` })
    .min(1, `give at least one S3 location jobs may ${kind}`)
    .max(MAX_BATCH_LOCATIONS, `give at most ${MAX_BATCH_LOCATIONS} locations (each is a resource in several IAM policies)`);

/**
 * Where this model's batch jobs may read their input and write their results. A job whose input or
 * output URI is not under one of these is refused (403 BATCH_LOCATION_NOT_ALLOWED), and the
 * workflow's roles may touch nothing else: inputs are read only, outputs read and written.
 * Presigned uploads (`POST /v1/models/{m}/batch-inputs`) go to `<first input>uploads/`.
 */
const EndpointBatchSchema = z.strictObject({
  /** S3 prefixes jobs may read, e.g. `["s3://acme-data/scoring/in/"]`; `s3://bucket/` allows a whole bucket. */
  inputs: locationList('read'),
  /** S3 prefixes jobs may write their folders under, e.g. `["s3://acme-data/scoring/out/"]`. */
  outputs: locationList('write'),
});

/** The longest drift schedule: a day (the drift alarm's period is the schedule's, and CloudWatch evaluates at most a day). */
export const MAX_DRIFT_SCHEDULE_MINUTES = 1_440;

/**
 * The model's drift watch (`lib/drift-schedule.ts`), two parts with a switch each:
 *
 * - `scheduleMinutes`: an EventBridge rule runs drift detection for the model every
 *   `scheduleMinutes` (over the captured traffic of the last 24 hours, whatever the schedule), and
 *   an alarm goes off when a run finds a drifted feature. `0` turns the schedule and its alarm off;
 *   drift can still be run on demand through the control plane. @default 60
 * - `canaryGate`: the distribution gate of managed releases. A rule invokes the drift function
 *   every minute with `{"model": <m>, "check": "canary"}`; while alias `live` routes to a canary it
 *   compares the canary's captured predictions with the stable version's and emits
 *   `CanaryPredictionShift`, and the alarm on that metric is one of the endpoint's CodeDeploy alarms,
 *   so a shift rolls the deployment back as errors and latency do. Independent of the schedule (a
 *   model may be gated without hourly reports). `false` turns the rule, the alarm and the drift
 *   function's read access to the endpoint's function off. @default true
 *
 * A model whose capture is off is skipped by both (nothing captured, nothing to compare).
 * `drift: false` turns both off.
 */
const EndpointDriftSchema = z.preprocess(
  // `false` is the same as neither; the parsed value is always `{ scheduleMinutes, canaryGate }`.
  (value) => (value === false ? { scheduleMinutes: 0, canaryGate: false } : value),
  z.strictObject(
    {
      scheduleMinutes: z
        .number({ error: 'must be a whole number of minutes' })
        .int('must be a whole number of minutes')
        .min(0, 'must be 0 (no schedule) or more minutes')
        .max(
          MAX_DRIFT_SCHEDULE_MINUTES,
          `must be at most ${MAX_DRIFT_SCHEDULE_MINUTES} minutes (a day): the drift alarm's period is the schedule's, and CloudWatch evaluates at most a day`,
        )
        .default(60),
      canaryGate: z.boolean({ error: 'must be true or false' }).default(true),
    },
    { error: 'must be false (no drift schedule, no canary gate) or {"scheduleMinutes": <minutes>, "canaryGate": <true|false>}' },
  ),
);

export const EndpointConfigSchema = z
  .strictObject({
    /** The model this endpoint serves (its name in the registry). */
    model: z.string().regex(MODEL_NAME_PATTERN, 'model names are 1-63 of a-z, 0-9, "-" and "_", starting with a letter or digit'),
    /** @default 2048 */
    memoryMb: memoryMb.default(2_048),
    /** @default 'arm64' */
    architecture: architecture.default('arm64'),
    /** Largest number of rows one request may carry. @default 1000 */
    maxRows: z.number().int().positive().max(1_000_000).default(1_000),
    /** Largest request body the function accepts, in bytes. @default 6000000 */
    maxBodyBytes: z
      .number()
      .int()
      .positive()
      .max(MAX_BODY_LIMIT, `Lambda accepts at most ${MAX_BODY_LIMIT} bytes synchronously`)
      .default(MAX_BODY_LIMIT),
    /** @default 29 (API Gateway's integration timeout) */
    timeoutSeconds: z.number().int().min(1).max(900).default(29),
    /** Concurrency reserved for (and capping) this function. @default none */
    reservedConcurrency: z.number().int().min(0).optional(),
    /** Pre-initialized environments on alias `live`. @default none */
    provisionedConcurrency: z.number().int().min(1).optional(),
    alarms: AlarmsSchema.default(AlarmsSchema.parse({})),
    release: ReleaseSchema.default(ReleaseSchema.parse({})),
    /**
     * Metrics a version must declare to be promoted (the metrics gate), e.g.
     * `{ "accuracy": { "min": 0.7 } }`. @default none
     */
    baseline: z
      .record(
        z.string().min(1),
        z
          .strictObject({ min: z.number().optional(), max: z.number().optional() })
          .refine((b) => b.min !== undefined || b.max !== undefined, 'give min, max or both'),
      )
      .optional(),
    /** Batch jobs of this model: the S3 locations they may read and write. @default none: its jobs are refused */
    batch: EndpointBatchSchema.optional(),
    /** Scheduled drift detection and its alarm, and the canary distribution gate. @default every 60 minutes, gate on */
    drift: EndpointDriftSchema.default({ scheduleMinutes: 60, canaryGate: true }),
    /**
     * DynamoDB tables of online features this endpoint's model versions may read (`onlineFeatures`
     * in their metadata), by name in the stack's account and region; the function may BatchGetItem
     * on these and no other. @default none: a version that declares online features answers 500
     * `FEATURE_TABLE_NOT_ALLOWED`
     */
    onlineFeatureTables: z
      .array(z.string().regex(TABLE_NAME_PATTERN, 'must be a DynamoDB table name: 3 to 255 of letters, digits, "_", "-" and "."'))
      .max(16, "at most 16 tables (each is one grant and one name in the function's environment)")
      .refine((tables) => new Set(tables).size === tables.length, 'names a table twice')
      .default([]),
  })
  .superRefine((endpoint, ctx) => {
    const { reservedConcurrency: reserved, provisionedConcurrency: provisioned } = endpoint;
    if (reserved !== undefined && provisioned !== undefined && provisioned > reserved) {
      ctx.addIssue({
        code: 'custom',
        path: ['provisionedConcurrency'],
        message: `${provisioned} exceeds reservedConcurrency ${reserved}; Lambda cannot provision more than it reserves`,
      });
    }
  });

const ControlPlaneSchema = z.strictObject({
  /** The control function loads models to read their signatures. @default 1024 */
  memoryMb: memoryMb.default(1_024),
  /** @default 'arm64' */
  architecture: architecture.default('arm64'),
  /** @default 29 */
  timeoutSeconds: z.number().int().min(1).max(900).default(29),
});

/**
 * Batch jobs (`lib/batch-jobs.ts`): the batch function the Distributed Map runs per batch of
 * splits, the plan/assemble function, and the limits the job API enforces. The workflow is
 * created only when at least one endpoint declares `batch` locations.
 */
const BatchSchema = z.strictObject({
  /** Memory of the batch function (it loads the model and predicts a batch in one run). @default 2048 */
  memoryMb: memoryMb.default(2_048),
  /** Architecture of the batch and plan/assemble functions. @default 'arm64' */
  architecture: architecture.default('arm64'),
  /**
   * Timeout of one batch, in seconds. The Distributed Map runs each batch in an EXPRESS child
   * execution, which lasts at most 300 s, retries included: 4 attempts of at most 70 s and 14 s
   * of backoff fit. @default 60
   */
  timeoutSeconds: z
    .number({ error: 'must be a whole number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be 1 or more seconds')
    .max(
      70,
      'must be at most 70 seconds: each batch runs in an EXPRESS child execution, which lasts at most 300 s with its 3 retries (4 x 70 s + 14 s of backoff)',
    )
    .default(60),
  /** Most records one batch predicts (the batch function's MAX_ROWS; a job's rowsPerBatch is capped by it). @default 1000 */
  maxRowsPerBatch: z
    .number({ error: 'must be a whole number of rows' })
    .int('must be a whole number of rows')
    .min(1, 'must be 1 or more rows')
    .max(100_000, 'must be at most 100000 rows')
    .default(1_000),
  /** Memory of the plan/assemble function (timeout 900 s: it streams the whole input and output). @default 1024 */
  stepsMemoryMb: memoryMb.default(1_024),
  /**
   * The most batches in flight a job may ask for (Distributed Map MaxConcurrency); the job API
   * refuses more. Step Functions allows up to 10000. @default 100
   */
  maxConcurrency: z
    .number({ error: 'must be a whole number of batches' })
    .int('must be a whole number of batches')
    .min(1, 'must be 1 or more batches')
    .max(10_000, 'Step Functions runs at most 10000 child executions of a Distributed Map at once')
    .default(100),
  /** Days a job's record stays in the job table after submission (DynamoDB TTL); its files stay in S3. @default 90 */
  jobTtlDays: z
    .number({ error: 'must be a whole number of days' })
    .int('must be a whole number of days')
    .min(1, 'must be 1 or more days')
    .max(3_650, 'must be at most 3650 days')
    .default(90),
});

/**
 * Data capture on AWS (`lib/data-capture.ts`): one capture bucket and one Amazon Data Firehose
 * stream for the whole app, created whatever the models do. Capture itself is opted into per
 * model at run time (`PUT /v1/models/{model}/capture`: sample share, redaction, record bound), so
 * there is no per-endpoint switch here: an idle stream and an empty bucket cost nothing (Firehose
 * bills the data it ingests, partitions and delivers; S3 the bytes it stores and the requests it
 * serves), and a model whose capture is off puts no record. Every endpoint function may put
 * records to the stream; only the control plane reads them back.
 */
const CaptureSchema = z.strictObject({
  /**
   * Days a captured record is kept (an S3 lifecycle rule expires `capture/` and
   * `capture-errors/` objects this long after they were written). Drift detection and replays
   * read only what is still there. @default 30
   */
  retentionDays: z
    .number({ error: 'must be a whole number of days' })
    .int('must be a whole number of days')
    .min(1, 'must be 1 or more days')
    .max(3_650, 'must be at most 3650 days (ten years)')
    .default(30),
  /**
   * Longest Firehose buffers a partition's records before writing them as one object, in
   * seconds: the delay before captured requests can be read, against the number of objects
   * (and PUT requests) per partition. Firehose accepts 60 to 900 s with dynamic partitioning.
   * @default 60
   */
  bufferSeconds: z
    .number({ error: 'must be a whole number of seconds' })
    .int('must be a whole number of seconds')
    .min(60, "must be at least 60 seconds (Firehose's least buffering interval with dynamic partitioning)")
    .max(900, "must be at most 900 seconds (Firehose's longest buffering interval)")
    .default(60),
});

const ApiSchema = z.strictObject({
  /** @default 'prod' */
  stageName: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,128}$/, 'stage names are letters, digits and underscores')
    .default('prod'),
  /** Steady-state requests per second across the stage. @default 100 */
  throttleRateLimit: z.number().positive().default(100),
  /** @default 200 */
  throttleBurstLimit: z.number().int().positive().default(200),
  /** Origins allowed by CORS. @default none: CORS is off */
  corsAllowOrigins: z.array(z.string().min(1)).min(1).optional(),
});

/** The algorithms the authorizer can accept (HS256 only with a secret). */
export const AUTH_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'HS256'] as const;
export type AuthAlgorithm = (typeof AUTH_ALGORITHMS)[number];

/** API Gateway caches an authorizer's answer for at most an hour. */
const MAX_AUTHORIZER_CACHE_SECONDS = 3_600;
/** Lambda holds 4 KB of environment in all; the public keys travel in it. */
const MAX_PUBLIC_KEYS_BYTES = 3_000;

/** A value the authorizer's environment lists comma-separated. */
const listItem = z
  .string()
  .min(1, 'must not be empty')
  .refine((value) => !value.includes(','), 'must not contain "," (the authorizer reads a comma-separated list)');
/** One value or a list of them, always read as a list. */
const oneOrMany = z
  .union([z.string(), z.array(z.string())], { error: 'must be a string or a list of strings' })
  .transform((value) => (typeof value === 'string' ? [value] : value))
  .pipe(z.array(listItem).min(1, 'give at least one value'));

const UsagePlanSchema = z.strictObject({
  /** The client tier, e.g. `default`, `gold`; part of the plan's name. */
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'plan names are 1-64 letters, digits, "-" and "_"'),
  /** Steady-state requests per second per API key. */
  rateLimit: z.number().positive(),
  /** Requests per API key allowed in a burst. */
  burstLimit: z.number().int().positive(),
  /** Requests per API key per day. @default no quota */
  quotaPerDay: z.number().int().positive().optional(),
});

/**
 * The JWT authorizer (`functions/authorizer/`): who issues tokens, how their signatures are
 * checked, how long API Gateway caches a decision, and the per-client usage plans.
 */
export const AuthSchema = z
  .strictObject(
    {
      /** A comment (JSON has none): cdk.json marks its placeholder with it. Ignored. */
      '//': z.string().optional(),
      /** Accepted `iss` value(s). */
      issuer: oneOrMany,
      /** Accepted `aud` value(s). */
      audience: oneOrMany,
      /** The issuer's JWKS (https). Exactly one of `jwksUrl` and `publicKeys`. */
      jwksUrl: z
        .url({ error: 'must be a URL' })
        .refine(
          (url) => !URL.canParse(url) || new URL(url).protocol === 'https:',
          'must be an https URL (keys fetched over plain http could be swapped in transit)',
        )
        .optional(),
      /** The public keys themselves, as a JSON Web Key Set (`{"keys": [...]}`). */
      publicKeys: z
        .looseObject({
          keys: z
            .array(z.looseObject({ kty: z.string() }).refine((jwk) => !('d' in jwk), 'is a private key; give public keys only'))
            .min(1, 'must hold at least one key'),
        })
        .refine((jwks) => JSON.stringify(jwks).length <= MAX_PUBLIC_KEYS_BYTES, {
          error: (issue) =>
            `is ${JSON.stringify(issue.input).length} bytes as JSON; Lambda's environment holds 4 KB in all, so at most ${MAX_PUBLIC_KEYS_BYTES}: use jwksUrl`,
        })
        .optional(),
      /** @default RS256, ES256, EdDSA */
      algorithms: z
        .array(
          z.enum(AUTH_ALGORITHMS, {
            error: (issue) => `${JSON.stringify(issue.input)} is not accepted; choose from ${AUTH_ALGORITHMS.join(', ')}`,
          }),
        )
        .min(1, 'list at least one algorithm')
        .optional(),
      /** Secrets Manager secret (complete ARN) holding the HS256 key; only with `HS256` in `algorithms`. */
      hs256SecretArn: z
        .string()
        .regex(
          /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/,
          "must be the secret's complete ARN (ending in the 6 characters Secrets Manager appends to the name)",
        )
        .optional(),
      /** Leeway on `exp`, `nbf` and `iat`, in seconds. @default 0 */
      clockToleranceSeconds: z.number().int().min(0).max(300).optional(),
      /** Refuse tokens issued (`iat`) longer ago. @default no limit */
      maxTokenAgeSeconds: z.number().int().positive().optional(),
      /** Refuse tokens that expire (`exp`) longer than this after now, whatever `iat` says. @default no limit */
      maxTokenLifetimeSeconds: z.number().int().positive().max(8_640_000_000_000).optional(),
      /** Required `typ` header, e.g. `at+jwt`. @default not checked */
      typ: z.string().min(1).optional(),
      /** Read only scopes with this prefix, removed (Cognito resource servers). @default none */
      scopePrefix: z.string().min(1).optional(),
      /** How long API Gateway caches a decision per token; 0 turns the cache off. @default 60 */
      cacheTtlSeconds: z
        .number()
        .int('must be a whole number of seconds')
        .min(0, 'must be 0 (no caching) or more')
        .max(MAX_AUTHORIZER_CACHE_SECONDS, `API Gateway caches authorizer results for at most ${MAX_AUTHORIZER_CACHE_SECONDS} seconds`)
        .default(60),
      /** The claim holding the client's API key value (returned as `usageIdentifierKey`). @default none: only stage throttling */
      usageKeyClaim: z.string().min(1).max(256).optional(),
      /** Per-client throttles, one usage plan each. @default one plan "default": 50 rps, bursts of 100 */
      usagePlans: z
        .array(UsagePlanSchema)
        .min(1, 'declare at least one usage plan')
        .superRefine((plans, ctx) => {
          const seen = new Set<string>();
          plans.forEach((plan, index) => {
            if (seen.has(plan.name)) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate plan name "${plan.name}"` });
            seen.add(plan.name);
          });
        })
        .default([{ name: 'default', rateLimit: 50, burstLimit: 100 }]),
    },
    {
      error: (issue) =>
        issue.input === undefined ? "required: the JWT issuer, audience and keys of the API's authorizer" : 'must be an object',
    },
  )
  .superRefine((auth, ctx) => {
    const algorithms = auth.algorithms ?? [];
    const hs256 = algorithms.includes('HS256');
    const asymmetric = auth.algorithms === undefined || algorithms.some((alg) => alg !== 'HS256');
    if (auth.jwksUrl !== undefined && auth.publicKeys !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: 'give jwksUrl or publicKeys, not both' });
    } else if (auth.jwksUrl === undefined && auth.publicKeys === undefined && asymmetric) {
      ctx.addIssue({ code: 'custom', path: ['jwksUrl'], message: "give the issuer's keys: jwksUrl (https) or publicKeys (a JWKS)" });
    } else if ((auth.jwksUrl !== undefined || auth.publicKeys !== undefined) && !asymmetric) {
      ctx.addIssue({
        code: 'custom',
        path: ['algorithms'],
        message: 'lists only HS256, so jwksUrl/publicKeys would be unused; add RS256, ES256 or EdDSA, or remove the keys',
      });
    }
    if (auth.hs256SecretArn !== undefined && !hs256) {
      ctx.addIssue({ code: 'custom', path: ['hs256SecretArn'], message: 'is only allowed when algorithms include HS256' });
    }
    if (hs256 && auth.hs256SecretArn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['hs256SecretArn'],
        message: 'is required when algorithms include HS256 (the secret HS256 tokens are verified with)',
      });
    }
  });

export const AppConfigSchema = z
  .strictObject({
    /** @default 'OnnxServing' */
    stackName: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'CloudFormation stack names are letters, digits and "-", starting with a letter')
      .default('OnnxServing'),
    endpoints: z
      .array(EndpointConfigSchema)
      .min(1, 'declare at least one endpoint')
      .superRefine((endpoints, ctx) => {
        for (const issue of duplicateModels(endpoints)) ctx.addIssue({ code: 'custom', ...issue });
      }),
    controlPlane: ControlPlaneSchema.default(ControlPlaneSchema.parse({})),
    api: ApiSchema.default(ApiSchema.parse({})),
    /** The JWT authorizer in front of every non-public route. Required: there is no unprotected API. */
    auth: AuthSchema,
    /** Days to keep function and API logs. @default 30 */
    logRetentionDays: z
      .number()
      .refine(
        (days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days),
        `CloudWatch Logs keeps ${LOG_RETENTION_DAYS.join(', ')} days`,
      )
      .default(30),
    /** Days before a prediction log item expires (DynamoDB TTL). @default 30 */
    predictionLogTtlDays: z.number().int().positive().max(3_650).default(30),
    /** Metrics namespace, log level and tracing of the functions. @default OnnxServing, INFO, no tracing */
    observability: ObservabilitySchema.default(ObservabilitySchema.parse({})),
    /** Batch jobs: function sizes and job limits. @default 2048 MB arm64 batches of at most 1000 rows in 300 s, 1024 MB plan/assemble, concurrency up to 100, jobs kept 90 days */
    batch: BatchSchema.default(BatchSchema.parse({})),
    /** Data capture delivery: retention of captured records and Firehose's buffering. @default kept 30 days, buffered 60 s */
    capture: CaptureSchema.default(CaptureSchema.parse({})),
  })
  .superRefine((config, ctx) => {
    const size = JSON.stringify(batchLocations(config)).length;
    if (size > MAX_BATCH_LOCATIONS_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoints'],
        message: `the endpoints' batch locations take ${size} bytes as JSON (BATCH_LOCATIONS); the control function's environment holds 4 KB in all, so at most ${MAX_BATCH_LOCATIONS_BYTES}: use fewer or shorter locations`,
      });
    }
  });

export type AppConfigInput = z.input<typeof AppConfigSchema>;
export type AppConfig = z.output<typeof AppConfigSchema>;
export type EndpointConfig = z.output<typeof EndpointConfigSchema>;
export type ControlPlaneConfig = z.output<typeof ControlPlaneSchema>;
export type ApiConfig = z.output<typeof ApiSchema>;
export type AlarmsConfig = z.output<typeof AlarmsSchema>;
export type ObservabilityConfig = z.output<typeof ObservabilitySchema>;
export type BatchConfig = z.output<typeof BatchSchema>;
export type CaptureConfig = z.output<typeof CaptureSchema>;
export type EndpointDriftConfig = z.output<typeof EndpointDriftSchema>;

/** Minutes between scheduled drift runs of an endpoint's model; 0 when it has none (`drift: false` or `scheduleMinutes: 0`). */
export function driftScheduleMinutes(endpoint: { readonly drift: EndpointDriftConfig }): number {
  return endpoint.drift.scheduleMinutes;
}

/** Whether the endpoint's managed releases have the distribution gate (`drift.canaryGate`; `drift: false` turns it off). */
export function canaryGateOn(endpoint: { readonly drift: EndpointDriftConfig }): boolean {
  return endpoint.drift.canaryGate;
}
export type EndpointBatchConfig = z.output<typeof EndpointBatchSchema>;

/** The batch locations' JSON may take this much of the control function's 4 KB environment. */
const MAX_BATCH_LOCATIONS_BYTES = 1_500;

/**
 * The endpoints' batch locations by model, as the control function reads them (`BATCH_LOCATIONS`):
 * `{"iris": {"inputs": ["s3://bucket/in/"], "outputs": ["s3://bucket/out/"]}}`. Endpoints without
 * `batch` are left out; empty when none has it (batch jobs are then not deployed).
 */
export function batchLocations(config: {
  readonly endpoints: readonly { readonly model: string; readonly batch?: EndpointBatchConfig | undefined }[];
}): Record<string, EndpointBatchConfig> {
  return Object.fromEntries(
    config.endpoints.flatMap((e) => (e.batch ? [[e.model, { inputs: e.batch.inputs, outputs: e.batch.outputs }]] : [])),
  );
}

/** The observability settings of a config that names none: namespace OnnxServing, INFO, no tracing. */
export const DEFAULT_OBSERVABILITY: ObservabilityConfig = ObservabilitySchema.parse({});
export type ReleaseConfig = z.output<typeof ReleaseSchema>;
export type AuthConfig = z.output<typeof AuthSchema>;
export type UsagePlanConfig = z.output<typeof UsagePlanSchema>;

/**
 * Endpoints that repeat an earlier endpoint's model. Reads raw input defensively: it also runs
 * on configs with other problems (zod skips refinements once an element fails), so every
 * problem is reported at once.
 */
function duplicateModels(endpoints: unknown): { path: (string | number)[]; message: string }[] {
  if (!Array.isArray(endpoints)) return [];
  const seen = new Map<string, number>();
  const issues: { path: (string | number)[]; message: string }[] = [];
  endpoints.forEach((endpoint: unknown, index) => {
    const model = (endpoint as { model?: unknown } | null)?.model;
    if (typeof model !== 'string') return;
    const first = seen.get(model);
    if (first === undefined) seen.set(model, index);
    else
      issues.push({
        path: [index, 'model'],
        message: `duplicate model name "${model}" (also endpoints[${first}]); each model has one endpoint`,
      });
  });
  return issues;
}

/**
 * The issuer of cdk.json's placeholder `auth` (a reserved example domain): synth passes, and
 * warns that every token would be refused until it is replaced.
 */
export const PLACEHOLDER_AUTH_HOST = 'auth.example.com';

/** Used when the context holds no config: one endpoint for the sample model, placeholder auth. */
export const DEFAULT_CONFIG: AppConfigInput = {
  endpoints: [{ model: 'iris' }],
  auth: {
    issuer: `https://${PLACEHOLDER_AUTH_HOST}/`,
    audience: 'onnx-serving',
    jwksUrl: `https://${PLACEHOLDER_AUTH_HOST}/.well-known/jwks.json`,
  },
};

/** `endpoints[1].model` from zod's `['endpoints', 1, 'model']`. */
function fieldPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    out += typeof segment === 'number' ? `[${segment}]` : `${out ? '.' : ''}${String(segment)}`;
  }
  return out || '(root)';
}

/**
 * Validates a config, throwing one error that lists every problem with its field path.
 *
 * @example
 * parseAppConfig({ endpoints: [{ model: 'iris', architecture: 'sparc' }] }, 'cdk.json');
 * // Error: Invalid endpoint config (cdk.json):
 * //   - endpoints[0].architecture: unknown architecture "sparc"; Lambda offers arm64 or x86_64
 */
export function parseAppConfig(raw: unknown, source = 'config'): AppConfig {
  const result = plainParse(AppConfigSchema, raw);
  if (result.success) return result.data;
  // Each problem in plain words (`functions/core/messages.ts`), the schema's own messages first;
  // an unknown key by its own path, with the closest field it may misspell.
  const problems = everyRefusal(result.issues, raw, false).map((refusal) => ({
    at: fieldPath(refusal.path),
    // (a schema whose own message covers every issue says something else of an unknown key).
    detail:
      refusal.kind !== 'unknown'
        ? refusal.detail
        : refusal.detail.startsWith('is unknown')
          ? refusal.detail.replace(/^is unknown/, 'unknown field')
          : 'unknown field',
  }));
  const reported = new Set(problems.map((problem) => problem.at));
  for (const duplicate of duplicateModels((raw as { endpoints?: unknown } | null)?.endpoints)) {
    const at = fieldPath(['endpoints', ...duplicate.path]);
    if (!reported.has(at)) problems.push({ at, detail: duplicate.message });
  }
  return failWith(`Invalid endpoint config (${source}):\n${problems.map((problem) => `  - ${problem.at}: ${problem.detail}`).join('\n')}`);
}

function failWith(message: string): never {
  throw new Error(message);
}

/** Reads the config from a construct tree's context (see the file comment). */
export function loadAppConfig(context: { tryGetContext(key: string): unknown }): AppConfig {
  const file = context.tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (typeof file === 'string' && file !== '') {
    const resolved = path.resolve(file);
    let text: string;
    try {
      text = readFileSync(resolved, 'utf8');
    } catch (error) {
      return failWith(
        `Cannot read the endpoint config file ${resolved} (context "${CONFIG_FILE_CONTEXT_KEY}"): ${(error as Error).message}`,
      );
    }
    return parseAppConfig(parseJson(text, resolved), resolved);
  }
  const value = context.tryGetContext(CONFIG_CONTEXT_KEY);
  if (value === undefined) return parseAppConfig(DEFAULT_CONFIG, 'default config');
  // `-c onnxServing='{"endpoints":[...]}'` arrives as a string.
  const raw = typeof value === 'string' ? parseJson(value, `context "${CONFIG_CONTEXT_KEY}"`) : value;
  return parseAppConfig(raw, `context "${CONFIG_CONTEXT_KEY}"`);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return failWith(`The endpoint config in ${source} is not valid JSON: ${(error as Error).message}`);
  }
}
