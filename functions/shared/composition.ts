/**
 * The composition root shared by the functions and the local server: SDK clients, adapters and
 * services built from a `Config`. On Lambda the SDK finds its region and credentials in the
 * environment; locally the caller passes clients pointed at the embedded servers.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CodeDeployClient } from '@aws-sdk/client-codedeploy';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaTrafficRouter } from '../adapters/lambda-traffic-router.js';
import type { ModelRuntime, TrafficRouter } from '../core/ports.js';
import { ReleaseService } from '../core/release.js';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { NO_TRACING, type Tracing } from '../core/observability.js';
import { DynamoDbPredictionLog } from '../adapters/dynamodb-prediction-log.js';
import { DynamoDbFeatureTables, DynamoDbOnlineFeatures } from '../adapters/dynamodb-online-features.js';
import { PredictionCaches } from '../core/prediction-cache.js';
import { DynamoDbPredictionLogReader } from '../adapters/dynamodb-prediction-log-reader.js';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { OnnxRuntime, defaultIntraOpThreads, defaultSessionCacheBytes } from '../adapters/onnx-runtime.js';
import { S3ArtifactStore } from '../adapters/s3-artifacts.js';
import { S3UploadStore } from '../adapters/s3-uploads.js';
import { S3PayloadStore } from '../adapters/s3-payloads.js';
import { BufferedCaptureLog, FirehoseCaptureDelivery, S3CaptureDelivery } from '../adapters/capture-log.js';
import { S3CaptureReader } from '../adapters/s3-capture.js';
import { S3DriftReportStore, S3ReferenceProfileStore } from '../adapters/s3-drift.js';
import { DriftService, type StoredDriftReport } from '../core/drift/service.js';
import { BatchPredictor } from '../core/batch.js';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDbBatchJobStore } from '../adapters/dynamodb-batch-jobs.js';
import { S3DataObjects } from '../adapters/s3-data.js';
import { StepFunctionsJobRunner } from '../adapters/sfn-job-runner.js';
import type { JobRunner } from '../core/batch-contract.js';
import { inspectInput, planSplits, readSplit } from '../core/batch-input.js';
import { BatchJobService } from '../core/batch-jobs.js';
import { BatchSteps } from '../core/batch-steps.js';
import { BatchWorker } from '../core/batch-worker.js';
import { planReplaySplits } from '../core/replay/plan.js';
import { writeReplayReport } from '../core/replay/report.js';
import { ReplayService } from '../core/replay/service.js';
import { ReplayPredictor } from '../core/replay/worker.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, PredictionService } from '../core/predict.js';
import { RegistryService } from '../core/registry.js';
import { PredictionLogService, StatsService } from '../core/stats.js';
import { UploadService } from '../core/uploads.js';
import { required, type Config } from './config.js';
import type { BodyLimits } from './http.js';
import { sharedLogger } from './logger.js';

/** Longest a socket may stay silent while a response body streams (an artifact download), in ms. */
const SOCKET_IDLE_TIMEOUT_MS = 30_000;

export interface AwsClients {
  /** The low-level client (online feature reads take numbers as their text, binary values as bytes). */
  readonly dynamo: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
}

/**
 * Clients for the real AWS endpoints (or those named by `AWS_ENDPOINT_URL_*`), with bounded
 * socket timeouts: a DynamoDB or S3 that stops answering fails a call in seconds, not minutes.
 */
export function awsClients(config: Config): AwsClients {
  // requestTimeout bounds the time to the response's headers (a body, an artifact's bytes, then
  // streams under socketTimeout); without throwOnRequestTimeout the SDK would only warn.
  const requestHandler = {
    connectionTimeout: config.AWS_CONNECT_TIMEOUT_MS,
    requestTimeout: config.AWS_REQUEST_TIMEOUT_MS,
    throwOnRequestTimeout: true,
    socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
  };
  const dynamo = new DynamoDBClient({ region: config.AWS_REGION, requestHandler });
  return {
    dynamo,
    documents: DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }),
    // No flexible checksums unless S3 requires them: with them, a presigned PUT URL carries the
    // CRC32 of an empty body and S3 refuses every upload to it (artifacts are sha256-checked anyway).
    s3: new S3Client({
      region: config.AWS_REGION,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      requestHandler,
    }),
  };
}

