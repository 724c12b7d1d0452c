/**
 * The whole product on one machine: embedded DynamoDB- and S3-compatible servers, the tables and
 * bucket the CDK app would create, the same function handlers behind a local API, and the sample
 * model registered and live. `npm start` runs it; the integration tests start it in-process.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDbRegistry } from '../functions/adapters/dynamodb-registry.js';
import type { OnnxRuntime } from '../functions/adapters/onnx-runtime.js';
import { ensureTables } from '../functions/adapters/tables.js';
import { jobKeysOf, makeHandler as makeBatchHandler } from '../functions/batch/app.js';
import { makeHandler as makeBatchStepsHandler } from '../functions/batch-steps/app.js';
import type { SplitBatchEvent, SplitBatchResult } from '../functions/core/batch-contract.js';
import type { BatchJobService } from '../functions/core/batch-jobs.js';
import { makeHandler as makeControlHandler } from '../functions/control/app.js';
import type { RegistryService } from '../functions/core/registry.js';
import type { PredictionService } from '../functions/core/predict.js';
import { type ReleaseService, RELEASE_MONITOR } from '../functions/core/release.js';
import { makeHandler as makePredictHandler } from '../functions/predict/app.js';
import { loadConfig, required, type Config } from '../functions/shared/config.js';
import {
  bodyLimits,
  buildBatchJobService,
  buildBatchJobStore,
  buildBatchSteps,
  buildBatchWorker,
  buildModelRuntime,
  buildPredictionLogService,
  buildReplayService,
  buildDriftService,
  buildPredictionService,
  buildRegistryService,
  buildReleaseService,
  buildStatsService,
  buildUploadService,
} from '../functions/shared/composition.js';
import { buildExperimentService, buildShadowService } from '../functions/control/composition.js';
import { LocalBatchRunner, type RetryPolicy } from './batch-runner.js';
import { logLine } from '../functions/shared/http.js';
import { createLogger, type LoggerOptions, requestLog, setSharedLogger, sharedLogger } from '../functions/shared/logger.js';
import { lineLogger, type LogLineWriter } from './log-lines.js';
import {
  generateSigningKey,
  loadOrCreateSigningKey,
  localAuthorizer,
  localAuthorizerEnv,
  mintToken,
  type MintOptions,
  type SigningKey,
} from './auth.js';
import { ensureBucket, localClients, startLocalAws, startLocalAwsProcess, type LocalAws, type LocalClients } from './aws-servers.js';
import { JWKS_PATH, startLocalServer, type LocalFunction, type LocalServer, type RateLimit } from './server.js';
import { LocalObservations } from './observations.js';
import { expireObjects, expirePayloads } from './payload-expiry.js';
import { CAPTURE_ROOT } from '../functions/core/capture.js';
import { REPLAY_ROOT } from '../functions/core/replay/service.js';
import type { DriftService } from '../functions/core/drift/service.js';
import { LocalDriftSchedule } from './drift-schedule.js';
import { canaryDistributionFailure } from '../functions/core/drift/canary-gate.js';
import { S3CaptureReader } from '../functions/adapters/s3-capture.js';
import { LocalTrafficRouter, type LocalTrafficOptions } from './traffic.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The local bucket batch jobs read from and write to (every model may use it). */
export const LOCAL_BATCH_BUCKET = 'onnx-batch';

/**
 * The local payload bucket (the CDK app's payload bucket, `lib/payload-bucket.ts`): inputs sent by
 * reference and large outputs, `PAYLOAD_BUCKET` of the predict function. The embedded S3 server
 * runs no lifecycle rules; `expirePayloads` (local/payload-expiry.ts) deletes objects older than a
 * day when the stack starts, as the bucket's rule does on AWS.
 */
export const LOCAL_PAYLOAD_BUCKET = 'onnx-payloads';
/** The embedded S3 server's bucket of captured requests (`CAPTURE_BUCKET`), under `capture/`. */
export const LOCAL_CAPTURE_BUCKET = 'onnx-capture';
/** Days captured records are kept locally by default (`CAPTURE_RETENTION_DAYS`; the CDK app's `capture.retentionDays`). */
export const DEFAULT_CAPTURE_RETENTION_DAYS = 30;

