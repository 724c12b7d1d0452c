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
import type { TrafficRouter } from '../core/ports.js';
import { ReleaseService } from '../core/release.js';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDbPredictionLog } from '../adapters/dynamodb-prediction-log.js';
import { DynamoDbRegistry } from '../adapters/dynamodb-registry.js';
import { OnnxRuntime, defaultIntraOpThreads } from '../adapters/onnx-runtime.js';
import { S3ArtifactStore } from '../adapters/s3-artifacts.js';
import { S3UploadStore } from '../adapters/s3-uploads.js';
import { PredictionService } from '../core/predict.js';
import { RegistryService } from '../core/registry.js';
import { UploadService } from '../core/uploads.js';
import type { Config } from './config.js';
import type { BodyLimits } from './http.js';

export interface AwsClients {
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
}

/**
 * Clients for the real AWS endpoints (or those named by `AWS_ENDPOINT_URL_*`), with bounded
 * socket timeouts: a DynamoDB or S3 that stops answering fails a call in seconds, not minutes.
 */
export function awsClients(config: Config): AwsClients {
  const requestHandler = { connectionTimeout: config.AWS_CONNECT_TIMEOUT_MS, requestTimeout: config.AWS_REQUEST_TIMEOUT_MS };
  const dynamo = new DynamoDBClient({ region: config.AWS_REGION, requestHandler });
  return {
    documents: DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }),
    // No flexible checksums unless S3 requires them: with them, a presigned PUT URL carries the
    // CRC32 of an empty body and S3 refuses every upload to it (artifacts are sha256-checked anyway).
    s3: new S3Client({ region: config.AWS_REGION, forcePathStyle: config.S3_FORCE_PATH_STYLE, requestChecksumCalculation: 'WHEN_REQUIRED', requestHandler }),
  };
}

export function bodyLimits(config: Config): BodyLimits {
  return { maxBodyBytes: config.MAX_BODY_BYTES, maxJsonDepth: config.MAX_JSON_DEPTH };
}

function adapters(config: Config, clients: AwsClients) {
  const registry = new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE });
  const artifacts = new S3ArtifactStore({ client: clients.s3, bucket: config.ARTIFACT_BUCKET });
  const runtime = new OnnxRuntime(artifacts, {
    cacheDir: config.MODEL_CACHE_DIR,
    intraOpThreads: config.ORT_INTRA_OP_THREADS ?? defaultIntraOpThreads(config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
  });
  return { registry, artifacts, runtime };
}

/**
 * The serving core with its prediction log (written in the background; `service.flush()` drains
 * it). `metrics` counts records that fall back to the function's log; give it on Lambda.
 */
export function buildPredictionService(config: Config, clients: AwsClients = awsClients(config), metrics?: Metrics): PredictionService {
  const { registry, runtime } = adapters(config, clients);
  return new PredictionService({
    registry,
    runtime,
    log: new DynamoDbPredictionLog({
      client: clients.documents,
      tableName: config.PREDICTION_LOG_TABLE,
      flushDelayMs: config.PREDICTION_LOG_FLUSH_MS,
      maxQueued: config.PREDICTION_LOG_MAX_QUEUED,
      attemptTimeoutMs: config.PREDICTION_LOG_TIMEOUT_MS,
      ...(metrics ? { metrics } : {}),
    }),
    config: {
      maxRows: config.MAX_ROWS,
      ...(config.SERVED_MODEL ? { servedModel: config.SERVED_MODEL } : {}),
      ...(config.PINNED_MODEL_VERSION ? { pinnedVersion: config.PINNED_MODEL_VERSION } : {}),
      functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION,
      logTtlDays: config.LOG_TTL_DAYS,
      maxLoggedOutputBytes: config.MAX_LOGGED_OUTPUT_BYTES,
      pointerCacheMs: config.POINTER_CACHE_MS,
    },
  });
}

/** The release service over `router` (the Lambda/CodeDeploy one on AWS, the emulation locally). */
export function buildReleaseService(
  config: Config,
  router: TrafficRouter,
  clients: AwsClients = awsClients(config),
  service: RegistryService = buildRegistryService(config, clients),
): ReleaseService {
  const { registry, artifacts, runtime } = adapters(config, clients);
  return new ReleaseService({ registry, service, router, gates: { artifacts, runtime, baselineFor: (model) => config.METRIC_BASELINES[model] } });
}

/** Releases on AWS: the endpoints' functions, aliases and CodeDeploy groups from `ENDPOINTS`. */
export function lambdaTrafficRouter(config: Config): TrafficRouter {
  return new LambdaTrafficRouter({
    lambda: new LambdaClient({ region: config.AWS_REGION }),
    codeDeploy: new CodeDeployClient({ region: config.AWS_REGION }),
    cloudWatch: new CloudWatchClient({ region: config.AWS_REGION }),
    endpoints: config.ENDPOINTS,
  });
}

export function buildRegistryService(config: Config, clients: AwsClients = awsClients(config)): RegistryService {
  const { registry, artifacts, runtime } = adapters(config, clients);
  // A file sent inline is limited by MAX_BODY_BYTES (base64 in JSON) before it gets here.
  return new RegistryService({
    registry,
    artifacts,
    runtime,
    maxArtifactBytes: config.MAX_ARTIFACT_BYTES,
    baselineFor: (model) => config.METRIC_BASELINES[model],
  });
}

/** Presigned uploads into the artifact bucket's `uploads/`, registered through `service`. */
export function buildUploadService(
  config: Config,
  clients: AwsClients = awsClients(config),
  service: RegistryService = buildRegistryService(config, clients),
): UploadService {
  return new UploadService({
    uploads: new S3UploadStore({ client: clients.s3, bucket: config.ARTIFACT_BUCKET }),
    service,
    maxArtifactBytes: config.MAX_ARTIFACT_BYTES,
  });
}