export function bodyLimits(config: Config): BodyLimits {
  return { maxBodyBytes: config.MAX_BODY_BYTES, maxJsonDepth: config.MAX_JSON_DEPTH };
}

/** The payload bucket of an endpoint function and the client that reaches it (see {@link payloadBucketOf}). */
export interface PayloadBucketAccess {
  readonly client: S3Client;
  /** `PAYLOAD_BUCKET`: inputs under `inputs/<model>/`, outputs under `outputs/<model>/` (functions/core/payload-keys.ts). */
  readonly bucket: string;
}

/**
 * Where the predict function's by-reference payloads live: `PAYLOAD_BUCKET` (the CDK app sets it
 * on every endpoint function, the local stack to its `onnx-payloads` bucket) with the S3 client;
 * `undefined` when it is unset, and by-reference inputs and outputs are off.
 */
export function payloadBucketOf(config: Config, clients: AwsClients): PayloadBucketAccess | undefined {
  return config.PAYLOAD_BUCKET === undefined ? undefined : { client: clients.s3, bucket: config.PAYLOAD_BUCKET };
}

/**
 * The ONNX Runtime adapter of a process, its sessions bounded by `SESSION_CACHE_MAX_SESSIONS` and
 * `SESSION_CACHE_MAX_BYTES` (default: 40% of the function's memory on Lambda). Build one per
 * process and hand it to every service that serves (the local stack shares one among all its
 * emulated function versions), so that the bound holds for the process.
 */
export function buildModelRuntime(config: Config, clients: AwsClients, tracing: Tracing = NO_TRACING): OnnxRuntime {
  return new OnnxRuntime(new S3ArtifactStore({ client: clients.s3, bucket: required(config, 'ARTIFACT_BUCKET') }), {
    cacheDir: config.MODEL_CACHE_DIR,
    intraOpThreads: config.ORT_INTRA_OP_THREADS ?? defaultIntraOpThreads(config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
    tracing,
    sessions: {
      maxSessions: config.SESSION_CACHE_MAX_SESSIONS,
      maxBytes: config.SESSION_CACHE_MAX_BYTES ?? defaultSessionCacheBytes(config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
    },
    // What callers are not shown (ONNX Runtime's whole error text) goes to the function's log.
    log: (level, message, fields) => (level === 'ERROR' ? sharedLogger().error(message, fields) : sharedLogger().warn(message, fields)),
  });
}

function adapters(config: Config, clients: AwsClients, tracing: Tracing = NO_TRACING, runtime?: ModelRuntime) {
  const registry = new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE });
  const artifacts = new S3ArtifactStore({ client: clients.s3, bucket: required(config, 'ARTIFACT_BUCKET') });
  return { registry, artifacts, runtime: runtime ?? buildModelRuntime(config, clients, tracing) };
}

/**
 * How a function reaches online feature tables: the low-level DynamoDB client, and the tables it
 * may use (`ONLINE_FEATURE_TABLES`; unset, any its credentials reach).
 */
function featureTableAccess(config: Config, clients: AwsClients): { client: DynamoDBClient; allowedTables?: ReadonlySet<string> } {
  return { client: clients.dynamo, ...(config.ONLINE_FEATURE_TABLES ? { allowedTables: config.ONLINE_FEATURE_TABLES } : {}) };
}

/** What the predict function observes beyond its answers: fallback metrics and tracing. */
export interface PredictionObservability {
  /** Counts records that fall back to the function's log (give it on Lambda). @default none */
  readonly metrics?: Metrics;
  /** Spans around registry, artifact, session, run and log writes. @default none */
  readonly tracing?: Tracing;
  /**
   * The process's runtime, when several services share it (the local stack's emulated function
   * versions). @default a new one ({@link buildModelRuntime})
   */
  readonly runtime?: ModelRuntime;
}