/** The sample model shipped with the repository (see `scripts/train-sample-model.ts`). */
export const SAMPLE_MODEL = {
  name: 'iris',
  file: path.join(ROOT, 'models/iris/model.onnx'),
  metadata: path.join(ROOT, 'models/iris/metadata.json'),
  profile: path.join(ROOT, 'models/iris/profile.json'),
} as const;

export interface LocalStackOptions {
  /** Where state persists; in memory / a temp folder when omitted (tests). */
  readonly dataDir?: string;
  /** API port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** Register and publish the sample model when the registry does not have it yet. @default true */
  readonly seedSampleModel?: boolean;
  /** Overrides of the functions' environment (same variables as on Lambda). */
  readonly env?: Readonly<Record<string, string>>;
  /** Days captured records are kept; older ones are deleted at start. @default 30 */
  readonly captureRetentionDays?: number;
  /** ms between scheduled drift runs (the EventBridge schedule's stand-in); 0 turns them off. @default 3,600,000 (hourly) */
  readonly driftIntervalMs?: number;
  /**
   * Where the DynamoDB- and S3-compatible servers run: in this process, or in a child process so
   * their work does not share the API's event loop (`npm start`). @default 'in-process'
   */
  readonly servers?: 'in-process' | 'child-process';
  /** Start the DynamoDB- and S3-compatible servers on these ports. @default ephemeral */
  readonly dynamoPort?: number;
  readonly s3Port?: number;
  /**
   * `jwt`: every non-public route needs a token signed by the stack's key (kept in
   * `<dataDir>/auth/`, or in memory without a data folder), checked by the same authorizer code
   * as on Lambda. `insecure`: every caller is accepted; the server says so on stderr at start.
   * @default 'jwt'
   */
  readonly auth?: 'jwt' | 'insecure';
  /** The authorizer result cache, as on the API. @default 60 */
  readonly authCacheTtlSeconds?: number;
  /** Per-client throttling. @default 50 requests per second, bursts of 100 (cdk.json's default usage plan) */
  readonly rateLimit?: RateLimit | false;
  /**
   * The emulated alias: the random source that picks a version per request, the managed
   * releases' timer and rollback threshold. @default Math.random, a check per second, real minutes,
   * rollback above 5% errors or a p99 above 1000 ms, judged from 20 invocations
   */
  readonly releases?: Pick<LocalTrafficOptions, 'random' | 'now' | 'every' | 'tickMs' | 'minuteMs' | 'rollback'>;
  /**
   * The API's access log, one line per request (`POST /v1/models/{model}/predict 200 2.4ms iris@1
   * rows=2`): `true` on stdout, or a writer. @default false (quiet; `npm start` turns it on)
   */
  readonly accessLog?: boolean | ((line: string) => void);
  /** The emulated batch workflow: its retries' timing, batches in flight at most. @default Step Functions' retry timing, 10 */
  readonly batch?: { readonly retry?: Partial<RetryPolicy>; readonly concurrencyCap?: number };
  /**
   * Where the stack's log goes instead of the terminal: a test's in-process stack keeps it to
   * assert the lines it provokes. @default the terminal, as `npm start` prints it: the JSON lines
   * on stdout (WARN and ERROR on stderr), the local machinery's notices on stderr
   */
  readonly logs?: LocalStackLogs;
}

/** The two kinds of lines a local stack writes, each handed over without its newline. */
export interface LocalStackLogs {
  /**
   * The functions' structured log, one Powertools JSON object a line at `LOG_LEVEL`: the predict,
   * control, batch and batch-steps loggers, and the process's shared logger (lines outside a
   * request, such as a capture record not delivered or a failed authorizer) while the stack runs.
   */
  readonly json: LogLineWriter;
  /**
   * The local machinery's plain-text notices: the insecure mode's warning, a handler that threw
   * (answered 502), a release's or a batch execution's trouble, the drift schedule's reports.
   */
  readonly text: (line: string) => void;
}

