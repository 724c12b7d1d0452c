/**
 * Child process: the product's local API (the same handlers Lambda runs), in the shape the
 * environment asks for:
 *   BENCH_API_MODE=npm-start  `startLocalStack` as `npm start` (local/start.ts) runs it: JWT
 *                             authorization on, the DynamoDB- and S3-compatible servers in a
 *                             child process, state in a data folder, the access log on stdout
 *                             unless ACCESS_LOG=off (start.ts's switch).
 *   BENCH_API_MODE=function   the function alone, as on Lambda, its registry, artifacts and logs
 *                             on the servers of another process (BENCH_AWS: AwsEndpoints as JSON),
 *                             with BENCH_AUTH=on|off (the local stack's JWT authorizer, with API
 *                             Gateway's result cache) and BENCH_LOG=off|sink (prediction logs
 *                             discarded in-process, or written to the log sink). No access log:
 *                             on Lambda, API Gateway's access logs are not the function's work.
 * Per-client throttling is off everywhere: the load generator is one client, and throttling is
 * a policy, not a speed. Tells the runner its URL and a token to send; answers `memory` (and
 * `gc`, when started with --expose-gc) and `drain` (stores the prediction-log records still
 * queued, saying how many and how long it took), and takes CPU profiles on request.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DynamoDbRegistry } from '../../functions/adapters/dynamodb-registry.js';
import { OnnxRuntime, defaultIntraOpThreads } from '../../functions/adapters/onnx-runtime.js';
import { S3ArtifactStore } from '../../functions/adapters/s3-artifacts.js';
import { makeHandler as makeControlHandler } from '../../functions/control/app.js';
import { PredictionService } from '../../functions/core/predict.js';
import { makeHandler as makePredictHandler } from '../../functions/predict/app.js';
import { loadConfig, required, type Config } from '../../functions/shared/config.js';
import { bodyLimits, buildPredictionService, buildRegistryService, buildUploadService } from '../../functions/shared/composition.js';
import { generateSigningKey, localAuthorizer, localAuthorizerEnv, mintToken } from '../../local/auth.js';
import { localClients, type LocalClients } from '../../local/aws-servers.js';
import { startLocalServer, type LocalAuthorization } from '../../local/server.js';
import { startLocalStack } from '../../local/stack.js';
import { memoryFigures, serveRunner, type AwsEndpoints } from '../lib/children.js';
import { DiscardingLog } from '../lib/in-process.js';
import { profilerRequests } from '../lib/profile.js';

const mode = process.env.BENCH_API_MODE ?? 'function';
const auth = process.env.BENCH_AUTH === 'on';
const log = process.env.BENCH_LOG === 'sink' ? 'sink' : 'off';
const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-api-'));
/** What the load generator's token may do: predict, on any model, for the length of a run. */
const TOKEN = { subject: 'bench', scopes: ['predict'], ttlSeconds: 3_600 } as const;

/** composition.ts's prediction service with the log port replaced by one that keeps nothing. */
function withoutLog(config: Config, clients: LocalClients): PredictionService {
  const artifacts = new S3ArtifactStore({ client: clients.s3, bucket: required(config, 'ARTIFACT_BUCKET') });
  return new PredictionService({
    registry: new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE }),
    runtime: new OnnxRuntime(artifacts, {
      cacheDir: config.MODEL_CACHE_DIR,
      intraOpThreads: config.ORT_INTRA_OP_THREADS ?? defaultIntraOpThreads(config.AWS_LAMBDA_FUNCTION_MEMORY_SIZE),
    }),
    log: new DiscardingLog(),
    config: {
      maxRows: config.MAX_ROWS,
      functionVersion: config.AWS_LAMBDA_FUNCTION_VERSION,
      logTtlDays: config.LOG_TTL_DAYS,
      maxLoggedOutputBytes: config.MAX_LOGGED_OUTPUT_BYTES,
      pointerCacheMs: config.POINTER_CACHE_MS,
    },
  });
}

interface Started {
  readonly url: string;
  readonly token: string;
  /** Prediction-log records queued or being written. */
  pending(): number;
  /** Resolves once every queued prediction-log record is stored (or in the fallback). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

async function startStack(): Promise<Started> {
  const stack = await startLocalStack({
    dataDir: path.join(scratch, 'data'),
    auth: 'jwt',
    rateLimit: false,
    accessLog: process.env.ACCESS_LOG !== 'off',
    servers: 'child-process',
  });
  return {
    url: stack.url,
    token: (await stack.auth?.mint(TOKEN)) ?? '',
    pending: () => stack.prediction.pending(),
    flush: () => stack.flush(),
    stop: () => stack.stop(),
  };
}

async function startFunction(): Promise<Started> {
  const aws = JSON.parse(process.env.BENCH_AWS ?? '{}') as AwsEndpoints;
  // The sink passes everything but prediction-log writes on to dynalite.
  const clients = localClients({ dynamoEndpoint: log === 'sink' ? aws.logSinkEndpoint : aws.dynamoEndpoint, s3Endpoint: aws.s3Endpoint });
  const config = loadConfig({
    REGISTRY_TABLE: aws.registryTable,
    PREDICTION_LOG_TABLE: aws.predictionLogTable,
    ARTIFACT_BUCKET: aws.bucket,
    MODEL_CACHE_DIR: path.join(scratch, 'model-cache'),
  });
  const service = log === 'sink' ? buildPredictionService(config, clients) : withoutLog(config, clients);
  const key = auth ? await generateSigningKey() : undefined;
  const authorization: LocalAuthorization = key ? { authorizer: localAuthorizer(localAuthorizerEnv(key)).handler } : { insecure: true };
  const limits = bodyLimits(config);
  const registry = buildRegistryService(config, clients);
  const api = await startLocalServer({
    port: 0,
    functions: {
      predict: { handler: makePredictHandler({ service, limits }) },
      control: { handler: makeControlHandler({ service: registry, uploads: buildUploadService(config, clients, registry), limits }) },
    },
    authorization,
    rateLimit: false,
    accessLog: false,
    // The insecure mode's start-up warning is expected here.
    warn: () => undefined,
  });
  return {
    url: api.url,
    token: key ? await mintToken(key, TOKEN) : '',
    pending: () => service.pending(),
    flush: () => service.flush(),
    async stop() {
      await api.close();
      clients.destroy();
    },
  };
}

const api = mode === 'npm-start' ? await startStack() : await startFunction();
const gc = (globalThis as { gc?: () => void }).gc;
serveRunner(
  { url: api.url, token: api.token },
  {
    ...profilerRequests(),
    memory: () => memoryFigures(),
    // Writes what the last load left queued: the records pending, and how long they took to store.
    drain: async () => {
      const pending = api.pending();
      const started = performance.now();
      await api.flush();
      return { pending, ms: performance.now() - started };
    },
    gc: () => {
      gc?.();
      return memoryFigures();
    },
  },
  () => api.stop(),
);