/**
 * The serving core with its prediction log (written in the background; `service.flush()` drains
 * it).
 */
export function buildPredictionService(
  config: Config,
  clients: AwsClients = awsClients(config),
  observability: PredictionObservability = {},
): PredictionService {
  const tracing = observability.tracing ?? NO_TRACING;
  const { registry, runtime } = adapters(config, clients, tracing, observability.runtime);
  const payloadBucket = payloadBucketOf(config, clients);
  const capture = buildCaptureLog(config, clients, observability.metrics);
  return new PredictionService({
    registry,
    runtime,
    tracing,
    ...(payloadBucket ? { payloads: new S3PayloadStore({ ...payloadBucket, maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES }) } : {}),
    ...(capture ? { capture } : {}),
    features: new DynamoDbOnlineFeatures(featureTableAccess(config, clients)),
    caches: new PredictionCaches(config.PREDICTION_CACHE_MAX_BYTES),
    log: new DynamoDbPredictionLog({
      client: clients.documents,
      tableName: required(config, 'PREDICTION_LOG_TABLE'),
      flushDelayMs: config.PREDICTION_LOG_FLUSH_MS,
      maxQueued: config.PREDICTION_LOG_MAX_QUEUED,
      attemptTimeoutMs: config.PREDICTION_LOG_TIMEOUT_MS,
      tracing,
      ...(observability.metrics ? { metrics: observability.metrics } : {}),
    }),
    config: {
      maxRows: config.MAX_ROWS,
      maxStringChars: config.MAX_STRING_CHARS,
      ...(config.SERVED_MODEL ? { servedModel: config.SERVED_MODEL } : {}),
      ...(config.PINNED_MODEL_VERSION ? { pinnedVersion: config.PINNED_MODEL_VERSION } : {}),
      functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION,
      logTtlDays: config.LOG_TTL_DAYS,
      maxLoggedOutputBytes: config.MAX_LOGGED_OUTPUT_BYTES,
      pointerCacheMs: config.POINTER_CACHE_MS,
    },
  });
}

/**
 * Where an endpoint function's captured requests go: the Firehose stream `CAPTURE_STREAM` on AWS,
 * else JSON Lines objects in `CAPTURE_BUCKET`; `undefined` (nothing captured, whatever a model's
 * settings say) when neither is set.
 */
export function buildCaptureLog(config: Config, clients: AwsClients, metrics?: Metrics): BufferedCaptureLog | undefined {
  const stream = config.CAPTURE_STREAM;
  const delivery = stream
    ? new FirehoseCaptureDelivery({
        streamName: stream,
        client: async () => {
          const { FirehoseClient } = await import('@aws-sdk/client-firehose');
          return new FirehoseClient({
            region: config.AWS_REGION,
            requestHandler: {
              connectionTimeout: config.AWS_CONNECT_TIMEOUT_MS,
              requestTimeout: config.AWS_REQUEST_TIMEOUT_MS,
              throwOnRequestTimeout: true,
            },
          });
        },
      })
    : config.CAPTURE_BUCKET
      ? new S3CaptureDelivery({ client: clients.s3, bucket: config.CAPTURE_BUCKET })
      : undefined;
  if (!delivery) return undefined;
  return new BufferedCaptureLog({ delivery, flushDelayMs: config.CAPTURE_FLUSH_MS, ...(metrics ? { metrics } : {}) });
}

/**
 * Reference profiles (in `ARTIFACT_BUCKET`, beside the artifacts) and drift detection over the
 * captured records and reports in `CAPTURE_BUCKET` (runs answer 501 without it); `undefined`
 * without an artifact bucket.
 */
export function buildDriftService(
  config: Config,
  clients: AwsClients,
  onReport?: (report: StoredDriftReport) => void,
): DriftService | undefined {
  if (!config.ARTIFACT_BUCKET) return undefined;
  const registry = new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE });
  const bucket = config.CAPTURE_BUCKET;
  return new DriftService({
    registry,
    profiles: new S3ReferenceProfileStore({ client: clients.s3, bucket: config.ARTIFACT_BUCKET }),
    ...(bucket
      ? { capture: new S3CaptureReader({ client: clients.s3, bucket }), reports: new S3DriftReportStore({ client: clients.s3, bucket }) }
      : {}),
    maxRecords: config.DRIFT_MAX_RECORDS,
    ...(onReport ? { onReport } : {}),
  });
}