/** The stack's token issuer. */
export interface LocalStackAuth {
  readonly key: SigningKey;
  /** The public keys, served by the local API. */
  readonly jwksUrl: string;
  /** A token this stack accepts. */
  mint(options: MintOptions): Promise<string>;
}

export interface LocalStack {
  readonly url: string;
  readonly aws: LocalAws;
  readonly clients: LocalClients;
  readonly config: Config;
  readonly prediction: PredictionService;
  readonly registry: RegistryService;
  readonly releases: ReleaseService;
  /** Lambda versions and alias `live`, emulated. */
  readonly traffic: LocalTrafficRouter;
  /** ONNX Runtime, shared by every function of the stack: its sessions are bounded per process. */
  readonly runtime: OnnxRuntime;
  readonly api: LocalServer;
  /** What happened to the sample model at start. */
  readonly sample: 'registered' | 'present' | 'skipped';
  /** Token minting; `undefined` in the insecure mode. */
  readonly auth: LocalStackAuth | undefined;
  /** What the endpoint functions observed of each request (for the access log). */
  readonly observations: LocalObservations;
  /** Batch jobs: the job API's core, over the emulated workflow. */
  readonly jobs: BatchJobService;
  /** The emulated Step Functions workflow of batch jobs. */
  readonly batchRunner: LocalBatchRunner;
  /** Reference profiles and drift reports. */
  readonly drift: DriftService;
  /** The scheduled drift runs (`tick()` runs one pass now). */
  readonly driftSchedule: LocalDriftSchedule;
  /** Writes every queued prediction-log record of every emulated function version. */
  flush(): Promise<void>;
  /** Stops the API, writes the queued prediction-log records, then stops the servers. */
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const awsOptions = {
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.dynamoPort !== undefined ? { dynamoPort: options.dynamoPort } : {}),
    ...(options.s3Port !== undefined ? { s3Port: options.s3Port } : {}),
  };
  const aws = options.servers === 'child-process' ? await startLocalAwsProcess(awsOptions) : await startLocalAws(awsOptions);
  const clients = localClients(aws);
  // With `logs`, the shared logger writes there until the stack stops (then the one before is back).
  const sharedBefore = options.logs ? sharedLogger() : undefined;
  const restoreShared = () => {
    if (sharedBefore) setSharedLogger(sharedBefore);
  };
  try {
    const config = loadConfig({
      // The local stack counts requests in-process (stats, access log) rather than printing EMF lines.
      EMF_METRICS: 'false',
      REGISTRY_TABLE: 'onnx-registry',
      PREDICTION_LOG_TABLE: 'onnx-prediction-log',
      ARTIFACT_BUCKET: 'onnx-artifacts',
      PAYLOAD_BUCKET: LOCAL_PAYLOAD_BUCKET,
      CAPTURE_BUCKET: LOCAL_CAPTURE_BUCKET,
      // Verified artifacts are cached by sha256, so a shared temp folder is safe for throwaway stacks.
      MODEL_CACHE_DIR: options.dataDir ? path.join(options.dataDir, 'model-cache') : path.join(os.tmpdir(), 'onnx-serving-model-cache'),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      // The sample model's endpoint baseline: a promoted iris version must declare accuracy ≥ 0.7.
      METRIC_BASELINES: JSON.stringify({ [SAMPLE_MODEL.name]: { accuracy: { min: 0.7 } } }),
      BATCH_JOBS_TABLE: 'onnx-batch-jobs',
      BATCH_LOCATIONS: JSON.stringify({ '*': { inputs: [`s3://${LOCAL_BATCH_BUCKET}/`], outputs: [`s3://${LOCAL_BATCH_BUCKET}/`] } }),
      ...options.env,
    });
    const logs = options.logs;
    const loggerOf = (fn?: string) => {
      const loggerOptions: LoggerOptions = { level: config.LOG_LEVEL, keys: fn ? { function: fn } : {} };
      return logs ? lineLogger(loggerOptions, logs.json) : createLogger(loggerOptions);
    };
    if (logs) setSharedLogger(loggerOf());
    // The local parts' notices end in a newline, as on stderr; the `text` writer takes bare lines.
    const notices = logs ? { warn: (text: string) => logs.text(text.replace(/\n$/, '')) } : {};
    await ensureTables(clients.dynamo, {
      registry: config.REGISTRY_TABLE,
      predictionLog: required(config, 'PREDICTION_LOG_TABLE'),
      ...(config.BATCH_JOBS_TABLE ? { batchJobs: config.BATCH_JOBS_TABLE } : {}),
    });
    await ensureBucket(clients.s3, required(config, 'ARTIFACT_BUCKET'));
    await ensureBucket(clients.s3, LOCAL_BATCH_BUCKET);
    // `env: { PAYLOAD_BUCKET: '' }` turns by-reference payloads off (as an endpoint without the variable).
    if (config.PAYLOAD_BUCKET) {
      await ensureBucket(clients.s3, config.PAYLOAD_BUCKET);
      // The lifecycle rule the embedded S3 server lacks: payloads older than a day go.
      await expirePayloads(clients.s3, config.PAYLOAD_BUCKET);
    }
    if (config.CAPTURE_BUCKET) {
      await ensureBucket(clients.s3, config.CAPTURE_BUCKET);
      // Captured requests and the replays made of them are kept as long as each other.
      for (const prefix of [CAPTURE_ROOT, REPLAY_ROOT]) {
        await expireObjects(
          clients.s3,
          config.CAPTURE_BUCKET,
          options.captureRetentionDays ?? DEFAULT_CAPTURE_RETENTION_DAYS,
          Date.now(),
          prefix,
        );
      }
    }
    // One process, one runtime: every emulated function version and the control plane share its
    // bounded session cache (SESSION_CACHE_MAX_SESSIONS / _BYTES), so the bound holds for `npm start`.
    const runtime = buildModelRuntime(config, clients);
    const prediction = buildPredictionService(config, clients, { runtime });
    const registry = buildRegistryService(config, clients, runtime);
    const drift = buildDriftService(config, clients);
    if (!drift) throw new Error('the local stack needs ARTIFACT_BUCKET for reference profiles');
    const sample = options.seedSampleModel === false ? 'skipped' : await seedSampleModel(registry, drift);
    const limits = bodyLimits(config);
    const observations = new LocalObservations();
    const logger = loggerOf('predict');
    // Every emulated function version is its own sandbox, with its own prediction log to drain.
    const services: PredictionService[] = [prediction];
    const predictHandler = (service: PredictionService, functionVersion: string, servedModel?: string) =>
      makePredictHandler({
        service,
        limits,
        observer: observations,
        edge: { logger, functionVersion },
        ...(servedModel ? { servedModel } : {}),
      });
    const latest: LocalFunction = {
      handler: predictHandler(prediction, config.AWS_LAMBDA_FUNCTION_VERSION),
      version: config.AWS_LAMBDA_FUNCTION_VERSION,
    };
    const flushLogs = () => Promise.all(services.map((s) => s.flush())).then(() => undefined);
    const driftSchedule = new LocalDriftSchedule({
      drift,
      registry: registry,
      flush: flushLogs,
      intervalMs: options.driftIntervalMs ?? 3_600_000,
      ...(logs ? { say: logs.text } : {}),
    });
    driftSchedule.start();
    // The router reports managed releases' outcomes to the release service, built over the router.
    let releases: ReleaseService | undefined;
    const registryTable = new DynamoDbRegistry({ client: clients.documents, tableName: config.REGISTRY_TABLE });
    // The distribution gate reads what every emulated version captured since the release began.
    const gate = config.CAPTURE_BUCKET
      ? { registry: registryTable, capture: new S3CaptureReader({ client: clients.s3, bucket: config.CAPTURE_BUCKET }), flush: flushLogs }
      : undefined;
    const traffic = new LocalTrafficRouter({
      ...options.releases,
      ...notices,
      latest,
      registry: registryTable,
      ...(options.dataDir ? { file: path.join(options.dataDir, 'releases.json') } : {}),
      // Each published version is its own function with its model version pinned; the sessions
      // live in the process's one runtime, shared and bounded.
      makeVersion: (model, functionVersion, modelVersion) => {
        const service = buildPredictionService(
          { ...config, SERVED_MODEL: model, PINNED_MODEL_VERSION: modelVersion, AWS_LAMBDA_FUNCTION_VERSION: functionVersion },
          clients,
          { runtime },
        );
        services.push(service);
        return {
          function: { handler: predictHandler(service, functionVersion, model), version: functionVersion },
          predict: (name, body) =>
            service.predict(name, body, {
              requestId: `pre-traffic-${functionVersion}`,
              caller: RELEASE_MONITOR,
              startedAt: performance.now(),
            }),
        };
      },
      onOutcome: async (outcome) => releases?.recordOutcome(outcome),
      ...(gate ? { distributionGate: (check) => canaryDistributionFailure(gate, check) } : {}),
    });
    const releaseService = buildReleaseService(config, traffic, clients, registry, runtime);
    releases = releaseService;
    // Batch jobs: the same batch and steps handlers as on Lambda, under the emulated workflow.
    const batchLogger = loggerOf('batch');
    // The batch function's MAX_ROWS is the deployment's batch.maxRowsPerBatch (BATCH_MAX_ROWS_PER_BATCH here).
    const worker = buildBatchWorker({ ...config, MAX_ROWS: config.BATCH_MAX_ROWS_PER_BATCH }, clients, runtime);
    const batchHandler = makeBatchHandler({
      work: (event) => worker.run(event),
      describe: (result) => ({ splits: result.splits.length, rows: result.rows, predicted: result.predicted, failed: result.failed }),
      keysOf: jobKeysOf,
      log: () => requestLogOf(batchLogger),
    });
    const stepsLogger = loggerOf('batch-steps');
    const stepsHandler = makeBatchStepsHandler(buildBatchSteps(config, clients), () => requestLogOf(stepsLogger));
    const batchRunner = new LocalBatchRunner({
      steps: (event) => stepsHandler(event),
      batch: (event: SplitBatchEvent): Promise<SplitBatchResult> => batchHandler(event),
      s3: clients.s3,
      ...notices,
      ...(options.dataDir ? { stateDir: path.join(options.dataDir, 'batch-executions') } : {}),
      ...(options.batch?.retry ? { retry: options.batch.retry } : {}),
      ...(options.batch?.concurrencyCap !== undefined ? { concurrencyCap: options.batch.concurrencyCap } : {}),
    });
    const jobs = buildBatchJobService(config, clients, batchRunner);
    if (!jobs) throw new Error('batch jobs need BATCH_JOBS_TABLE');
    await resumeBatchJobs(batchRunner, jobs, buildBatchJobStore(config, clients));
    // Replays of captured requests run as batch jobs on the same workflow, in the capture bucket.
    const replays = buildReplayService(config, clients, jobs);
    // Experiments and shadow tests: the same services as the control function's on AWS.
    const experiments = buildExperimentService(config, clients, traffic, releaseService);
    const shadows = buildShadowService(config, clients);
    const key =
      options.auth === 'insecure'
        ? undefined
        : options.dataDir
          ? await loadOrCreateSigningKey(options.dataDir)
          : await generateSigningKey();
    const api = await startLocalServer({
      port: options.port ?? 0,
      functions: {
        predict: latest,
        control: {
          handler: makeControlHandler({
            service: registry,
            uploads: buildUploadService(config, clients, registry),
            releases: releaseService,
            stats: buildStatsService(config, releaseService),
            predictions: buildPredictionLogService(config, clients),
            jobs,
            drift,
            ...(replays ? { replays } : {}),
            ...(experiments ? { experiments } : {}),
            ...(shadows ? { shadows } : {}),
            limits,
            codec: { maxRows: config.MAX_ROWS, maxStringChars: config.MAX_STRING_CHARS },
            edge: { logger: loggerOf('control') },
          }),
        },
      },
      versions: traffic,
      observations,
      accessLog: options.accessLog === true ? undefined : (options.accessLog ?? false),
      authorization: key
        ? {
            authorizer: localAuthorizer(localAuthorizerEnv(key), {
              // The 401/403 body says why; only failures on our side go to the log.
              log: (level, message, fields) => (level === 'ERROR' ? logLine(level, message, fields) : undefined),
            }).handler,
            jwks: key.jwks,
            ...(options.authCacheTtlSeconds !== undefined ? { cacheTtlSeconds: options.authCacheTtlSeconds } : {}),
          }
        : { insecure: true },
      ...(options.rateLimit !== undefined ? { rateLimit: options.rateLimit } : {}),
      ...notices,
    });
    return {
      url: api.url,
      aws,
      clients,
      config,
      prediction,
      registry,
      releases: releaseService,
      traffic,
      runtime,
      api,
      sample,
      auth: key ? { key, jwksUrl: `${api.url}${JWKS_PATH}`, mint: (mint) => mintToken(key, mint) } : undefined,
      observations,
      jobs,
      batchRunner,
      drift,
      driftSchedule,
      flush: flushLogs,
      async stop() {
        await traffic.close();
        await driftSchedule.close();
        await api.close();
        // Batches in flight finish and are journaled; the next start resumes their jobs.
        await batchRunner.close();
        // The prediction logs' queued records are written before the servers go.
        await flushLogs();
        clients.destroy();
        await aws.stop();
        restoreShared();
      },
    };
  } catch (error) {
    clients.destroy();
    await aws.stop();
    restoreShared();
    throw error;
  }
}