/**
 * The batch core (the batch function): the registry and a runtime, its batches bounded by
 * `MAX_ROWS` and `MAX_STRING_CHARS` as the predict route's requests are.
 */
export function buildBatchPredictor(config: Config, clients: AwsClients = awsClients(config), runtime?: ModelRuntime): BatchPredictor {
  const { registry, runtime: batchRuntime } = adapters(config, clients, NO_TRACING, runtime);
  return new BatchPredictor({
    registry,
    runtime: batchRuntime,
    features: new DynamoDbOnlineFeatures(featureTableAccess(config, clients)),
    config: { maxRows: config.MAX_ROWS, maxStringChars: config.MAX_STRING_CHARS },
  });
}

/** The job table; BATCH_JOBS_TABLE must be set (the CDK app sets it on every batch function). */
export function buildBatchJobStore(config: Config, clients: AwsClients): DynamoDbBatchJobStore {
  return new DynamoDbBatchJobStore({
    client: clients.documents,
    tableName: required(config, 'BATCH_JOBS_TABLE'),
    ttlDays: config.BATCH_JOB_TTL_DAYS,
  });
}

/**
 * The batch function's work: a Distributed Map batch of splits read, predicted in one
 * `session.run` and written as parts (`BatchWorker`).
 */
export function buildBatchWorker(config: Config, clients: AwsClients = awsClients(config), runtime?: ModelRuntime): BatchWorker {
  // One runtime for predictions and replays: one bounded session cache per sandbox.
  const shared = runtime ?? buildModelRuntime(config, clients);
  const { registry } = adapters(config, clients, NO_TRACING, shared);
  return new BatchWorker({
    predictor: buildBatchPredictor(config, clients, shared),
    replay: new ReplayPredictor({
      registry,
      runtime: shared,
      config: { maxRows: config.MAX_ROWS, maxStringChars: config.MAX_STRING_CHARS },
    }),
    objects: new S3DataObjects({ client: clients.s3 }),
    jobs: buildBatchJobStore(config, clients),
    readSplit,
    maxRows: config.MAX_ROWS,
  });
}

/** The workflow's plan, assemble and fail steps (replays' plan and report included). */
export function buildBatchSteps(config: Config, clients: AwsClients = awsClients(config)): BatchSteps {
  return new BatchSteps({
    objects: new S3DataObjects({ client: clients.s3 }),
    jobs: buildBatchJobStore(config, clients),
    planSplits,
    replays: { plan: planReplaySplits, report: writeReplayReport },
  });
}

/**
 * Replays (`POST /v1/models/{model}/replays`) over the job service `jobs`: they read and write the
 * capture bucket (`CAPTURE_BUCKET`); `undefined` without it.
 */
export function buildReplayService(config: Config, clients: AwsClients, jobs: BatchJobService): ReplayService | undefined {
  if (!config.CAPTURE_BUCKET) return undefined;
  return new ReplayService({
    registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    store: buildBatchJobStore(config, clients),
    objects: new S3DataObjects({ client: clients.s3 }),
    start: (job) => jobs.start(job),
    captureBucket: config.CAPTURE_BUCKET,
    config: { maxRowsPerBatch: config.BATCH_MAX_ROWS_PER_BATCH, maxConcurrency: config.BATCH_MAX_CONCURRENCY },
  });
}

/**
 * The job API's core over `runner` (Step Functions on AWS, from BATCH_STATE_MACHINE_ARN; the
 * local emulation in `npm start`). Without a job table there are no batch jobs: `undefined`.
 */