/**
 * After a restart: the workflows that were running are resumed (like a redrive, batches done
 * before are not run again), and a job still in flight whose workflow the runner does not know
 * (the process died between storing the job and starting it) is started now. None stays RUNNING
 * forever: a workflow that cannot resume ends FAILED, and its job with it.
 */
async function resumeBatchJobs(
  runner: LocalBatchRunner,
  jobs: BatchJobService,
  store: ReturnType<typeof buildBatchJobStore>,
): Promise<void> {
  await runner.resume();
  for (const job of await store.listActive()) {
    const known = job.executionId ? (await runner.status(job.executionId)).status : 'UNKNOWN';
    if (known === 'UNKNOWN') await jobs.start(job);
    else if (known !== 'RUNNING') await jobs.get(job.model, job.jobId);
  }
}

/**
 * Registers the sample model with its reference profile (its training script writes both) and
 * makes it the production version, unless it exists already.
 */
export async function seedSampleModel(registry: RegistryService, drift?: DriftService): Promise<'registered' | 'present'> {
  const existing = await registry.listModels();
  if (existing.some((m) => m.model === SAMPLE_MODEL.name && m.productionVersion !== undefined)) return 'present';
  const [bytes, metadata, profile] = await Promise.all([
    readFile(SAMPLE_MODEL.file),
    readFile(SAMPLE_MODEL.metadata, 'utf8').then((text) => JSON.parse(text) as unknown),
    readFile(SAMPLE_MODEL.profile, 'utf8').then((text) => JSON.parse(text) as unknown),
  ]);
  const version = await registry.register({ model: SAMPLE_MODEL.name, bytes, metadata, actor: 'local-setup' });
  await drift?.putProfile(SAMPLE_MODEL.name, version.version, profile);
  await registry.transition({
    model: SAMPLE_MODEL.name,
    version: version.version,
    to: 'staging',
    actor: 'local-setup',
    reason: 'sample model',
  });
  await registry.setProduction(SAMPLE_MODEL.name, version.version, 'local-setup');
  return 'registered';
}

function requestLogOf(logger: ReturnType<typeof createLogger>) {
  return requestLog(logger, {});
}