export function buildBatchJobService(config: Config, clients: AwsClients, runner?: JobRunner): BatchJobService | undefined {
  if (!config.BATCH_JOBS_TABLE) return undefined;
  const workflow =
    runner ??
    (config.BATCH_STATE_MACHINE_ARN
      ? new StepFunctionsJobRunner({
          client: new SFNClient({ region: config.AWS_REGION }),
          stateMachineArn: config.BATCH_STATE_MACHINE_ARN,
        })
      : undefined);
  if (!workflow) return undefined;
  return new BatchJobService({
    registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    store: buildBatchJobStore(config, clients),
    objects: new S3DataObjects({ client: clients.s3 }),
    runner: workflow,
    locations: config.BATCH_LOCATIONS,
    inspect: inspectInput,
    config: { maxRowsPerBatch: config.BATCH_MAX_ROWS_PER_BATCH, maxConcurrency: config.BATCH_MAX_CONCURRENCY },
  });
}

/** The release service over `router` (the Lambda/CodeDeploy one on AWS, the emulation locally). */
export function buildReleaseService(
  config: Config,
  router: TrafficRouter,
  clients: AwsClients = awsClients(config),
  service: RegistryService = buildRegistryService(config, clients),
  runtime?: ModelRuntime,
): ReleaseService {
  const { registry, artifacts, runtime: gateRuntime } = adapters(config, clients, NO_TRACING, runtime);
  return new ReleaseService({
    registry,
    service,
    router,
    gates: { artifacts, runtime: gateRuntime, baselineFor: (model) => config.METRIC_BASELINES[model] },
    warn: (message, fields) => sharedLogger().warn(message, fields),
  });
}

/** Releases on AWS: the endpoints' functions, aliases and CodeDeploy groups from `ENDPOINTS`. */
export function lambdaTrafficRouter(config: Config): TrafficRouter {
  return new LambdaTrafficRouter({
    lambda: new LambdaClient({ region: config.AWS_REGION }),
    codeDeploy: new CodeDeployClient({ region: config.AWS_REGION }),
    cloudWatch: new CloudWatchClient({ region: config.AWS_REGION }),
    endpoints: config.ENDPOINTS,
    metricsNamespace: config.METRICS_NAMESPACE,
  });
}

/**
 * Per-version stats and health over `releases` (its router's metrics: CloudWatch on AWS, the
 * process's counters locally), judged with HEALTH_MAX_ERROR_RATE and HEALTH_MAX_MEAN_LATENCY_MS.
 */
export function buildStatsService(config: Config, releases: ReleaseService): StatsService {
  return new StatsService({
    deployments: releases,
    thresholds: { maxErrorRate: config.HEALTH_MAX_ERROR_RATE, maxMeanLatencyMs: config.HEALTH_MAX_MEAN_LATENCY_MS },
  });
}

/** Reading the prediction log (PREDICTION_LOG_TABLE's `byModel` index) for the control plane. */
export function buildPredictionLogService(config: Config, clients: AwsClients = awsClients(config)): PredictionLogService {
  return new PredictionLogService({
    reader: new DynamoDbPredictionLogReader({ client: clients.documents, tableName: required(config, 'PREDICTION_LOG_TABLE') }),
    registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
  });
}

export function buildRegistryService(config: Config, clients: AwsClients = awsClients(config), runtime?: ModelRuntime): RegistryService {
  // A file sent inline is limited by MAX_BODY_BYTES (base64 in JSON) before it gets here.
  return new RegistryService({
    ...adapters(config, clients, NO_TRACING, runtime),
    maxArtifactBytes: config.MAX_ARTIFACT_BYTES,
    baselineFor: (model) => config.METRIC_BASELINES[model],
    featureTables: new DynamoDbFeatureTables(featureTableAccess(config, clients)),
  });
}

/** Presigned uploads into the artifact bucket's `uploads/`, registered through `service`. */
export function buildUploadService(
  config: Config,
  clients: AwsClients = awsClients(config),
  service: RegistryService = buildRegistryService(config, clients),
): UploadService {
  return new UploadService({
    uploads: new S3UploadStore({ client: clients.s3, bucket: required(config, 'ARTIFACT_BUCKET') }),
    service,
    maxArtifactBytes: config.MAX_ARTIFACT_BYTES,
  });
}
